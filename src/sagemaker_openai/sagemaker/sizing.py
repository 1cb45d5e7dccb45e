"""LLM endpoint settings derived from the model's size and the instance type.

SageMaker's own defaults suit small models: a fixed EBS volume, and a health check and an S3
download that must finish within minutes. A multi-GB model needs room for the download (the
tarball and its unpacked copy) and time to download and load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .images import has_instance_storage, is_gpu_instance

GIB = 2**30
MIN_VOLUME_GB, MAX_VOLUME_GB = 30, 512  # ProductionVariantVolumeSizeInGB allows 1..512
SCRATCH_GB = 10  # the container's own files, logs, caches
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 600, 3600  # the API allows 60..3600 seconds
# Seconds per GiB of model: S3 to the instance at >= ~50 MiB/s, unpacking, loading weights.
DOWNLOAD_S_PER_GIB = 30
STARTUP_S_PER_GIB = 60
UNKNOWN_SIZE_TIMEOUT_S = 1800  # model data given as an s3:// URL: its size is not read


@dataclass(frozen=True)
class VariantSettings:
    """ProductionVariant fields for an LLM; volume None where the instance has NVMe storage."""

    volume_size_gb: int | None
    startup_timeout_s: int  # ContainerStartupHealthCheckTimeoutInSeconds
    download_timeout_s: int  # ModelDataDownloadTimeoutInSeconds
    storage_known: bool = True  # False: the instance type is not in EC2's record (instances.py)
    ami: str | None = None  # InferenceAmiVersion (host_ami.py); None: SageMaker's default

    def describe(self) -> str:
        if self.volume_size_gb:
            volume = f"volume {self.volume_size_gb} GB"
        elif self.storage_known:
            volume = "volume: the instance's NVMe storage"
        else:
            volume = "volume: SageMaker's default (storage unknown; --volume-size sets one)"
        ami = f", host AMI {self.ami}" if self.ami else ""
        return (
            f"{volume}, download timeout {self.download_timeout_s} s, "
            f"start-up health check timeout {self.startup_timeout_s} s{ami}"
        )


def model_bytes(model_dir: Path) -> int:
    """Bytes of the files a package would hold (links followed)."""
    return sum(
        p.stat().st_size
        for p in model_dir.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.parts[len(model_dir.parts) :])
    )


def variant_settings(
    size_bytes: int | None,
    instance_type: str,
    compressed: bool,
    volume_size_gb: int | None = None,
    startup_timeout_s: int | None = None,
    download_timeout_s: int | None = None,
) -> VariantSettings:
    """Defaults from the model size (None: unknown), each replaced by a value given."""
    gib = None if size_bytes is None else size_bytes / GIB
    volume = None
    nvme = has_instance_storage(instance_type)
    if nvme is None:
        volume = volume_size_gb  # unknown: a volume only where asked, never a guess
    elif not nvme:
        copies = 2 if compressed else 1  # the tarball and what it unpacks to
        derived = MIN_VOLUME_GB if gib is None else math.ceil(copies * gib) + SCRATCH_GB
        volume = volume_size_gb or _clamp(derived, MIN_VOLUME_GB, MAX_VOLUME_GB)
    # A GPU start-up also compiles and captures CUDA graphs (vLLM): a fixed extra minute.
    extra = 60 if is_gpu_instance(instance_type) else 0
    return VariantSettings(
        volume_size_gb=volume,
        startup_timeout_s=startup_timeout_s or _timeout(gib, STARTUP_S_PER_GIB, extra),
        download_timeout_s=download_timeout_s or _timeout(gib, DOWNLOAD_S_PER_GIB, 0),
        storage_known=nvme is not None,
    )


def _timeout(gib: float | None, per_gib: int, extra: int) -> int:
    if gib is None:
        return UNKNOWN_SIZE_TIMEOUT_S
    return _clamp(MIN_TIMEOUT_S + extra + math.ceil(per_gib * gib), MIN_TIMEOUT_S, MAX_TIMEOUT_S)


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))
