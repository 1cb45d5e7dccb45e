"""A reasoning model's thinking, split from its answer: `<think>...</think>` -> reasoning.

Only a thinking block that opens the answer counts (as vLLM's reasoning parsers read it); a
template that opens the block itself (its generation prompt ends with the start marker, as
DeepSeek-R1's and Qwen3's thinking mode do) starts the answer inside it.
"""

from __future__ import annotations

from typing import Literal

from .engines.base import THINKING_MARKERS, thinking_markers

# --reasoning-parser: auto (the template's markers, else <think>), none (no split), or a family
PARSERS = {
    "think": THINKING_MARKERS[0],
    "mistral": THINKING_MARKERS[1],
    "command": THINKING_MARKERS[2],
}
PARSER_NAMES = ("auto", "none", *PARSERS)

Kind = Literal["reasoning", "content"]


def reasoning_markers(chat_template: str, parser: str = "auto") -> tuple[str, str] | None:
    """The markers thinking is split by: the parser's, or the template's; None: no split."""
    if parser == "none":
        return None
    return PARSERS[parser] if parser in PARSERS else thinking_markers(chat_template)


class ReasoningStream:
    """Feed text deltas, get (kind, text) pieces; holds back what could still be a marker."""

    def __init__(self, markers: tuple[str, str], prompt_text: str = ""):
        self._start, self._end = markers
        self._state: Literal["before", "thinking", "answer"] = (
            "thinking" if prompt_text.rstrip().endswith(self._start) else "before"
        )
        self._pending = ""
        self._trim = self._state == "thinking"  # blanks right after a marker are layout

    def feed(self, text: str) -> list[tuple[Kind, str]]:
        self._pending += text
        out: list[tuple[Kind, str]] = []
        if self._state == "before":
            head = self._pending.lstrip()
            if head.startswith(self._start):
                self._pending = head[len(self._start) :]
                self._state, self._trim = "thinking", True
            elif self._start.startswith(head):
                return out  # blanks, or the start marker's beginning: undecided
            else:
                self._state = "answer"
        if self._state == "thinking":
            self._think(out)
        if self._state == "answer":
            if self._trim:
                self._pending = self._pending.lstrip()
                self._trim = not self._pending
            if self._pending:
                out.append(("content", self._pending))
                self._pending = ""
        return out

    def finish(self) -> list[tuple[Kind, str]]:
        kind: Kind = "reasoning" if self._state == "thinking" else "content"
        text, self._pending = self._pending, ""
        if self._trim:
            text = text.strip()
        return [(kind, text)] if text else []

    def _think(self, out: list[tuple[Kind, str]]) -> None:
        if self._trim:
            self._pending = self._pending.lstrip()
            self._trim = not self._pending
        end = self._pending.find(self._end)
        if end >= 0:
            thought, rest = self._pending[:end].rstrip(), self._pending[end + len(self._end) :]
            if thought:
                out.append(("reasoning", thought))
            self._pending, self._state, self._trim = rest, "answer", True
            return
        keep = next(
            (
                n
                for n in range(min(len(self._end) - 1, len(self._pending)), 0, -1)
                if self._end.startswith(self._pending[-n:])
            ),
            0,
        )
        # blanks before the end marker are layout too: held until text follows them
        ready = self._pending[: len(self._pending) - keep].rstrip()
        if ready:
            out.append(("reasoning", ready))
            self._pending = self._pending[len(ready) :]
