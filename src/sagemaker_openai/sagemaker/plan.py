"""A deployment as a plan: plain frozen data, built once and printed before anything runs."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ..model_folder import ModelFolderError, parse_hub_model
from .component_client import Component
from .component_steps import (
    CreateComponentEndpointConfig,
    CreateInferenceComponent,
    RetireComponentModel,
    ScaleCopies,
    UpdateInferenceComponent,
    WaitComponent,
)
from .components import ComponentError, ComputeRequirements, compute_requirements
from .container import Fetched, container_env, describe_gpus
from .errors import DeployError, InvalidInput
from .host_ami import choose_ami
from .images import default_image_uri, device, engine, is_gpu_instance
from .instances import gpu_count
from .options import DeployOptions, autoscale, check_options, routing_config
from .package import resolve_model_dir
from .resources import (
    LEAST_OUTSTANDING,
    TAG_PREFIX,
    UPLOADED_TAG,
    Endpoint,
    ModelData,
    Routing,
    scaling_resource_id,
)
from .scaling import (
    DeregisterScalableTarget,
    PutScalingPolicy,
    RegisterScalableTarget,
    ScaleOnBacklog,
    ScalingState,
)
from .sizing import MAX_TIMEOUT_S, VariantSettings, model_bytes, variant_settings
from .steps import (
    DIGEST,
    AsyncConfig,
    CreateEndpoint,
    CreateEndpointConfig,
    CreateModel,
    Package,
    RetireConfig,
    Step,
    UpdateEndpoint,
    Upload,
    WaitInService,
)

VARIANT = "AllTraffic"

__all__ = ["DeployOptions", "Plan", "RemoteState", "build_plan", "check_options", "format_plan"]


@dataclass(frozen=True)
class RemoteState:
    """What AWS said before planning. A dry run has none: it calls nothing."""

    account: str
    endpoint: Endpoint | None  # None: no endpoint of that name exists yet
    scaling: ScalingState | None = None  # the endpoint variant's autoscaling, if registered
    component: Component | None = None  # the named inference component, if it exists


@dataclass(frozen=True)
class Plan:
    endpoint_name: str
    region: str
    summary: str  # image, engine, device
    steps: tuple[Step, ...]
    dry_run: bool


def build_plan(opts: DeployOptions, remote: RemoteState | None, now: datetime) -> Plan:
    """Lay out the steps; `remote` is None in a dry run (nothing was asked of AWS)."""
    check_options(opts)
    model, container = opts.model, opts.container
    target = container.target
    image = container.image_uri or default_image_uri(target, opts.region, opts.instance_type)
    stamp = now.strftime("%Y%m%d-%H%M%S")
    name = f"{opts.endpoint_name[:47]}-{stamp}"  # <= 63 characters, SageMaker's limit
    tags = ((f"{TAG_PREFIX}:endpoint", opts.endpoint_name), (f"{TAG_PREFIX}:target", target))
    steps: list[Step] = []
    model_tags: tuple[tuple[str, str], ...] = tags
    compressed = model.s3_data == "tarball"
    size: int | None = None
    fetched = fetched_model(opts)
    data: ModelData | None
    model_dir = None
    if fetched is not None:
        served_name = fetched.name
        # The image mounts a prefix itself; its serve fetches a Hub model. lmi and hf-dlc get
        # their handler in a small tarball (no weights) and fetch the model.
        data = (
            ModelData(fetched.s3_prefix, compressed=False)
            if fetched.s3_prefix and target == "image"
            else None
        )
    elif model.source.startswith("s3://"):
        data = ModelData(model.source)
        served_name = opts.endpoint_name
    else:
        model_dir = resolve_model_dir(model.source, model.cache_dir)
        served_name, size = model_dir.name, model_bytes(model_dir)
    if model_dir is not None or (fetched is not None and target != "image"):
        account = remote.account if remote else "<account>"
        bucket = model.bucket or f"sagemaker-{opts.region}-{account}"
        prefix = f"{TAG_PREFIX}/{opts.endpoint_name}/{DIGEST}/"
        workdir = Path(tempfile.gettempdir()) / f"smoai-{name}"
        offline = target != "image" and not model.online_deps
        wheels = model.cache_dir if offline else None
        steps += [
            Package(model_dir, target, served_name, workdir, compressed, wheels),
            Upload(bucket, prefix, create_bucket=model.bucket is None),
        ]
        uri = f"s3://{bucket}/{prefix}" + ("model.tar.gz" if compressed else "")
        data = ModelData(uri, compressed)
        model_tags = (*tags, (UPLOADED_TAG, "true"))
    gpu = is_gpu_instance(opts.instance_type)
    ami, ami_why = choose_ami(container.inference_ami, image, target, gpu)
    settings = replace(
        variant_settings(
            size,
            opts.instance_type,
            compressed,
            container.volume_size_gb,
            # a fetched model downloads inside the container, within the start-up health check
            container.startup_timeout_s or (MAX_TIMEOUT_S if fetched else None),
            container.download_timeout_s,
        ),
        ami=ami,
    )
    reqs = _component_requirements(opts, size)
    gpus = reqs.accelerators if reqs else gpu_count(opts.instance_type)
    env = container_env(target, served_name, gpus, settings.startup_timeout_s, fetched)
    if opts.asynchronous.output:  # an async result is one S3 object: streams are answered whole
        env["SMOAI_ASYNC_ENDPOINT"] = "true"
    env.update(container.user_env())  # the user's --env wins
    # hf-dlc reads its handler from /opt/ml/model/code: the prefix's weights mount beside it
    extra = fetched.s3_prefix if fetched and target == "hf-dlc" else None
    steps.append(CreateModel(name, image, data, opts.role, tuple(env.items()), model_tags, extra))
    if opts.component.name:
        assert reqs is not None
        keep = data.uri if data else ""
        steps += _component_steps(opts, remote, name, tags, reqs, settings, keep)
    else:
        steps.append(
            CreateEndpointConfig(
                name,
                name,
                VARIANT,
                opts.instance_type,
                opts.scaling.instance_count,
                settings,
                tags,
                _async_config(opts),
                _kept_routing(opts, remote),
            )
        )
        steps += _endpoint_steps(opts, remote, name, tags, data.uri if data else "")
    summary = (
        f"target {target} on {opts.instance_type} ({device(opts.instance_type)}, "
        f"{describe_gpus(target, gpus, opts.instance_type)}), "
        f"engine {engine(target, opts.instance_type)}, image {image}, "
        f"host AMI {ami or 'none set'} ({ami_why})"
        + ("" if size is None else f", model {size / 2**30:.2f} GiB")
        + (f"; {fetched.describe(target)}" if fetched else "")
    )
    return Plan(opts.endpoint_name, opts.region, summary, tuple(steps), dry_run=remote is None)


def fetched_model(opts: DeployOptions) -> Fetched | None:
    """The model the container fetches at start: hf://ORG/NAME or an s3:// prefix (ending /)."""
    try:
        hub = parse_hub_model(opts.model.source)
    except ModelFolderError as e:
        raise InvalidInput("--model", str(e)) from None
    if hub is not None:
        return Fetched(hub=hub)
    if opts.model.source.startswith("s3://") and opts.model.source.endswith("/"):
        return Fetched(s3_prefix=opts.model.source)
    return None


def _component_requirements(opts: DeployOptions, size: int | None) -> ComputeRequirements | None:
    if not opts.component.name:
        return None
    try:
        return compute_requirements(opts.instance_type, size or 0)
    except ComponentError as e:
        raise InvalidInput("--instance-type", str(e)) from e


def _endpoint_steps(
    opts: DeployOptions,
    remote: RemoteState | None,
    config: str,
    tags: tuple[tuple[str, str], ...],
    keep_data: str,  # the new model's data: never deleted with the previous models
) -> list[Step]:
    """Create or update, wait, scaling, and the previous config's removal."""
    current = remote.endpoint if remote else None
    resource_id = scaling_resource_id(opts.endpoint_name, VARIANT)
    if current is None:
        steps: list[Step] = [
            CreateEndpoint(opts.endpoint_name, config, tags, checked=remote is not None)
        ]
        previous = None
    else:
        previous = remote.scaling if remote else None
        steps = []
        # SageMaker refuses an instance-type change while autoscaling is registered.
        if previous and any(v.instance_type != opts.instance_type for v in current.variants):
            if not opts.wait:
                raise InvalidInput(
                    "--no-wait",
                    "the instance type changes while autoscaling is registered; its scaling "
                    "is registered again after the update, which needs the wait",
                )
            steps.append(DeregisterScalableTarget(resource_id, previous))
        running = sum(v.instance_count for v in current.variants)
        steps.append(
            UpdateEndpoint(opts.endpoint_name, config, opts.scaling.retain_variants, running)
        )
    if opts.wait:
        steps.append(WaitInService(opts.endpoint_name, config))
    deregistered = bool(steps) and isinstance(steps[0], DeregisterScalableTarget)
    min_max = autoscale(opts)
    if min_max:
        kept = None if deregistered else previous
        steps.append(RegisterScalableTarget(resource_id, *min_max, previous=kept))
        if opts.asynchronous.output:
            backlog = opts.scaling.backlog_target()
            steps.append(ScaleOnBacklog(opts.endpoint_name, VARIANT, min_max[0], backlog))
        else:
            name = f"{opts.endpoint_name}-target-tracking"
            policy = opts.scaling.policy(opts.instance_type)
            steps.append(PutScalingPolicy(name, resource_id, policy))
    elif deregistered and previous:
        steps.append(RegisterScalableTarget(resource_id, previous.min_count, previous.max_count))
        steps += [PutScalingPolicy(n, resource_id, p) for n, p in previous.policies]
    if current is not None and opts.wait:
        steps.append(RetireConfig(current.config_name, keep_data))
    return steps


def _component_steps(
    opts: DeployOptions,
    remote: RemoteState | None,
    name: str,  # of the new model, and of the endpoint config where one is made
    tags: tuple[tuple[str, str], ...],
    reqs: ComputeRequirements,
    settings: VariantSettings,
    keep_data: str,  # the new model's data: never deleted with the previous model
) -> list[Step]:
    """A model-less endpoint (unless it exists), the component created or updated, its copies."""
    component = opts.component.name
    assert component is not None
    startup = (settings.download_timeout_s, settings.startup_timeout_s)
    low_high = opts.component.copy_range()
    copies = max(1, low_high[0]) if low_high else 1  # a new component starts serving
    routing = routing_config(opts)
    current = remote.endpoint if remote else None
    steps: list[Step] = []
    if current is None:
        steps += [
            CreateComponentEndpointConfig(
                name,
                opts.role,
                opts.instance_type,
                opts.scaling.instance_count,
                opts.component.max_instances or opts.scaling.instance_count,
                scale_to_zero=low_high is not None and low_high[0] == 0,
                tags=tags,
                routing=routing or LEAST_OUTSTANDING,
                ami=settings.ami,
            ),
            CreateEndpoint(
                opts.endpoint_name,
                name,
                tags,
                checked=remote is not None,
                if_exists="if it exists: no endpoint steps, the component goes onto it",
            ),
            # CreateInferenceComponent needs the endpoint InService, --no-wait or not.
            WaitInService(opts.endpoint_name, name),
        ]
    elif any(v.model_name for v in current.variants):
        raise DeployError(
            f"endpoint {opts.endpoint_name} serves a model in its config, not inference "
            "components; choose another --endpoint-name or delete it first"
        )
    elif routing and any(v.routing != routing for v in current.variants):
        # Its config is kept (the component goes onto it), so a new routing would be dropped.
        raise InvalidInput(
            "--routing",
            f"endpoint {opts.endpoint_name} exists with other routing, set when it was created; "
            "leave --routing out or delete the endpoint first",
        )
    existing = remote.component if remote else None
    if existing is not None:
        steps.append(
            UpdateInferenceComponent(
                component, opts.endpoint_name, name, reqs, existing.copies, startup
            )
        )
    else:
        steps.append(
            CreateInferenceComponent(
                component, opts.endpoint_name, name, reqs, copies, tags, startup
            )
        )
    if opts.wait:
        steps.append(WaitComponent(component, name, commits=existing is not None))
    if low_high:
        steps.append(ScaleCopies(component, *low_high))
    if existing is not None and existing.model_name and opts.wait:
        steps.append(RetireComponentModel(existing.model_name, keep_data))
    return steps


def format_plan(plan: Plan) -> str:
    """The plan as numbered lines, one per step."""
    head = f"plan for endpoint {plan.endpoint_name} in {plan.region}"
    lines = [head + (" (dry run: nothing will be called)" if plan.dry_run else "")]
    lines.append(f"  {plan.summary}")
    for i, step in enumerate(plan.steps, 1):
        lines.append(f"  {i}. {step.describe()}")
    return "\n".join(lines)


def _kept_routing(opts: DeployOptions, remote: RemoteState | None) -> Routing | None:
    """The routing asked for; else, on an update, the running config's (not reset silently)."""
    asked = routing_config(opts)
    if asked is not None or remote is None or remote.endpoint is None:
        return asked
    return next((v.routing for v in remote.endpoint.variants if v.routing), None)


def _async_config(opts: DeployOptions) -> AsyncConfig | None:
    asked = opts.asynchronous
    if asked.output is None:
        return None
    return AsyncConfig(asked.output, asked.failure, asked.success_topic, asked.error_topic)
