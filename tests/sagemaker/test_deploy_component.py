"""deploy --inference-component, status and delete of a component endpoint: SageMaker,
Application Auto Scaling, CloudWatch and STS through botocore's Stubber with exact parameters
(moto has no inference components); S3 through moto, where the package is really uploaded."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from deploy_options import deploy_options
from moto import mock_aws

from sagemaker_openai.cli import main
from sagemaker_openai.sagemaker.adapters import AdapterOptions, deploy_adapter
from sagemaker_openai.sagemaker.client import SageMakerClient
from sagemaker_openai.sagemaker.deploy import deploy
from sagemaker_openai.sagemaker.endpoints import components, delete, format_components
from sagemaker_openai.sagemaker.errors import DeployError, InvalidInput, StepFailed
from sagemaker_openai.sagemaker.options import DeployOptions
from sagemaker_openai.sagemaker.plan import format_plan

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-openai:latest"
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NAME = "chat-ep-20250102-030405"
IC = "chat-ic"
ARN = "arn:aws:sagemaker:us-east-1:123456789012"
TAGS = [
    {"Key": "sagemaker-openai:endpoint", "Value": "chat-ep"},
    {"Key": "sagemaker-openai:target", "Value": "image"},
]
DIM = "sagemaker:inference-component:DesiredCopyCount"
POLICY_ARN = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x:resource/p"
# ml.g5.xlarge (4 vCPUs, 16 GiB, one A10G): 90% of the cores; host memory for the (tiny)
# weights and 4 GiB of runtime, not 90% of the instance (sagemaker/components.py)
REQS = {
    "NumberOfCpuCoresRequired": 3,
    "MinMemoryRequiredInMb": 4100,  # 4 GiB + the 3.5 MB model, in MiB rounded up
    "NumberOfAcceleratorDevicesRequired": 1,
}
# the start-up timeouts deploy computes for the 3 MB model, sent with the component
STARTUP = {
    "ModelDataDownloadTimeoutInSeconds": 601,
    "ContainerStartupHealthCheckTimeoutInSeconds": 661,
}
SPEC = {"ModelName": NAME, "ComputeResourceRequirements": REQS, "StartupParameters": STARTUP}


class Quiet:
    def upload(self, total_bytes: int):
        return lambda n: None

    def status(self, text: str) -> None:
        pass

    def done(self) -> None:
        pass


class NoWait:
    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        pass


def _opts(folder: Path, **kw) -> DeployOptions:
    base = dict(
        model=str(folder),
        endpoint_name="chat-ep",
        instance_type="ml.g5.xlarge",
        role=ROLE,
        region="us-east-1",
        target="image",
        image_uri=IMAGE,
        bucket="models-bucket",
        inference_component=IC,
        min_copies=0,
        max_copies=2,
        max_instances=2,
    )
    base.update(kw)
    return deploy_options(**base)


class Aws:
    def __init__(self, session: boto3.Session) -> None:
        self.client = SageMakerClient(session)
        self.sts = Stubber(self.client._sts)
        self.sm = Stubber(self.client._sm)
        self.aas = Stubber(self.client._aas)
        self.cw = Stubber(self.client._cw)
        self.all = (self.sts, self.sm, self.aas, self.cw)

    def __enter__(self) -> Aws:
        for s in self.all:
            s.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in self.all:
            s.deactivate()

    def done(self) -> None:
        for s in self.all:
            s.assert_no_pending_responses()

    def endpoint(
        self, exists: bool, status: str = "InService", config: str = "old-config", model: str = ""
    ) -> None:
        summary = {
            "EndpointName": "chat-ep",
            "EndpointArn": f"{ARN}:endpoint/chat-ep",
            "CreationTime": NOW,
            "LastModifiedTime": NOW,
            "EndpointStatus": status,
        }
        listed = {"Endpoints": [summary] if exists else []}
        self.sm.add_response("list_endpoints", listed, {"NameContains": "chat-ep"})
        if not exists:
            return
        described = {**summary, "EndpointConfigName": config}
        self.sm.add_response("describe_endpoint", described, {"EndpointName": "chat-ep"})
        variant = {"VariantName": "AllTraffic", "InstanceType": "ml.g5.xlarge"}
        if model:  # a classic endpoint: its model in the variant
            variant["ModelName"] = model
        self.sm.add_response(
            "describe_endpoint_config",
            {
                "EndpointConfigName": config,
                "EndpointConfigArn": f"{ARN}:endpoint-config/{config}",
                "CreationTime": NOW,
                "ProductionVariants": [variant],
            },
            {"EndpointConfigName": config},
        )

    def component(self, name: str, model: str, status: str = "InService", base: str = ""):
        spec = {"BaseInferenceComponentName": base} if base else {"ModelName": model}
        self.sm.add_response(
            "describe_inference_component",
            {
                "InferenceComponentName": name,
                "InferenceComponentArn": f"{ARN}:inference-component/{name}",
                "EndpointName": "chat-ep",
                "EndpointArn": f"{ARN}:endpoint/chat-ep",
                "InferenceComponentStatus": status,
                "Specification": spec,
                "RuntimeConfig": {"DesiredCopyCount": 1, "CurrentCopyCount": 1},
                "CreationTime": NOW,
                "LastModifiedTime": NOW,
            },
            {"InferenceComponentName": name},
        )

    def listed(self, names: list[str]) -> None:
        found = [
            {
                "InferenceComponentName": n,
                "InferenceComponentArn": f"{ARN}:inference-component/{n}",
                "EndpointName": "chat-ep",
                "EndpointArn": f"{ARN}:endpoint/chat-ep",
                "VariantName": "AllTraffic",
                "CreationTime": NOW,
                "LastModifiedTime": NOW,
            }
            for n in names
        ]
        self.sm.add_response(
            "list_inference_components",
            {"InferenceComponents": found},
            {"EndpointNameEquals": "chat-ep"},
        )


@pytest.fixture
def aws():
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket="models-bucket")
        with Aws(session) as stubs:
            yield stubs


def _new_component_calls(aws: Aws, min_instances: int = 0) -> None:
    aws.sts.add_response("get_caller_identity", {"Account": "123456789012"}, {})
    aws.endpoint(exists=False)
    aws.sm.add_response("create_model", {"ModelArn": f"{ARN}:model/{NAME}"}, None)
    aws.sm.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": f"{ARN}:endpoint-config/{NAME}"},
        {
            "EndpointConfigName": NAME,
            "ExecutionRoleArn": ROLE,
            "Tags": TAGS,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "InstanceType": "ml.g5.xlarge",
                    "InitialInstanceCount": 1,
                    "ManagedInstanceScaling": {
                        "Status": "ENABLED",
                        "MinInstanceCount": min_instances,
                        "MaxInstanceCount": 2,
                    },
                    "RoutingConfig": {"RoutingStrategy": "LEAST_OUTSTANDING_REQUESTS"},
                    # the target image is CUDA 13 (docker/Dockerfile.gpu): driver 580's AMI
                    "InferenceAmiVersion": "al2023-ami-sagemaker-inference-gpu-4-1",
                }
            ],
        },
    )
    aws.sm.add_response(
        "create_endpoint",
        {"EndpointArn": f"{ARN}:endpoint/chat-ep"},
        {"EndpointName": "chat-ep", "EndpointConfigName": NAME, "Tags": TAGS},
    )
    aws.endpoint(exists=True, config=NAME)  # WaitInService: InService at once


def _component_and_scaling_calls(aws: Aws, create: bool) -> None:
    if create:
        aws.sm.add_response(
            "create_inference_component",
            {"InferenceComponentArn": f"{ARN}:inference-component/{IC}"},
            {
                "InferenceComponentName": IC,
                "EndpointName": "chat-ep",
                "VariantName": "AllTraffic",
                "Specification": SPEC,
                "RuntimeConfig": {"CopyCount": 1},
                "Tags": TAGS,
            },
        )
    else:
        aws.sm.add_response(
            "update_inference_component",
            {"InferenceComponentArn": f"{ARN}:inference-component/{IC}"},
            {
                "InferenceComponentName": IC,
                # No RuntimeConfig: the running (autoscaled) copy count is kept.
                "Specification": SPEC,
            },
        )
    aws.component(IC, NAME, status="Creating" if create else "Updating")
    aws.component(IC, NAME)
    resource = f"inference-component/{IC}"
    aws.aas.add_response(
        "register_scalable_target",
        {},
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": resource,
            "ScalableDimension": DIM,
            "MinCapacity": 0,
            "MaxCapacity": 2,
        },
    )
    aws.aas.add_response(
        "put_scaling_policy",
        {"PolicyARN": POLICY_ARN + "1"},
        {
            "PolicyName": f"{IC}-concurrency",
            "ServiceNamespace": "sagemaker",
            "ResourceId": resource,
            "ScalableDimension": DIM,
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 4.0,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": (
                        "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
                    )
                },
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        },
    )
    aws.aas.add_response(
        "put_scaling_policy",
        {"PolicyARN": POLICY_ARN},
        {
            "PolicyName": f"{IC}-from-zero",
            "ServiceNamespace": "sagemaker",
            "ResourceId": resource,
            "ScalableDimension": DIM,
            "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity",
                "MetricAggregationType": "Maximum",
                "Cooldown": 60,
                "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
            },
        },
    )
    aws.cw.add_response(
        "put_metric_alarm",
        {},
        {
            "AlarmName": f"{IC}-no-capacity",
            "AlarmActions": [POLICY_ARN],  # the step policy's ARN, as PutScalingPolicy gave it
            "MetricName": "NoCapacityInvocationFailures",
            "Namespace": "AWS/SageMaker",
            "Statistic": "Maximum",
            "Dimensions": [{"Name": "InferenceComponentName", "Value": IC}],
            "Period": 30,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "missing",
        },
    )


def test_dry_run_plan_names_the_component_and_its_share(small_model_dir: Path) -> None:
    out = io.StringIO()
    plan = deploy(_opts(small_model_dir), None, out, Quiet(), now=NOW)
    lines = format_plan(plan).splitlines()[4:]
    assert lines == [
        f"  3. CreateModel {NAME}: image {IMAGE}, data s3://models-bucket/sagemaker-openai/"
        f"chat-ep/{{sha256}}/model.tar.gz, role {ROLE}, env SMOAI_SERVED_MODEL_NAME=small-model, "
        "SM_NUM_GPUS=1",
        f"  4. CreateEndpointConfig {NAME}: no model in the variant (inference components), "
        "1 x ml.g5.xlarge, managed instance scaling 0..2, routing LEAST_OUTSTANDING_REQUESTS, "
        "host AMI al2023-ami-sagemaker-inference-gpu-4-1",
        f"  5. CreateEndpoint chat-ep with config {NAME} (if it exists: no endpoint steps, the "
        "component goes onto it: not checked in a dry run)",
        f"  6. wait until chat-ep is InService on {NAME}",
        f"  7. CreateInferenceComponent {IC} on chat-ep: model {NAME}, 1 copy(ies), "
        "1 accelerator(s), 3 CPU cores, 4100 MiB memory per copy, download timeout 601 s, "
        "start-up health check timeout 661 s",
        f"  8. wait until inference component {IC} is InService",
        f"  9. RegisterScalableTarget inference-component/{IC}: copies 0..2; PutScalingPolicy "
        f"{IC}-concurrency: target 4 concurrent requests per copy; scale to zero: "
        f"PutScalingPolicy {IC}-from-zero (step +1 copy) and PutMetricAlarm {IC}-no-capacity "
        "on NoCapacityInvocationFailures",
    ]


def test_new_endpoint_with_a_component_scaling_to_zero(aws: Aws, small_model_dir: Path) -> None:
    _new_component_calls(aws)
    _component_and_scaling_calls(aws, create=True)
    deploy(_opts(small_model_dir), aws.client, io.StringIO(), Quiet(), now=NOW, clock=NoWait())
    aws.done()


def test_existing_component_is_updated_on_its_endpoint(aws: Aws, small_model_dir: Path) -> None:
    aws.sts.add_response("get_caller_identity", {"Account": "123456789012"}, {})
    aws.endpoint(exists=True)
    aws.aas.add_response(
        "describe_scalable_targets",
        {"ScalableTargets": []},
        {
            "ServiceNamespace": "sagemaker",
            "ResourceIds": ["endpoint/chat-ep/variant/AllTraffic"],
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        },
    )
    aws.component(IC, "old-model")
    aws.sm.add_response("create_model", {"ModelArn": f"{ARN}:model/{NAME}"}, None)
    _component_and_scaling_calls(aws, create=False)
    old_key = "sagemaker-openai/chat-ep/old/model.tar.gz"
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket="models-bucket", Key=old_key, Body=b"x")
    model = {
        "ModelName": "old-model",
        "ModelArn": f"{ARN}:model/old-model",
        "CreationTime": NOW,
        "PrimaryContainer": {"ModelDataUrl": f"s3://models-bucket/{old_key}"},
    }
    aws.sm.add_response("describe_model", model, {"ModelName": "old-model"})
    aws.sm.add_response("describe_model", model, {"ModelName": "old-model"})
    uploaded = [{"Key": "sagemaker-openai:uploaded-model-data", "Value": "true"}]
    aws.sm.add_response("list_tags", {"Tags": uploaded}, {"ResourceArn": f"{ARN}:model/old-model"})
    aws.sm.add_response("delete_model", {}, {"ModelName": "old-model"})
    out = io.StringIO()
    plan = deploy(_opts(small_model_dir), aws.client, out, Quiet(), now=NOW, clock=NoWait())
    assert [type(s).__name__ for s in plan.steps] == [
        "Package",
        "Upload",
        "CreateModel",
        "UpdateInferenceComponent",
        "WaitComponent",
        "ScaleCopies",
        "RetireComponentModel",
    ]
    assert (
        f"4. UpdateInferenceComponent {IC}: model {NAME}, keeping its copy count (1), "
        "1 accelerator(s), 3 CPU cores, 4100 MiB memory per copy" in out.getvalue()
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="models-bucket")["Contents"]]
    assert old_key not in keys and len(keys) == 1  # the new package stays
    aws.done()


def test_failed_component_rolls_back_what_this_run_made(aws: Aws, small_model_dir: Path) -> None:
    _new_component_calls(aws, min_instances=1)  # no copy scaling: no scaling to zero
    aws.sm.add_response(
        "create_inference_component",
        {"InferenceComponentArn": f"{ARN}:inference-component/{IC}"},
        None,
    )
    aws.component(IC, NAME, status="Failed")
    aws.sm.add_response("delete_inference_component", {}, {"InferenceComponentName": IC})
    aws.sm.add_response("delete_endpoint", {}, {"EndpointName": "chat-ep"})
    aws.sm.add_response("delete_endpoint_config", {}, {"EndpointConfigName": NAME})
    aws.sm.add_response("delete_model", {}, {"ModelName": NAME})
    opts = _opts(small_model_dir, min_copies=None, max_copies=None)
    with pytest.raises(StepFailed, match="WaitComponent") as failed:
        deploy(opts, aws.client, io.StringIO(), Quiet(), now=NOW, clock=NoWait())
    assert failed.value.rolled_back[:4] == [
        f"inference component {IC}",
        "endpoint chat-ep",
        f"endpoint config {NAME}",
        f"model {NAME}",
    ]
    aws.done()


def test_a_model_endpoint_is_not_turned_into_a_component_one(
    aws: Aws, small_model_dir: Path
) -> None:
    aws.sts.add_response("get_caller_identity", {"Account": "123456789012"}, {})
    aws.endpoint(exists=True, model="old-model")
    aws.aas.add_response("describe_scalable_targets", {"ScalableTargets": []}, None)
    aws.sm.add_client_error(
        "describe_inference_component",
        "ValidationException",
        f"Could not find inference component {IC}",
        expected_params={"InferenceComponentName": IC},
    )
    with pytest.raises(DeployError, match="serves a model in its config"):
        deploy(_opts(small_model_dir), aws.client, io.StringIO(), Quiet(), now=NOW)
    aws.done()


@pytest.mark.parametrize(
    ("change", "flag"),
    [
        ({"inference_component": "bad_name"}, "--inference-component"),
        ({"model": "s3://b/model.tar.gz"}, "--inference-component"),
        ({"autoscale": "1:2"}, "--autoscale"),
        ({"min_copies": 3, "max_copies": 2}, "--max-copies"),
        ({"min_copies": 0, "wait": False}, "--min-copies"),
        ({"max_instances": 0}, "--max-instances"),
        ({"inference_component": None}, "--min-copies"),
        ({"instance_type": "ml.inf2.xlarge"}, "--instance-type"),
    ],
)
def test_component_mistakes_name_the_flag(small_model_dir: Path, change: dict, flag: str) -> None:
    with pytest.raises(InvalidInput) as e:
        deploy(_opts(small_model_dir, **change), None, io.StringIO(), Quiet(), now=NOW)
    assert e.value.param == flag


def _target(resource: str, dimension: str, registered: bool, aws: Aws) -> None:
    found = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource,
        "ScalableDimension": dimension,
        "MinCapacity": 0,
        "MaxCapacity": 2,
        "RoleARN": "arn:aws:iam::123456789012:role/aas",
        "CreationTime": NOW,
    }
    aws.aas.add_response(
        "describe_scalable_targets",
        {"ScalableTargets": [found] if registered else []},
        {
            "ServiceNamespace": "sagemaker",
            "ResourceIds": [resource],
            "ScalableDimension": dimension,
        },
    )


def _alarms(name: str, there: bool, aws: Aws) -> None:
    alarm = {"AlarmName": name, "AlarmArn": f"arn:aws:cloudwatch:us-east-1:1:alarm:{name}"}
    aws.cw.add_response(
        "describe_alarms", {"MetricAlarms": [alarm] if there else []}, {"AlarmNames": [name]}
    )
    if there:
        aws.cw.add_response("delete_alarms", {}, {"AlarmNames": [name]})


def test_delete_removes_components_and_their_scaling_before_the_endpoint(aws: Aws) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    key = "sagemaker-openai/chat-ep/abc/model.tar.gz"
    s3.put_object(Bucket="models-bucket", Key=key, Body=b"x")
    aws.endpoint(exists=True, config=NAME)
    aws.listed([IC, "chat-lora"])
    aws.component(IC, NAME)
    aws.component("chat-lora", "", base=IC)
    # The adapter first: it runs on its base's copies.
    _target("inference-component/chat-lora", DIM, False, aws)
    _alarms("chat-lora-no-capacity", False, aws)
    aws.sm.add_response("delete_inference_component", {}, {"InferenceComponentName": "chat-lora"})
    _target(f"inference-component/{IC}", DIM, True, aws)
    aws.aas.add_response(
        "deregister_scalable_target",
        {},
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": f"inference-component/{IC}",
            "ScalableDimension": DIM,
        },
    )
    _alarms(f"{IC}-no-capacity", True, aws)
    aws.sm.add_response("delete_inference_component", {}, {"InferenceComponentName": IC})
    aws.listed([IC])  # still Deleting: DeleteEndpoint would be refused
    aws.listed([])
    _target(
        "endpoint/chat-ep/variant/AllTraffic", "sagemaker:variant:DesiredInstanceCount", False, aws
    )
    aws.sm.add_response("delete_endpoint", {}, {"EndpointName": "chat-ep"})
    aws.sm.add_response("delete_endpoint_config", {}, {"EndpointConfigName": NAME})
    model = {
        "ModelName": NAME,
        "ModelArn": f"{ARN}:model/{NAME}",
        "CreationTime": NOW,
        "PrimaryContainer": {"ModelDataUrl": f"s3://models-bucket/{key}"},
    }
    aws.sm.add_response("describe_model", model, {"ModelName": NAME})
    aws.sm.add_response("describe_model", model, {"ModelName": NAME})
    uploaded = [{"Key": "sagemaker-openai:uploaded-model-data", "Value": "true"}]
    aws.sm.add_response("list_tags", {"Tags": uploaded}, {"ResourceArn": f"{ARN}:model/{NAME}"})
    aws.sm.add_response("delete_model", {}, {"ModelName": NAME})
    slept: list[float] = []
    removed = delete(aws.client, "chat-ep", keep_model=False, sleep=slept.append)
    assert removed == [
        "inference component chat-lora",
        f"scalable target inference-component/{IC}",
        f"alarm {IC}-no-capacity",
        f"inference component {IC}",
        "endpoint chat-ep",
        f"endpoint config {NAME}",
        f"model {NAME}",
        f"s3://models-bucket/{key}",
    ]
    assert slept == [10.0]
    assert "Contents" not in s3.list_objects_v2(Bucket="models-bucket")
    aws.done()


def test_status_lists_a_component_endpoints_components(aws: Aws) -> None:
    aws.endpoint(exists=True, config=NAME)
    ep = aws.client.describe_endpoint("chat-ep")
    assert ep is not None
    aws.listed([IC, "chat-lora"])
    aws.component(IC, NAME)
    aws.component("chat-lora", "", base=IC, status="Creating")
    assert format_components(components(aws.client, ep)).splitlines() == [
        "  COMPONENT  STATUS     COPIES  MODEL",
        f"  chat-ic    InService  1       {NAME}",
        "  chat-lora  Creating   1       adapter on chat-ic",
    ]
    aws.done()


def _adapter_opts(**kw) -> AdapterOptions:
    base = dict(
        endpoint_name="chat-ep",
        adapter="chat-lora",
        artifact_url="s3://models-bucket/lora/",
        base=IC,
        region="us-east-1",
    )
    base.update(kw)
    return AdapterOptions(**base)


def test_adapter_component_on_its_base(aws: Aws) -> None:
    aws.component(IC, NAME)
    aws.listed([IC])
    aws.sm.add_client_error(
        "describe_inference_component",
        "ValidationException",
        "Could not find inference component chat-lora",
        expected_params={"InferenceComponentName": "chat-lora"},
    )
    aws.sm.add_response(
        "create_inference_component",
        {"InferenceComponentArn": f"{ARN}:inference-component/chat-lora"},
        {
            "InferenceComponentName": "chat-lora",
            "EndpointName": "chat-ep",
            "Specification": {
                "BaseInferenceComponentName": IC,
                "Container": {"ArtifactUrl": "s3://models-bucket/lora/"},
            },
            "Tags": [
                {"Key": "sagemaker-openai:endpoint", "Value": "chat-ep"},
                {"Key": "sagemaker-openai:base", "Value": IC},
            ],
        },
    )
    aws.component("chat-lora", "", base=IC)
    out = io.StringIO()
    deploy_adapter(_adapter_opts(), aws.client, out, Quiet(), clock=NoWait())
    assert out.getvalue().splitlines()[2:] == [
        f"  1. CreateInferenceComponent chat-lora on chat-ep: LoRA adapter "
        f"s3://models-bucket/lora/ on base component {IC}",
        "  2. wait until inference component chat-lora is InService",
        "adapter chat-lora is ready",
    ]
    aws.done()


def test_adapter_needs_a_model_component_on_the_endpoint(aws: Aws) -> None:
    aws.component(IC, NAME)
    aws.listed(["other-ic"])
    with pytest.raises(InvalidInput, match="not on endpoint chat-ep") as e:
        deploy_adapter(_adapter_opts(), aws.client, io.StringIO(), Quiet())
    assert e.value.param == "--base-component"
    aws.done()


@pytest.mark.parametrize(
    ("change", "flag"),
    [
        ({"artifact_url": "/tmp/lora"}, "--adapter-s3"),
        ({"adapter": IC}, "--adapter"),
        ({"base": "bad_name"}, "--base-component"),
    ],
)
def test_adapter_mistakes_name_the_flag(change: dict, flag: str) -> None:
    with pytest.raises(InvalidInput) as e:
        deploy_adapter(_adapter_opts(**change), None, io.StringIO(), Quiet())
    assert e.value.param == flag


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--adapter", "chat-lora", "--base-component", IC], "--adapter-s3"),
        (
            ["--adapter", "a", "--adapter-s3", "s3://b/a/", "--base-component", IC, "--model", "x"],
            "--model",
        ),
        (["--instance-type", "ml.g5.xlarge"], "--model"),
    ],
)
def test_cli_adapter_and_model_flags_are_one_line(
    capsys: pytest.CaptureFixture, argv: list[str], flag: str
) -> None:
    code = main(
        ["deploy", "--endpoint-name", "chat-ep", "--region", "us-east-1", "--dry-run", *argv]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith(f"error: {flag}:") and "\n" not in err


def test_an_updated_component_keeps_its_new_model_when_scaling_fails(
    aws: Aws, small_model_dir: Path
) -> None:
    aws.sts.add_response("get_caller_identity", {"Account": "123456789012"}, {})
    aws.endpoint(exists=True)
    aws.aas.add_response("describe_scalable_targets", {"ScalableTargets": []}, None)
    aws.component(IC, "old-model")
    aws.sm.add_response("create_model", {"ModelArn": f"{ARN}:model/{NAME}"}, None)
    aws.sm.add_response("update_inference_component", {"InferenceComponentArn": f"{ARN}:ic/x"})
    aws.component(IC, NAME)
    aws.aas.add_client_error("register_scalable_target", "AccessDeniedException", "no")
    with pytest.raises(StepFailed, match="ScaleCopies") as failed:
        deploy(_opts(small_model_dir), aws.client, io.StringIO(), Quiet(), now=NOW, clock=NoWait())
    assert failed.value.rolled_back == []  # the component serves the new model and upload
    aws.done()
