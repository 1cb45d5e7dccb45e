"""A thinking budget (vLLM's `thinking_token_budget`): once a sequence has thought that many
tokens, its next tokens are the end marker's, so the answer follows.

Thinking is found as vLLM 0.32 finds it (v1/sample/thinking_budget_state.py): by the markers'
token ids, a prompt whose last start marker has no end after it (a template that opens the block)
starting inside, with the prompt's tokens after the marker counted against the budget.
"""

from __future__ import annotations


class ThinkingBudget:
    """Follows one sequence's tokens; `forced` is the token it must take next, if any."""

    def __init__(self, start: list[int], end: list[int], budget: int, prompt: list[int]):
        self._start, self._end, self._budget = start, end, budget
        opened, closed = _last_index(prompt, start), _last_index(prompt, end)
        self._inside = opened > closed
        self._count = len(prompt) - opened - len(start) if self._inside else 0
        self._forcing: list[int] = []
        self._window = max(len(start), len(end))
        self._tail: list[int] = prompt[-self._window :]

    @property
    def forced(self) -> int | None:
        if not self._forcing and self._inside and self._count >= self._budget:
            self._forcing = list(self._end)
        return self._forcing[0] if self._forcing else None

    def accept(self, token: int) -> None:
        self._tail = [*self._tail, token][-self._window :]
        if self._forcing:
            self._forcing.pop(0)
            self._inside = bool(self._forcing)
            return
        if not self._inside:
            self._inside = _ends_with(self._tail, self._start)
            self._count = 0
        elif _ends_with(self._tail, self._end):
            self._inside = False
        else:
            self._count += 1


def _ends_with(tokens: list[int], marker: list[int]) -> bool:
    return bool(marker) and tokens[-len(marker) :] == marker


def _last_index(tokens: list[int], marker: list[int]) -> int:
    for i in range(len(tokens) - len(marker), -1, -1):
        if tokens[i : i + len(marker)] == marker:
            return i
    return -1
