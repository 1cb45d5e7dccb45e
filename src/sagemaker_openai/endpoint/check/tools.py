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
# Room for 8 calls of up to ~33 tokens: a server may bound a forced answer's calls (this one
# does, at 8), but a model that never closes the array must not be cut by max_tokens here.
FORCED_MAX_TOKENS = 300
CALLING: dict[str, Any] = {
    **BASE,
    "messages": ASK,
    "tools": [TOOL],
    "tool_choice": "required",
    "max_tokens": FORCED_MAX_TOKENS,
}
NAMED = {"type": "function", "function": {"name": "get_weather"}}
PARALLEL = {**CALLING, "messages": [{"role": "user", "content": "Weather in Paris and in Rome?"}]}
# A schema with what clients' schemas hold (Pydantic, Zod, MCP servers): $schema, nested
# objects, arrays, enums, a union type, additionalProperties false; bounded so that any model
# forced to follow it ends well within FORCED_MAX_TOKENS.
RICH_PARAMETERS = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1, "maxLength": 20},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": ["string", "number"], "maxLength": 10, "minimum": 1, "maximum": 7},
        "where": {
            "type": "object",
            "properties": {
                "lat": {"type": "integer", "minimum": -90, "maximum": 90},
                "lon": {"type": "integer", "minimum": -180, "maximum": 180},
            },
            "required": ["lat", "lon"],
            "additionalProperties": False,
        },
        "fields": {
            "type": "array",
            "items": {"type": "string", "enum": ["temperature", "wind", "rain"]},
            "minItems": 1,
            "maxItems": 3,
        },
    },
    "required": ["city", "unit", "days", "where", "fields"],
    "additionalProperties": False,
}
RICH = {
    "type": "function",
    "function": {
        "name": "forecast",
        "description": "The weather forecast for a place.",
        "parameters": RICH_PARAMETERS,
    },
}


def _call_problems(call: Any, where: str, tool: dict[str, Any] = TOOL) -> list[str]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or call.get("type") != "function":
        return [f"{where}: {clip(json.dumps(call))}"]
    found = []
    if not isinstance(call.get("id"), str) or not call["id"]:
        found.append(f"{where}: id {call.get('id')!r}")
    name = tool["function"]["name"]
    if function.get("name") != name:
        found.append(f"{where}: name {function.get('name')!r}, not the offered {name}")
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        return [*found, f"{where}: arguments are {type(arguments).__name__}, not a JSON string"]
    try:
        decoded = json.loads(arguments)
    except ValueError:
        return [*found, f"{where}: arguments are not JSON: {clip(arguments)}"]
    return found + _schema_problems(decoded, tool["function"]["parameters"], where)


def _schema_problems(arguments: Any, schema: dict[str, Any], where: str) -> list[str]:
    from jsonschema import exceptions, validators

    try:
        validators.validator_for(schema)(schema).validate(arguments)
    except exceptions.ValidationError as error:
        text = clip(json.dumps(arguments))
        return [f"{where}: arguments {text} do not match the schema: {error.message}"]
    return []


def _forced_calls(
    probe: Probe, request: dict[str, Any], tool: dict[str, Any] = TOOL
) -> tuple[list[dict[str, Any]], list[str]]:
    """A forced, non-streamed answer's calls, and how it breaks the rules of one."""
    completion, found = completion_of(probe.send(request))
    if not completion:
        return [], found
    choice = completion["choices"][0]
    message = choice.get("message") or {}
    if choice.get("finish_reason") != "tool_calls":
        found.append(f"finish_reason {choice.get('finish_reason')!r}, not 'tool_calls'")
    if message.get("content") is not None:
        found.append(f"content {clip(str(message.get('content')))} beside the calls, not null")
    calls = message.get("tool_calls")
    if not isinstance(calls, list) or not calls:
        return [], [*found, f"no tool_calls in {clip(json.dumps(message))}"]
    for number, call in enumerate(calls):
        found += _call_problems(call, f"tool_calls[{number}]", tool)
    if len({c.get("id") for c in calls if isinstance(c, dict)}) != len(calls):
        found.append("tool call ids are not unique")
    return calls, found


def _whole(tool_choice: Any) -> Any:
    def check(probe: Probe) -> list[str]:
        return _forced_calls(probe, {**CALLING, "tool_choice": tool_choice})[1]

    return check


def _streamed_choices(probe: Probe, request: dict[str, Any]) -> tuple[list[Any], list[str]]:
    chunks, found = chunks_of(probe.send({**request, "stream": True}, stream=True))
    return [c["choices"][0] for c in choice_chunks(chunks)], found


def _stream(probe: Probe) -> list[str]:
    choices, found = _streamed_choices(probe, CALLING)
    if found:
        return found
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
            else:  # later deltas: tools.later_deltas judges their shape
                fragment = (part.get("function") or {}).get("arguments")
                calls[index]["function"]["arguments"] += fragment or ""
    return calls, found


def _later_deltas(probe: Probe) -> list[str]:
    """After a call's first delta, only `index` and `function.arguments` (OpenAI's shape)."""
    found: list[str] = []
    for request in (CALLING, PARALLEL):
        choices, errors = _streamed_choices(probe, request)
        found += errors
        seen: set[Any] = set()
        for number, choice in enumerate(choices, 1):
            for part in (choice.get("delta") or {}).get("tool_calls") or []:
                index = part.get("index")
                if index not in seen:
                    seen.add(index)
                    continue
                extra = sorted(set(part) - {"index", "function"})
                extra += sorted(
                    f"function.{k}" for k in set(part.get("function") or {}) - {"arguments"}
                )
                if extra:
                    found.append(f"chunk {number}: a later delta of call {index} carries {extra}")
        if not seen and not errors:
            found.append(
                f"no tool_calls deltas in the stream of {clip(json.dumps(request['messages']))}"
            )
    return found[:6]


def _parallel(probe: Probe) -> list[str]:
    """Calls of one answer: each valid, ids unique, streamed under indices 0..k-1; and
    parallel_tool_calls false gives exactly one."""
    _, found = _forced_calls(probe, PARALLEL)
    single, errors = _forced_calls(probe, {**PARALLEL, "parallel_tool_calls": False})
    found += [f"parallel_tool_calls false: {e}" for e in errors]
    if len(single) > 1:
        found.append(f"parallel_tool_calls false gave {len(single)} calls")
    choices, errors = _streamed_choices(probe, PARALLEL)
    calls, problems = _joined_calls(choices)
    found += errors + problems
    if not errors and sorted(calls) != list(range(len(calls))):
        found.append(f"streamed call indices {sorted(calls)}, not 0..{len(calls) - 1}")
    for index, call in calls.items():
        found += _call_problems(call, f"streamed call {index}")
    return found[:6]


def _tool_choice_null(probe: Probe) -> list[str]:
    """`tool_choice: null` is the parameter left out (the openai SDK's NOT_GIVEN, as null)."""
    request = {**BASE, "messages": ASK, "tools": [TOOL], "tool_choice": None}
    completion, found = completion_of(probe.send(request))
    if completion and completion.get("object") != "chat.completion":
        found.append(f"object is {completion.get('object')!r}")
    return found


def _schema_features(probe: Probe) -> list[str]:
    found = []
    for tool_choice in ("required", {"type": "function", "function": {"name": "forecast"}}):
        # one call: a model that repeats it must not run into max_tokens (parallel_calls's part)
        request = {**CALLING, "tools": [RICH], "tool_choice": tool_choice}
        request["parallel_tool_calls"] = False
        request["messages"] = [{"role": "user", "content": "The forecast for Oslo, please."}]
        label = "required" if tool_choice == "required" else "named"
        found += [f"{label}: {e}" for e in _forced_calls(probe, request, RICH)[1]]
    return found


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
    Rule("tools.later_deltas", _later_deltas),
    Rule("tools.parallel_calls", _parallel),
    Rule("tools.schema_features", _schema_features),
    Rule("tools.tool_choice_null", _tool_choice_null),
    Rule("tools.loop_messages", _loop_messages),
    Rule("tools.bad_schema", _bad_schema),
)
