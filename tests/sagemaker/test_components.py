"""Inference components, adapters and async endpoints: exact requests, checked by botocore's
Stubber against the real service models (a wrong name or type fails validation)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from sagemaker_openai.sagemaker.components import (
    ComponentError,
    adapter_component,
    async_inference_config,
    backlog_from_zero,
    backlog_policy,
    component_endpoint_config,
    compute_requirements,
    copy_scaling,
    inference_component,
    scale_from_zero,
)
from sagemaker_openai.sagemaker.resources import ROUTING_STRATEGIES, Routing

GIB = 2**30
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def client(service: str):
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def call(service: str, operation: str, kwargs: dict, expected: dict, response: dict) -> None:
    c = client(service)
    with Stubber(c) as stub:
        stub.add_response(operation, response, expected)
        getattr(c, operation)(**kwargs)
        stub.assert_no_pending_responses()


def test_requirements_from_instance_and_model_size() -> None:
    """ml.g5.12xlarge: 48 vCPUs, 192 GiB, 4 A10G of 22,888 MiB usable each (EC2's
    DescribeInstanceTypes, sagemaker/instances.json). Host memory: the weights and 4 GiB of
    runtime, never more than half the copy's share: not the 90% that left no room to place."""
    small = compute_requirements("ml.g5.12xlarge", 8 * GIB)  # fits one A10G at <= 60%
    assert (small.accelerators, small.cpu_cores, small.memory_mb) == (1, 10, (8 + 4) * 1024)
    big = compute_requirements("ml.g5.12xlarge", 30 * GIB)  # needs 3 -> 4 (tensor parallel)
    assert (big.accelerators, big.cpu_cores, big.memory_mb) == (4, 43, (30 + 4) * 1024)
    assert big.memory_mb < 0.5 * 192 * 1024
    huge = compute_requirements("ml.g5.xlarge", 10 * GIB)  # 16 GiB host: capped at half
    assert huge.memory_mb == 8 * 1024
    cpu = compute_requirements("ml.m5.xlarge", GIB // 4)
    assert (cpu.accelerators, cpu.cpu_cores, cpu.memory_mb) == (0, 2, 2560)
    assert small.describe() == "1 accelerator(s), 10 CPU cores, 12288 MiB memory per copy"


@pytest.mark.parametrize(
    ("instance", "size", "reason"),
    [("ml.g5.xlarge", 30 * GIB, "needs 4 accelerators"), ("ml.x9.huge", GIB, "no sizing")],
)
def test_what_cannot_be_placed_is_said(instance: str, size: int, reason: str) -> None:
    with pytest.raises(ComponentError, match=reason):
        compute_requirements(instance, size)


def test_endpoint_config_without_a_model_scaling_to_zero() -> None:
    kwargs = component_endpoint_config(
        "chat-cfg",
        ROLE,
        "ml.g5.12xlarge",
        1,
        2,
        True,
        Routing("PREFIX_AWARE", 4096, 4),
        ami="al2023-ami-sagemaker-inference-gpu-4-1",
    )
    expected = {
        "EndpointConfigName": "chat-cfg",
        "ExecutionRoleArn": ROLE,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "InstanceType": "ml.g5.12xlarge",
                "InitialInstanceCount": 1,
                "ManagedInstanceScaling": {
                    "Status": "ENABLED",
                    "MinInstanceCount": 0,
                    "MaxInstanceCount": 2,
                },
                "RoutingConfig": {
                    "RoutingStrategy": "PREFIX_AWARE",
                    # required with PREFIX_AWARE (botocore 1.44.8's ProductionVariantRoutingConfig)
                    "PrefixAwareRoutingConfig": {"PrefixLength": 4096, "ConcurrencyThreshold": 4},
                },
                # a value of botocore's ProductionVariantInferenceAmiVersion: Stubber checks it
                "InferenceAmiVersion": "al2023-ami-sagemaker-inference-gpu-4-1",
            }
        ],
    }
    call("sagemaker", "create_endpoint_config", kwargs, expected, {"EndpointConfigArn": "a" * 20})


def test_routing_strategies_are_botocores() -> None:
    """The strategies deploy accepts are exactly the installed service model's enum."""
    model = client("sagemaker").meta.service_model
    assert tuple(model.shape_for("RoutingStrategy").enum) == ROUTING_STRATEGIES


def test_inference_component_and_its_adapter() -> None:
    reqs = compute_requirements("ml.g5.12xlarge", 8 * GIB)
    kwargs = inference_component(
        "chat-ic", "chat", "chat-model", reqs, copies=1, startup=(900, 1200)
    )
    expected = {
        "InferenceComponentName": "chat-ic",
        "EndpointName": "chat",
        "VariantName": "AllTraffic",
        "Specification": {
            "ModelName": "chat-model",
            "ComputeResourceRequirements": {
                "NumberOfCpuCoresRequired": 10,
                "MinMemoryRequiredInMb": 12288,
                "NumberOfAcceleratorDevicesRequired": 1,
            },
            # InferenceComponentStartupParameters: deploy's computed timeouts reach SageMaker
            "StartupParameters": {
                "ModelDataDownloadTimeoutInSeconds": 900,
                "ContainerStartupHealthCheckTimeoutInSeconds": 1200,
            },
        },
        "RuntimeConfig": {"CopyCount": 1},
    }
    arn = {"InferenceComponentArn": "arn:aws:sagemaker:us-east-1:1:inference-component/chat-ic"}
    call("sagemaker", "create_inference_component", kwargs, expected, arn)
    adapter = adapter_component("legal", "chat", "chat-ic", "s3://bucket/adapters/legal/")
    expected = {
        "InferenceComponentName": "legal",
        "EndpointName": "chat",
        "Specification": {
            "BaseInferenceComponentName": "chat-ic",
            "Container": {"ArtifactUrl": "s3://bucket/adapters/legal/"},
        },
    }
    call("sagemaker", "create_inference_component", adapter, expected, arn)


def test_copies_scale_to_zero_and_back() -> None:
    target, policy = copy_scaling("chat-ic", 0, 4)
    resource = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "inference-component/chat-ic",
        "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount",
    }
    call(
        "application-autoscaling",
        "register_scalable_target",
        target,
        {**resource, "MinCapacity": 0, "MaxCapacity": 4},
        {},
    )
    tracking = {
        "TargetValue": 4.0,
        "PredefinedMetricSpecification": {
            "PredefinedMetricType": (
                "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
            )
        },
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
    }
    expected = {
        "PolicyName": "chat-ic-concurrency",
        **resource,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": tracking,
    }
    call("application-autoscaling", "put_scaling_policy", policy, expected, {"PolicyARN": "p"})
    step, alarm = scale_from_zero("chat-ic")
    assert step["StepScalingPolicyConfiguration"]["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}
    ]
    call("application-autoscaling", "put_scaling_policy", step, step, {"PolicyARN": "arn:p"})
    alarm_kwargs = alarm("arn:p")
    assert alarm_kwargs["AlarmActions"] == ["arn:p"]
    assert alarm_kwargs["MetricName"] == "NoCapacityInvocationFailures"
    call("cloudwatch", "put_metric_alarm", alarm_kwargs, alarm_kwargs, {})


def test_async_endpoint_config_and_backlog_scaling() -> None:
    config = async_inference_config(
        "s3://b/out", "s3://b/failures", success_topic="arn:aws:sns:us-east-1:1:ok"
    )
    assert config == {
        "OutputConfig": {
            "S3OutputPath": "s3://b/out",
            "S3FailurePath": "s3://b/failures",
            "NotificationConfig": {"SuccessTopic": "arn:aws:sns:us-east-1:1:ok"},
        }
    }
    kwargs = {
        "EndpointConfigName": "async-cfg",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": "m",
                "InstanceType": "ml.g5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
        "AsyncInferenceConfig": config,
    }
    call("sagemaker", "create_endpoint_config", kwargs, kwargs, {"EndpointConfigArn": "a" * 20})
    # AWS's recipe (*Autoscale an asynchronous endpoint*), the cooldowns ours.
    resource = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/chat/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    tracking = {
        **resource,
        "PolicyName": "chat-target-tracking",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 5.0,
            "CustomizedMetricSpecification": {
                "MetricName": "ApproximateBacklogSizePerInstance",
                "Namespace": "AWS/SageMaker",
                "Dimensions": [{"Name": "EndpointName", "Value": "chat"}],
                "Statistic": "Average",
            },
            "ScaleInCooldown": 600,
            "ScaleOutCooldown": 120,
        },
    }
    call(
        "application-autoscaling",
        "put_scaling_policy",
        backlog_policy("chat"),
        tracking,
        {"PolicyARN": "p"},
    )
    step, alarm = backlog_from_zero("chat")
    expected_step = {
        **resource,
        "PolicyName": "HasBacklogWithoutCapacity-ScalingPolicy",
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": "Average",
            "Cooldown": 300,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
        },
    }
    call("application-autoscaling", "put_scaling_policy", step, expected_step, {"PolicyARN": "a"})
    expected_alarm = {
        "AlarmName": "chat-HasBacklogWithoutCapacity",
        "MetricName": "HasBacklogWithoutCapacity",
        "Namespace": "AWS/SageMaker",
        "Statistic": "Average",
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "missing",
        "Dimensions": [{"Name": "EndpointName", "Value": "chat"}],
        "Period": 60,
        "AlarmActions": ["arn:step"],
    }
    call("cloudwatch", "put_metric_alarm", alarm("arn:step"), expected_alarm, {})
