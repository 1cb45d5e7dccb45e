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

from .resources import LEAST_OUTSTANDING, Routing

GIB = 2**30
# Instance type -> (vCPUs, memory GiB, accelerators, GiB per accelerator): the common ones.
INSTANCES: dict[str, tuple[int, int, int, int]] = {
    "ml.g5.xlarge": (4, 16, 1, 24),
    "ml.g5.2xlarge": (8, 32, 1, 24),
    "ml.g5.12xlarge": (48, 192, 4, 24),
    "ml.g5.48xlarge": (192, 768, 8, 24),
    "ml.g6.xlarge": (4, 16, 1, 24),
    "ml.g6.2xlarge": (8, 32, 1, 24),
    "ml.g6.12xlarge": (48, 192, 4, 24),
    "ml.g6e.xlarge": (4, 32, 1, 48),
    "ml.g6e.2xlarge": (8, 64, 1, 48),
    "ml.g6e.12xlarge": (48, 384, 4, 48),
    "ml.p4d.24xlarge": (96, 1152, 8, 40),
    "ml.p5.48xlarge": (192, 2048, 8, 80),
    "ml.m5.xlarge": (4, 16, 0, 0),
    "ml.m5.2xlarge": (8, 32, 0, 0),
    "ml.c5.2xlarge": (8, 16, 0, 0),
}
WEIGHTS_SHARE = 0.6  # weights may fill this share of an accelerator; the rest is KV cache
HOST_SHARE = 0.9  # SageMaker keeps part of each instance's CPU and memory for itself
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
    if instance_type not in INSTANCES:
        known = ", ".join(sorted(INSTANCES))
        raise ComponentError(f"no sizing for {instance_type}; known: {known}")
    vcpus, memory_gib, devices, device_gib = INSTANCES[instance_type]
    model_gib = model_bytes / GIB
    if devices == 0:
        memory_mb = math.ceil((2 * model_gib + 2) * 1024)  # weights, activations, runtime
        if memory_mb > memory_gib * 1024 * HOST_SHARE:
            raise ComponentError(f"a {model_gib:.1f} GiB model does not fit {instance_type}")
        return ComputeRequirements(0, max(1, vcpus // 2), memory_mb)
    need = max(1, math.ceil(model_gib / (device_gib * WEIGHTS_SHARE)))
    used = 1 << (need - 1).bit_length()  # 1, 2, 4, 8
    if used > devices:
        raise ComponentError(
            f"a {model_gib:.1f} GiB model needs {used} accelerators; {instance_type} has {devices}"
        )
    share = used / devices * HOST_SHARE
    return ComputeRequirements(
        used, max(1, math.floor(vcpus * share)), math.floor(memory_gib * 1024 * share)
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
) -> dict[str, Any]:
    """CreateEndpointConfig for components: no model in the variant, managed instance scaling
    (down to 0 instances where asked), a routing strategy (PREFIX_AWARE for chat prefixes)."""
    return {
        "EndpointConfigName": config_name,
        "ExecutionRoleArn": role_arn,
        "ProductionVariants": [
            {
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
        ],
    }


def inference_component(
    name: str,
    endpoint: str,
    model_name: str,
    reqs: ComputeRequirements,
    copies: int = 1,
    variant: str = "AllTraffic",
) -> dict[str, Any]:
    """CreateInferenceComponent for a model on an endpoint."""
    return {
        "InferenceComponentName": name,
        "EndpointName": endpoint,
        "VariantName": variant,
        "Specification": {"ModelName": model_name, "ComputeResourceRequirements": reqs.to_api()},
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
