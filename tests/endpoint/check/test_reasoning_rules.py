"""Each `reasoning` rule and `response.cached_tokens` holds for a well-behaved thinking server and
fails, naming what broke, for a server that breaks it. (They pass against our own server on both
engines in tests/engines/test_reasoning_and_sampling.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from sagemaker_openai.endpoint.check.report import run_check
from sagemaker_openai.endpoint.exchange import Exchange

RULES = [
    "reasoning.names_agree",
    "reasoning.not_in_content",
    "reasoning.left_out",
    "reasoning.request_fields",
    "response.cached_tokens",
]
Answer = Callable[[dict[str, Any]], tuple[int, dict[str, Any], dict[str, Any]]]


class Thinking:
    """Stands in for another server that thinks: `answer(body)` gives the status, the message
    fields and the usage; the stream splits the message's texts into two deltas each."""

    description = "a thinking server"
    framing = "jsonl"

    def __init__(self, answer: Answer):
        self.answer = answer

    def send(self, body: bytes, stream: bool) -> Exchange:
        request = json.loads(body)
        status, message, usage = self.answer(request)
        if status != 200:
            error = {"message": "no", "type": "invalid_request_error", "param": "x", "code": None}
            return Exchange(status, "application/json", (json.dumps({"error": error}).encode(),))
        if not stream:
            choice = {"index": 0, "message": {"role": "assistant", **message}, "logprobs": None}
            completion = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1}
            completion |= {"choices": [{**choice, "finish_reason": "stop"}], "usage": usage}
            return Exchange(200, "application/json", (json.dumps(completion).encode(),))
        deltas = [{"role": "assistant", "content": ""}]
        for key, text in message.items():
            half = len(text) // 2
            deltas += [{"content": "", key: text[:half]}, {"content": "", key: text[half:]}]
        chunks = [{"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
        chunks.append({"choices": [], "usage": usage})
        return Exchange(200, "application/jsonlines", tuple(_line(c) for c in chunks))


def _line(chunk: dict[str, Any]) -> bytes:
    return json.dumps({"id": "chatcmpl-1", "created": 1, **chunk}).encode() + b"\n"


USAGE = {"prompt_tokens": 300, "completion_tokens": 4, "total_tokens": 304}
CACHED = {**USAGE, "prompt_tokens_details": {"cached_tokens": 256}}


def well_behaved(body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    message: dict[str, Any] = {"content": "42"}
    if body.get("include_reasoning") is not False:
        message |= {"reasoning": "7 + 5 is 12", "reasoning_content": "7 + 5 is 12"}
    return 200, message, CACHED


def _failed(answer: Answer) -> dict[str, list[str]]:
    return {r.rule: r.evidence for r in run_check(Thinking(answer), RULES) if not r.passed}


def test_a_well_behaved_thinking_server_passes() -> None:
    assert _failed(well_behaved) == {}


def test_a_server_that_does_not_think_passes() -> None:
    assert _failed(lambda body: (200, {"content": "42"}, USAGE)) == {}


def _breaking(change: Callable[[dict[str, Any], dict[str, Any]], None]) -> Answer:
    def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
        status, message, usage = well_behaved(body)
        usage = dict(usage)
        change(body, {"message": message, "usage": usage})
        return status, message, usage

    return answer


@pytest.mark.parametrize(
    ("rule", "change", "evidence"),
    [
        (
            "reasoning.names_agree",
            lambda body, out: (
                "reasoning" in out["message"] and out["message"].update(reasoning="something else")
            ),
            "differs from",
        ),
        (
            "reasoning.not_in_content",
            lambda body, out: out["message"].update(content="<think>hm</think>42"),
            "thinking block",
        ),
        (
            "reasoning.left_out",
            lambda body, out: out["message"].update(  # include_reasoning ignored
                reasoning="7 + 5 is 12", reasoning_content="7 + 5 is 12"
            ),
            "include_reasoning false, yet",
        ),
        (
            "response.cached_tokens",
            lambda body, out: out["usage"].update(prompt_tokens_details={"cached_tokens": 999}),
            "outside 0..prompt_tokens",
        ),
    ],
)
def test_a_server_that_breaks_a_rule_fails_it_alone(
    rule: str, change: Callable[[dict[str, Any], dict[str, Any]], None], evidence: str
) -> None:
    failed = _failed(_breaking(change))
    assert set(failed) == {rule}
    assert evidence in failed[rule][0]


@pytest.mark.parametrize("field", ["reasoning_effort", "reasoning", "reasoning_content"])
def test_a_server_refusing_a_reasoning_request_field_fails_request_fields(field: str) -> None:
    def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
        carried = field in body or any(field in m for m in body["messages"])
        return (400, {}, {}) if carried else well_behaved(body)

    failed = _failed(answer)
    assert set(failed) == {"reasoning.request_fields"}
    assert "status 400" in failed["reasoning.request_fields"][0]
