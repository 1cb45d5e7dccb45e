"""Reasoning under both names, vLLM's sampling extras and cached prompt tokens, through real HTTP
on every installed engine, with the demo model and a template that opens `<think>` as
DeepSeek-R1's does (tests/fixtures/chat_templates/smollm2-think.jinja). One server per engine
for the module (vLLM with VLLM_CPU_KVCACHE_SPACE=1 and eager)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live import free_port
from transformers import AutoTokenizer

from sagemaker_openai.endpoint.check.report import run_check
from sagemaker_openai.endpoint.exchange import ContainerTarget
from sagemaker_openai.engines import ENGINES, available_engines, load_engine
from sagemaker_openai.service import chat_service
from sagemaker_openai.serving.server import create_app
from sagemaker_openai.settings import load_settings

TEMPLATE = Path(__file__).parents[1] / "fixtures" / "chat_templates" / "smollm2-think.jinja"
ASK = [{"role": "user", "content": "What is 2+2?"}]
STORY = [{"role": "user", "content": "Tell me a short story about a cat."}]
READY_TIMEOUT_S = 600  # vLLM on a shared 2-core machine: minutes


def think_model(demo: Path, into: Path) -> Path:
    """The demo model with the think-opening template (weights linked, not copied)."""
    template = TEMPLATE.read_text()
    for item in demo.iterdir():
        if item.name not in ("chat_template.jinja", "tokenizer_config.json"):
            (into / item.name).symlink_to(item)
    (into / "chat_template.jinja").write_text(template)
    config = json.loads((demo / "tokenizer_config.json").read_text())
    (into / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": template}))
    return into


class Served:
    def __init__(self, url: str):
        self.url = url

    def post(self, **body: Any) -> httpx.Response:
        body.setdefault("messages", ASK)
        return httpx.post(f"{self.url}/invocations", json=body, timeout=120)

    def chat(self, **body: Any) -> dict[str, Any]:
        response = self.post(**body)
        assert response.status_code == 200, response.text
        return response.json()

    def stream(self, **body: Any) -> list[dict[str, Any]]:
        body.setdefault("messages", ASK)
        with httpx.stream(
            "POST", f"{self.url}/invocations", json={**body, "stream": True}, timeout=120
        ) as response:
            assert response.status_code == 200
            return [json.loads(line) for line in response.iter_lines() if line]


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                name not in available_engines(), reason=f"the {name} engine is not installed"
            ),
        )
        for name in ENGINES
    ],
)
def served(
    request: pytest.FixtureRequest, demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    import uvicorn

    model = think_model(demo_model_dir, tmp_path_factory.mktemp("think-model"))
    loaded: list[Any] = []
    # fp32: in bf16 two tokens' logits can tie, and top_k 1 keeps both where argmax picks one;
    # eager vLLM starts in half the time
    options: dict[str, Any] = {"dtype": "float32"}
    if request.param == "vllm":
        options["enforce_eager"] = True
    saved = os.environ.get("VLLM_CPU_KVCACHE_SPACE")
    os.environ["VLLM_CPU_KVCACHE_SPACE"] = "1"

    def load() -> Any:
        loaded.append(load_engine(request.param, model, served_name="demo", **options))
        return loaded[0]

    port = free_port()
    settings = load_settings({}, {})
    app = create_app(settings, lambda: chat_service(load(), settings))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while not (loaded and _ping(url)):
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.5)
        yield Served(url)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        if loaded:
            loaded[0].close()
        if saved is None:
            os.environ.pop("VLLM_CPU_KVCACHE_SPACE", None)
        else:
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = saved


def _ping(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ping", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _deltas(chunks: list[dict[str, Any]], key: str) -> list[str]:
    return [c["choices"][0]["delta"][key] for c in chunks if key in _delta(c)]


def _delta(chunk: dict[str, Any]) -> dict[str, Any]:
    return chunk["choices"][0]["delta"] if chunk["choices"] else {}


def _said(message: dict[str, Any]) -> str:
    """All the answer's text, thinking and content, for comparing samplings."""
    return (message.get("reasoning") or "") + "|" + (message.get("content") or "")


# --- reasoning ---------------------------------------------------------------------------


def test_thinking_goes_out_under_both_names(served: Served) -> None:
    message = served.chat(max_tokens=24, temperature=0)["choices"][0]["message"]
    assert message["reasoning"] and message["reasoning"] == message["reasoning_content"]
    assert "<think>" not in message["content"] and "</think>" not in message["content"]
    chunks = served.stream(max_tokens=24, temperature=0)
    reasoning, older = _deltas(chunks, "reasoning"), _deltas(chunks, "reasoning_content")
    assert "".join(reasoning) == "".join(older) == message["reasoning"]
    # whole characters in every reasoning delta, as in content
    assert all("\ufffd" not in text for text in reasoning)


def test_include_reasoning_false_leaves_thinking_out(served: Served) -> None:
    message = served.chat(max_tokens=24, temperature=0, include_reasoning=False)
    assert set(message["choices"][0]["message"]) == {"role", "content"}
    chunks = served.stream(max_tokens=24, temperature=0, include_reasoning=False)
    assert not _deltas(chunks, "reasoning") and not _deltas(chunks, "reasoning_content")
    assert all(set(_delta(c)) <= {"role", "content"} for c in chunks)


@pytest.mark.parametrize("name", ["reasoning", "reasoning_content"])
def test_an_earlier_turns_thinking_reaches_the_template(served: Served, name: str) -> None:
    earlier = {"role": "assistant", "content": "4"}
    turns = [*ASK, earlier, {"role": "user", "content": "And 3+3?"}]
    plain = served.chat(max_tokens=1, messages=turns)
    thought = [*ASK, {**earlier, name: "Two and two make four."}, turns[-1]]
    rendered = served.chat(max_tokens=1, messages=thought)
    # the template writes the thinking into the earlier turn: the prompt grows by it
    assert rendered["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"] + 5


def test_reasoning_effort_reaches_the_template_and_none_turns_thinking_off(
    served: Served,
) -> None:
    plain = served.chat(max_tokens=16, temperature=0)
    low = served.chat(max_tokens=16, temperature=0, reasoning_effort="low")
    # the template writes "Reasoning: low" into the system turn
    assert low["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"]
    assert low["choices"][0]["message"]["reasoning"]
    # "none" sets enable_thinking false, which this template reads (as Qwen3's does)
    off = served.chat(max_tokens=16, temperature=0, reasoning_effort="none")
    assert "reasoning" not in off["choices"][0]["message"]
    assert off["choices"][0]["message"]["content"]
    refused = served.post(reasoning_effort="extreme")
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "reasoning_effort"


def test_thinking_token_budget_writes_the_end_marker(served: Served) -> None:
    free = served.chat(max_tokens=40, temperature=0, messages=STORY)["choices"][0]
    capped = served.chat(max_tokens=40, temperature=0, messages=STORY, thinking_token_budget=4)
    message = capped["choices"][0]["message"]
    assert len(free["message"]["reasoning"]) > len(message["reasoning"]) > 0
    assert free["message"]["reasoning"].startswith(message["reasoning"])
    # the marker closed the block: nothing of it in the answer, which goes on after it
    assert "</think>" not in message["content"]
    assert capped["usage"]["completion_tokens"] > 4 + 3  # 4 thought, 3 of the marker, more
    assert served.post(thinking_token_budget=-2).json()["error"]["param"] == (
        "thinking_token_budget"
    )


# --- sampling extras ---------------------------------------------------------------------


@pytest.mark.parametrize("extra", [{"top_k": 1}, {"min_p": 1.0}])
def test_top_k_1_and_min_p_1_sample_the_greedy_text(served: Served, extra: dict[str, Any]) -> None:
    greedy = served.chat(max_tokens=16, temperature=0, messages=STORY)["choices"][0]["message"]
    for seed in (1, 2, 3):
        body = {"max_tokens": 16, "temperature": 1.0, "seed": seed, "messages": STORY, **extra}
        assert _said(served.chat(**body)["choices"][0]["message"]) == _said(greedy)


def test_repetition_penalty_changes_the_greedy_text(served: Served) -> None:
    greedy = served.chat(max_tokens=24, temperature=0, messages=STORY)["choices"][0]["message"]
    penalised = served.chat(max_tokens=24, temperature=0, messages=STORY, repetition_penalty=2.0)
    assert _said(penalised["choices"][0]["message"]) != _said(greedy)


def test_stop_token_ids_min_tokens_and_ignore_eos(served: Served, demo_model_dir: Path) -> None:
    off = {"reasoning_effort": "none", "temperature": 0, "max_tokens": 40}  # a short answer
    short = served.chat(**off)
    assert short["choices"][0]["finish_reason"] == "stop"
    ends = short["usage"]["completion_tokens"]  # with its end-of-turn token
    assert ends < 30
    longer = served.chat(**off, ignore_eos=True)
    assert longer["choices"][0]["finish_reason"] == "length"
    assert longer["usage"]["completion_tokens"] == 40
    at_least = served.chat(**off, min_tokens=ends + 5)
    assert at_least["usage"]["completion_tokens"] >= ends + 5
    # a stop token id (one of the answer's own): it ends the answer there, its text left out
    text = short["choices"][0]["message"]["content"]
    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    stop = tokenizer.encode(text)[-2]
    stopped = served.chat(**off, stop_token_ids=[stop])
    assert stopped["choices"][0]["finish_reason"] == "stop"
    cut = stopped["choices"][0]["message"]["content"]
    assert text.startswith(cut) and len(cut) < len(text)
    assert stopped["usage"]["completion_tokens"] < ends


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("top_k", -5),
        ("min_p", 1.5),
        ("repetition_penalty", 0),
        ("min_tokens", -1),
        ("stop_token_ids", [-1]),
        ("stop_token_ids", [10**9]),
        ("ignore_eos", "yes"),
        ("include_reasoning", "no"),
    ],
)
def test_bad_values_are_400s_naming_the_parameter(
    served: Served, param: str, value: object
) -> None:
    response = served.post(**{param: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"].startswith(param)


@pytest.mark.parametrize(
    "extra",
    [
        {"repetition_penalty": 5e-324, "temperature": 1.0},  # 0 in float32: logits overflow
        {"repetition_penalty": 5e-324, "temperature": 0.00001},
        {"repetition_penalty": 1e308, "temperature": 0.7},
        {"top_k": 2**63 - 1, "min_p": 1e-300, "temperature": 1.0},
        {"thinking_token_budget": 0, "min_tokens": 3, "stop_token_ids": [0]},
    ],
)
def test_extreme_valid_values_are_answered(served: Served, extra: dict[str, Any]) -> None:
    assert served.chat(max_tokens=4, seed=1, **extra)["choices"][0]["finish_reason"]
    assert httpx.get(f"{served.url}/ping", timeout=5).status_code == 200


def test_min_tokens_above_max_tokens_is_refused(served: Served) -> None:
    response = served.post(max_tokens=4, min_tokens=5)
    assert response.status_code == 400 and response.json()["error"]["param"] == "min_tokens"


# --- cached tokens -----------------------------------------------------------------------


def test_the_same_long_prompt_twice_reports_cached_tokens(served: Served) -> None:
    # several hundred tokens: past any cache block (vLLM on CPU: up to 128 tokens a block)
    long = [{"role": "user", "content": "The quick brown fox jumps over the lazy dog. " * 60}]
    first = served.chat(max_tokens=2, messages=long)
    second = served.chat(max_tokens=3, messages=long)
    usage = second["usage"]
    assert 0 < usage["prompt_tokens_details"]["cached_tokens"] <= usage["prompt_tokens"]
    assert usage["prompt_tokens"] == first["usage"]["prompt_tokens"]
    chunks = served.stream(max_tokens=2, messages=long, stream_options={"include_usage": True})
    streamed = chunks[-1]["usage"]
    assert 0 < streamed["prompt_tokens_details"]["cached_tokens"] <= streamed["prompt_tokens"]


def test_check_rules_pass_against_this_server(served: Served) -> None:
    results = run_check(ContainerTarget(served.url), ["reasoning.", "response.cached_tokens"])
    assert len(results) == 5
    assert {r.rule: r.evidence for r in results if not r.passed} == {}
