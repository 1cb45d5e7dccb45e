"""Tool-call formats of the major model families: where a call starts, and how to read it.

Written from the formats the families' chat templates ask for:
  hermes       <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>  (Hermes 2 Pro, Qwen2.5,
               Qwen3, and this project's fallback prompt); text may come before, calls may repeat
  llama3_json  {"name": "f", "parameters": {...}}  (Llama 3.1-3.3); the whole answer is the call,
               several calls separated by ";"; <|python_tag|> may open it
  mistral      [TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]  (v3 tokenizers) or
               [TOOL_CALLS]f[ARGS]{...}  (v11 and later tokenizers)
A call that does not parse is text, never an error.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("hermes", "llama3_json", "mistral")


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # a JSON object, as text (OpenAI sends arguments as a string)
    id: str = field(default_factory=new_call_id)

    def to_openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


class Format:
    """One family's call syntax. A call region opens at a marker; `region_end` says where it
    closes (None: it runs to the end of the answer), `parse` reads a closed region."""

    name = ""
    markers: tuple[str, ...] = ()
    leading = ""  # a region may also open with this character as the answer's first
    # True: the answer was decoded under the calls' grammar (tool_choice "required" or named),
    # so all of it is call text: what does not parse (cut short) is dropped, never content.
    constrained = False

    def region_end(self, region: str) -> int | None:
        return None

    def parse(self, region: str) -> list[ToolCall] | None:
        raise NotImplementedError


class Hermes(Format):
    name = "hermes"
    markers = ("<tool_call>",)
    _open, _close = "<tool_call>", "</tool_call>"

    def region_end(self, region: str) -> int | None:
        end = region.find(self._close)
        return None if end < 0 else end + len(self._close)

    def parse(self, region: str) -> list[ToolCall] | None:
        body = region.removeprefix(self._open)
        body = body[: body.index(self._close)] if self._close in body else body
        values = _json_values(body)
        if values is None or not values:
            return None
        return _calls(_flatten(values), "arguments")


class Llama3Json(Format):
    name = "llama3_json"
    markers = ("<|python_tag|>",)
    leading = "{"

    def parse(self, region: str) -> list[ToolCall] | None:
        values = _json_values(region.removeprefix("<|python_tag|>"), separator=";")
        if not values:
            return None
        return _calls(values, "parameters")


class Mistral(Format):
    name = "mistral"
    markers = ("[TOOL_CALLS]",)
    leading = "["  # [TOOL_CALLS] is a special token that decoding may have dropped
    _named = re.compile(r"\s*([A-Za-z0-9_.\-]+)\[ARGS\]")

    def parse(self, region: str) -> list[ToolCall] | None:
        calls: list[ToolCall] = []
        pieces = region.split("[TOOL_CALLS]")[1:] if region.startswith("[TOOL_") else [region]
        for piece in pieces:
            named = self._named.match(piece)
            if named:  # v11+: name[ARGS]{arguments}
                values = _json_values(piece[named.end() :])
                if not values or len(values) != 1 or not isinstance(values[0], dict):
                    return None
                calls.append(ToolCall(named.group(1), json.dumps(values[0], ensure_ascii=False)))
                continue
            values = _json_values(piece)
            parsed = _calls(_flatten(values), "arguments") if values else None
            if parsed is None:
                return None
            calls += parsed
        return calls or None


def get_format(name: str) -> Format:
    formats: dict[str, type[Format]] = {"hermes": Hermes, "llama3_json": Llama3Json}
    formats["mistral"] = Mistral
    if name not in formats:
        raise ValueError(f"unknown tool-call format {name!r}; one of {', '.join(FORMATS)}")
    return formats[name]()


def detect_format(chat_template: str) -> str:
    """The family whose call syntax the template teaches; hermes (the fallback's) otherwise."""
    if "[TOOL_CALLS]" in chat_template:
        return "mistral"
    if "<|python_tag|>" in chat_template or '"parameters": dictionary' in chat_template:
        return "llama3_json"
    return "hermes"


def template_supports_tools(chat_template: str) -> bool:
    """Whether the template renders a `tools` list itself (the Hugging Face convention)."""
    return re.search(r"\btools\b", chat_template) is not None


def _json_values(text: str, separator: str = "") -> list[Any] | None:
    """Consecutive JSON values filling `text` (whitespace and `separator` between), else None."""
    decoder = json.JSONDecoder()
    values: list[Any] = []
    i = 0
    while True:
        while i < len(text) and (text[i].isspace() or (separator and text[i] == separator)):
            i += 1
        if i == len(text):
            return values
        try:
            value, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return None
        values.append(value)


def _flatten(values: list[Any]) -> list[Any]:
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


def _calls(values: list[Any], arguments_key: str) -> list[ToolCall] | None:
    calls = []
    for value in values:
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            return None
        arguments = value.get(arguments_key, value.get("arguments", value.get("parameters", {})))
        if isinstance(arguments, str):  # some models write the arguments already encoded
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                return None
        if not isinstance(arguments, dict):
            return None
        calls.append(ToolCall(value["name"], json.dumps(arguments, ensure_ascii=False)))
    return calls
