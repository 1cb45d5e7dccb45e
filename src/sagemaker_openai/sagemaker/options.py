"""What the user asked a deploy to do, grouped by concern, checked without calling AWS."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..model_folder import ModelFolderError, parse_hub_model
from ..settings import DEFAULT_CACHE_DIR
from .components import COPY_CONCURRENCY
from .errors import InvalidInput
from .host_ami import check_ami
from .images import TARGETS, check_instance_type, default_image_uri, device, is_gpu_instance
from .package import check_package_folder, resolve_model_dir
from .resources import ROUTING_STRATEGIES, Routing, ScalingPolicy

# SageMaker's own patterns (CreateEndpoint API reference).
ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")

# Autoscaling metrics. AWS recommends concurrency for LLMs: a streamed chat request holds the
# model for seconds, and the high-resolution metric is emitted every 10 s instead of every minute.
SCALE_METRICS = {
    "concurrency": "SageMakerVariantConcurrentRequestsPerModelHighResolution",
    "invocations": "SageMakerVariantInvocationsPerInstance",
}
# Default targets: concurrent requests per model (one model per instance here) that a GPU's
# continuous batching keeps fast, and fewer on a CPU; invocations per instance per minute.
CONCURRENCY_TARGET = {"GPU": 8.0, "CPU": 2.0}
INVOCATIONS_TARGET = 30.0
S3_DATA = ("tarball", "uncompressed")
BACKLOG_TARGET = 5.0  # an async endpoint's queued requests per instance: AWS's example value
# PREFIX_AWARE's prefix: a chat body's opening bytes, system prompt included. Ours, not AWS's.
PREFIX_LENGTH = 4096


@dataclass(frozen=True)
class ModelOptions:
    """Where the model comes from and how its files reach the container."""

    # a model folder, "demo", hf://ORG/NAME[@REVISION], or an s3:// URL of a model.tar.gz or of
    # a prefix (ending in /) holding the model's files
    source: str
    s3_data: str = "tarball"  # or "uncompressed": files under an S3 prefix
    bucket: str | None = None  # None: sagemaker-REGION-ACCOUNT
    online_deps: bool = False  # True: the container installs dependencies from PyPI
    cache_dir: Path = DEFAULT_CACHE_DIR

    def check_s3_data(self) -> None:
        if self.s3_data not in S3_DATA:
            raise InvalidInput("--s3-data", f"must be one of {', '.join(S3_DATA)}")
        if self.s3_data == "uncompressed" and self.source.startswith("s3://"):
            raise InvalidInput("--s3-data", "applies to a model folder that this run uploads")

    def check_source(self) -> None:
        try:
            hub = parse_hub_model(self.source)
        except ModelFolderError as e:
            raise InvalidInput("--model", str(e)) from None
        if hub is None and not self.source.startswith("s3://"):
            check_package_folder(resolve_model_dir(self.source, self.cache_dir))


@dataclass(frozen=True)
class ContainerOptions:
    """The serving container: its image, environment, host AMI, disk and time limits."""

    target: str = "lmi"  # one of TARGETS
    image_uri: str | None = None  # None: the target's documented image
    env: tuple[str, ...] = ()  # "K=V"
    inference_ami: str | None = None  # InferenceAmiVersion; None: from the image's CUDA
    volume_size_gb: int | None = None  # None: derived from the model size
    startup_timeout_s: int | None = None
    download_timeout_s: int | None = None

    def check_ranges(self) -> None:
        # The API's own bounds (botocore's ProductionVariant shapes).
        if self.volume_size_gb is not None and not 1 <= self.volume_size_gb <= 512:
            raise InvalidInput("--volume-size", "must be 1..512 GB")
        for flag, value in (
            ("--startup-timeout", self.startup_timeout_s),
            ("--download-timeout", self.download_timeout_s),
        ):
            if value is not None and not 60 <= value <= 3600:
                raise InvalidInput(flag, "must be 60..3600 seconds")

    def user_env(self) -> tuple[tuple[str, str], ...]:
        """--env as (KEY, VALUE) pairs."""
        out = []
        for pair in self.env:
            key, sep, value = pair.partition("=")
            if not sep or not ENV_KEY.match(key):
                raise InvalidInput("--env", f"{pair!r} is not KEY=VALUE")
            out.append((key, value))
        return tuple(out)


@dataclass(frozen=True)
class ScalingOptions:
    """How many instances, and what autoscaling tracks."""

    instance_count: int = 1
    autoscale: str | None = None  # "MIN:MAX"
    metric: str | None = None  # a key of SCALE_METRICS; None: concurrency (or the queue)
    target_value: float | None = None  # None: the default for the metric and device
    retain_variants: bool = True  # on update, keep the running instance count

    def policy(self, instance_type: str) -> ScalingPolicy:
        metric = SCALE_METRICS.get(self.metric or "concurrency")
        if metric is None:
            raise InvalidInput("--scale-metric", f"must be one of {', '.join(SCALE_METRICS)}")
        if self.target_value is not None and self.target_value <= 0:
            raise InvalidInput("--scale-target", "must be above 0")
        if self.metric == "invocations":
            default = INVOCATIONS_TARGET
        else:
            default = CONCURRENCY_TARGET["GPU" if is_gpu_instance(instance_type) else "CPU"]
        return ScalingPolicy(metric, self.target_value or default)

    def backlog_target(self) -> float:
        return self.target_value or BACKLOG_TARGET


@dataclass(frozen=True)
class AsyncOptions:
    """An asynchronous endpoint: where results (and failures) go, whom SNS tells."""

    output: str | None = None  # s3://BUCKET/PREFIX; None: a real-time endpoint
    failure: str | None = None
    success_topic: str | None = None
    error_topic: str | None = None

    def check(self) -> None:
        given = (self.failure, self.success_topic, self.error_topic)
        if self.output is None:
            if any(given):
                raise InvalidInput("--async", "the async options need --async s3://BUCKET/PREFIX")
            return
        for flag, uri in (("--async", self.output), ("--async-failure", self.failure)):
            if uri is not None and not uri.startswith("s3://"):
                raise InvalidInput(flag, f"{uri!r} is not an s3:// URI")


@dataclass(frozen=True)
class ComponentOptions:
    """An inference component on an endpoint without a model in its config, its copies
    autoscaled between min_copies (0: scale to zero) and max_copies where min_copies is given."""

    name: str | None = None  # None: the model goes into the endpoint config
    min_copies: int | None = None
    max_copies: int | None = None  # None: max(1, min_copies)
    max_instances: int | None = None  # managed instance scaling's ceiling; None: instance_count

    def copy_range(self) -> tuple[int, int] | None:
        """(MIN, MAX) copies where copy autoscaling was asked for."""
        if self.min_copies is None:
            return None
        return self.min_copies, self.max_copies or max(1, self.min_copies)


@dataclass(frozen=True)
class RoutingOptions:
    """The variant's RoutingConfig (None: SageMaker's default, or what an update finds)."""

    strategy: str | None = None  # one of ROUTING_STRATEGIES
    prefix_length: int | None = None  # PREFIX_AWARE only; None: PREFIX_LENGTH
    prefix_concurrency: int | None = None  # PREFIX_AWARE only; None: the scaling target


@dataclass(frozen=True)
class DeployOptions:
    """What the user asked for, as given on the command line."""

    endpoint_name: str
    instance_type: str
    role: str
    region: str
    model: ModelOptions
    wait: bool = True
    container: ContainerOptions = field(default_factory=ContainerOptions)
    scaling: ScalingOptions = field(default_factory=ScalingOptions)
    asynchronous: AsyncOptions = field(default_factory=AsyncOptions)
    component: ComponentOptions = field(default_factory=ComponentOptions)
    routing: RoutingOptions = field(default_factory=RoutingOptions)


def check_options(opts: DeployOptions) -> None:
    """Everything about the flags that can be checked without AWS; raises InvalidInput."""
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
    check_instance_type(opts.instance_type)
    _check_async(opts)
    _check_component(opts)
    if opts.container.target not in TARGETS:
        raise InvalidInput("--target", f"must be one of {', '.join(TARGETS)}")
    if opts.scaling.instance_count < 1:
        raise InvalidInput("--instance-count", "must be at least 1")
    if not opts.region:
        raise InvalidInput("--region", "no AWS region given or configured")
    opts.container.check_ranges()
    opts.model.check_s3_data()
    autoscale(opts)
    routing_config(opts)
    opts.container.user_env()
    opts.scaling.policy(opts.instance_type)
    _check_image(opts)
    opts.model.check_source()  # last: it reads the model folder


def _check_image(opts: DeployOptions) -> None:
    container = opts.container
    if container.inference_ami is not None:
        check_ami(container.inference_ami)
    if container.image_uri is not None:
        return
    if container.target == "lmi" and device(opts.instance_type) == "CPU":
        # djl-serving v0.36.0 serving/docker/Dockerfile, stage cpu-full: Python 3.11, torch
        # 2.7.1, scikit-learn, xgboost, pydantic; no transformers or tokenizers to run a model.
        raise InvalidInput(
            "--target",
            f"lmi on a CPU instance ({opts.instance_type}): DJL's cpu-full image ships no "
            "transformers; use --target hf-dlc or image, or pass --image-uri",
        )
    default_image_uri(container.target, opts.region, opts.instance_type)


def autoscale(opts: DeployOptions) -> tuple[int, int] | None:
    """(MIN, MAX) from --autoscale, or None."""
    scaling = opts.scaling
    if scaling.autoscale is None:
        return None
    parts = scaling.autoscale.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise InvalidInput("--autoscale", f"{scaling.autoscale!r} is not MIN:MAX, e.g. 1:4")
    low, high = int(parts[0]), int(parts[1])
    if low == 0 and opts.asynchronous.output is None:
        raise InvalidInput("--autoscale", "MIN 0 needs --async: only async endpoints scale to zero")
    if not 0 <= low <= high or high < 1:
        raise InvalidInput("--autoscale", "needs MIN <= MAX and MAX >= 1")
    if not low <= scaling.instance_count <= high:
        raise InvalidInput(
            "--autoscale", f"--instance-count {scaling.instance_count} is outside it"
        )
    if not opts.wait:
        raise InvalidInput("--autoscale", "needs the endpoint InService first; drop --no-wait")
    return low, high


def _check_async(opts: DeployOptions) -> None:
    opts.asynchronous.check()
    if opts.asynchronous.output is not None and opts.scaling.metric is not None:
        raise InvalidInput(
            "--scale-metric",
            "an async endpoint scales on its queue (ApproximateBacklogSizePerInstance); "
            "--scale-target sets queued requests per instance",
        )


def routing_config(opts: DeployOptions) -> Routing | None:
    """The RoutingConfig asked for; PREFIX_AWARE with its settings (SageMaker's bounds)."""
    routing = opts.routing
    prefix_flag = "--prefix-length" if routing.prefix_length is not None else "--prefix-concurrency"
    prefix_given = routing.prefix_length is not None or routing.prefix_concurrency is not None
    if routing.strategy != "PREFIX_AWARE" and prefix_given:
        raise InvalidInput(prefix_flag, "applies with --routing PREFIX_AWARE")
    if routing.strategy is None:
        return None
    if routing.strategy not in ROUTING_STRATEGIES:
        raise InvalidInput(
            "--routing", f"{routing.strategy!r} is not one of {', '.join(ROUTING_STRATEGIES)}"
        )
    if opts.asynchronous.output is not None:
        raise InvalidInput("--routing", "routes real-time requests; an async endpoint queues them")
    if routing.strategy != "PREFIX_AWARE":
        return Routing(routing.strategy)
    length = PREFIX_LENGTH if routing.prefix_length is None else routing.prefix_length
    if not 1024 <= length <= 65536:
        raise InvalidInput("--prefix-length", "must be 1024..65536 bytes")
    threshold = _prefix_concurrency(opts)
    if not 1 <= threshold <= 1024:
        raise InvalidInput("--prefix-concurrency", "must be 1..1024 in-flight requests")
    return Routing("PREFIX_AWARE", length, threshold)


def _prefix_concurrency(opts: DeployOptions) -> int:
    if opts.routing.prefix_concurrency is not None:
        return opts.routing.prefix_concurrency
    if opts.component.name:
        return int(COPY_CONCURRENCY)
    # the concurrency that autoscaling aims at: beyond it an instance is busy
    scaling = opts.scaling
    device = "GPU" if is_gpu_instance(opts.instance_type) else "CPU"
    by_concurrency = scaling.metric in (None, "concurrency") and scaling.target_value
    return max(1, round(by_concurrency or CONCURRENCY_TARGET[device]))


def _check_component(opts: DeployOptions) -> None:
    component = opts.component
    asked = (component.min_copies, component.max_copies, component.max_instances)
    if component.name is None:
        if any(v is not None for v in asked):
            raise InvalidInput("--min-copies", "the copy options need --inference-component NAME")
        return
    if not ENDPOINT_NAME.match(component.name):
        raise InvalidInput(
            "--inference-component",
            f"{component.name!r} must be 1-63 letters, "
            "digits or hyphens, starting and ending with a letter or digit",
        )
    if opts.model.source.startswith(("s3://", "hf://")):
        raise InvalidInput(
            "--inference-component", "sizes each copy from the model folder; give one to --model"
        )
    if opts.scaling.autoscale is not None:
        raise InvalidInput("--autoscale", "scales instances; a component scales with --min-copies")
    if opts.asynchronous.output is not None:
        raise InvalidInput("--async", "does not apply with --inference-component")
    if component.min_copies is None and component.max_copies is not None:
        raise InvalidInput("--max-copies", "needs --min-copies (0 scales to zero)")
    low_high = component.copy_range()
    if low_high and not (0 <= low_high[0] <= low_high[1] and low_high[1] >= 1):
        raise InvalidInput("--max-copies", "needs 0 <= --min-copies <= --max-copies, max >= 1")
    if low_high and not opts.wait:
        raise InvalidInput("--min-copies", "needs the component InService first; drop --no-wait")
    if (
        component.max_instances is not None
        and component.max_instances < opts.scaling.instance_count
    ):
        raise InvalidInput("--max-instances", "must be at least --instance-count")
