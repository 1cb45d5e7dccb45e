"""What deploy knows of instance types and host AMIs, against the sources it was taken from."""

from __future__ import annotations

from pathlib import Path

import botocore.loaders
import pytest
from instance_record import render

from sagemaker_openai.sagemaker.errors import InvalidInput
from sagemaker_openai.sagemaker.host_ami import (
    OWN_IMAGE_CUDA_MAJOR,
    ami_for_cuda,
    check_ami,
    choose_ami,
    image_cuda_major,
)
from sagemaker_openai.sagemaker.images import IMAGES, has_instance_storage
from sagemaker_openai.sagemaker.instances import gpu_count, instance_facts

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "src" / "sagemaker_openai" / "sagemaker" / "instances.json"


def _sagemaker_shapes() -> dict:
    return botocore.loaders.Loader().load_service_model("sagemaker", "service-2")["shapes"]


def test_the_instance_table_is_ec2s_record() -> None:
    """instances.json is EC2's DescribeInstanceTypes (moto 5.2.5's copy) for botocore's
    endpoint instance types; regenerate it with tests/sagemaker/instance_record.py."""
    assert TABLE.read_text() == render()


@pytest.mark.parametrize(
    ("instance", "gpus", "nvme"),
    [
        ("ml.g4dn.12xlarge", 4, True),  # 4 T4
        ("ml.g5.xlarge", 1, True),
        ("ml.g5.48xlarge", 8, True),
        ("ml.g6e.12xlarge", 4, True),
        ("ml.p4d.24xlarge", 8, True),
        ("ml.p5.48xlarge", 8, True),
        ("ml.m5.xlarge", 0, False),
        ("ml.m5d.xlarge", 0, True),
        ("ml.c7i.large", 0, False),
    ],
)
def test_gpu_counts_and_instance_storage(instance: str, gpus: int, nvme: bool) -> None:
    """The counts agree with the SageMaker Python SDK's own table where it has the type
    (sagemaker-core image_uri_config/instance_gpu_info.json: g4dn.12xlarge 4, g5.48xlarge 8,
    p4d.24xlarge 8, p5.48xlarge 8)."""
    assert gpu_count(instance) == gpus
    assert has_instance_storage(instance) is nvme


def test_an_instance_type_ec2_does_not_list_is_unknown_not_guessed() -> None:
    assert instance_facts("ml.p3.2xlarge") is None  # retired: not in EC2's record
    assert has_instance_storage("ml.p3.2xlarge") is None
    from sagemaker_openai.sagemaker.sizing import variant_settings

    settings = variant_settings(None, "ml.p3.2xlarge", compressed=True)
    assert settings.volume_size_gb is None and "SageMaker's default" in settings.describe()


def test_amis_come_from_botocores_model() -> None:
    """For each CUDA major, the AMI aws/deep-learning-containers pins for its own images
    (test/test_utils/constants.py at e0eced: INFERENCE_AMI_VERSION_CU12, _CU13), and a value
    of botocore's ProductionVariantInferenceAmiVersion enum."""
    enum = _sagemaker_shapes()["ProductionVariantInferenceAmiVersion"]["enum"]
    assert ami_for_cuda(13) == "al2023-ami-sagemaker-inference-gpu-4-1"
    assert ami_for_cuda(12) == "al2-ami-sagemaker-inference-gpu-3-1"
    assert {ami_for_cuda(13), ami_for_cuda(12)} <= set(enum)
    with pytest.raises(InvalidInput, match="no SageMaker host AMI for CUDA 11"):
        ami_for_cuda(11)
    with pytest.raises(InvalidInput) as e:
        check_ami("al2-ami-made-up")
    assert e.value.param == "--inference-ami"


def test_each_default_gpu_image_gets_the_ami_of_its_cuda() -> None:
    for target, family in IMAGES.items():
        uri = f"763104351884.dkr.ecr.us-east-1.amazonaws.com/{family.repository}:{family.gpu_tag}"
        cuda = image_cuda_major(uri, target)
        assert cuda is not None, family.gpu_tag
        ami, _ = choose_ami(None, uri, target, gpu=True)
        assert ami == ami_for_cuda(cuda[0])
    lmi = IMAGES["lmi"]
    assert lmi.gpu_tag.endswith("-cu130")
    assert choose_ami(None, f"x/djl-inference:{lmi.gpu_tag}", "lmi", True)[0] == (
        "al2023-ami-sagemaker-inference-gpu-4-1"
    )
    assert choose_ami(None, "x/any:latest", "lmi", True)[0] is None  # says no CUDA: not guessed
    assert choose_ami("default", f"x/djl-inference:{lmi.gpu_tag}", "lmi", True)[0] is None
    assert choose_ami(None, f"x/djl-inference:{lmi.gpu_tag}", "lmi", False)[0] is None  # CPU


def test_the_own_image_cuda_is_dockerfile_gpus() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile.gpu").read_text()
    base = next(line for line in dockerfile.splitlines() if line.startswith("FROM "))
    assert base.startswith(f"FROM nvidia/cuda:{OWN_IMAGE_CUDA_MAJOR}.")
    assert image_cuda_major("1.dkr.ecr.us-east-1.amazonaws.com/mine:latest", "image") == (
        OWN_IMAGE_CUDA_MAJOR,
        "docker/Dockerfile.gpu's",
    )
