"""The planner alone: which steps, in which order, described how, from options and remote state."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from deploy_options import deploy_options

from sagemaker_openai.sagemaker.errors import InvalidInput
from sagemaker_openai.sagemaker.plan import DeployOptions, RemoteState, build_plan, format_plan
from sagemaker_openai.sagemaker.resources import Endpoint, Variant

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
    return deploy_options(**base)


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
    assert (
        plan.steps[-1].describe().startswith("delete the previous config chat-ep-old, its models")
    )


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


def test_instance_type_decides_image_engine_and_llm_settings(small_model_dir: Path) -> None:
    gpu = format_plan(build_plan(_opts(model=str(small_model_dir)), None, NOW))
    assert "(GPU, tensor parallel over 1 GPU(s)), engine vllm, image " in gpu
    assert "djl-inference:0.36.0-lmi28.0.0-cu130" in gpu
    assert "host AMI al2023-ami-sagemaker-inference-gpu-4-1 (for CUDA 13" in gpu
    assert "volume: the instance's NVMe storage" in gpu  # g5: VolumeSizeInGB is not accepted
    assert "start-up health check timeout 661 s" in gpu  # 600 + a GPU minute + 1 s for 3 MB
    hf_cpu = _opts(model=str(small_model_dir), instance_type="ml.m5.xlarge", target="hf-dlc")
    cpu = format_plan(build_plan(hf_cpu, None, NOW))
    assert "(CPU, no GPU), engine transformers, image " in cpu
    assert "huggingface-pytorch-inference:2.6.0-transformers5.5.3-cpu-py312" in cpu
    assert "host AMI none set (SageMaker's default (a CPU instance))" in cpu
    assert "volume 30 GB" in cpu  # EBS-only m5: a volume sized for the model (at least 30 GB)


def test_lmi_on_a_cpu_instance_is_refused_in_one_line(small_model_dir: Path) -> None:
    """DJL's cpu-full image has no transformers (djl-serving v0.36.0 serving/docker/Dockerfile,
    stage cpu-full: torch 2.7.1, scikit-learn, xgboost, pydantic), so model.py cannot load."""
    with pytest.raises(InvalidInput) as e:
        build_plan(_opts(model=str(small_model_dir), instance_type="ml.m5.xlarge"), None, NOW)
    assert e.value.param == "--target" and "ships no transformers" in str(e.value)
    assert "\n" not in str(e.value)
    own = _opts(instance_type="ml.m5.xlarge", image_uri="1.dkr.ecr.us-east-1.amazonaws.com/x:1")
    assert build_plan(own, None, NOW).steps  # an image of the user's own is theirs to judge


def test_llm_settings_grow_with_the_model() -> None:
    from sagemaker_openai.sagemaker.sizing import GIB, variant_settings

    big = variant_settings(100 * GIB, "ml.m5.24xlarge", compressed=True)
    assert big.volume_size_gb == 210  # tarball + unpacked copy + 10 GB scratch
    assert big.download_timeout_s == 3600 and big.startup_timeout_s == 3600  # the API's cap
    flat = variant_settings(100 * GIB, "ml.m5.24xlarge", compressed=False)
    assert flat.volume_size_gb == 110  # nothing to unpack
    given = variant_settings(GIB, "ml.m5.xlarge", True, 50, 900, 300)
    assert (given.volume_size_gb, given.startup_timeout_s, given.download_timeout_s) == (
        50,
        900,
        300,
    )


def test_instance_type_change_with_scaling_plans_deregister_first() -> None:
    from sagemaker_openai.sagemaker.scaling import ScalingState

    scaling = ScalingState(1, 4, ())
    remote = RemoteState("1", _endpoint(instance_type="ml.g5.xlarge"), scaling)
    plan = build_plan(_opts(instance_type="ml.g6.xlarge"), remote, NOW)
    assert _kinds(plan) == [
        "CreateModel",
        "CreateEndpointConfig",
        "DeregisterScalableTarget",
        "UpdateEndpoint",
        "WaitInService",
        "RegisterScalableTarget",
        "RetireConfig",
    ]
    with pytest.raises(InvalidInput, match="--no-wait"):
        build_plan(_opts(instance_type="ml.g6.xlarge", wait=False), remote, NOW)
    same = build_plan(_opts(), remote, NOW)  # same type: scaling is left as it is
    assert "DeregisterScalableTarget" not in _kinds(same)
