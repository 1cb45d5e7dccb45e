"""Regenerates src/sagemaker_openai/sagemaker/instances.json from EC2's DescribeInstanceTypes.

The record read is moto's copy of that API's answers (moto/ec2/resources/instance_types.json.gz,
moto 5.2.5, captured from AWS); SageMaker's ml.X is EC2's X. Run from the repository root:
`python -m tests.sagemaker.instance_record > src/sagemaker_openai/sagemaker/instances.json`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any


def ec2_record() -> dict[str, Any]:
    import moto

    path = Path(moto.__file__).parent / "ec2" / "resources" / "instance_types.json.gz"
    with gzip.open(path) as f:
        return dict(json.load(f))


def endpoint_instance_types() -> list[str]:
    import botocore.loaders

    model = botocore.loaders.Loader().load_service_model("sagemaker", "service-2")
    return list(model["shapes"]["ProductionVariantInstanceType"]["enum"])


def table() -> dict[str, list[int | bool]]:
    """ml type -> [vCPUs, memory MiB, NVIDIA GPUs, GPU memory MiB (all), instance storage]."""
    record = ec2_record()
    out: dict[str, list[int | bool]] = {}
    for ml_type in sorted(endpoint_instance_types()):
        ec2 = record.get(ml_type.removeprefix("ml."))
        if ec2 is None:
            continue
        gpu = ec2.get("GpuInfo", {})
        nvidia = [g for g in gpu.get("Gpus", []) if g.get("Manufacturer") == "NVIDIA"]
        out[ml_type] = [
            ec2["VCpuInfo"]["DefaultVCpus"],
            ec2["MemoryInfo"]["SizeInMiB"],
            sum(g["Count"] for g in nvidia),
            gpu.get("TotalGpuMemoryInMiB", 0) if nvidia else 0,
            bool(ec2.get("InstanceStorageSupported")),
        ]
    return out


def render() -> str:
    rows = [f'  "{k}": {json.dumps(v)}' for k, v in table().items()]
    return "{\n" + ",\n".join(rows) + "\n}\n"


if __name__ == "__main__":
    print(render(), end="")
