"""deploy/delete against moto's SageMaker, S3 and Application Auto Scaling; UpdateEndpoint,
which moto lacks, through botocore's Stubber with exact parameters."""

from __future__ import annotations

import io
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from deploy_options import deploy_options
from moto import mock_aws

from sagemaker_openai.sagemaker.client import SageMakerClient
from sagemaker_openai.sagemaker.deploy import deploy
from sagemaker_openai.sagemaker.endpoints import delete, format_status, status
from sagemaker_openai.sagemaker.errors import StepFailed
from sagemaker_openai.sagemaker.options import DeployOptions
from sagemaker_openai.sagemaker.package import package_contents
from sagemaker_openai.sagemaker.plan import RemoteState, build_plan
from sagemaker_openai.sagemaker.steps import Run, SystemClock

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-openai:latest"
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NAME = "chat-ep-20250102-030405"


class Quiet:
    def upload(self, total_bytes: int):
        self.total = total_bytes
        self.sent = 0

        def advance(n: int) -> None:
            self.sent += n

        return advance

    def status(self, text: str) -> None:
        pass

    def done(self) -> None:
        pass


def _opts(model: str, **kw) -> DeployOptions:
    base = dict(
        model=model,
        endpoint_name="chat-ep",
        instance_type="ml.g4dn.xlarge",
        role=ROLE,
        region="us-east-1",
        target="image",
        image_uri=IMAGE,
        instance_count=2,
        autoscale="1:3",
        env=("FOO=bar",),
        bucket="models-bucket",
    )
    base.update(kw)
    return deploy_options(**base)


def _digest(model_dir: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        return package_contents(model_dir, "image", "x", Path(tmp)).digest()


@pytest.fixture
def aws():
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket="models-bucket")
        yield session, SageMakerClient(session)


def test_deploy_creates_the_plan_and_delete_removes_it(aws, small_model_dir: Path) -> None:
    session, client = aws
    progress = Quiet()
    out = io.StringIO()
    plan = deploy(_opts(str(small_model_dir)), client, out, progress, now=NOW)
    assert "CreateEndpoint chat-ep" in out.getvalue()
    assert [type(s).__name__ for s in plan.steps] == [
        "Package",
        "Upload",
        "CreateModel",
        "CreateEndpointConfig",
        "CreateEndpoint",
        "WaitInService",
        "RegisterScalableTarget",
        "PutScalingPolicy",
    ]
    sm, s3 = session.client("sagemaker"), session.client("s3")
    aas = session.client("application-autoscaling")
    key = f"sagemaker-openai/chat-ep/{_digest(small_model_dir)}/model.tar.gz"
    assert (
        progress.sent
        == progress.total
        == s3.head_object(Bucket="models-bucket", Key=key)["ContentLength"]
    )
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [NAME]
    model = sm.describe_model(ModelName=NAME)
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == f"s3://models-bucket/{key}"
    assert model["PrimaryContainer"]["Environment"] == {
        "SMOAI_SERVED_MODEL_NAME": small_model_dir.name,
        "SM_NUM_GPUS": "1",  # g4dn.xlarge: one T4
        "FOO": "bar",
    }
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=model["ModelArn"])["Tags"]}
    assert tags["sagemaker-openai:endpoint"] == "chat-ep"
    assert tags["sagemaker-openai:target"] == "image"
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == [
        NAME
    ]
    (variant,) = sm.describe_endpoint_config(EndpointConfigName=NAME)["ProductionVariants"]
    assert (variant["ModelName"], variant["InstanceType"], variant["InitialInstanceCount"]) == (
        NAME,
        "ml.g4dn.xlarge",
        2,
    )
    assert "VolumeSizeInGB" not in variant  # g4dn has NVMe instance storage
    assert sm.describe_endpoint(EndpointName="chat-ep")["EndpointConfigName"] == NAME
    (target,) = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["ResourceId"] == "endpoint/chat-ep/variant/AllTraffic"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
    (policy,) = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantConcurrentRequestsPerModelHighResolution"
    )
    assert config["TargetValue"] == 8.0  # the GPU default

    (ep,) = status(client, "chat-ep")
    assert "ml.g4dn.xlarge" in format_status([ep]) and ep.variants[0].name == "AllTraffic"

    removed = delete(client, "chat-ep", keep_model=False)
    assert f"s3://models-bucket/{key}" in removed
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_models()["Models"] == []
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert s3.list_objects_v2(Bucket="models-bucket").get("KeyCount", 0) == 0


def test_failed_step_removes_only_what_this_run_created(aws, small_model_dir: Path) -> None:
    session, client = aws
    sm = session.client("sagemaker")
    sm.create_model(
        ModelName="someone-elses", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}
    )

    def refuse(**_):
        raise ClientError(
            {"Error": {"Code": "ResourceLimitExceeded", "Message": "quota"}}, "CreateEndpoint"
        )

    client._sm.meta.events.register("before-call.sagemaker.CreateEndpoint", refuse)
    with pytest.raises(StepFailed) as failed:
        deploy(_opts(str(small_model_dir), autoscale=None), client, io.StringIO(), Quiet(), now=NOW)
    assert failed.value.step == "CreateEndpoint"
    assert "ResourceLimitExceeded" in str(failed.value)
    assert failed.value.rolled_back == [
        f"endpoint config {NAME}",
        f"model {NAME}",
        f"s3://models-bucket/sagemaker-openai/chat-ep/{_digest(small_model_dir)}/model.tar.gz",
    ]
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["someone-elses"]
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert session.client("s3").list_objects_v2(Bucket="models-bucket").get("KeyCount", 0) == 0


def test_second_deploy_updates_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    session = boto3.Session(region_name="us-east-1")
    client = SageMakerClient(session)
    data = "s3://models-bucket/prebuilt/model.tar.gz"
    sts, sm, aas = Stubber(client._sts), Stubber(client._sm), Stubber(client._aas)
    sts.add_response("get_caller_identity", {"Account": "123456789012"}, {})
    aas.add_response(
        "describe_scalable_targets",
        {"ScalableTargets": []},
        {
            "ServiceNamespace": "sagemaker",
            "ResourceIds": ["endpoint/chat-ep/variant/AllTraffic"],
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        },
    )
    sm.add_response(
        "list_endpoints",
        {
            "Endpoints": [
                {
                    "EndpointName": "chat-ep",
                    "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/chat-ep",
                    "CreationTime": NOW,
                    "LastModifiedTime": NOW,
                    "EndpointStatus": "InService",
                }
            ]
        },
        {"NameContains": "chat-ep"},
    )
    sm.add_response(
        "describe_endpoint",
        {
            "EndpointName": "chat-ep",
            "EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/chat-ep",
            "EndpointConfigName": "chat-ep-old",
            "EndpointStatus": "InService",
            "CreationTime": NOW,
            "LastModifiedTime": NOW,
        },
        {"EndpointName": "chat-ep"},
    )
    sm.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": "chat-ep-old",
            "EndpointConfigArn": "arn:aws:sagemaker:x:1:ec/o",
            "CreationTime": NOW,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "chat-ep-old",
                    "InstanceType": "ml.g4dn.xlarge",
                    "InitialInstanceCount": 1,
                }
            ],
        },
        {"EndpointConfigName": "chat-ep-old"},
    )
    tags = [
        {"Key": "sagemaker-openai:endpoint", "Value": "chat-ep"},
        {"Key": "sagemaker-openai:target", "Value": "lmi"},
    ]
    sm.add_response(
        "create_model",
        {"ModelArn": "arn:aws:sagemaker:x:1:model/m"},
        {
            "ModelName": NAME,
            "ExecutionRoleArn": ROLE,
            "Tags": tags,
            "PrimaryContainer": {
                "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:"
                "0.36.0-lmi28.0.0-cu130",
                "ModelDataUrl": data,
                # lmi on one GPU: DJL's loading timeouts raised to the start-up timeout
                "Environment": {
                    "SAGEMAKER_STARTUP_TIMEOUT": "1800",
                    "MODEL_LOADING_TIMEOUT": "1800",
                    "OPTION_TENSOR_PARALLEL_DEGREE": "1",
                    "SM_NUM_GPUS": "1",
                    "FOO": "bar",
                },
            },
        },
    )
    sm.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": "arn:aws:sagemaker:x:1:ec/n"},
        {
            "EndpointConfigName": NAME,
            "Tags": tags,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": NAME,
                    "InstanceType": "ml.g4dn.xlarge",
                    "InitialInstanceCount": 2,
                    "InitialVariantWeight": 1.0,
                    # s3:// model data: its size is not read, so the middle of the range
                    "ContainerStartupHealthCheckTimeoutInSeconds": 1800,
                    "ModelDataDownloadTimeoutInSeconds": 1800,
                    "InferenceAmiVersion": "al2023-ami-sagemaker-inference-gpu-4-1",
                }
            ],
        },
    )
    sm.add_response(
        "update_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:x:1:endpoint/chat-ep"},
        {"EndpointName": "chat-ep", "EndpointConfigName": NAME, "RetainAllVariantProperties": True},
    )
    out = io.StringIO()
    with sts, sm, aas:
        plan = deploy(
            _opts(data, target="lmi", image_uri=None, autoscale=None, bucket=None, wait=False),
            client,
            out,
            Quiet(),
            now=NOW,
        )
        sm.assert_no_pending_responses()
    assert "UpdateEndpoint chat-ep to config " + NAME in out.getvalue()
    assert [type(s).__name__ for s in plan.steps][-1] == "UpdateEndpoint"


def test_dry_run_calls_nothing(monkeypatch: pytest.MonkeyPatch, small_model_dir: Path) -> None:
    def no_calls(*args, **kwargs):
        raise AssertionError("an AWS API was called during a dry run")

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", no_calls)
    out = io.StringIO()
    plan = deploy(_opts(str(small_model_dir), bucket=None), None, out, Quiet(), now=NOW)
    assert "dry run" in out.getvalue() and len(plan.steps) == 8
    assert not Path(plan.steps[0].workdir).exists()  # type: ignore[union-attr]


def test_unchanged_package_is_not_uploaded_again(aws, small_model_dir: Path) -> None:
    session, client = aws
    s3 = session.client("s3")
    first = Quiet()
    deploy(_opts(str(small_model_dir), autoscale=None), client, io.StringIO(), first, now=NOW)
    assert first.sent > 0
    second = Quiet()
    later = datetime(2025, 1, 3, tzinfo=timezone.utc)
    # A config-only change: another instance count, the same model folder.
    opts = _opts(str(small_model_dir), autoscale=None, endpoint_name="chat-ep", instance_count=1)
    plan = build_plan(opts, RemoteState("123456789012", None), later)
    execute_steps = [s for s in plan.steps if type(s).__name__ in ("Package", "Upload")]
    run = Run(client, second, SystemClock())
    try:
        for step in execute_steps:
            step.execute(run)
    finally:
        shutil.rmtree(execute_steps[0].workdir, ignore_errors=True)  # type: ignore[attr-defined]
    assert not hasattr(second, "total")  # no upload started
    assert run.undo == []  # and nothing this run could delete on rollback
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="models-bucket")["Contents"]]
    assert keys == [f"sagemaker-openai/chat-ep/{_digest(small_model_dir)}/model.tar.gz"]


def test_uncompressed_model_data_under_an_s3_prefix(aws, small_model_dir: Path) -> None:
    session, client = aws
    sm, s3 = session.client("sagemaker"), session.client("s3")
    opts = _opts(str(small_model_dir), autoscale=None, s3_data="uncompressed")
    deploy(opts, client, io.StringIO(), Quiet(), now=NOW)
    prefix = f"sagemaker-openai/chat-ep/{_digest(small_model_dir)}/"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="models-bucket")["Contents"]}
    assert keys == {prefix + f.name for f in small_model_dir.iterdir()}
    container = sm.describe_model(ModelName=NAME)["PrimaryContainer"]
    assert container["ModelDataSource"]["S3DataSource"] == {
        "S3Uri": f"s3://models-bucket/{prefix}",
        "S3DataType": "S3Prefix",
        "CompressionType": "None",
    }
    removed = delete(client, "chat-ep", keep_model=False)
    assert f"s3://models-bucket/{prefix}" in removed
    assert s3.list_objects_v2(Bucket="models-bucket").get("KeyCount", 0) == 0
