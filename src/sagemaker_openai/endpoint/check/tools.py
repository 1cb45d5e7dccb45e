"""Rules of the `tools` family: tool calls, whole and streamed, forced with tool_choice
"required" or a named tool so that any model, however small, has to call."""

from __future__ import annotations

import json
from typing import Any

from .probe import BASE, Probe, Rule, choice_chunks, chunks_of, clip, completion_of, error_of

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
        },
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
CALLING: dict[str, Any] = {
    **BASE,
    "messages": ASK,
    "tools": [TOOL],
    "tool_choice": "required",
    "max_tokens": 60,
}
NAMED = {"type": "function", "function": {"name": "get_weather"}}


def _call_problems(call: Any, where: str) -> list[str]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or call.get("type") != "function":
        return [f"{where}: {clip(json.dumps(call))}"]
    found = []
    if not isinstance(call.get("id"), str) or not call["id"]:
        found.append(f"{where}: id {call.get('id')!r}")
    if function.get("name") != "get_weather":
        found.append(f"{where}: name {function.get('name')!r}, not the offered get_weather")
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        return [*found, f"{where}: arguments are {type(arguments).__name__}, not a JSON string"]
    try:
        decoded = json.loads(arguments)
    except ValueError:
        return [*found, f"{where}: arguments are not JSON: {clip(arguments)}"]
    if not isinstance(decoded, dict) or not isinstance(decoded.get("city"), str):
        found.append(f"{where}: arguments do not match the schema: {clip(arguments)}")
    return found


def _whole(tool_choice: Any) -> Any:
    def check(probe: Probe) -> list[str]:
        completion, found = completion_of(probe.send({**CALLING, "tool_choice": tool_choice}))
        if not completion:
            return found
        choice = completion["choices"][0]
        message = choice.get("message") or {}
        if choice.get("finish_reason") != "tool_calls":
            found.append(f"finish_reason {choice.get('finish_reason')!r}, not 'tool_calls'")
        if message.get("content") is not None:
            found.append(f"content {clip(str(message.get('content')))} beside the calls, not null")
        calls = message.get("tool_calls")
        if not isinstance(calls, list) or not calls:
            return [*found, f"no tool_calls in {clip(json.dumps(message))}"]
        for number, call in enumerate(calls):
            found += _call_problems(call, f"tool_calls[{number}]")
        if len({c.get("id") for c in calls if isinstance(c, dict)}) != len(calls):
            found.append("tool call ids are not unique")
        return found

    return check


def _stream(probe: Probe) -> list[str]:
    chunks, found = chunks_of(probe.send({**CALLING, "stream": True}, stream=True))
    if found:
        return found
    choices = [c["choices"][0] for c in choice_chunks(chunks)]
    if choices[0].get("delta") != {"role": "assistant", "content": ""}:
        found.append(f"first delta {choices[0].get('delta')!r}")
    if any("finish_reason" not in c for c in choices):
        found.append("a choice lacks finish_reason")
    calls, problems = _joined_calls(choices)
    found += problems
    if not calls:
        return [*found, "no tool_calls deltas"]
    for index, call in calls.items():
        found += _call_problems(call, f"streamed call {index}")
    final = choices[-1]
    if final.get("finish_reason") != "tool_calls" or final.get("delta") != {"content": ""}:
        found.append(f"final choice {clip(json.dumps(final))}")
    return found[:6]


def _joined_calls(choices: list[dict[str, Any]]) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """The streamed calls with their argument fragments joined, and how the deltas broke shape."""
    found: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    for number, choice in enumerate(choices, 1):
        delta = choice.get("delta") or {}
        if delta.get("content"):
            found.append(f"chunk {number}: call text leaked into content {clip(delta['content'])}")
        for part in delta.get("tool_calls") or []:
            index = part.get("index")
            if index not in calls:  # a call's first delta names it
                head = part.get("function") or {}
                if not {"index", "id", "type"} <= set(part) or "name" not in head:
                    found.append(
                        f"chunk {number}: first delta of call {index} is {clip(json.dumps(part))}"
                    )
                if head.get("arguments") != "":
                    found.append(f"chunk {number}: first delta of call {index} has arguments")
                calls[index] = {**part, "function": {**head, "arguments": ""}}
            elif set(part) - {"index", "function"} or set(part.get("function") or {}) != {
                "arguments"
            }:
                found.append(f"chunk {number}: a later delta carries more than arguments")
            else:
                calls[index]["function"]["arguments"] += part["function"]["arguments"]
    return calls, found


def _loop_messages(probe: Probe) -> list[str]:
    function = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    call: dict[str, Any] = {"id": "call_1", "type": "function", "function": function}
    found = []
    for content in (None, ""):
        messages = [
            *ASK,
            {"role": "assistant", "content": content, "tool_calls": [call]},
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "content": [{"type": "text", "text": "Sunny."}],
            },
        ]
        _, errors = completion_of(probe.send({**BASE, "messages": messages, "tools": [TOOL]}))
        found += [f"assistant content {content!r}: {e}" for e in errors]
    return found


def _bad_schema(probe: Probe) -> list[str]:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}
    exchange = probe.send({**BASE, "tools": [tool], "tool_choice": "required"})
    error = error_of(exchange)
    param = str((error or {}).get("param") or "")
    if exchange.status != 400 or not param.startswith("tools"):
        return [f"status {exchange.status}, param {param!r}: {clip(exchange.body)}"]
    return []


RULES = (
    Rule("tools.required_call", _whole("required")),
    Rule("tools.named_call", _whole(NAMED)),
    Rule("tools.streamed_call", _stream),
    Rule("tools.loop_messages", _loop_messages),
    Rule("tools.bad_schema", _bad_schema),
)
