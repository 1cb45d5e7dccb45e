"""OpenAI objects to stream bytes: one complete object per write, jsonl or sse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from json.encoder import encode_basestring
from typing import Any, Literal, TypeGuard

StreamFormat = Literal["jsonl", "sse"]

MEDIA_TYPES: dict[str, str] = {"jsonl": "application/jsonlines", "sse": "text/event-stream"}
SSE_DONE = b"data: [DONE]\n\n"
FRAMES: dict[str, tuple[str, str]] = {"jsonl": ("", "\n"), "sse": ("data: ", "\n\n")}

# What json.dumps(obj, ensure_ascii=False, separators=(",", ":")) writes, without building an
# encoder per call (a third of a chunk's CPU, measured: bench/chunk_cost.py).
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# A text delta's choice, keys in wire order: the shape TextChunks splices.
_CHOICE_KEYS = ("index", "delta", "logprobs", "finish_reason")


def encode_chunk(obj: Mapping[str, Any], fmt: StreamFormat) -> bytes:
    """One chunk: `{json}\\n` (jsonl) or `data: {json}\\n\\n` (sse)."""
    before, after = FRAMES[fmt]
    return (before + _JSON.encode(obj) + after).encode()


class TextChunks:
    """One stream's framing. Most chunks carry one choice's text and nothing else, and their
    head (id, object, created, model, ...) is the same in every chunk of a stream: such a chunk
    is spliced from the head, encoded once, and its text, byte for byte what encode_chunk
    writes. Every other chunk goes through encode_chunk."""

    def __init__(self, fmt: StreamFormat):
        self._fmt = fmt
        self._before, self._after = FRAMES[fmt]
        self._head_key: tuple[Any, ...] | None = None
        self._head = ""  # '{"id":...,"system_fingerprint":"..."' (no closing brace)

    def encode(self, chunk: Mapping[str, Any]) -> bytes:
        items: tuple[tuple[str, Any], ...] = tuple(chunk.items())
        if not items or items[-1][0] != "choices" or len(items[-1][1]) != 1:
            return encode_chunk(chunk, self._fmt)
        choice = items[-1][1][0]
        delta = choice["delta"]
        text = delta.get("content")
        if (
            len(delta) != 1
            or type(text) is not str
            or choice["logprobs"] is not None
            or choice["finish_reason"] is not None
            or tuple(choice) != _CHOICE_KEYS
            or type(choice["index"]) is not int
        ):
            return encode_chunk(chunk, self._fmt)
        if items[:-1] != self._head_key:
            self._head_key = items[:-1]
            self._head = _JSON.encode(dict(self._head_key))[:-1]
        return (
            f'{self._before}{self._head},"choices":[{{"index":{choice["index"]},"delta":'
            f'{{"content":{encode_basestring(text)}}},"logprobs":null,"finish_reason":null}}]}}'
            f"{self._after}"
        ).encode()


async def encode_stream(
    chunks: AsyncIterator[Mapping[str, Any]], fmt: StreamFormat
) -> AsyncIterator[bytes]:
    """Frame every chunk as its own write; SSE ends with [DONE]."""
    frames = TextChunks(fmt)
    async for chunk in chunks:
        yield frames.encode(chunk)
    if fmt == "sse":
        yield SSE_DONE


async def prepend(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """`first`, then the rest: an iterator whose first item was awaited ahead of time."""
    yield first
    async for item in rest:
        yield item


def choose_format(default: StreamFormat, custom_attributes: str, accept: str) -> StreamFormat:
    """Per-request framing: `stream_format=...` in SageMaker's custom attributes, then Accept."""
    value = custom_attribute(custom_attributes, "stream_format")
    if value is not None and _is_format(value):
        return value
    if "text/event-stream" in accept:
        return "sse"
    return default


def _is_format(value: str) -> TypeGuard[StreamFormat]:
    return value in MEDIA_TYPES


def custom_attribute(custom_attributes: str, key: str) -> str | None:
    """One `key=value` of SageMaker's custom attributes header (`;` or `,` separated)."""
    for item in custom_attributes.replace(",", ";").split(";"):
        name, _, value = item.strip().partition("=")
        if name.strip() == key:
            return value.strip()
    return None
