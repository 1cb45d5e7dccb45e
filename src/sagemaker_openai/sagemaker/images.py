"""Default container images per packaging target and region, and what an instance type implies.

Nothing here is looked up at run time. The registry accounts are those of the AWS Deep Learning
Containers as listed by the SageMaker Python SDK (aws/sagemaker-python-sdk,
src/sagemaker/image_uri_config/djl-lmi.json and huggingface.json; the same accounts serve both
image families). The tags were read on 2026-11-24 from aws/deep-learning-containers'
docs/src/data/djl-inference/0.36-lmi28.0.0-gpu.yml, 0.36-cpu.yml and
docs/src/data/huggingface-pytorch-inference/2.6-{gpu,cpu}-sagemaker.yml, the data behind
https://aws.github.io/deep-learning-containers/reference/available_images/; checked again on
2026-12-02 (that data's snapshot of 2026-08-21 lists nothing newer). LMI 29
(0.38.0-lmi29.0.0-cu130, published 2026-09-21) is opt-in: docs/deploy.md says why. To use another
image, pass --image-uri. docs/deploy.md lists the library versions each default image ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .errors import InvalidInput
from .instances import instance_facts

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
    cpu_tag: str
    gpu_engine: str  # the engine our handler runs in that image, on a GPU instance
    cpu_engine: str


IMAGES: dict[str, ImageFamily] = {
    # Hugging Face inference toolkit (MMS), PyTorch 2.6.0, transformers 5.5.3, Python 3.12.
    "hf-dlc": ImageFamily(
        repository="huggingface-pytorch-inference",
        gpu_tag="2.6.0-transformers5.5.3-gpu-py312-cu124-ubuntu22.04",
        cpu_tag="2.6.0-transformers5.5.3-cpu-py312-ubuntu22.04",
        gpu_engine="transformers",
        cpu_engine="transformers",
    ),
    # DJL Serving 0.36.0: LMI 28.0.0 with vLLM 0.26.0 (CUDA 13.0); on CPUs the "CPU Full" image.
    "lmi": ImageFamily(
        repository="djl-inference",
        gpu_tag="0.36.0-lmi28.0.0-cu130",
        cpu_tag="0.36.0-cpu-full",
        gpu_engine="vllm",
        cpu_engine="transformers",
    ),
}

TARGETS = ("image", "hf-dlc", "lmi")


def instance_family(instance_type: str) -> str:
    """ml.g5.xlarge -> g5; ml.p6-b200.48xlarge -> p6-b200."""
    return instance_type.removeprefix("ml.").split(".")[0]


def is_gpu_instance(instance_type: str) -> bool:
    """ml.g5.xlarge, ml.p4d.24xlarge: families starting with g or p carry NVIDIA GPUs."""
    return instance_family(instance_type)[:1] in ("g", "p")


def is_neuron_instance(instance_type: str) -> bool:
    """ml.inf2.xlarge, ml.trn1.2xlarge: AWS Inferentia and Trainium, neither CPU nor GPU."""
    return instance_family(instance_type).startswith(("inf", "trn"))


def device(instance_type: str) -> str:
    if is_neuron_instance(instance_type):
        return "Neuron"
    return "GPU" if is_gpu_instance(instance_type) else "CPU"


def has_instance_storage(instance_type: str) -> bool | None:
    """Whether the type has NVMe instance storage, where SageMaker takes no VolumeSizeInGB
    (EC2's InstanceStorageSupported, instances.py); None where the type is not in the record."""
    facts = instance_facts(instance_type)
    return None if facts is None else facts.instance_storage


@lru_cache(maxsize=1)
def sagemaker_instance_types() -> frozenset[str]:
    """The ProductionVariantInstanceType enum of the installed botocore's SageMaker model."""
    import botocore.loaders

    model = botocore.loaders.Loader().load_service_model("sagemaker", "service-2")
    return frozenset(model["shapes"]["ProductionVariantInstanceType"]["enum"])


def check_instance_type(instance_type: str) -> None:
    if instance_type not in sagemaker_instance_types():
        raise InvalidInput(
            "--instance-type",
            f"{instance_type!r} is not a SageMaker endpoint instance type (e.g. ml.g5.xlarge, "
            "ml.m5.xlarge; botocore's ProductionVariantInstanceType lists them all)",
        )


def engine(target: str, instance_type: str) -> str:
    """The engine our handler runs in the target's default image on this instance type."""
    if target not in IMAGES:
        return "auto (SMOAI_ENGINE in the image)"
    family = IMAGES[target]
    return family.gpu_engine if is_gpu_instance(instance_type) else family.cpu_engine


def default_image_uri(target: str, region: str, instance_type: str) -> str:
    """The documented image for a target in a region; raises InvalidInput where there is none."""
    if target == "image":
        raise InvalidInput(
            "--image-uri",
            "target 'image' has no default: build docker/Dockerfile.gpu or .cpu, push it to ECR "
            "and pass its URI",
        )
    if is_neuron_instance(instance_type):
        raise InvalidInput(
            "--instance-type",
            f"{instance_type} is an AWS Neuron instance; the default {target} images are for "
            "GPUs and CPUs (pass --image-uri with a Neuron image)",
        )
    family = IMAGES[target]
    account = REGISTRIES.get(region)
    if account is None:
        raise InvalidInput(
            "--region",
            f"no {family.repository} image is listed for region {region!r}; "
            "pass --image-uri or use one of: " + ", ".join(sorted(REGISTRIES)),
        )
    tag = family.gpu_tag if is_gpu_instance(instance_type) else family.cpu_tag
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{family.repository}:{tag}"
