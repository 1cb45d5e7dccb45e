"""Agent clients, unmodified, in a tool loop with the demo model: the openai client against /v1,
LiteLLM's sagemaker_chat and a Strands agent through the local SageMaker emulator.

SmolLM2-135M is too small to choose a tool by itself, so the call is forced with
tool_choice "required" or a named tool where the client lets the caller say so."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest
from local_sagemaker import emulator_for

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
QUESTION = {"role": "user", "content": "What is the weather in Paris?"}
STRANDS_PYTHON = Path(__file__).resolve().parents[1] / ".venv-strands" / "bin" / "python"


def weather(city: str) -> str:
    return f"Sunny, 21 C in {city}."


def test_openai_client_tool_loop(base_url: str) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", timeout=120)
    messages: list = [QUESTION]
    first = client.chat.completions.create(
        model="demo",
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice="required",
        max_tokens=40,
        temperature=0,
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather"
    result = weather(**json.loads(call.function.arguments))
    messages += [choice.message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": call.id, "content": result}]
    # the model answers from the tool's result; streamed, as agents read it
    stream = client.chat.completions.create(
        model="demo",
        messages=messages,
        tools=[WEATHER_TOOL],
        tool_choice="none",
        max_tokens=30,
        temperature=0,
        stream=True,
    )
    chunks = list(stream)
    answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert answer.strip()
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_openai_client_streams_a_named_call(base_url: str) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", timeout=120)
    stream = client.chat.completions.create(
        model="demo",
        messages=[QUESTION],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=40,
        temperature=0,
        stream=True,
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(tc.index, {"name": "", "arguments": ""})
            entry["name"] += tc.function.name or ""
            entry["arguments"] += tc.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert calls[0]["name"] == "get_weather"
    assert isinstance(json.loads(calls[0]["arguments"])["city"], str)


def test_litellm_sagemaker_chat_with_tools(demo_server) -> None:
    litellm = pytest.importorskip("litellm")
    with emulator_for(demo_server.url, endpoint_names=("demo",)) as url:
        common = {
            "model": "sagemaker_chat/demo",
            "aws_sagemaker_runtime_endpoint_url": url,  # unused by litellm; see below
            "aws_region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "api_base": f"{url}/endpoints/demo",
        }
        first = litellm.completion(
            messages=[QUESTION],
            tools=[WEATHER_TOOL],
            tool_choice="required",
            max_tokens=40,
            temperature=0,
            **common,
        )
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        [call] = choice.message.tool_calls
        assert call.function.name == "get_weather"
        result = weather(**json.loads(call.function.arguments))
        messages = [
            QUESTION,
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": result},
        ]
        second = litellm.completion(
            messages=messages,
            tools=[WEATHER_TOOL],
            tool_choice="none",
            max_tokens=30,
            temperature=0,
            **common,
        )
        assert second.choices[0].message.content.strip()
