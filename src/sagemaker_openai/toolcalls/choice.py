"""A request's `tools`, `tool_choice` and `parallel_tool_calls` (typed and checked by protocol),
and what they ask of decoding: for `required` or a named tool, a JSON schema every answer must
match (vLLM's choice: the named tool's arguments object, or an array of {"name", "parameters"}),
and the format that reads that constrained answer back as calls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from ..protocol import NamedToolChoice, Tool
from .formats import Format, ToolCall, _json_values

# Calls one forced answer may hold when parallel_tool_calls is true (one when false): a model
# that never closes the array (small ones repeat the same call) ends after this many calls.
MAX_FORCED_CALLS = 8
EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class ToolChoice:
    tools: tuple[Tool, ...]
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
            name = tool.function.name
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

    def template_tools(self) -> list[dict[str, Any]]:
        """The tools as a chat template (and the fallback prompt) reads them: plain objects
        with what the client sent (vLLM passes its tools' model_dump too)."""
        return [tool.model_dump(exclude_unset=True) for tool in self.tools]

    def _tool(self, name: str | None) -> Tool:
        return next(t for t in self.tools if t.function.name == name)


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
    tools: list[Tool] | None,
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None,
    parallel_tool_calls: bool | None,
) -> ToolChoice | None:
    """The three parameters together; None when the request has no tools."""
    if not tools:
        return None
    parallel = True if parallel_tool_calls is None else parallel_tool_calls
    if isinstance(tool_choice, NamedToolChoice):
        return ToolChoice(tuple(tools), "named", tool_choice.function.name, parallel)
    return ToolChoice(tuple(tools), tool_choice or "auto", None, parallel)


def _parameters(tool: Tool) -> dict[str, Any]:
    return tool.function.parameters or EMPTY_PARAMETERS
