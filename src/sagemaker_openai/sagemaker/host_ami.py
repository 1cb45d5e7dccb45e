"""The host AMI a GPU image needs: the production variant's InferenceAmiVersion.

A container's CUDA needs a host NVIDIA driver of its major version: CUDA 13 needs driver 580.
Without InferenceAmiVersion SageMaker starts GPU instances on its older AMI, where a CUDA 13
image crashes before it logs anything (the SageMaker Python SDK sets it for cu130 images since
aws/sagemaker-python-sdk#6281). The AMIs, their drivers and CUDA versions are read from the
installed botocore's SageMaker model (the InferenceAmiVersion member's documentation, its enum
ProductionVariantInferenceAmiVersion): for the image's CUDA major, the AMI with the newest
driver. That is what aws/deep-learning-containers picks for its own images
(test/test_utils/constants.py: INFERENCE_AMI_VERSION_CU12 al2-ami-sagemaker-inference-gpu-3-1,
INFERENCE_AMI_VERSION_CU13 al2023-ami-sagemaker-inference-gpu-4-1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .errors import InvalidInput

DEFAULT = "default"  # --inference-ami default: set none, SageMaker's own choice
# docker/Dockerfile.gpu's base image, nvidia/cuda:13.0.2-base-ubuntu24.04 (a test reads it).
OWN_IMAGE_CUDA_MAJOR = 13
_CUDA_TAG = re.compile(r"[-_]cu(\d{2})\d(?![0-9])")


@dataclass(frozen=True)
class HostAmi:
    name: str
    driver: int  # NVIDIA driver major; 0 for a Neuron AMI
    cuda: tuple[int, int] | None  # None for a Neuron AMI


@lru_cache(maxsize=1)
def host_amis() -> tuple[HostAmi, ...]:
    """The AMIs botocore's SageMaker model lists, with what its documentation says of each."""
    import botocore.loaders

    model = botocore.loaders.Loader().load_service_model("sagemaker", "service-2")
    shapes = model["shapes"]
    names = shapes.get("ProductionVariantInferenceAmiVersion", {}).get("enum", [])
    doc = shapes["ProductionVariant"]["members"].get("InferenceAmiVersion", {})
    text = str(doc.get("documentation", ""))
    found = []
    for name in names:
        entry = re.search(rf"<dt>{re.escape(name)}</dt>\s*<dd>(.*?)</dd>", text, re.S)
        body = entry.group(1) if entry else ""
        driver = re.search(r"NVIDIA driver version: (\d+)", body)
        cuda = re.search(r"CUDA version: (\d+)\.(\d+)", body)
        found.append(
            HostAmi(
                name,
                int(driver.group(1)) if driver else 0,
                (int(cuda.group(1)), int(cuda.group(2))) if cuda else None,
            )
        )
    return tuple(found)


def image_cuda_major(image_uri: str, target: str) -> tuple[int, str] | None:
    """(CUDA major, where it was read): from the image tag (-cu130 -> 13), else for the target
    image Dockerfile.gpu's. None where neither says."""
    name = image_uri.rpartition("/")[2]
    match = _CUDA_TAG.search(name.partition(":")[2])
    if match:
        return int(match.group(1)), "the image tag's"
    if target == "image":
        return OWN_IMAGE_CUDA_MAJOR, "docker/Dockerfile.gpu's"
    return None


def ami_for_cuda(major: int) -> str:
    """The GPU AMI with the newest driver among those documented for this CUDA major."""
    fits = [a for a in host_amis() if a.cuda and a.cuda[0] == major]
    if not fits:
        raise InvalidInput(
            "--inference-ami",
            f"this botocore lists no SageMaker host AMI for CUDA {major} "
            "(pip install -U boto3, or pass --inference-ami)",
        )
    return max(fits, key=lambda a: (a.driver, a.cuda)).name


def check_ami(name: str) -> None:
    known = [a.name for a in host_amis()]
    if name != DEFAULT and name not in known:
        raise InvalidInput(
            "--inference-ami", f"{name!r} is not one of {', '.join([*known, DEFAULT])}"
        )


def choose_ami(asked: str | None, image_uri: str, target: str, gpu: bool) -> tuple[str | None, str]:
    """(InferenceAmiVersion or None, why) for the plan."""
    if asked is not None:
        check_ami(asked)
        if asked == DEFAULT:
            return None, "SageMaker's default (--inference-ami default)"
        return asked, "--inference-ami"
    if not gpu:
        return None, "SageMaker's default (a CPU instance)"
    cuda = image_cuda_major(image_uri, target)
    if cuda is None:
        return None, "SageMaker's default (the image tag names no CUDA; --inference-ami sets one)"
    major, source = cuda
    return ami_for_cuda(major), f"for CUDA {major}, {source}"
