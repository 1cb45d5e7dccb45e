"""OpenAI objects to stream bytes: one complete object per write, jsonl or sse."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal, TypeGuard

StreamFormat = Literal["jsonl", "sse"]

MEDIA_TYPES: dict[str, str] = {"jsonl": "application/jsonlines", "sse": "text/event-stream"}
SSE_DONE = b"data: [DONE]\n\n"


def encode_chunk(obj: Mapping[str, Any], fmt: StreamFormat) -> bytes:
    """One chunk: `{json}\\n` (jsonl) or `data: {json}\\n\\n` (sse)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    if fmt == "sse":
        return b"data: " + text.encode() + b"\n\n"
    return text.encode() + b"\n"


async def encode_stream(
    chunks: AsyncIterator[Mapping[str, Any]], fmt: StreamFormat
) -> AsyncIterator[bytes]:
    """Frame every chunk as its own write; SSE ends with [DONE]."""
    async for chunk in chunks:
        yield encode_chunk(chunk, fmt)
    if fmt == "sse":
        yield SSE_DONE


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
