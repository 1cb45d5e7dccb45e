"""Tool-calling requests as agents send them, end to end: real server, real demo model."""

from __future__ import annotations

import json

import httpx
import pytest
from live import post_raw

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
        },
    },
}
ASK = {"role": "user", "content": "What is the weather in Paris?"}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


def post(client: httpx.Client, **body) -> httpx.Response:
    body.setdefault("max_tokens", 8)
    return client.post("/invocations", json=body)


@pytest.mark.parametrize("content", [None, "", "absent"])
@pytest.mark.parametrize("result", ["Sunny.", [{"type": "text", "text": "Sunny."}]])
def test_a_tool_loop_conversation_is_accepted(client: httpx.Client, content, result) -> None:
    assistant = {"role": "assistant", "tool_calls": [CALL]}
    if content != "absent":
        assistant["content"] = content
    messages = [ASK, assistant, {"role": "tool", "tool_call_id": "call_1", "content": result}]
    response = post(client, messages=messages, tools=[WEATHER])
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["role"] == "assistant"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
                ]
            },
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": "a"}, {"type": "video_url"}],
                    }
                ]
            },
            "messages[0].content[1].type",
        ),
        ({"messages": [ASK, {"role": "tool", "content": "x"}]}, "messages[1].tool_call_id"),
        (
            {"messages": [{"role": "user", "tool_calls": [CALL], "content": "x"}]},
            "messages[0].tool_calls",
        ),
        (
            {"messages": [ASK, {"role": "assistant", "tool_calls": [{"id": "c"}]}]},
            "messages[1].tool_calls[0].function",
        ),
        (
            {
                "messages": [ASK],
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "nope"}},
            },
            "tool_choice",
        ),
        ({"messages": [ASK], "tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
        ({"messages": [ASK], "tools": [WEATHER, WEATHER]}, "tools[1].function.name"),
        (
            {"messages": [ASK], "tools": [{"type": "function", "function": {"name": "has space"}}]},
            "tools[0].function.name",
        ),
        (
            {
                "messages": [ASK],
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": {"type": "nonsense"}},
                    }
                ],
            },
            "tools[0].function.parameters",
        ),
        (
            {
                "messages": [ASK],
                "tools": [WEATHER],
                "tool_choice": "required",
                "response_format": {"type": "json_object"},
            },
            "response_format",
        ),
        (
            {"messages": [ASK], "chat_template_kwargs": {"messages": []}},
            "chat_template_kwargs.messages",
        ),
        ({"messages": [ASK], "parallel_tool_calls": "yes"}, "parallel_tool_calls"),
    ],
)
def test_bad_tool_requests_are_400_naming_the_parameter(client: httpx.Client, body, param) -> None:
    for stream in (False, True):
        response = client.post("/invocations", json={**body, "stream": stream})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == param
    assert post(client, messages=[ASK]).status_code == 200


def test_tool_choice_none_answers_in_text(client: httpx.Client) -> None:
    response = post(client, messages=[ASK], tools=[WEATHER], tool_choice="none", temperature=0)
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] in ("stop", "length") and choice["message"]["content"]
    assert "tool_calls" not in choice["message"]


def test_parallel_tool_calls_false_gives_one_call(client: httpx.Client) -> None:
    time_tool = {"type": "function", "function": {"name": "get_time"}}
    response = post(
        client,
        messages=[ASK],
        tools=[WEATHER, time_tool],
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=60,
        temperature=0,
    )
    assert len(response.json()["choices"][0]["message"]["tool_calls"]) == 1


def test_streamed_call_keeps_every_chunk_rule(base_url: str) -> None:
    body = {
        "messages": [ASK],
        "tools": [WEATHER],
        "tool_choice": "required",
        "parallel_tool_calls": False,  # one call: the 135M model may repeat calls until max_tokens
        "stream": True,
        "max_tokens": 40,
        "temperature": 0,
        "stream_options": {"include_usage": True},
    }
    chunks = post_raw(base_url, "/invocations", json.dumps(body).encode()).chunks
    objects = [json.loads(raw) for raw in chunks]
    assert all(raw.endswith(b"\n") and raw.count(b"\n") == 1 for raw in chunks)
    body_chunks = objects[:-1]
    assert all(list(o)[-1] == "choices" for o in body_chunks)
    choices = [o["choices"][0] for o in body_chunks]
    assert all(set(c) == {"index", "delta", "logprobs", "finish_reason"} for c in choices)
    assert choices[0]["delta"] == {"role": "assistant", "content": ""}
    assert choices[-1] == {
        "index": 0,
        "delta": {"content": ""},
        "logprobs": None,
        "finish_reason": "tool_calls",
    }
    assert all(c["finish_reason"] is None for c in choices[:-1])
    head, args = [c["delta"]["tool_calls"][0] for c in choices if "tool_calls" in c["delta"]]
    assert head["function"]["arguments"] == "" and head["id"].startswith("call_")
    assert set(args) == {"index", "function"} and json.loads(args["function"]["arguments"])
    assert objects[-1]["choices"] == [] and objects[-1]["usage"]["completion_tokens"] > 0


def test_custom_attribute_requires_a_call_on_user_turns_only(client: httpx.Client) -> None:
    headers = {"X-Amzn-SageMaker-Custom-Attributes": "tool_choice=required"}
    body = {
        "messages": [ASK],
        "tools": [WEATHER],
        "tool_choice": "auto",
        "parallel_tool_calls": False,  # one call: the 135M model may repeat calls until max_tokens
        "max_tokens": 40,
        "temperature": 0,
    }
    first = client.post("/invocations", json=body, headers=headers).json()["choices"][0]
    assert first["finish_reason"] == "tool_calls"
    answered = [
        ASK,
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny."},
    ]
    second = client.post(
        "/invocations", json={**body, "messages": answered, "max_tokens": 8}, headers=headers
    )
    assert "tool_calls" not in second.json()["choices"][0]["message"]
    bad = client.post(
        "/invocations",
        json=body,
        headers={"X-Amzn-SageMaker-Custom-Attributes": "tool_choice=auto"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "tool_choice"
