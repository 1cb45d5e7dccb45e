"""Default container images per packaging target and region: a fixed, documented table.

Nothing here is looked up at run time. The registry accounts are those of the AWS Deep Learning
Containers as listed by the SageMaker Python SDK (aws/sagemaker-python-sdk,
src/sagemaker/image_uri_config/djl-lmi.json and huggingface.json; the same accounts serve both
image families), and the tags are released images listed in aws/deep-learning-containers
(available_images.md). To use another image, pass --image-uri.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidInput

# region -> ECR registry account of the Deep Learning Containers.
REGISTRIES: dict[str, str] = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-northeast-1": "763104351884",
    "ap-northeast-2": "763104351884",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "763104351884",
    "ap-southeast-1": "763104351884",
    "ap-southeast-2": "763104351884",
    "ap-southeast-3": "907027046896",
    "ca-central-1": "763104351884",
    "ca-west-1": "204538143572",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
    "eu-central-1": "763104351884",
    "eu-north-1": "763104351884",
    "eu-south-1": "692866216735",
    "eu-west-1": "763104351884",
    "eu-west-2": "763104351884",
    "eu-west-3": "763104351884",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "sa-east-1": "763104351884",
    "us-east-1": "763104351884",
    "us-east-2": "763104351884",
    "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353",
    "us-west-1": "763104351884",
    "us-west-2": "763104351884",
}


@dataclass(frozen=True)
class ImageFamily:
    repository: str
    gpu_tag: str
    cpu_tag: str | None  # None: the family has no CPU image; the GPU one is used everywhere


IMAGES: dict[str, ImageFamily] = {
    # Hugging Face inference toolkit (MMS) with PyTorch 2.6, transformers 4.49, Python 3.12.
    "hf-dlc": ImageFamily(
        repository="huggingface-pytorch-inference",
        gpu_tag="2.6.0-transformers4.49.0-gpu-py312-cu124-ubuntu22.04",
        cpu_tag="2.6.0-transformers4.49.0-cpu-py312-ubuntu22.04",
    ),
    # DJL Serving 0.30.0, LMI 12 (CUDA 12.4); its Python engine runs our model.py.
    "lmi": ImageFamily(repository="djl-inference", gpu_tag="0.30.0-lmi12.0.0-cu124", cpu_tag=None),
}

TARGETS = ("image", "hf-dlc", "lmi")


def is_gpu_instance(instance_type: str) -> bool:
    """ml.g5.xlarge, ml.p4d.24xlarge: families starting with g or p carry NVIDIA GPUs."""
    family = instance_type.removeprefix("ml.").split(".")[0]
    return family[:1] in ("g", "p")


def default_image_uri(target: str, region: str, instance_type: str) -> str:
    """The documented image for a target in a region; raises InvalidInput where there is none."""
    if target == "image":
        raise InvalidInput(
            "--image-uri",
            "target 'image' has no default: build docker/Dockerfile.gpu or .cpu, push it to ECR "
            "and pass its URI",
        )
    family = IMAGES[target]
    account = REGISTRIES.get(region)
    if account is None:
        raise InvalidInput(
            "--region",
            f"no {family.repository} image is listed for region {region!r}; "
            "pass --image-uri or use one of: " + ", ".join(sorted(REGISTRIES)),
        )
    gpu = is_gpu_instance(instance_type) or family.cpu_tag is None
    tag = family.gpu_tag if gpu else family.cpu_tag
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{family.repository}:{tag}"
