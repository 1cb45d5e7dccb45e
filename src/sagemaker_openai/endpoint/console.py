"""The terminal side of the client: one invocation (`invoke`) and an interactive chat (`chat`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from .client import EndpointClient, InvocationError


@dataclass(frozen=True)
class Answer:
    """One streamed answer and how fast it came."""

    content: str
    completion_tokens: int
    first_token_s: float  # seconds from the request to the first content delta
    total_s: float  # seconds from the request to the end of the stream

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.total_s if self.total_s > 0 else 0.0


def invoke(
    client: EndpointClient, request: dict[str, Any], *, stream: bool, raw: bool, out: TextIO
) -> int:
    """Send one request; print the answer, or with `raw` the JSON (one line per chunk)."""
    try:
        if not stream:
            completion = client.complete(request)
            text = json.dumps(completion, ensure_ascii=False)
            print(text if raw else completion["choices"][0]["message"]["content"], file=out)
        elif raw:
            for chunk in client.stream(request):
                print(json.dumps(chunk, ensure_ascii=False), file=out, flush=True)
        else:
            stream_answer(client, request, out)
            print(file=out)
    except InvocationError as error:
        print(f"error: {_describe(error)}", file=out)
        return 1
    return 0


def chat(
    client: EndpointClient,
    settings: dict[str, Any],
    *,
    system: str | None,
    read: Callable[[str], str],
    out: TextIO,
) -> int:
    """A chat that keeps its history; an empty line or end of input quits."""
    history: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    print(f"chatting with {client.endpoint_name}; an empty line or Ctrl-D quits", file=out)
    while True:
        try:
            line = read("> ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not line:
            break
        history.append({"role": "user", "content": line})
        try:
            answer = stream_answer(client, {**settings, "messages": list(history)}, out)
        except InvocationError as error:
            history.pop()  # the turn failed: forget the question, keep the chat going
            print(f"\nerror: {_describe(error)}", file=out)
            continue
        history.append({"role": "assistant", "content": answer.content})
        print(
            f"\n[{answer.completion_tokens} tokens, {answer.tokens_per_s:.1f} tokens/s, "
            f"first token {answer.first_token_s:.2f} s]",
            file=out,
        )
    return 0


def stream_answer(client: EndpointClient, request: dict[str, Any], out: TextIO) -> Answer:
    """Stream one answer to `out` as it arrives; usage comes from the usage chunk."""
    request = {**request, "stream_options": {"include_usage": True}}
    started = time.perf_counter()
    first: float | None = None
    pieces: list[str] = []
    deltas, usage = 0, None
    for chunk in client.stream(request):
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices", []):
            text = choice.get("delta", {}).get("content") or ""
            if text:
                first = first if first is not None else time.perf_counter() - started
                deltas += 1
                pieces.append(text)
                print(text, end="", file=out, flush=True)
    total = time.perf_counter() - started
    tokens = usage["completion_tokens"] if usage else deltas  # deltas: a server without usage
    return Answer("".join(pieces), tokens, first if first is not None else total, total)


def _describe(error: InvocationError) -> str:
    detail = error.openai_error
    if detail:
        param = f" (param {detail.get('param')})" if detail.get("param") else ""
        answered = f"the model answered {error.original_status}"
        return f"{error.code}: {answered}: {detail.get('message')}{param}"
    return f"{error.code}: {error.message}"
