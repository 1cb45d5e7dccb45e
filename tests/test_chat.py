"""The chat service on the real demo model (transformers engine): planning, the objects it
builds, and what it refuses before a stream starts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from sagemaker_openai.chat import ChatService
from sagemaker_openai.engines import load_engine
from sagemaker_openai.errors import ContextLengthExceeded, InvalidRequest
from sagemaker_openai.protocol import parse_request

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def chat(demo_model_dir: Path) -> ChatService:
    return ChatService(load_engine("transformers", demo_model_dir, served_name="demo"))


def request(**fields: Any):
    return parse_request(json.dumps({"messages": HI, **fields}).encode())


def test_plan_gives_each_choice_its_own_seed(chat: ChatService) -> None:
    plan = chat.plan(request(n=3, seed=10, max_tokens=4))
    assert [p.seed for p in plan.choices] == [10, 11, 12]
    assert all(p.max_tokens == 4 for p in plan.choices)
    assert plan.prompt == chat.engine.encode(_rendered(chat))


def _rendered(chat: ChatService) -> str:
    from sagemaker_openai.template import render_chat

    card = chat.engine.card
    return render_chat(card.chat_template, [{"role": "user", "content": "hi"}], card.special_tokens)


def test_without_a_limit_the_budget_is_the_rest_of_the_context(chat: ChatService) -> None:
    plan = chat.plan(request())
    assert plan.choices[0].max_tokens == chat.engine.card.context_length - len(plan.prompt)


def test_a_limit_past_the_context_is_context_length_exceeded(chat: ChatService) -> None:
    with pytest.raises(ContextLengthExceeded) as caught:
        chat.plan(request(max_tokens=chat.engine.card.context_length))
    assert caught.value.code == "context_length_exceeded" and caught.value.param == "messages"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"top_logprobs": 2}, "top_logprobs"),  # without logprobs: true
        ({"logit_bias": {"10000000": 1}}, "logit_bias"),  # not a token id of the model
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": 1}}}},
            "response_format.json_schema.schema",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]},
            "tools[0].function.parameters",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0].type",
        ),
        ({"messages": [{"role": "user", "content": None}]}, "messages[0].content"),
    ],
)
def test_what_the_engine_cannot_honour_is_refused_naming_it(
    chat: ChatService, fields: dict, param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat.plan(request(**fields))
    assert caught.value.param == param


def test_a_completion_has_openai_fields_in_order(chat: ChatService) -> None:
    body = request(max_tokens=3, temperature=0, ignore_eos=True)  # three tokens, always
    completion = asyncio.run(chat.complete(chat.plan(body)))
    assert list(completion) == [
        "id", "object", "created", "model", "system_fingerprint", "choices", "usage"
    ]  # fmt: skip
    assert completion["object"] == "chat.completion" and completion["model"] == "demo"
    choice = completion["choices"][0]
    assert list(choice) == ["index", "message", "logprobs", "finish_reason"]
    assert choice["finish_reason"] == "length" and choice["logprobs"] is None
    usage = completion["usage"]
    assert usage["completion_tokens"] == 3
    assert usage["total_tokens"] == usage["prompt_tokens"] + 3


def test_chunks_open_with_the_role_and_end_with_usage_before_choices(chat: ChatService) -> None:
    async def collect() -> list[dict]:
        # ignore_eos: three tokens always (a sampled end of turn made this "stop" by luck)
        body = request(
            stream=True, max_tokens=3, ignore_eos=True, stream_options={"include_usage": True}
        )
        return [dict(c) async for c in chat.stream(chat.plan(body))]

    chunks = asyncio.run(collect())
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert list(chunks[-1])[-2:] == ["usage", "choices"] and chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 3
