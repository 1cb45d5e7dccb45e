"""Which device and dtype to run on: what the hardware computes natively, unless set."""

from __future__ import annotations

from pathlib import Path

from .base import DEVICES, DTYPES

# CPU flags (Linux /proc/cpuinfo) of instructions that compute bf16 natively (x86 AVX512-BF16
# and AMX; arm64's BF16, e.g. Graviton 3). Without them
# PyTorch and vLLM emulate bf16 with conversions, slower than fp32 (issue 10: vLLM-CPU on an
# AVX2-only EPYC ran 30.9 tok/s bf16 vs 87.7 fp32 at batch 16).
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def pick_device(setting: str = "auto") -> str:
    """`cuda` when asked or available, else `cpu`; asking for a CUDA that is absent is an error."""
    if setting not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {setting!r}")
    import torch

    if setting == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for, but PyTorch sees no CUDA device")
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def pick_dtype(setting: str, device: str, gpu_major: int | None = None) -> str:
    """The torch dtype name to load weights in: `setting`, or the device's native choice.

    `gpu_major`: the CUDA compute capability's major number where the caller knows it without
    initialising CUDA (vLLM asks NVML); else it is asked from torch.
    """
    if setting not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {setting!r}")
    if setting != "auto":
        return setting
    if device == "cuda":
        if gpu_major is None:
            import torch

            gpu_major = torch.cuda.get_device_capability()[0]
        return "bfloat16" if gpu_major >= 8 else "float16"  # bf16 tensor cores from Ampere (8.0)
    return "bfloat16" if cpu_has_native_bf16(cpu_flags()) else "float32"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first CPU's feature flags; empty where /proc/cpuinfo is absent (not Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, arm64
            return frozenset(value.split())
    return frozenset()


def cpu_has_native_bf16(flags: frozenset[str]) -> bool:
    return bool(flags & BF16_CPU_FLAGS)
