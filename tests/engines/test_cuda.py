"""On a CUDA machine: the real server, started as users start it, streams from the GPU."""

from __future__ import annotations

import json

import httpx
import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason="PyTorch sees no CUDA device on this machine"
    ),
]


def test_a_stream_through_http_is_generated_on_the_gpu(serve_demo) -> None:
    server = serve_demo("transformers", "--device", "cuda")
    body = {
        "messages": [{"role": "user", "content": "Name three colors."}],
        "max_tokens": 32,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{server.url}/invocations", json=body, timeout=120) as response:
        assert response.status_code == 200
        chunks = [json.loads(line) for line in response.iter_lines() if line]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    log = server.log_text()
    assert "transformers engine on cuda" in log, log[-2000:]


def test_dtype_auto_follows_the_gpu() -> None:
    from sagemaker_openai.engines.hardware import pick_dtype

    major, _ = torch.cuda.get_device_capability()
    assert pick_dtype("auto", "cuda") == ("bfloat16" if major >= 8 else "float16")


def test_weights_load_on_the_gpu_and_the_kv_budget_follows_free_memory(demo_model_dir) -> None:
    from sagemaker_openai.engines.base import EngineOptions
    from sagemaker_openai.engines.transformers import engine as te

    engine = te.load(demo_model_dir, served_name="demo", options=EngineOptions(device="cuda"))
    model = engine._scheduler._model
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    budget = engine.card.token_capacity * te._cache_bytes_per_token(model)
    expected = te.FREE_GPU_SHARE * torch.cuda.mem_get_info()[0]  # little changed since loading
    assert abs(budget - expected) < 0.1 * expected
    assert engine.card.context_length == min(8192, engine.card.token_capacity)


def test_the_grammar_masks_logits_on_the_gpu(demo_model_dir) -> None:
    pytest.importorskip("xgrammar")
    from transformers import AutoTokenizer

    from sagemaker_openai.engines.base import Guided
    from sagemaker_openai.engines.guided import GuidedDecoding

    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    vocab = len(tokenizer)
    processor = GuidedDecoding(tokenizer, vocab, [tokenizer.eos_token_id]).processor(Guided())
    row = torch.zeros(vocab, device="cuda")
    processor.mask(row)  # xgrammar raises on a CPU bitmask with CUDA logits
    allowed = torch.isfinite(row)
    assert 0 < int(allowed.sum()) < vocab
    assert tokenizer.decode([int(allowed.nonzero()[0])]).startswith("{")


def test_constrained_decoding_through_http_on_the_gpu(serve_demo) -> None:
    pytest.importorskip("xgrammar")
    server = serve_demo("transformers", "--device", "cuda")
    schema = {
        "type": "object",
        "properties": {"unit": {"enum": ["C", "F"]}},
        "required": ["unit"],
        "additionalProperties": False,
    }
    body = {
        "messages": [{"role": "user", "content": "Celsius or Fahrenheit?"}],
        "max_tokens": 32,
        "response_format": {"type": "json_schema", "json_schema": {"name": "u", "schema": schema}},
    }
    reply = httpx.post(f"{server.url}/invocations", json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    assert json.loads(reply.json()["choices"][0]["message"]["content"])["unit"] in ("C", "F")
