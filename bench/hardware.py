"""What the figures were measured on: the CPU (model, flags), the GPU, and its utilisation."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

# Flags that decide which dtype a CPU computes natively (issue 10); "amx" stands for any amx_*.
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx")


def cpu_info(cpuinfo: str | None = None) -> dict[str, Any]:
    """The CPU's model name and which of CPU_FLAGS it exposes (from /proc/cpuinfo)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.is_file() else ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first processor speaks for all
    flags = set(fields.get("flags", "").split())
    present = [f for f in CPU_FLAGS if f in flags or (f == "amx" and _any_amx(flags))]
    return {"model": fields.get("model name", "unknown"), "flags": present}


def _any_amx(flags: set[str]) -> bool:
    return any(f.startswith("amx_") for f in flags)


def resolve_device(requested: str) -> str:
    """`auto` is cuda where torch sees a CUDA device, else cpu; cuda without one is an error."""
    if requested == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise ValueError("--device cuda: torch sees no CUDA device on this machine")
    return "cuda" if available else "cpu"


def describe_device(device: str) -> dict[str, Any]:
    """kind, name and the slug that result files are named with (`cpu`, `nvidia-h100-80gb-hbm3`)."""
    if device == "cpu":
        return {"kind": "cpu", "name": "cpu", "slug": "cpu"}
    row = _smi(["--query-gpu=name,memory.total,driver_version"])
    if row:
        name, memory, driver = row
        extra: dict[str, Any] = {"memory_mib": int(float(memory)), "driver": driver}
    else:  # no nvidia-smi: torch still names the device
        import torch

        name, extra = torch.cuda.get_device_name(0), {}
    return {"kind": "cuda", "name": name, "slug": slug(name), **extra}


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "gpu"


def _smi(query: list[str]) -> list[str] | None:
    """The first GPU's row of an nvidia-smi CSV query, or None where nvidia-smi is absent."""
    if not shutil.which("nvidia-smi"):
        return None
    command = ["nvidia-smi", *query, "--format=csv,noheader,nounits", "-i", "0"]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return [v.strip() for v in out.stdout.strip().splitlines()[0].split(",")]


class GpuSampler:
    """GPU utilisation (%) and memory used (MiB) of GPU 0 from nvidia-smi, sampled every second."""

    def __init__(self, interval_s: float = 1.0):
        self.samples: list[tuple[float, float]] = []
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        utils = [u for u, _ in self.samples]
        return {
            "samples": len(utils),
            "util_mean_pct": round(sum(utils) / len(utils), 1) if utils else None,
            "util_max_pct": max(utils) if utils else None,
            "memory_peak_mib": max((m for _, m in self.samples), default=None),
        }

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            row = _smi(["--query-gpu=utilization.gpu,memory.used"])
            if row:
                self.samples.append((float(row[0]), float(row[1])))
