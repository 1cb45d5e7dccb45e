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
