"""What an instance type holds: vCPUs, memory, NVIDIA GPUs, NVMe instance storage.

instances.json is EC2's DescribeInstanceTypes (SageMaker's ml.X is EC2's X) for every type in
botocore 1.44.8's ProductionVariantInstanceType enum that EC2 lists (269 of 277: not the retired
p2, p3 and dl1, nor p6e-gb200), as recorded by moto 5.2.5 (moto/ec2/resources/
instance_types.json.gz); tests/sagemaker/instance_record.py regenerates it and a test compares.
The SageMaker Python SDK reads GPU counts from the same API (sagemaker-serve
model_builder.py, `_infer_accelerator_count_from_instance_type`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Instance:
    vcpus: int
    memory_mib: int
    gpus: int  # NVIDIA GPUs
    gpu_memory_mib: int  # all GPUs together
    instance_storage: bool  # NVMe instance store: SageMaker takes no VolumeSizeInGB there


@lru_cache(maxsize=1)
def _table() -> dict[str, Instance]:
    text = (resources.files("sagemaker_openai.sagemaker") / "instances.json").read_text()
    return {name: Instance(*row) for name, row in json.loads(text).items()}


def instance_facts(instance_type: str) -> Instance | None:
    """The instance type's hardware, or None where EC2's record does not list it."""
    return _table().get(instance_type)


def gpu_count(instance_type: str) -> int | None:
    """NVIDIA GPUs of the instance type; None where unknown."""
    facts = instance_facts(instance_type)
    return None if facts is None else facts.gpus


def known_instance_types() -> list[str]:
    return sorted(_table())
