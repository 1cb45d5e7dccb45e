"""Updating an existing endpoint, through botocore's Stubber with exact parameters: SageMaker's
real behaviour on a failed update is to return the endpoint to InService on the OLD config with
FailureReason set; the run must fail and leave the old config and model alone."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber
from deploy_options import deploy_options

from sagemaker_openai.sagemaker.client import SageMakerClient
from sagemaker_openai.sagemaker.deploy import deploy
from sagemaker_openai.sagemaker.errors import DeployError, StepFailed
from sagemaker_openai.sagemaker.options import DeployOptions

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NAME = "chat-ep-20250102-030405"
OLD = "chat-ep-old"
DATA = "s3://models-bucket/prebuilt/model.tar.gz"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.36.0-lmi28.0.0-cu130"
RESOURCE = "endpoint/chat-ep/variant/AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
REASON = (
    "The primary container for production variant AllTraffic did not pass the ping health check."
)
CONCURRENCY = "SageMakerVariantConcurrentRequestsPerModelHighResolution"
TAGS = [
    {"Key": "sagemaker-openai:endpoint", "Value": "chat-ep"},
    {"Key": "sagemaker-openai:target", "Value": "lmi"},
]


class Quiet:
    def upload(self, total_bytes: int):
        return lambda n: None

    def __init__(self) -> None:
        self.seen: list[str] = []

    def status(self, text: str) -> None:
        self.seen.append(text)

    def done(self) -> None:
        pass


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# What deploy tells the lmi container on a one-GPU instance (sagemaker/container.py): the
# start-up timeout (1800 s: model data of unknown size) as DJL's loading timeouts, one GPU.
LMI_ENV = {
    "SAGEMAKER_STARTUP_TIMEOUT": "1800",
    "MODEL_LOADING_TIMEOUT": "1800",
    "OPTION_TENSOR_PARALLEL_DEGREE": "1",
    "SM_NUM_GPUS": "1",
}


def _opts(**kw) -> DeployOptions:
    base = dict(
        model=DATA,
        endpoint_name="chat-ep",
        instance_type="ml.g5.xlarge",
        role=ROLE,
        region="us-east-1",
        target="lmi",
    )
    base.update(kw)
    return deploy_options(**base)


class Aws:
    """Stubbers for the four clients, with the responses SageMaker gives."""

    def __init__(self) -> None:
        self.client = SageMakerClient(boto3.Session(region_name="us-east-1"))
        self.sts = Stubber(self.client._sts)
        self.sm = Stubber(self.client._sm)
        self.aas = Stubber(self.client._aas)
        self.s3 = Stubber(self.client._s3)

    def endpoint(self, status: str, config: str, instance_type: str, reason: str | None = None):
        summary = {
            "EndpointName": "chat-ep",
            "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/chat-ep",
            "CreationTime": NOW,
            "LastModifiedTime": NOW,
            "EndpointStatus": status,
        }
        self.sm.add_response(
            "list_endpoints", {"Endpoints": [summary]}, {"NameContains": "chat-ep"}
        )
        described = {**summary, "EndpointConfigName": config}
        if reason:
            described["FailureReason"] = reason
        self.sm.add_response("describe_endpoint", described, {"EndpointName": "chat-ep"})
        self.config(config, instance_type)

    def config(self, config: str, instance_type: str) -> None:
        variant = {
            "VariantName": "AllTraffic",
            "ModelName": config,
            "InstanceType": instance_type,
            "InitialInstanceCount": 1,
        }
        self.sm.add_response(
            "describe_endpoint_config",
            {
                "EndpointConfigName": config,
                "EndpointConfigArn": f"arn:aws:sagemaker:x:1:ec/{config}",
                "CreationTime": NOW,
                "ProductionVariants": [variant],
            },
            {"EndpointConfigName": config},
        )

    def scaling(self, registered: bool) -> None:
        target = {
            "ServiceNamespace": "sagemaker",
            "ResourceId": RESOURCE,
            "ScalableDimension": DIMENSION,
            "MinCapacity": 1,
            "MaxCapacity": 4,
            "RoleARN": "arn:aws:iam::1:role/aas",
            "CreationTime": NOW,
        }
        self.aas.add_response(
            "describe_scalable_targets",
            {"ScalableTargets": [target] if registered else []},
            {
                "ServiceNamespace": "sagemaker",
                "ResourceIds": [RESOURCE],
                "ScalableDimension": DIMENSION,
            },
        )
        if registered:
            policy = {
                "PolicyARN": "arn:aws:autoscaling:x:1:policy/p",
                "PolicyName": "chat-ep-target-tracking",
                "ServiceNamespace": "sagemaker",
                "ResourceId": RESOURCE,
                "ScalableDimension": DIMENSION,
                "PolicyType": "TargetTrackingScaling",
                "CreationTime": NOW,
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": 8.0,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": CONCURRENCY},
                },
            }
            self.aas.add_response(
                "describe_scaling_policies",
                {"ScalingPolicies": [policy]},
                {
                    "ServiceNamespace": "sagemaker",
                    "ResourceId": RESOURCE,
                    "ScalableDimension": DIMENSION,
                },
            )

    def create(self, instance_type: str) -> None:
        self.sm.add_response(
            "create_model",
            {"ModelArn": "arn:aws:sagemaker:x:1:model/m"},
            {
                "ModelName": NAME,
                "ExecutionRoleArn": ROLE,
                "Tags": TAGS,
                "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": DATA, "Environment": LMI_ENV},
            },
        )
        self.sm.add_response(
            "create_endpoint_config",
            {"EndpointConfigArn": "arn:aws:sagemaker:x:1:ec/n"},
            {
                "EndpointConfigName": NAME,
                "Tags": TAGS,
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": NAME,
                        "InstanceType": instance_type,
                        "InitialInstanceCount": 1,
                        "InitialVariantWeight": 1.0,
                        "ContainerStartupHealthCheckTimeoutInSeconds": 1800,
                        "ModelDataDownloadTimeoutInSeconds": 1800,
                        "InferenceAmiVersion": "al2023-ami-sagemaker-inference-gpu-4-1",
                    }
                ],
            },
        )

    def update(self, retain: bool = True) -> None:
        self.sm.add_response(
            "update_endpoint",
            {"EndpointArn": "arn:aws:sagemaker:x:1:endpoint/chat-ep"},
            {
                "EndpointName": "chat-ep",
                "EndpointConfigName": NAME,
                "RetainAllVariantProperties": retain,
            },
        )

    def old_model(self, data: str, uploaded: bool) -> None:
        """RetireConfig reads the old model's data and tags before deleting it."""
        arn = f"arn:aws:sagemaker:us-east-1:1:model/{OLD}"
        described = {
            "ModelName": OLD,
            "ModelArn": arn,
            "CreationTime": NOW,
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": data},
        }
        self.sm.add_response("describe_model", described, {"ModelName": OLD})
        self.sm.add_response("describe_model", described, {"ModelName": OLD})
        tags = (
            [{"Key": "sagemaker-openai:uploaded-model-data", "Value": "true"}] if uploaded else []
        )
        self.sm.add_response("list_tags", {"Tags": tags}, {"ResourceArn": arn})

    def deleted(self, operation: str, params: dict) -> None:
        self.sm.add_response(operation, {}, params)

    def __enter__(self) -> Aws:
        for s in (self.sts, self.sm, self.aas, self.s3):
            s.activate()
        self.sts.add_response("get_caller_identity", {"Account": "123456789012"}, {})
        return self

    def __exit__(self, *exc) -> None:
        for s in (self.sts, self.sm, self.aas, self.s3):
            s.deactivate()

    def done(self) -> None:
        for s in (self.sts, self.sm, self.aas, self.s3):
            s.assert_no_pending_responses()


def test_failed_update_reports_the_reason_and_keeps_the_serving_model() -> None:
    clock = FakeClock()
    with Aws() as aws:
        aws.endpoint("InService", OLD, "ml.g5.xlarge")
        aws.scaling(registered=False)
        aws.create("ml.g5.xlarge")
        aws.update()
        aws.endpoint("Updating", OLD, "ml.g5.xlarge")
        # SageMaker's answer to a failed update: InService again, on the old config.
        aws.endpoint("InService", OLD, "ml.g5.xlarge", reason=REASON)
        # Only what this run created goes; a DeleteEndpointConfig or DeleteModel of OLD (still
        # serving) would be an unexpected call and fail the stubber.
        aws.deleted("delete_endpoint_config", {"EndpointConfigName": NAME})
        aws.deleted("delete_model", {"ModelName": NAME})
        with pytest.raises(StepFailed) as failed:
            deploy(_opts(), aws.client, io.StringIO(), Quiet(), now=NOW, clock=clock)
        aws.done()
    assert isinstance(failed.value, DeployError)  # the CLI prints it on one line, exit 1
    assert failed.value.step == "WaitInService"
    message = str(failed.value)
    assert REASON in message and f"back to {OLD}" in message
    assert failed.value.rolled_back == [f"endpoint config {NAME}", f"model {NAME}"]
    assert clock.slept == [15.0]  # the injected clock, no real sleep


def test_successful_update_retires_the_previous_config() -> None:
    with Aws() as aws:
        aws.endpoint("InService", OLD, "ml.g5.xlarge")
        aws.scaling(registered=False)
        aws.create("ml.g5.xlarge")
        aws.update(retain=False)
        aws.endpoint("InService", NAME, "ml.g5.xlarge")
        aws.config(OLD, "ml.g5.xlarge")  # RetireConfig reads the models of the old config
        aws.deleted("delete_endpoint_config", {"EndpointConfigName": OLD})
        old_data = "s3://models-bucket/sagemaker-openai/chat-ep/0ld/model.tar.gz"
        aws.old_model(old_data, uploaded=True)
        aws.deleted("delete_model", {"ModelName": OLD})
        # what this tool uploaded for the old model goes too; the new model's data stays
        aws.s3.add_response(
            "delete_object",
            {},
            {"Bucket": "models-bucket", "Key": "sagemaker-openai/chat-ep/0ld/model.tar.gz"},
        )
        out = io.StringIO()
        progress = Quiet()
        deploy(_opts(retain_variants=False), aws.client, out, progress, now=NOW, clock=FakeClock())
        aws.done()
    assert not [s for s in progress.seen if "warning" in s]  # a stub mismatch would be one
    assert "instance count and weights from the new config" in out.getvalue()


def test_instance_type_change_deregisters_scaling_then_registers_it_again() -> None:
    policy_config = {
        "TargetValue": 8.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": CONCURRENCY},
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
    }
    target = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": RESOURCE,
        "ScalableDimension": DIMENSION,
    }
    with Aws() as aws:
        aws.endpoint("InService", OLD, "ml.g5.xlarge")
        aws.scaling(registered=True)
        aws.create("ml.g6.xlarge")
        aws.aas.add_response("deregister_scalable_target", {}, target)
        aws.update()
        aws.endpoint("InService", NAME, "ml.g6.xlarge")
        aws.aas.add_response(
            "register_scalable_target", {}, {**target, "MinCapacity": 1, "MaxCapacity": 4}
        )
        aws.aas.add_response(
            "put_scaling_policy",
            {"PolicyARN": "arn:aws:autoscaling:x:1:policy/p", "Alarms": []},
            {
                **target,
                "PolicyName": "chat-ep-target-tracking",
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": policy_config,
            },
        )
        aws.config(OLD, "ml.g5.xlarge")
        aws.deleted("delete_endpoint_config", {"EndpointConfigName": OLD})
        aws.old_model(DATA, uploaded=False)  # given as s3://: never deleted by this tool
        aws.deleted("delete_model", {"ModelName": OLD})
        out, progress = io.StringIO(), Quiet()
        deploy(
            _opts(instance_type="ml.g6.xlarge"),
            aws.client,
            out,
            progress,
            now=NOW,
            clock=FakeClock(),
        )
        aws.done()
    assert not [s for s in progress.seen if "warning" in s]
    assert "DeregisterScalableTarget endpoint/chat-ep/variant/AllTraffic" in out.getvalue()
