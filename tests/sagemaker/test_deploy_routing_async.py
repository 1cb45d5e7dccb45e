"""deploy --routing (a variant's RoutingConfig) and --async --autoscale 0:N (an async endpoint
scaled to zero on its queue, and back): exact requests through botocore's Stubber against the
installed service models (botocore 1.44.8, whose RoutingStrategy enum has PREFIX_AWARE), S3
through moto; the dry-run plan; delete; one-line mistakes. The async scale-to-zero requests are
those of AWS's "Autoscale an asynchronous endpoint" (awsdocs/amazon-sagemaker-developer-guide,
async-inference-autoscale.md)."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from deploy_options import deploy_options
from test_deploy_component import ARN, IMAGE, NAME, NOW, ROLE, TAGS, Aws, NoWait, Quiet
from test_deploy_component import aws as aws  # the fixture: Stubbers over moto's S3

from sagemaker_openai.cli import main
from sagemaker_openai.sagemaker.client import SageMakerClient
from sagemaker_openai.sagemaker.deploy import deploy
from sagemaker_openai.sagemaker.endpoints import delete
from sagemaker_openai.sagemaker.errors import InvalidInput, StepFailed
from sagemaker_openai.sagemaker.options import DeployOptions
from sagemaker_openai.sagemaker.plan import RemoteState, build_plan, format_plan
from sagemaker_openai.sagemaker.resources import Endpoint, Routing, Variant
from sagemaker_openai.sagemaker.sizing import VariantSettings
from sagemaker_openai.sagemaker.steps import CreateEndpointConfig

VARIANT = {
    "ServiceNamespace": "sagemaker",
    "ResourceId": "endpoint/chat-ep/variant/AllTraffic",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}
STEP_ARN = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:x:resource/step"
ALARM = "chat-ep-HasBacklogWithoutCapacity"


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
        async_output="s3://b/out",
        autoscale="0:4",
    )
    base.update(kw)
    return deploy_options(**base)


def _new_async_endpoint_calls(aws: Aws) -> None:
    aws.sts.add_response("get_caller_identity", {"Account": "123456789012"}, {})
    aws.endpoint(exists=False)
    aws.sm.add_response("create_model", {"ModelArn": f"{ARN}:model/{NAME}"}, None)
    aws.sm.add_response(
        "create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/{NAME}"}, None
    )
    aws.sm.add_response(
        "create_endpoint",
        {"EndpointArn": f"{ARN}:endpoint/chat-ep"},
        {"EndpointName": "chat-ep", "EndpointConfigName": NAME, "Tags": TAGS},
    )
    aws.endpoint(exists=True, config=NAME, model=NAME)  # WaitInService: InService at once
    aws.aas.add_response(
        "register_scalable_target", {}, {**VARIANT, "MinCapacity": 0, "MaxCapacity": 4}
    )
    tracking = {
        **VARIANT,
        "PolicyName": "chat-ep-target-tracking",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 5.0,
            "CustomizedMetricSpecification": {
                "MetricName": "ApproximateBacklogSizePerInstance",
                "Namespace": "AWS/SageMaker",
                "Dimensions": [{"Name": "EndpointName", "Value": "chat-ep"}],
                "Statistic": "Average",
            },
            "ScaleInCooldown": 600,
            "ScaleOutCooldown": 120,
        },
    }
    aws.aas.add_response("put_scaling_policy", {"PolicyARN": "arn:tracking"}, tracking)
    step = {
        **VARIANT,
        "PolicyName": "HasBacklogWithoutCapacity-ScalingPolicy",
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity",
            "MetricAggregationType": "Average",
            "Cooldown": 300,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}],
        },
    }
    aws.aas.add_response("put_scaling_policy", {"PolicyARN": STEP_ARN}, step)


ALARM_REQUEST = {
    "AlarmName": ALARM,
    "AlarmActions": [STEP_ARN],
    "MetricName": "HasBacklogWithoutCapacity",
    "Namespace": "AWS/SageMaker",
    "Statistic": "Average",
    "Dimensions": [{"Name": "EndpointName", "Value": "chat-ep"}],
    "Period": 60,
    "EvaluationPeriods": 2,
    "DatapointsToAlarm": 2,
    "Threshold": 1.0,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "TreatMissingData": "missing",
}


def test_async_endpoint_scales_to_zero_and_back(aws: Aws, small_model_dir: Path) -> None:
    _new_async_endpoint_calls(aws)
    aws.cw.add_response("put_metric_alarm", {}, ALARM_REQUEST)
    out = io.StringIO()
    deploy(_opts(small_model_dir), aws.client, out, Quiet(), now=NOW, clock=NoWait())
    aws.done()
    assert "RegisterScalableTarget endpoint/chat-ep/variant/AllTraffic: 0..4" in out.getvalue()


def test_a_failed_alarm_rolls_back_the_scaling_and_the_endpoint(
    aws: Aws, small_model_dir: Path
) -> None:
    _new_async_endpoint_calls(aws)
    aws.cw.add_client_error(
        "put_metric_alarm", "LimitExceeded", "too many alarms", expected_params=ALARM_REQUEST
    )
    aws.aas.add_response("deregister_scalable_target", {}, VARIANT)  # its policies go with it
    aws.sm.add_response("delete_endpoint", {}, {"EndpointName": "chat-ep"})
    aws.sm.add_response("delete_endpoint_config", {}, {"EndpointConfigName": NAME})
    aws.sm.add_response("delete_model", {}, {"ModelName": NAME})
    with pytest.raises(StepFailed, match="ScaleOnBacklog") as failed:
        deploy(_opts(small_model_dir), aws.client, io.StringIO(), Quiet(), now=NOW, clock=NoWait())
    assert failed.value.rolled_back[:4] == [
        "scalable target endpoint/chat-ep/variant/AllTraffic",
        "endpoint chat-ep",
        f"endpoint config {NAME}",
        f"model {NAME}",
    ]
    aws.done()


def test_delete_removes_the_async_scaling_and_its_alarm(aws: Aws) -> None:
    aws.endpoint(exists=True, config=NAME, model=NAME)
    registered = {
        **VARIANT,
        "MinCapacity": 0,
        "MaxCapacity": 4,
        "RoleARN": "r",
        "CreationTime": NOW,
    }
    aws.aas.add_response(
        "describe_scalable_targets",
        {"ScalableTargets": [registered]},
        {
            **{k: v for k, v in VARIANT.items() if k != "ResourceId"},
            "ResourceIds": [VARIANT["ResourceId"]],
        },
    )
    aws.aas.add_response("deregister_scalable_target", {}, VARIANT)
    alarm = {"AlarmName": ALARM, "AlarmArn": f"arn:aws:cloudwatch:us-east-1:1:alarm:{ALARM}"}
    aws.cw.add_response("describe_alarms", {"MetricAlarms": [alarm]}, {"AlarmNames": [ALARM]})
    aws.cw.add_response("delete_alarms", {}, {"AlarmNames": [ALARM]})
    aws.sm.add_response("delete_endpoint", {}, {"EndpointName": "chat-ep"})
    aws.sm.add_response("delete_endpoint_config", {}, {"EndpointConfigName": NAME})
    assert delete(aws.client, "chat-ep", keep_model=True) == [
        "scalable target endpoint/chat-ep/variant/AllTraffic",
        f"alarm {ALARM}",
        "endpoint chat-ep",
        f"endpoint config {NAME}",
    ]
    aws.done()


def test_dry_run_plan_of_an_async_endpoint_scaling_to_zero(small_model_dir: Path) -> None:
    out = io.StringIO()
    deploy(_opts(small_model_dir, autoscale="0:3", scale_target=2), None, out, Quiet(), now=NOW)
    lines = out.getvalue().splitlines()
    assert lines[-2:] == [
        "  7. RegisterScalableTarget endpoint/chat-ep/variant/AllTraffic: 0..3",
        "  8. PutScalingPolicy chat-ep-target-tracking: target 2 ApproximateBacklogSizePerInstance"
        " (queued requests per instance); scale up from zero: PutScalingPolicy "
        "HasBacklogWithoutCapacity-ScalingPolicy (step +1 instance) and PutMetricAlarm "
        f"{ALARM}",
    ]
    out = io.StringIO()
    deploy(_opts(small_model_dir, autoscale="1:3"), None, out, Quiet(), now=NOW)
    assert out.getvalue().splitlines()[-1].endswith("(queued requests per instance)")


def test_routing_goes_into_the_endpoint_config_exactly() -> None:
    session = boto3.Session(
        region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    client = SageMakerClient(session)
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "m",
        "InstanceType": "ml.g5.xlarge",
        "InitialInstanceCount": 2,
        "InitialVariantWeight": 1.0,
        "ContainerStartupHealthCheckTimeoutInSeconds": 600,
        "ModelDataDownloadTimeoutInSeconds": 600,
        "RoutingConfig": {
            "RoutingStrategy": "PREFIX_AWARE",
            "PrefixAwareRoutingConfig": {"PrefixLength": 4096, "ConcurrencyThreshold": 8},
        },
    }
    expected = {"EndpointConfigName": "cfg", "Tags": [], "ProductionVariants": [variant]}
    routing = Routing("PREFIX_AWARE", 4096, 8)
    with Stubber(client._sm) as stub:
        stub.add_response("create_endpoint_config", {"EndpointConfigArn": "a" * 20}, expected)
        settings = VariantSettings(None, 600, 600)
        client.create_endpoint_config(
            "cfg", "m", "AllTraffic", "ml.g5.xlarge", 2, settings, {}, None, routing
        )
        stub.assert_no_pending_responses()


def test_routing_in_the_plans(small_model_dir: Path) -> None:
    classic = _opts(small_model_dir, async_output=None, autoscale=None, routing="PREFIX_AWARE")
    plan = build_plan(classic, None, NOW)
    config = next(s for s in plan.steps if isinstance(s, CreateEndpointConfig))
    assert config.routing == Routing("PREFIX_AWARE", 4096, 8)  # the GPU concurrency target
    assert config.describe().endswith(
        ", routing PREFIX_AWARE (prefix 4096 bytes, elsewhere at 8 in-flight requests)"
    )
    component = _opts(
        small_model_dir,
        async_output=None,
        autoscale=None,
        inference_component="chat-ic",
        routing="PREFIX_AWARE",
        prefix_length=2048,
    )
    text = format_plan(build_plan(component, None, NOW))
    assert "routing PREFIX_AWARE (prefix 2048 bytes, elsewhere at 4 in-flight requests)" in text
    plain = _opts(small_model_dir, async_output=None, autoscale=None, routing="KV_AWARE")
    assert "routing KV_AWARE" in format_plan(build_plan(plain, None, NOW))


def _existing(routing: Routing | None, model: str = "old-model") -> RemoteState:
    variant = Variant("AllTraffic", model, "ml.g5.xlarge", 1, routing)
    ep = Endpoint("chat-ep", "InService", "old-config", datetime.now(), None, (variant,))
    return RemoteState("123456789012", ep)


def test_an_update_keeps_the_running_routing_unless_told(small_model_dir: Path) -> None:
    running = Routing("PREFIX_AWARE", 8192, 3)
    opts = _opts(small_model_dir, async_output=None, autoscale=None)
    plan = build_plan(opts, _existing(running), NOW)
    config = next(s for s in plan.steps if isinstance(s, CreateEndpointConfig))
    assert config.routing == running
    opts = _opts(small_model_dir, async_output=None, autoscale=None, routing="RANDOM")
    plan = build_plan(opts, _existing(running), NOW)
    config = next(s for s in plan.steps if isinstance(s, CreateEndpointConfig))
    assert config.routing == Routing("RANDOM")


def test_a_component_endpoint_keeps_the_routing_it_was_made_with(small_model_dir: Path) -> None:
    opts = _opts(
        small_model_dir,
        async_output=None,
        autoscale=None,
        inference_component="chat-ic",
        routing="PREFIX_AWARE",
    )
    with pytest.raises(InvalidInput) as e:
        build_plan(opts, _existing(Routing("LEAST_OUTSTANDING_REQUESTS"), model=""), NOW)
    assert e.value.param == "--routing"


def _argv(model: Path, *extra: str) -> list[str]:
    return [
        "deploy",
        "--model",
        str(model),
        "--endpoint-name",
        "chat-ep",
        "--instance-type",
        "ml.g5.xlarge",
        "--role",
        ROLE,
        "--region",
        "us-east-1",
        "--dry-run",
        *extra,
    ]


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (("--autoscale", "0:2"), "--autoscale"),
        (("--async", "s3://b/o", "--autoscale", "0:0"), "--autoscale"),
        (
            ("--async", "s3://b/o", "--autoscale", "0:2", "--scale-metric", "invocations"),
            "--scale-metric",
        ),
        (("--async", "s3://b/o", "--autoscale", "0:2", "--no-wait"), "--autoscale"),
        (("--routing", "prefix_aware"), "--routing"),
        (("--routing", "RANDOM", "--async", "s3://b/o"), "--routing"),
        (("--prefix-length", "2048"), "--prefix-length"),
        (("--routing", "RANDOM", "--prefix-concurrency", "2"), "--prefix-concurrency"),
        (("--routing", "PREFIX_AWARE", "--prefix-length", "100"), "--prefix-length"),
        (("--routing", "PREFIX_AWARE", "--prefix-concurrency", "0"), "--prefix-concurrency"),
    ],
)
def test_mistakes_are_one_line(
    small_model_dir: Path, capsys: pytest.CaptureFixture, extra, flag
) -> None:
    assert main([*_argv(small_model_dir, "--target", "image", "--image-uri", IMAGE), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and flag in err


def test_prefix_aware_on_a_botocore_without_its_settings_is_refused_first(
    aws: Aws, small_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert aws.client.knows_routing_settings()  # the installed botocore has them
    monkeypatch.setattr(SageMakerClient, "knows_routing_settings", lambda self: False)
    opts = _opts(small_model_dir, async_output=None, autoscale=None, routing="PREFIX_AWARE")
    with pytest.raises(InvalidInput) as e:
        deploy(opts, aws.client, io.StringIO(), Quiet(), now=NOW)
    assert e.value.param == "--routing"
    aws.done()  # nothing was called
