"""A deployment as a plan: plain frozen data, validated and printed before anything runs."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .client import Endpoint, ScalingPolicy, scaling_resource_id
from .errors import InvalidInput
from .images import TARGETS, default_image_uri
from .package import resolve_model_dir
from .steps import (
    CreateEndpoint,
    CreateEndpointConfig,
    CreateModel,
    Package,
    PutScalingPolicy,
    RegisterScalableTarget,
    RetireConfig,
    Step,
    UpdateEndpoint,
    Upload,
    WaitInService,
)

# SageMaker's own patterns (CreateEndpoint API reference).
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9\-]+\.[a-z0-9]+$")
ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")
VARIANT = "AllTraffic"
# Target tracking on invocations per instance per minute. Chat requests run for seconds, so a
# low target scales out before queues grow.
DEFAULT_POLICY = ScalingPolicy("SageMakerVariantInvocationsPerInstance", 30.0)
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
    cache_dir: Path = Path.home() / ".cache" / "sagemaker-openai"


@dataclass(frozen=True)
class RemoteState:
    """What AWS said before planning. A dry run has none: it calls nothing."""

    account: str
    endpoint: Endpoint | None  # None: no endpoint of that name exists yet


@dataclass(frozen=True)
class Plan:
    endpoint_name: str
    region: str
    steps: tuple[Step, ...]
    dry_run: bool


def check_options(opts: DeployOptions) -> None:
    """Everything that can be checked without AWS; raises InvalidInput."""
    _validate(opts)
    _parse_autoscale(opts)
    _parse_env(opts.env)
    if opts.image_uri is None:
        default_image_uri(opts.target, opts.region, opts.instance_type)
    if not opts.model.startswith("s3://"):
        resolve_model_dir(opts.model, opts.cache_dir)


def build_plan(opts: DeployOptions, remote: RemoteState | None, now: datetime) -> Plan:
    """Lay out the steps; `remote` is None in a dry run (nothing was asked of AWS)."""
    check_options(opts)
    min_max = _parse_autoscale(opts)
    image = opts.image_uri or default_image_uri(opts.target, opts.region, opts.instance_type)
    stamp = now.strftime("%Y%m%d-%H%M%S")
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
        account = remote.account if remote else "<account>"
        bucket = opts.bucket or f"sagemaker-{opts.region}-{account}"
        key = f"{TAG_PREFIX}/{opts.endpoint_name}/{stamp}/model.tar.gz"
        path = Path(tempfile.gettempdir()) / f"smoai-{name}.tar.gz"
        steps += [
            Package(model_dir, opts.target, served_name, path),
            Upload(path, bucket, key, create_bucket=opts.bucket is None),
        ]
        model_data_url = f"s3://{bucket}/{key}"
        model_tags = (*tags, (UPLOADED_TAG, "true"))
    env = _target_env(opts.target, served_name) + _parse_env(opts.env)
    steps.append(CreateModel(name, image, model_data_url, opts.role, env, model_tags))
    steps.append(
        CreateEndpointConfig(name, name, VARIANT, opts.instance_type, opts.instance_count, tags)
    )
    current = remote.endpoint if remote else None
    if current is not None:
        steps.append(UpdateEndpoint(opts.endpoint_name, name))
    else:
        steps.append(CreateEndpoint(opts.endpoint_name, name, tags, checked=remote is not None))
    if opts.wait:
        steps.append(WaitInService(opts.endpoint_name, name))
    if min_max:
        resource_id = scaling_resource_id(opts.endpoint_name, VARIANT)
        steps.append(RegisterScalableTarget(resource_id, *min_max))
        steps.append(
            PutScalingPolicy(f"{opts.endpoint_name}-invocations", resource_id, DEFAULT_POLICY)
        )
    if current is not None and opts.wait:
        steps.append(RetireConfig(current.config_name))
    return Plan(opts.endpoint_name, opts.region, tuple(steps), dry_run=remote is None)


def format_plan(plan: Plan) -> str:
    """The plan as numbered lines, one per step."""
    head = f"plan for endpoint {plan.endpoint_name} in {plan.region}"
    lines = [head + (" (dry run: nothing will be called)" if plan.dry_run else "")]
    for i, step in enumerate(plan.steps, 1):
        lines.append(f"  {i}. {step.describe()}")
    return "\n".join(lines)


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
