"""Requests for SageMaker's newer endpoint shapes, as plain data: inference components (with
copies scaled to zero), LoRA adapter components, and asynchronous endpoints.

Each function returns the exact keyword arguments of one boto3 call; the deploy plan decides
when to make it. Names and shapes follow botocore's service models (sagemaker 2017-07-24,
application-autoscaling 2016-02-06, cloudwatch 2010-08-01); the scale-to-zero recipes follow
AWS's developer guide (*Scale an endpoint to zero instances*, *Autoscale an asynchronous endpoint*).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .images import is_neuron_instance
from .instances import instance_facts
from .resources import LEAST_OUTSTANDING, Routing

GIB = 2**30
WEIGHTS_SHARE = 0.6  # weights may fill this share of an accelerator; the rest is KV cache
CORES_SHARE = 0.9  # of a copy's proportional share of vCPUs (SageMaker keeps some for itself)
# MinMemoryRequiredInMb is what a copy must find free to be placed, not a cap. A GPU copy
# holds its weights on the GPUs; on the host it needs room to stage them and its runtime:
# the weights plus HOST_RUNTIME_GIB, at most half its proportional share of host memory.
# SageMaker places components within less than EC2's memory (the SageMaker Python SDK
# defaults a copy to 1024 MB for this reason, sagemaker-serve model_builder.py), so asking
# for 90% of an instance made a copy unplaceable.
HOST_RUNTIME_GIB = 4
HOST_MEMORY_SHARE = 0.5
CPU_MEMORY_SHARE = 0.9  # a CPU copy holds its weights in host memory: refused beyond this
COPY_METRIC = "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
COPY_DIMENSION = "sagemaker:inference-component:DesiredCopyCount"
COPY_CONCURRENCY = 4.0  # concurrent requests per copy that copy autoscaling targets
VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


class ComponentError(ValueError):
    """A component that cannot be placed as asked (unknown instance, model too large)."""


@dataclass(frozen=True)
class ComputeRequirements:
    """One copy's share of an instance: ComputeResourceRequirements, and how it was derived."""

    accelerators: int
    cpu_cores: float
    memory_mb: int

    def to_api(self) -> dict[str, Any]:
        reqs: dict[str, Any] = {
            "NumberOfCpuCoresRequired": self.cpu_cores,
            "MinMemoryRequiredInMb": self.memory_mb,
        }
        if self.accelerators:
            reqs["NumberOfAcceleratorDevicesRequired"] = self.accelerators
        return reqs

    def describe(self) -> str:
        devices = f"{self.accelerators} accelerator(s), " if self.accelerators else ""
        return f"{devices}{self.cpu_cores:g} CPU cores, {self.memory_mb} MiB memory per copy"


def compute_requirements(instance_type: str, model_bytes: int) -> ComputeRequirements:
    """Accelerators enough for the weights to fill at most 60% of them (a power of two, for
    tensor parallelism), and the matching share of the instance's cores and memory."""
    facts = instance_facts(instance_type)
    if is_neuron_instance(instance_type):
        raise ComponentError(f"{instance_type} has Neuron accelerators; sizing is for GPUs")
    if facts is None:
        raise ComponentError(
            f"no sizing for {instance_type}: EC2's record (sagemaker/instances.json) lacks it"
        )
    vcpus, memory_gib = facts.vcpus, facts.memory_mib / 1024
    model_gib = model_bytes / GIB
    if facts.gpus == 0:
        memory_mb = math.ceil((2 * model_gib + 2) * 1024)  # weights, activations, runtime
        if memory_mb > memory_gib * 1024 * CPU_MEMORY_SHARE:
            raise ComponentError(f"a {model_gib:.1f} GiB model does not fit {instance_type}")
        return ComputeRequirements(0, max(1, vcpus // 2), memory_mb)
    device_gib = facts.gpu_memory_mib / facts.gpus / 1024
    need = max(1, math.ceil(model_gib / (device_gib * WEIGHTS_SHARE)))
    used = 1 << (need - 1).bit_length()  # 1, 2, 4, 8
    if used > facts.gpus:
        raise ComponentError(
            f"a {model_gib:.1f} GiB model needs {used} accelerators; "
            f"{instance_type} has {facts.gpus}"
        )
    share = used / facts.gpus
    host_mb = math.ceil((model_gib + HOST_RUNTIME_GIB) * 1024)
    cap_mb = math.floor(memory_gib * 1024 * share * HOST_MEMORY_SHARE)
    return ComputeRequirements(
        used, max(1, math.floor(vcpus * share * CORES_SHARE)), min(host_mb, cap_mb)
    )


def component_endpoint_config(
    config_name: str,
    role_arn: str,
    instance_type: str,
    instances: int,
    max_instances: int,
    scale_to_zero: bool = False,
    routing: Routing = LEAST_OUTSTANDING,
    variant: str = "AllTraffic",
    ami: str | None = None,  # InferenceAmiVersion (host_ami.py); None: SageMaker's default
) -> dict[str, Any]:
    """CreateEndpointConfig for components: no model in the variant, managed instance scaling
    (down to 0 instances where asked), a routing strategy (PREFIX_AWARE for chat prefixes)."""
    production_variant: dict[str, Any] = {
        "VariantName": variant,
        "InstanceType": instance_type,
        "InitialInstanceCount": instances,
        "ManagedInstanceScaling": {
            "Status": "ENABLED",
            "MinInstanceCount": 0 if scale_to_zero else instances,
            "MaxInstanceCount": max_instances,
        },
        "RoutingConfig": routing.to_api(),
    }
    if ami is not None:
        production_variant["InferenceAmiVersion"] = ami
    return {
        "EndpointConfigName": config_name,
        "ExecutionRoleArn": role_arn,
        "ProductionVariants": [production_variant],
    }


def inference_component(
    name: str,
    endpoint: str,
    model_name: str,
    reqs: ComputeRequirements,
    copies: int = 1,
    variant: str = "AllTraffic",
    startup: tuple[int, int] | None = None,  # (download, health check) timeouts, seconds
) -> dict[str, Any]:
    """CreateInferenceComponent for a model on an endpoint."""
    spec: dict[str, Any] = {"ModelName": model_name, "ComputeResourceRequirements": reqs.to_api()}
    if startup is not None:
        spec["StartupParameters"] = {
            "ModelDataDownloadTimeoutInSeconds": startup[0],
            "ContainerStartupHealthCheckTimeoutInSeconds": startup[1],
        }
    return {
        "InferenceComponentName": name,
        "EndpointName": endpoint,
        "VariantName": variant,
        "Specification": spec,
        "RuntimeConfig": {"CopyCount": copies},
    }


def adapter_component(name: str, endpoint: str, base: str, artifact_url: str) -> dict[str, Any]:
    """CreateInferenceComponent for a LoRA adapter served by the base component's copies."""
    return {
        "InferenceComponentName": name,
        "EndpointName": endpoint,
        "Specification": {
            "BaseInferenceComponentName": base,
            "Container": {"ArtifactUrl": artifact_url},
        },
    }


def copy_scaling(
    component: str, min_copies: int, max_copies: int, target_concurrency: float = COPY_CONCURRENCY
) -> tuple[dict[str, Any], dict[str, Any]]:
    """RegisterScalableTarget and a target-tracking PutScalingPolicy for a component's copies;
    `min_copies` 0 lets it scale to zero (then add `scale_from_zero`)."""
    resource = f"inference-component/{component}"
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource,
        "ScalableDimension": COPY_DIMENSION,
        "MinCapacity": min_copies,
        "MaxCapacity": max_copies,
    }
    policy = {
        "PolicyName": f"{component}-concurrency",
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource,
        "ScalableDimension": COPY_DIMENSION,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": target_concurrency,
            "PredefinedMetricSpecification": {"PredefinedMetricType": COPY_METRIC},
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
    }
    return target, policy


def scale_from_zero(component: str) -> tuple[dict[str, Any], Any]:
    """A step policy adding one copy, and (given that policy's ARN) the CloudWatch alarm on
    NoCapacityInvocationFailures that fires it: target tracking cannot leave zero by itself."""
    policy = {
        "PolicyName": f"{component}-from-zero",
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"inference-component/{component}",
        "ScalableDimension": COPY_DIMENSION,
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": "Maximum",
            "Cooldown": 60,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
        },
    }

    def alarm(policy_arn: str) -> dict[str, Any]:
        return {
            "AlarmName": f"{component}-no-capacity",
            "AlarmActions": [policy_arn],
            "MetricName": "NoCapacityInvocationFailures",
            "Namespace": "AWS/SageMaker",
            "Statistic": "Maximum",
            "Dimensions": [{"Name": "InferenceComponentName", "Value": component}],
            "Period": 30,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "missing",
        }

    return policy, alarm


def async_inference_config(
    output_path: str,
    failure_path: str | None = None,
    success_topic: str | None = None,
    error_topic: str | None = None,
) -> dict[str, Any]:
    """AsyncInferenceConfig for CreateEndpointConfig: where results go, and whom to tell."""
    output: dict[str, Any] = {"S3OutputPath": output_path}
    if failure_path:
        output["S3FailurePath"] = failure_path
    topics = {"SuccessTopic": success_topic, "ErrorTopic": error_topic}
    if any(topics.values()):
        output["NotificationConfig"] = {k: v for k, v in topics.items() if v}
    return {"OutputConfig": output}


def backlog_policy(
    endpoint: str, backlog_per_instance: float = 5.0, variant: str = "AllTraffic"
) -> dict[str, Any]:
    """Target tracking of an async endpoint's queued requests per instance (AWS's recipe;
    5 is its example target). Named as deploy's real-time policy, which it replaces."""
    return {
        "PolicyName": f"{endpoint}-target-tracking",
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{endpoint}/variant/{variant}",
        "ScalableDimension": VARIANT_DIMENSION,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": backlog_per_instance,
            "CustomizedMetricSpecification": {
                "MetricName": "ApproximateBacklogSizePerInstance",
                "Namespace": "AWS/SageMaker",
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                "Statistic": "Average",
            },
            # Ours, not AWS's: leave zero slowly (a cold start takes minutes), grow sooner.
            "ScaleInCooldown": 600,
            "ScaleOutCooldown": 120,
        },
    }


def backlog_alarm_name(endpoint: str) -> str:
    return f"{endpoint}-HasBacklogWithoutCapacity"


def backlog_from_zero(endpoint: str, variant: str = "AllTraffic") -> tuple[dict[str, Any], Any]:
    """AWS's step policy adding one instance, and (given its ARN) the alarm on
    HasBacklogWithoutCapacity that fires it: at zero instances target tracking waits until
    the queue exceeds its target. Parameters as in *Autoscale an asynchronous endpoint*."""
    policy = {
        "PolicyName": "HasBacklogWithoutCapacity-ScalingPolicy",
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{endpoint}/variant/{variant}",
        "ScalableDimension": VARIANT_DIMENSION,
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": "Average",
            "Cooldown": 300,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
        },
    }

    def alarm(policy_arn: str) -> dict[str, Any]:
        return {
            "AlarmName": backlog_alarm_name(endpoint),
            "MetricName": "HasBacklogWithoutCapacity",
            "Namespace": "AWS/SageMaker",
            "Statistic": "Average",
            "EvaluationPeriods": 2,
            "DatapointsToAlarm": 2,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "missing",
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
            "Period": 60,
            "AlarmActions": [policy_arn],
        }

    return policy, alarm
