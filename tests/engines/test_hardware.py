"""The device and dtype the engines pick, from the hardware's own description."""

from __future__ import annotations

from pathlib import Path

import pytest

from sagemaker_openai.engines.hardware import cpu_flags, pick_dtype

AVX2_ONLY = "fpu vme sse sse2 avx avx2 fma f16c"  # the EPYC: no bf16 instructions
ZEN4 = AVX2_ONLY + " avx512f avx512_bf16 avx512_vnni"
SAPPHIRE_RAPIDS = AVX2_ONLY + " avx512f amx_bf16 amx_tile"


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    return path


@pytest.mark.parametrize(
    ("flags", "dtype"),
    [(AVX2_ONLY, "float32"), (ZEN4, "bfloat16"), (SAPPHIRE_RAPIDS, "bfloat16")],
    ids=["avx2-only", "avx512-bf16", "amx"],
)
def test_cpu_dtype_is_bf16_only_where_computed_natively(tmp_path, monkeypatch, flags, dtype):
    from sagemaker_openai.engines import hardware

    monkeypatch.setattr(hardware, "cpu_flags", lambda: cpu_flags(_cpuinfo(tmp_path, flags)))
    assert pick_dtype("auto", "cpu") == dtype
    assert pick_dtype("float16", "cpu") == "float16"  # set: taken as it is


def test_gpu_dtype_is_bf16_from_ampere_and_fp16_before() -> None:
    assert pick_dtype("auto", "cuda", gpu_major=8) == "bfloat16"  # A10G (g5), A100, L4, H100
    assert pick_dtype("auto", "cuda", gpu_major=7) == "float16"  # T4 (g4dn), V100 (p3)


def test_no_cpuinfo_means_no_flags(tmp_path) -> None:
    assert cpu_flags(tmp_path / "absent") == frozenset()


def test_a_dtype_or_device_outside_the_choices_is_refused() -> None:
    from sagemaker_openai.engines.hardware import pick_device

    with pytest.raises(ValueError, match="dtype must be one of"):
        pick_dtype("fp8", "cpu")
    with pytest.raises(ValueError, match="device must be one of"):
        pick_device("tpu")
