"""The planner alone: which steps, in which order, described how, from options and remote state."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from sagemaker_openai.sagemaker.client import Endpoint, Variant
from sagemaker_openai.sagemaker.errors import InvalidInput
from sagemaker_openai.sagemaker.plan import DeployOptions, RemoteState, build_plan, format_plan

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
NAME = "chat-ep-20250102-030405"
DATA = "s3://models-bucket/prebuilt/model.tar.gz"


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
    return DeployOptions(**base)


def _endpoint(config: str = "chat-ep-old", instance_type: str = "ml.g5.xlarge") -> Endpoint:
    variant = Variant("AllTraffic", config, instance_type, 1)
    return Endpoint("chat-ep", "InService", config, NOW, None, (variant,))


def _kinds(plan) -> list[str]:
    return [type(s).__name__ for s in plan.steps]


def test_new_endpoint_from_s3_data() -> None:
    plan = build_plan(_opts(), RemoteState("123456789012", None), NOW)
    assert _kinds(plan) == [
        "CreateModel",
        "CreateEndpointConfig",
        "CreateEndpoint",
        "WaitInService",
    ]
    text = format_plan(plan)
    assert f"CreateEndpoint chat-ep with config {NAME}" in text
    assert "dry run" not in text and "not checked" not in text


def test_dry_run_says_what_it_could_not_check(small_model_dir: Path) -> None:
    plan = build_plan(_opts(model=str(small_model_dir)), None, NOW)
    assert _kinds(plan)[:2] == ["Package", "Upload"]
    text = format_plan(plan)
    assert "(dry run: nothing will be called)" in text
    assert "not checked in a dry run" in text
    assert "s3://sagemaker-us-east-1-<account>/" in text


def test_existing_endpoint_is_updated_then_its_old_config_retired() -> None:
    plan = build_plan(_opts(autoscale="1:3"), RemoteState("1", _endpoint()), NOW)
    assert _kinds(plan) == [
        "CreateModel",
        "CreateEndpointConfig",
        "UpdateEndpoint",
        "WaitInService",
        "RegisterScalableTarget",
        "PutScalingPolicy",
        "RetireConfig",
    ]
    assert plan.steps[-1].describe() == "delete the previous config chat-ep-old and its models"


def test_no_wait_retires_nothing() -> None:
    plan = build_plan(_opts(wait=False), RemoteState("1", _endpoint()), NOW)
    assert _kinds(plan)[-1] == "UpdateEndpoint"


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"endpoint_name": "bad_name"}, "--endpoint-name"),
        ({"role": "not-an-arn"}, "--role"),
        ({"instance_count": 0}, "--instance-count"),
        ({"autoscale": "3:1"}, "--autoscale"),
        ({"autoscale": "1:3", "wait": False}, "--autoscale"),
        ({"env": ("NOEQUALS",)}, "--env"),
        ({"target": "image"}, "--image-uri"),
    ],
)
def test_local_mistakes_name_the_flag(change: dict, param: str) -> None:
    with pytest.raises(InvalidInput) as e:
        build_plan(_opts(**change), None, NOW)
    assert e.value.param == param
