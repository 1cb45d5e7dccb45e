"""DeployOptions from flat keyword names, one per deploy flag, so a test varies one flag."""

from __future__ import annotations

from typing import Any

from sagemaker_openai.sagemaker.options import (
    AsyncOptions,
    ComponentOptions,
    ContainerOptions,
    DeployOptions,
    ModelOptions,
    RoutingOptions,
    ScalingOptions,
)

GROUPS: dict[str, type] = {
    "model": ModelOptions,
    "container": ContainerOptions,
    "scaling": ScalingOptions,
    "asynchronous": AsyncOptions,
    "component": ComponentOptions,
    "routing": RoutingOptions,
}
# flat name: (group, field); the names not here (endpoint_name, instance_type, role, region,
# wait) are DeployOptions' own
FIELDS = {
    "model": ("model", "source"),
    "s3_data": ("model", "s3_data"),
    "bucket": ("model", "bucket"),
    "online_deps": ("model", "online_deps"),
    "cache_dir": ("model", "cache_dir"),
    "target": ("container", "target"),
    "image_uri": ("container", "image_uri"),
    "env": ("container", "env"),
    "inference_ami": ("container", "inference_ami"),
    "volume_size_gb": ("container", "volume_size_gb"),
    "startup_timeout_s": ("container", "startup_timeout_s"),
    "download_timeout_s": ("container", "download_timeout_s"),
    "instance_count": ("scaling", "instance_count"),
    "autoscale": ("scaling", "autoscale"),
    "scale_metric": ("scaling", "metric"),
    "scale_target": ("scaling", "target_value"),
    "retain_variants": ("scaling", "retain_variants"),
    "async_output": ("asynchronous", "output"),
    "async_failure": ("asynchronous", "failure"),
    "async_success_topic": ("asynchronous", "success_topic"),
    "async_error_topic": ("asynchronous", "error_topic"),
    "inference_component": ("component", "name"),
    "min_copies": ("component", "min_copies"),
    "max_copies": ("component", "max_copies"),
    "max_instances": ("component", "max_instances"),
    "routing": ("routing", "strategy"),
    "prefix_length": ("routing", "prefix_length"),
    "prefix_concurrency": ("routing", "prefix_concurrency"),
}


def deploy_options(**flat: Any) -> DeployOptions:
    own: dict[str, Any] = {}
    grouped: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
        if name in FIELDS:
            group, field = FIELDS[name]
            grouped.setdefault(group, {})[field] = value
        else:
            own[name] = value
    return DeployOptions(**own, **{g: GROUPS[g](**kw) for g, kw in grouped.items()})
