"""A deployment as a plan: plain frozen data, validated and printed before anything runs."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..settings import DEFAULT_CACHE_DIR
from .errors import InvalidInput
from .images import TARGETS, default_image_uri
from .package import resolve_model_dir

# SageMaker's own patterns (CreateEndpoint API reference).
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9\-]+\.[a-z0-9]+$")
ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")
VARIANT = "AllTraffic"
# Target tracking on SageMakerVariantInvocationsPerInstance (invocations per instance per
# minute). Chat requests run for seconds, so a low target scales out before queues grow.
INVOCATIONS_PER_INSTANCE = 30.0
TAG_PREFIX = "sagemaker-openai"
UPLOADED_TAG = f"{TAG_PREFIX}:uploaded-model-data"  # on a model whose S3 data this tool wrote


@dataclass(frozen=True)
class DeployOptions:
    """What the user asked for, as given on the command line."""

    model: str  # a model folder, "demo", or an s3:// URL of a model.tar.gz
    endpoint_name: str
    instance_type: str
    role: str
    region: str
    target: str = "lmi"
    image_uri: str | None = None
    instance_count: int = 1
    autoscale: str | None = None  # "MIN:MAX"
    env: tuple[str, ...] = ()  # "K=V"
    bucket: str | None = None
    wait: bool = True
    cache_dir: Path = DEFAULT_CACHE_DIR


@dataclass(frozen=True)
class Package:
    model_dir: Path
    target: str
    served_name: str
    path: Path  # local model.tar.gz written by this step


@dataclass(frozen=True)
class Upload:
    path: Path
    bucket: str
    key: str
    create_bucket: bool  # the default bucket is created when missing (and never deleted)


@dataclass(frozen=True)
class CreateModel:
    name: str
    image: str
    model_data_url: str
    role: str
    env: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CreateEndpointConfig:
    name: str
    model_name: str
    variant: str
    instance_type: str
    instance_count: int
    tags: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class CreateEndpoint:
    name: str
    config_name: str
    tags: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class UpdateEndpoint:
    name: str
    config_name: str
    previous_config: str | None  # removed with its models once the update is InService


@dataclass(frozen=True)
class WaitInService:
    name: str


@dataclass(frozen=True)
class RegisterScalableTarget:
    resource_id: str
    min_count: int
    max_count: int


@dataclass(frozen=True)
class PutScalingPolicy:
    policy_name: str
    resource_id: str
    invocations_per_instance: float


Step = (
    Package
    | Upload
    | CreateModel
    | CreateEndpointConfig
    | CreateEndpoint
    | UpdateEndpoint
    | WaitInService
    | RegisterScalableTarget
    | PutScalingPolicy
)


@dataclass(frozen=True)
class Plan:
    endpoint_name: str
    region: str
    steps: tuple[Step, ...]


def build_plan(
    opts: DeployOptions,
    account: str | None,
    current_config: str | None | bool,
    now: datetime | None = None,
) -> Plan:
    """Validate everything that can be checked locally and lay out the steps.

    `account` is None in a dry run (nothing is called); `current_config` is the endpoint's
    config name when it exists, None when it does not, and False when not checked (dry run).
    """
    _validate(opts)
    min_max = _parse_autoscale(opts)
    env = _parse_env(opts.env)
    image = opts.image_uri or default_image_uri(opts.target, opts.region, opts.instance_type)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    name = f"{opts.endpoint_name[:47]}-{stamp}"  # <= 63 characters, SageMaker's limit
    tags = ((f"{TAG_PREFIX}:endpoint", opts.endpoint_name), (f"{TAG_PREFIX}:target", opts.target))
    steps: list[Step] = []
    model_tags: tuple[tuple[str, str], ...] = tags
    if opts.model.startswith("s3://"):
        model_data_url = opts.model
        served_name = opts.endpoint_name
    else:
        model_dir = resolve_model_dir(opts.model, opts.cache_dir)
        served_name = model_dir.name
        bucket = opts.bucket or f"sagemaker-{opts.region}-{account or '<account>'}"
        key = f"{TAG_PREFIX}/{opts.endpoint_name}/{stamp}/model.tar.gz"
        path = Path(tempfile.gettempdir()) / f"smoai-{name}.tar.gz"
        steps += [
            Package(model_dir, opts.target, served_name, path),
            Upload(path, bucket, key, create_bucket=opts.bucket is None),
        ]
        model_data_url = f"s3://{bucket}/{key}"
        model_tags = (*tags, (UPLOADED_TAG, "true"))
    env = _target_env(opts.target, served_name) + env
    steps.append(CreateModel(name, image, model_data_url, opts.role, env, model_tags))
    steps.append(
        CreateEndpointConfig(name, name, VARIANT, opts.instance_type, opts.instance_count, tags)
    )
    if isinstance(current_config, str):
        steps.append(
            UpdateEndpoint(opts.endpoint_name, name, current_config if opts.wait else None)
        )
    else:
        steps.append(CreateEndpoint(opts.endpoint_name, name, tags))
    if opts.wait:
        steps.append(WaitInService(opts.endpoint_name))
    if min_max:
        resource_id = f"endpoint/{opts.endpoint_name}/variant/{VARIANT}"
        steps.append(RegisterScalableTarget(resource_id, *min_max))
        steps.append(
            PutScalingPolicy(
                f"{opts.endpoint_name}-invocations", resource_id, INVOCATIONS_PER_INSTANCE
            )
        )
    return Plan(opts.endpoint_name, opts.region, tuple(steps))


def format_plan(plan: Plan, dry_run: bool) -> str:
    """The plan as numbered lines, one per step."""
    head = f"plan for endpoint {plan.endpoint_name} in {plan.region}"
    lines = [head + (" (dry run: nothing will be called)" if dry_run else "")]
    for i, step in enumerate(plan.steps, 1):
        lines.append(f"  {i}. {_describe(step, dry_run)}")
    return "\n".join(lines)


def _describe(step: Step, dry_run: bool) -> str:
    if isinstance(step, Package):
        return f"package {step.model_dir} for target {step.target} -> {step.path}"
    if isinstance(step, Upload):
        return f"upload {step.path.name} to s3://{step.bucket}/{step.key}"
    if isinstance(step, CreateModel):
        env = ", ".join(f"{k}={v}" for k, v in step.env) or "none"
        return (
            f"CreateModel {step.name}: image {step.image}, data {step.model_data_url}, "
            f"role {step.role}, env {env}"
        )
    if isinstance(step, CreateEndpointConfig):
        return (
            f"CreateEndpointConfig {step.name}: variant {step.variant}, "
            f"{step.instance_count} x {step.instance_type}"
        )
    if isinstance(step, CreateEndpoint):
        note = " (or UpdateEndpoint if it exists: not checked in a dry run)" if dry_run else ""
        return f"CreateEndpoint {step.name} with config {step.config_name}{note}"
    if isinstance(step, UpdateEndpoint):
        return f"UpdateEndpoint {step.name} to config {step.config_name}"
    if isinstance(step, WaitInService):
        return f"wait until {step.name} is InService"
    if isinstance(step, RegisterScalableTarget):
        return f"RegisterScalableTarget {step.resource_id}: {step.min_count}..{step.max_count}"
    return (
        f"PutScalingPolicy {step.policy_name}: target "
        f"{step.invocations_per_instance:g} invocations per instance per minute"
    )


def _validate(opts: DeployOptions) -> None:
    if not ENDPOINT_NAME.match(opts.endpoint_name):
        raise InvalidInput(
            "--endpoint-name",
            f"{opts.endpoint_name!r} must be 1-63 letters, digits or hyphens, "
            "starting and ending with a letter or digit",
        )
    if not opts.role:
        raise InvalidInput("--role", "an IAM role ARN that SageMaker can assume is required")
    if not ROLE_ARN.match(opts.role):
        raise InvalidInput(
            "--role", f"{opts.role!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)"
        )
    if not INSTANCE_TYPE.match(opts.instance_type):
        raise InvalidInput("--instance-type", f"{opts.instance_type!r} is not like ml.g5.xlarge")
    if opts.target not in TARGETS:
        raise InvalidInput("--target", f"must be one of {', '.join(TARGETS)}")
    if opts.instance_count < 1:
        raise InvalidInput("--instance-count", "must be at least 1")
    if not opts.region:
        raise InvalidInput("--region", "no AWS region given or configured")


def _parse_autoscale(opts: DeployOptions) -> tuple[int, int] | None:
    if opts.autoscale is None:
        return None
    parts = opts.autoscale.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise InvalidInput("--autoscale", f"{opts.autoscale!r} is not MIN:MAX, e.g. 1:4")
    low, high = int(parts[0]), int(parts[1])
    if not 1 <= low <= high:
        raise InvalidInput("--autoscale", "needs 1 <= MIN <= MAX")
    if not low <= opts.instance_count <= high:
        raise InvalidInput("--autoscale", f"--instance-count {opts.instance_count} is outside it")
    if not opts.wait:
        raise InvalidInput("--autoscale", "needs the endpoint InService first; drop --no-wait")
    return low, high


def _parse_env(pairs: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not ENV_KEY.match(key):
            raise InvalidInput("--env", f"{pair!r} is not KEY=VALUE")
        out.append((key, value))
    return tuple(out)


def _target_env(target: str, served_name: str) -> tuple[tuple[str, str], ...]:
    if target == "image":
        return (("SMOAI_SERVED_MODEL_NAME", served_name),)
    if target == "hf-dlc":
        # MMS starts one worker per CPU or GPU by default, each loading the whole model.
        return (("SAGEMAKER_MODEL_SERVER_WORKERS", "1"),)
    return ()
