"""GPU defaults decided without a GPU: tensor-parallel size, vLLM's context auto-fit and its
version range, eager when no compiler, `running` on vLLM 0.26 and 0.32, the transformers
engine's KV budget and weight placement, xgrammar's bitmask on the logits' device.

Outside software stands in from its source, cited at each stand-in (vLLM from its PyPI sdists
vllm-0.26.0.tar.gz and vllm-0.32.0.tar.gz; xgrammar 0.2.8 as installed).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import torch

from sagemaker_openai.engines.parallel import default_tensor_parallel_size, tensor_parallel_size

GIB = 1 << 30

# (attention heads, KV heads, intermediate size) from each model's config.json on the Hub
LLAMA_31_8B = {"num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336}
LLAMA_31_70B = {"num_attention_heads": 64, "num_key_value_heads": 8, "intermediate_size": 28672}
QWEN25_7B = {"num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944}
SMOLLM2_135M = {"num_attention_heads": 9, "num_key_value_heads": 3, "intermediate_size": 1536}
GEMMA3_27B = {"text_config": {"num_attention_heads": 32, "num_key_value_heads": 16}}


@pytest.mark.parametrize(
    ("config", "gpus", "size"),
    [
        (LLAMA_31_8B, 1, 1),
        (LLAMA_31_8B, 4, 4),  # ml.g5.12xlarge
        (LLAMA_31_8B, 8, 8),  # ml.g5.48xlarge, ml.p4d.24xlarge
        (LLAMA_31_70B, 8, 8),
        (QWEN25_7B, 8, 4),  # 28 heads: 8 does not divide them, 7 not the 4 KV heads
        (SMOLLM2_135M, 8, 3),  # 9 heads, 3 KV heads: 3 GPUs of 8
        (SMOLLM2_135M, 2, 1),
        (GEMMA3_27B, 8, 8),  # the language model's heads, nested in text_config
        (LLAMA_31_8B, 0, 1),  # no GPU visible
    ],
)
def test_tensor_parallel_size_divides_heads_kv_heads_and_mlp(
    config: dict[str, Any], gpus: int, size: int
) -> None:
    # vLLM 0.32 vllm/config/model.py verify_with_parallel_config: heads % tp == 0;
    # vllm/model_executor/layers/linear.py QKVParallelLinear: kv % tp == 0 or tp % kv == 0
    # (KV heads replicated); MergedColumnParallelLinear: intermediate % tp == 0.
    chosen = tensor_parallel_size(config, gpus)
    assert chosen == size
    text = config.get("text_config") or config
    assert text["num_attention_heads"] % chosen == 0
    kv = text["num_key_value_heads"]
    assert kv % chosen == 0 or chosen % kv == 0


def test_a_reduced_size_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "config.json").write_text(json.dumps(SMOLLM2_135M))
    with caplog.at_level(logging.WARNING):
        assert default_tensor_parallel_size(tmp_path, 4) == 3
    assert "4 GPUs visible" in caplog.text and "tensor parallelism 3" in caplog.text


vllm_engine = pytest.importorskip("sagemaker_openai.engines.vllm")


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.32.0", -1),
        ("0.26.0", -1),  # LMI 28's
        ("0.14.0", -1),  # config/model.py: max_model_len Field(ge=-1) from 0.14.0 ...
        ("0.13.0", None),  # ... and Field(gt=0) in 0.13.0: -1 is refused there
        ("0.11.2", None),
        ("0.14.0rc1.dev3+g1234", -1),
    ],
)
def test_an_unset_context_auto_fits_where_vllm_accepts_minus_one(
    version: str, expected: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    vllm = pytest.importorskip("vllm")
    monkeypatch.setattr(vllm, "__version__", version)
    assert vllm_engine._max_model_len(None) == expected
    assert vllm_engine._max_model_len(2048) == 2048  # the user's cap is kept


class _OutputProcessor:
    """vLLM 0.26.0 vllm/v1/engine/output_processor.py, OutputProcessor: request_states holds
    one entry per unfinished request; get_num_unfinished_requests is its length."""

    def __init__(self, unfinished: int):
        self.request_states = {str(i): object() for i in range(unfinished)}

    def get_num_unfinished_requests(self) -> int:
        return len(self.request_states)


class AsyncLLM026:
    """vLLM 0.26.0 vllm/v1/engine/async_llm.py: AsyncLLM sets `self.output_processor =
    OutputProcessor(...)` and defines no get_num_unfinished_requests."""

    def __init__(self, unfinished: int):
        self.output_processor = _OutputProcessor(unfinished)


class AsyncLLM032(AsyncLLM026):
    """vLLM 0.32.0 vllm/v1/engine/async_llm.py: the same processor, and the method reading it."""

    def get_num_unfinished_requests(self) -> int:
        return self.output_processor.get_num_unfinished_requests()


@pytest.mark.parametrize("llm_class", [AsyncLLM026, AsyncLLM032])
def test_running_counts_on_vllm_026_and_032(llm_class: type[AsyncLLM026]) -> None:
    assert not hasattr(AsyncLLM026(0), "get_num_unfinished_requests")
    assert vllm_engine._unfinished(llm_class(3)) == 3
    assert vllm_engine._unfinished(llm_class(0)) == 0


def _path_with(tmp_path: Path, names: list[str]) -> str:
    for name in names:
        tool = tmp_path / name
        tool.write_text("#!/bin/sh\n")
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return str(tmp_path)


@pytest.mark.parametrize(("on_cpu", "compiler"), [(True, "g++"), (False, "gcc")])
def test_eager_is_chosen_up_front_where_no_compiler_is_found(
    on_cpu: bool, compiler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # empty: no compiler anywhere
    assert vllm_engine._compiler_missing(on_cpu) == ("C++ compiler" if on_cpu else "C compiler")
    monkeypatch.setenv("PATH", _path_with(tmp_path, [compiler]))
    assert vllm_engine._compiler_missing(on_cpu) is None


def test_the_kv_budget_follows_free_gpu_memory_unless_set() -> None:
    from sagemaker_openai.engines.base import KV_CACHE_GIB_DEFAULT
    from sagemaker_openai.engines.transformers.engine import FREE_GPU_SHARE, kv_budget_bytes

    free = 20 * GIB  # what torch.cuda.mem_get_info()[0] says after the weights loaded
    assert kv_budget_bytes(KV_CACHE_GIB_DEFAULT, free) == int(free * FREE_GPU_SHARE)
    assert kv_budget_bytes(2.0, free) == 2 * GIB  # the user's size wins
    assert kv_budget_bytes(KV_CACHE_GIB_DEFAULT, None) == int(KV_CACHE_GIB_DEFAULT * GIB)  # CPU
    # the budget and its prefix-cache quarter stay within 80% of what is free
    assert FREE_GPU_SHARE * 1.25 <= 0.8


def test_weights_load_onto_the_device_without_a_move(
    demo_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sagemaker_openai.engines.transformers.engine import load_weights

    def no_move(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("weights were moved after loading (.to), not loaded in place")

    monkeypatch.setattr(torch.nn.Module, "to", no_move)
    # "meta" stands in for "cuda": the same device_map path, with no memory behind it
    model = load_weights(demo_model_dir, torch.float32, "meta")
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert not model.training


def test_the_bitmask_is_applied_on_the_logits_device(
    demo_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xgrammar")
    from transformers import AutoTokenizer

    from sagemaker_openai.engines import guided
    from sagemaker_openai.engines.base import Guided

    real = guided.xgr.apply_token_bitmask_inplace
    seen: list[tuple[str, str]] = []

    def stand_in(logits: torch.Tensor, bitmask: torch.Tensor, **kwargs: Any) -> None:
        # xgrammar 0.2.8 matcher.py apply_token_bitmask_inplace, its first check, verbatim:
        if bitmask.device != logits.device:
            raise ValueError(
                "logits and bitmask should be on the same device. "
                + f"But got logits.device: {logits.device}, bitmask.device: {bitmask.device}"
            )
        seen.append((logits.device.type, kwargs.get("backend", "auto")))
        if logits.device.type == "cpu":
            real(logits, bitmask, **kwargs)

    monkeypatch.setattr(guided.xgr, "apply_token_bitmask_inplace", stand_in)
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    vocab = len(tokenizer)
    decoding = guided.GuidedDecoding(tokenizer, vocab, [tokenizer.eos_token_id])
    processor = decoding.processor(Guided())
    # "meta" stands in for "cuda": a device other than the CPU the matcher fills its mask on
    processor.mask(torch.zeros(vocab, device="meta"))
    row = torch.zeros(vocab)
    processor.mask(row)
    assert seen == [("meta", "torch_native"), ("cpu", "auto")]
    assert torch.isinf(row).any() and not torch.isinf(row).all()  # `{` allowed, most not


def test_no_cuda_gpu_check_fails_in_one_line() -> None:
    """`make gpu-check` on a machine without CUDA: one line, exit 2 (bench/gpu_check.py)."""
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}:{root}"}
    done = subprocess.run(
        [sys.executable, "-m", "bench.gpu_check"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "no CUDA" in done.stderr
