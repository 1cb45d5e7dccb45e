"""A request's `tools`, `tool_choice` and `parallel_tool_calls`, validated, and what they ask of
decoding: for `required` or a named tool, a JSON schema every answer must match (vLLM's choice:
the named tool's arguments object, or an array of {"name", "parameters"}), and the format that
reads that constrained answer back as calls."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import InvalidRequest
from .formats import Format, ToolCall, _json_values

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # OpenAI's rule for function names
# Calls one forced answer may hold when parallel_tool_calls is true (one when false): a model
# that never closes the array (small ones repeat the same call) ends after this many calls.
MAX_FORCED_CALLS = 8
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class ToolChoice:
    tools: tuple[dict[str, Any], ...]  # OpenAI tool objects, validated
    mode: Literal["none", "auto", "required", "named"]
    name: str | None = None  # the named tool
    parallel: bool = True

    def constraint(self) -> dict[str, Any] | None:
        """The JSON schema decoding must follow, or None when the model chooses freely."""
        if self.mode == "named":
            return _parameters(self._tool(self.name))
        if self.mode != "required":
            return None
        defs: dict[str, Any] = {}
        options = []
        for tool in self.tools:
            params = dict(_parameters(tool))
            defs.update(params.pop("$defs", {}))  # "#/$defs/..." refs resolve from the root
            name = tool["function"]["name"]
            properties = {"name": {"type": "string", "enum": [name]}, "parameters": params}
            options.append(
                {"type": "object", "properties": properties, "required": ["name", "parameters"]}
            )
        schema: dict[str, Any] = {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_FORCED_CALLS if self.parallel else 1,
            "items": {"anyOf": options},
        }
        if defs:
            schema["$defs"] = defs
        return schema

    def constrained_format(self) -> Format | None:
        """The format of a constrained answer, or None (the model's own format applies)."""
        if self.mode == "named":
            return NamedArguments(self.name or "")
        return CallArray() if self.mode == "required" else None

    def _tool(self, name: str | None) -> dict[str, Any]:
        return next(t for t in self.tools if t["function"]["name"] == name)


class NamedArguments(Format):
    """A named tool_choice: the whole answer is the arguments object."""

    name = "named"
    leading = "{"
    constrained = True

    def __init__(self, tool: str):
        self.tool = tool

    def parse(self, region: str) -> list[ToolCall] | None:
        values = _json_values(region)
        if not values or len(values) != 1 or not isinstance(values[0], dict):
            return None
        return [ToolCall(self.tool, json.dumps(values[0], ensure_ascii=False))]


class CallArray(Format):
    """tool_choice "required": the whole answer is [{"name": ..., "parameters": {...}}, ...].

    An answer cut short (max_tokens, a stop string) gives the calls it completed: the grammar
    made every item before the cut a whole call, and the unfinished last one is dropped."""

    name = "required"
    leading = "["
    constrained = True

    def parse(self, region: str) -> list[ToolCall] | None:
        calls = []
        for item in _array_items(region):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                return None
            arguments = item.get("parameters", {})
            if not isinstance(arguments, dict):
                return None
            calls.append(ToolCall(item["name"], json.dumps(arguments, ensure_ascii=False)))
        return calls or None


def _array_items(text: str) -> list[Any]:
    """The complete items of a JSON array, read up to its end or to where the text stops."""
    decoder, items = json.JSONDecoder(), []
    text = text.strip()
    if not text.startswith("["):
        return []
    i = 1
    while i < len(text):
        while i < len(text) and (text[i].isspace() or text[i] == ","):
            i += 1
        if i == len(text) or text[i] == "]":
            break
        try:
            item, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:  # the unfinished last item
            break
        items.append(item)
    return items


def read_tool_choice(
    tools: list[Any] | None, tool_choice: Any, parallel_tool_calls: bool | None
) -> ToolChoice | None:
    """Validate the three parameters together; None when the request has no tools."""
    checked = tuple(_check_tool(i, tool) for i, tool in enumerate(tools or []))
    names = [t["function"]["name"] for t in checked]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InvalidRequest(
                f"Tool names must be unique; {name!r} appears twice.",
                param=f"tools[{i}].function.name",
            )
    parallel = True if parallel_tool_calls is None else parallel_tool_calls
    if tool_choice is None:
        mode, name = ("auto" if checked else "none"), None
    elif tool_choice in ("none", "auto", "required"):
        mode, name = tool_choice, None
    elif isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        function = tool_choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if name not in names:
            raise InvalidRequest(
                f"tool_choice names a function that is not in tools: {name!r}.",
                param="tool_choice",
            )
        mode = "named"
    else:
        raise InvalidRequest(
            "tool_choice must be 'none', 'auto', 'required' or "
            '{"type": "function", "function": {"name": ...}}.',
            param="tool_choice",
        )
    if not checked:
        if mode in ("required", "named"):
            raise InvalidRequest(
                f"tool_choice {mode!r} needs tools; the request has none.", param="tool_choice"
            )
        return None
    return ToolChoice(checked, mode, name, parallel)  # type: ignore[arg-type]


def _check_tool(index: int, tool: Any) -> dict[str, Any]:
    where = f"tools[{index}]"
    if not isinstance(tool, dict) or tool.get("type") != "function":
        raise InvalidRequest(
            f"{where}.type must be 'function' (the only tool type this endpoint runs).",
            param=f"{where}.type",
        )
    function = tool.get("function")
    if not isinstance(function, dict):
        raise InvalidRequest(f"{where}.function must be an object.", param=f"{where}.function")
    name = function.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidRequest(
            f"{where}.function.name must be 1 to 64 letters, digits, '_' or '-'; got "
            f"{json.dumps(name)[:70]}.",
            param=f"{where}.function.name",
        )
    if "parameters" in function:
        check_schema(function["parameters"], f"{where}.function.parameters")
    return tool


def check_schema(schema: Any, param: str) -> None:
    """A 400 naming `param` unless `schema` is a valid JSON schema object."""
    from jsonschema import exceptions, validators

    if not isinstance(schema, dict):
        raise InvalidRequest(f"{param} must be a JSON schema object.", param=param)
    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as exc:
        raise InvalidRequest(
            f"{param} is not a valid JSON schema: {exc.message}.", param=param
        ) from None


def _parameters(tool: dict[str, Any]) -> dict[str, Any]:
    params = tool["function"].get("parameters")
    return params if isinstance(params, dict) and params else EMPTY_PARAMETERS
