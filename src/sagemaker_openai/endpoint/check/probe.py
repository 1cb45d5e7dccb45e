"""What every rule is given (a Probe of the target) and the readers rules share."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..exchange import Exchange, Target

PROMPT = [{"role": "user", "content": "Write one short sentence about the sea."}]
BASE: dict[str, Any] = {"messages": PROMPT, "max_tokens": 8, "temperature": 0}


class Probe:
    """Sends requests to the target, keeping the common ones to share between rules."""

    def __init__(self, target: Target):
        self.target = target
        self._cache: dict[str, Exchange] = {}

    def send(self, request: dict[str, Any] | bytes, stream: bool = False) -> Exchange:
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        key = f"{stream}:{body!r}"
        if key not in self._cache:
            self._cache[key] = self.target.send(body, stream)
        return self._cache[key]

    def stream(self, **extra: Any) -> Exchange:
        return self.send({**BASE, **extra, "stream": True}, stream=True)

    def get(self, path: str) -> Exchange:
        """GET a path; exchange.Unreachable (the rule is skipped) where the target cannot."""
        key = f"GET:{path}"
        if key not in self._cache:
            self._cache[key] = self.target.get(path)
        return self._cache[key]


Check = Callable[[Probe], list[str]]  # evidence of failure; empty means the rule holds


@dataclass(frozen=True)
class Rule:
    """One rule of docs/check.md: its name (`family.rule`) and how to check it."""

    name: str
    check: Check

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]


def completion_of(exchange: Exchange) -> tuple[dict[str, Any] | None, list[str]]:
    """The chat.completion object, or why there is none."""
    if exchange.status != 200:
        return None, [f"status {exchange.status}: {clip(exchange.body)}"]
    try:
        return json.loads(exchange.body), []
    except ValueError:
        return None, [f"body is not JSON: {clip(exchange.body)}"]


def chunks_of(exchange: Exchange) -> tuple[list[dict[str, Any]], list[str]]:
    """Chunk objects, read leniently (any framing), so chunk rules judge content alone."""
    if exchange.status != 200:
        return [], [f"status {exchange.status}: {clip(exchange.body)}"]
    found = [exchange.stream_error] if exchange.stream_error else []
    chunks = []
    for line in exchange.body.split(b"\n"):
        text = line.decode("utf-8", "replace").strip().removeprefix("data:").strip()
        if text and text != "[DONE]" and not text.startswith(":"):
            try:
                chunks.append(json.loads(text))
            except ValueError:
                found.append(f"not JSON: {clip(line)}")
    return chunks, found or ([] if chunks else ["no chunks"])


def error_of(exchange: Exchange) -> dict[str, Any] | None:
    """The body's OpenAI error object `{"error": {...}}`, or None when it is not one."""
    try:
        error = json.loads(exchange.body)["error"]
    except (ValueError, KeyError, TypeError):
        return None
    return error if isinstance(error, dict) else None


def clip(data: bytes | str, size: int = 160) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return repr(text if len(text) <= size else text[:size] + "...")


def content_of(completion: dict[str, Any]) -> str:
    return str(completion["choices"][0]["message"]["content"] or "")


def choice_chunks(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in chunks if c.get("choices")]


def usage_problems(usage: Any) -> list[str]:
    """total = prompt + completion, real counts, and cached_tokens (when sent) within the prompt."""
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    if not isinstance(usage, dict) or not all(isinstance(usage.get(k), int) for k in keys):
        return [f"usage {usage!r}"]
    if usage["total_tokens"] != usage["prompt_tokens"] + usage["completion_tokens"]:
        return [f"total_tokens is not the sum: {usage}"]
    if usage["prompt_tokens"] < 1 or usage["completion_tokens"] < 1:
        return [f"counts are not real: {usage}"]
    details = usage.get("prompt_tokens_details")  # optional (OpenAI's, vLLM's)
    if details is None:
        return []
    if not isinstance(details, dict):
        return [f"prompt_tokens_details is not an object: {usage}"]
    cached = details.get("cached_tokens")
    if cached is not None and not (
        isinstance(cached, int) and 0 <= cached <= usage["prompt_tokens"]
    ):
        return [f"cached_tokens {cached!r} is not a count within prompt_tokens: {usage}"]
    return []
