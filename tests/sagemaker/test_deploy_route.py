"""deploy's platform options: the OpenAI route's base_url printed at the end, and --async
(AsyncInferenceConfig with exact parameters, streams answered whole by the container)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from deploy_options import deploy_options

from sagemaker_openai.cli import main
from sagemaker_openai.sagemaker.client import SageMakerClient
from sagemaker_openai.sagemaker.plan import build_plan
from sagemaker_openai.sagemaker.sizing import VariantSettings
from sagemaker_openai.sagemaker.steps import AsyncConfig, CreateEndpointConfig, CreateModel

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
NOW = datetime(2026, 11, 24, 20, 0, tzinfo=timezone.utc)


@pytest.fixture
def no_aws_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, operation, params):
        raise AssertionError(f"{operation} was called")

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", refuse)
    monkeypatch.delenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def _argv(model: Path, *extra: str) -> list[str]:
    argv = ["deploy", "--model", str(model), "--endpoint-name", "chat-ep"]
    return [
        *argv,
        "--instance-type",
        "ml.g5.xlarge",
        "--role",
        ROLE,
        "--region",
        "eu-west-1",
        *extra,
    ]


def test_dry_run_prints_the_openai_base_url(
    light_model_dir: Path, capsys: pytest.CaptureFixture, no_aws_calls: None
) -> None:
    assert main([*_argv(light_model_dir), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == (
        "OpenAI base_url: https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/chat-ep/openai/v1"
    )
    assert "sagemaker-openai token --endpoint-name chat-ep" in out[-1]


def test_async_plan_sets_the_config_and_the_containers_switch(light_model_dir: Path) -> None:
    opts = deploy_options(
        model=str(light_model_dir),
        endpoint_name="chat-ep",
        instance_type="ml.g5.xlarge",
        role=ROLE,
        region="us-east-1",
        async_output="s3://b/out",
        async_failure="s3://b/failed",
        async_error_topic="arn:aws:sns:us-east-1:123456789012:errors",
    )
    plan = build_plan(opts, None, NOW)
    model = next(s for s in plan.steps if isinstance(s, CreateModel))
    assert ("SMOAI_ASYNC_ENDPOINT", "true") in model.env
    config = next(s for s in plan.steps if isinstance(s, CreateEndpointConfig))
    assert config.async_config == AsyncConfig(
        "s3://b/out", "s3://b/failed", None, "arn:aws:sns:us-east-1:123456789012:errors"
    )
    assert "asynchronous: results to s3://b/out" in config.describe()


def test_every_deploy_flag_reaches_its_options_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_aws_calls: None
) -> None:
    seen = []
    monkeypatch.setattr("sagemaker_openai.sagemaker.deploy.deploy", lambda o, *a: seen.append(o))
    extra = """--target hf-dlc --image-uri img:1 --instance-count 2 --autoscale 1:3
        --scale-metric invocations --scale-target 7 --no-retain-variants --volume-size 50
        --startup-timeout 600 --download-timeout 900 --s3-data uncompressed --env A=1 --env B=2
        --bucket bkt --online-deps --no-wait --async s3://b/out --async-failure s3://b/failed
        --async-success-topic ok-arn --async-error-topic error-arn --inference-component ic
        --min-copies 0 --max-copies 4 --max-instances 5 --routing PREFIX_AWARE
        --prefix-length 2048 --prefix-concurrency 6 --inference-ami ami-1 --dry-run"""
    cache = ("--cache-dir", str(tmp_path))
    assert main([*_argv(Path("folder")), *extra.split(), *cache]) == 0
    (opts,) = seen
    assert opts.model.cache_dir == tmp_path  # a Path, as the setting from the environment
    assert opts == deploy_options(
        model="folder",
        endpoint_name="chat-ep",
        instance_type="ml.g5.xlarge",
        role=ROLE,
        region="eu-west-1",
        target="hf-dlc",
        image_uri="img:1",
        instance_count=2,
        autoscale="1:3",
        scale_metric="invocations",
        scale_target=7.0,
        retain_variants=False,
        volume_size_gb=50,
        startup_timeout_s=600,
        download_timeout_s=900,
        s3_data="uncompressed",
        env=("A=1", "B=2"),
        bucket="bkt",
        online_deps=True,
        wait=False,
        cache_dir=opts.model.cache_dir,
        async_output="s3://b/out",
        async_failure="s3://b/failed",
        async_success_topic="ok-arn",
        async_error_topic="error-arn",
        inference_component="ic",
        min_copies=0,
        max_copies=4,
        max_instances=5,
        routing="PREFIX_AWARE",
        prefix_length=2048,
        prefix_concurrency=6,
        inference_ami="ami-1",
    )


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (("--async", "b/out"), "--async"),
        (("--async-failure", "s3://b/f"), "--async"),
        (("--async", "s3://b/out", "--scale-metric", "concurrency"), "--scale-metric"),
    ],
)
def test_async_mistakes_are_one_line(
    light_model_dir: Path, capsys: pytest.CaptureFixture, no_aws_calls: None, extra, flag
) -> None:
    assert main([*_argv(light_model_dir), *extra, "--dry-run"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and flag in err


def test_create_endpoint_config_sends_the_async_config_exactly() -> None:
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    client = SageMakerClient(session)
    config = AsyncConfig("s3://b/out", "s3://b/failed", "arn:aws:sns:us-east-1:1:ok", None)
    expected = {
        "EndpointConfigName": "cfg",
        "Tags": [{"Key": "k", "Value": "v"}],
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": "m",
                "InstanceType": "ml.g5.xlarge",
                "InitialInstanceCount": 1,
                "InitialVariantWeight": 1.0,
                "ContainerStartupHealthCheckTimeoutInSeconds": 600,
                "ModelDataDownloadTimeoutInSeconds": 600,
                "VolumeSizeInGB": 30,
            }
        ],
        "AsyncInferenceConfig": {
            "OutputConfig": {
                "S3OutputPath": "s3://b/out",
                "S3FailurePath": "s3://b/failed",
                "NotificationConfig": {"SuccessTopic": "arn:aws:sns:us-east-1:1:ok"},
            }
        },
    }
    with Stubber(client._sm) as stub:
        stub.add_response("create_endpoint_config", {"EndpointConfigArn": "a" * 20}, expected)
        client.create_endpoint_config(
            "cfg",
            "m",
            "AllTraffic",
            "ml.g5.xlarge",
            1,
            VariantSettings(30, 600, 600),
            {"k": "v"},
            config.to_api(),
        )
        stub.assert_no_pending_responses()
