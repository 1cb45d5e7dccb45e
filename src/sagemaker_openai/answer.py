"""One choice's generated text read as OpenAI parts: reasoning, content and tool calls.

The same reader serves whole answers and streams, so both say the same thing. Streamed deltas
follow OpenAI's shape: a call's first delta has index, id, type, function.name and empty
arguments; the next carries the arguments; content stays a string in every text delta.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .reasoning import ReasoningStream
from .toolcalls import Format, ToolCall, ToolCallStream

REASONING_NAMES = ("reasoning", "reasoning_content")


@dataclass(frozen=True)
class AnswerFormat:
    """How one request's answers are read."""

    calls: Format | None = None  # None: no tool calls are looked for
    parallel: bool = True  # False: calls after the first are dropped (parallel_tool_calls)
    thinking: tuple[str, str] | None = None  # start and end markers; None: no reasoning split
    prompt_text: str = ""  # the rendered prompt: a template may open the thinking block itself
    # the names thinking goes out under (vLLM's newer `reasoning`, its older
    # `reasoning_content`, both by default); (): thinking is read but not sent
    reasoning_names: tuple[str, ...] = REASONING_NAMES


class Answer:
    """Feed an engine's text deltas; get OpenAI delta objects, and the whole message at the end."""

    def __init__(self, fmt: AnswerFormat):
        self._fmt = fmt
        self._thinking = ReasoningStream(fmt.thinking, fmt.prompt_text) if fmt.thinking else None
        self._calls = ToolCallStream(fmt.calls) if fmt.calls else None
        self.reasoning: list[str] = []
        self.content: list[str] = []
        self.tool_calls: list[ToolCall] = []

    def feed(self, text: str) -> list[dict[str, Any]]:
        pieces = self._thinking.feed(text) if self._thinking else [("content", text)]
        return self._deltas(pieces, final=False)

    def finish(self) -> list[dict[str, Any]]:
        pieces = self._thinking.finish() if self._thinking else []
        return self._deltas(pieces, final=True)

    def finish_reason(self, engine_reason: str) -> str:
        """ "tool_calls" once calls were made; but a forced answer cut by max_tokens stays
        "length", as in vLLM and OpenAI: the calls it completed may not be all it meant."""
        cut = (
            engine_reason == "length"
            and self._fmt.calls is not None
            and self._fmt.calls.constrained
        )
        return "tool_calls" if self.tool_calls and not cut else engine_reason

    def message(self) -> dict[str, Any]:
        """The non-streaming `message` (after finish)."""
        text = "".join(self.content)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if self.tool_calls:
            message["content"] = text or None
            message["tool_calls"] = [c.to_openai() for c in self.tool_calls]
        if self.reasoning and self._fmt.reasoning_names:
            message.update(self._reasoning("".join(self.reasoning)))
        return message

    def _deltas(self, pieces: Sequence[tuple[str, str]], final: bool) -> list[dict[str, Any]]:
        deltas: list[dict[str, Any]] = []
        for kind, text in pieces:
            if kind == "reasoning":
                self.reasoning.append(text)
                if self._fmt.reasoning_names:
                    deltas.append({"content": "", **self._reasoning(text)})
            elif self._calls is None:
                if text:
                    self.content.append(text)
                    deltas.append({"content": text})
            else:
                deltas += self._events(self._calls.feed(text))
        if final and self._calls is not None:
            deltas += self._events(self._calls.finish())
        return deltas

    def _events(self, events: list[str | ToolCall]) -> list[dict[str, Any]]:
        deltas: list[dict[str, Any]] = []
        for event in events:
            if isinstance(event, str):
                self.content.append(event)
                deltas.append({"content": event})
            elif self._fmt.parallel or not self.tool_calls:
                index = len(self.tool_calls)
                self.tool_calls.append(event)
                head = {"index": index, **event.to_openai()}
                head["function"] = {"name": event.name, "arguments": ""}
                body = {"index": index, "function": {"arguments": event.arguments}}
                deltas += [{"tool_calls": [head]}, {"tool_calls": [body]}]
        return deltas

    def _reasoning(self, text: str) -> dict[str, str]:
        return dict.fromkeys(self._fmt.reasoning_names, text)
