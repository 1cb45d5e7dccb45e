"""The terminal side of the client: one invocation (`invoke`) and an interactive chat (`chat`)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from .client import EndpointClient, InvocationError


@dataclass(frozen=True)
class Answer:
    """One streamed answer and how fast it came."""

    content: str
    completion_tokens: int
    first_token_s: float  # seconds from the request to the first content delta
    total_s: float  # seconds from the request to the end of the stream
    stopped: bool = False  # Ctrl-C ended it early

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
            answer = stream_answer(client, request, out)
            print(file=out)
            if answer.stopped:
                return 130  # the shell's status for Ctrl-C
    except InvocationError as error:
        print(f"error: {_describe(error)}", file=out)
        return 1
    return 0


HELP = (
    "/system TEXT sets the system message, /reset forgets the conversation, /history shows it, "
    "/exit or Ctrl-D quits; Ctrl-C stops an answer"
)


def line_editing() -> None:
    """Arrow keys, line editing and history for `input()`, where the platform has readline."""
    # Importing readline is what turns it on for input(); Windows may lack it (plain input).
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401


@dataclass
class Conversation:
    """The system message and the turns so far."""

    system: str | None = None
    turns: list[dict[str, Any]] = field(default_factory=list)

    def messages(self) -> list[dict[str, Any]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.turns


def chat(
    client: EndpointClient,
    settings: dict[str, Any],
    *,
    system: str | None,
    read: Callable[[str], str],
    out: TextIO,
) -> int:
    """A chat that keeps its history; /exit or end of input quits, an empty line does not."""
    conversation = Conversation(system)
    print(f"chatting with {client.endpoint_name}; {HELP}", file=out)
    while True:
        try:
            line = read("> ").strip()
        except EOFError:
            print(file=out)
            return 0
        except KeyboardInterrupt:  # at the prompt: drop the line, as a shell does
            print("\n(/exit or Ctrl-D quits)", file=out)
            continue
        if line in ("/exit", "/quit"):
            return 0
        if line.startswith("/"):
            _command(line, conversation, out)
        elif line:
            _turn(client, settings, conversation, line, out)


def _turn(
    client: EndpointClient,
    settings: dict[str, Any],
    conversation: Conversation,
    line: str,
    out: TextIO,
) -> None:
    conversation.turns.append({"role": "user", "content": line})
    try:
        answer = stream_answer(client, {**settings, "messages": conversation.messages()}, out)
    except InvocationError as error:
        conversation.turns.pop()  # the turn failed: forget the question, keep the chat going
        print(f"\nerror: {_describe(error)}", file=out)
        return
    if answer.content:  # a stopped answer keeps what was shown, so history matches the screen
        conversation.turns.append({"role": "assistant", "content": answer.content})
    else:
        conversation.turns.pop()
    stopped = "stopped; " if answer.stopped else ""
    print(
        f"\n[{stopped}{answer.completion_tokens} tokens, {answer.tokens_per_s:.1f} tokens/s, "
        f"first token {answer.first_token_s:.2f} s]",
        file=out,
    )


def _command(line: str, conversation: Conversation, out: TextIO) -> None:
    name, _, text = line.partition(" ")
    if name == "/reset":
        conversation.turns.clear()
        print("(conversation forgotten; the system message stays)", file=out)
    elif name == "/system":
        conversation.system = text.strip() or None
        print(f"(system message {'set' if conversation.system else 'removed'})", file=out)
    elif name == "/history":
        for message in conversation.messages():
            print(f"{message['role']}: {message['content']}", file=out)
    else:
        print(f"(unknown command {name}; {HELP})", file=out)


def stream_answer(client: EndpointClient, request: dict[str, Any], out: TextIO) -> Answer:
    """Stream one answer to `out` as it arrives; Ctrl-C stops it and closes the call."""
    request = {**request, "stream_options": {"include_usage": True}}
    started = time.perf_counter()
    first: float | None = None
    pieces: list[str] = []
    deltas, usage, stopped = 0, None, False
    chunks = client.stream(request)
    try:
        for chunk in chunks:
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices", []):
                text = choice.get("delta", {}).get("content") or ""
                if text:
                    first = first if first is not None else time.perf_counter() - started
                    deltas += 1
                    pieces.append(text)
                    print(text, end="", file=out, flush=True)
    except KeyboardInterrupt:
        stopped = True
    finally:
        chunks.close()  # drops the connection, so the endpoint stops generating
    total = time.perf_counter() - started
    tokens = usage["completion_tokens"] if usage else deltas  # deltas: stopped, or no usage
    return Answer("".join(pieces), tokens, first if first is not None else total, total, stopped)


def _describe(error: InvocationError) -> str:
    detail = error.openai_error
    if detail:
        param = f" (param {detail.get('param')})" if detail.get("param") else ""
        answered = f"the model answered {error.original_status}"
        return f"{error.code}: {answered}: {detail.get('message')}{param}"
    return f"{error.code}: {error.message}"
