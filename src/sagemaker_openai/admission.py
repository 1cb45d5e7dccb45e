"""Admission: requests run while their cache room fits the engine's budget, a bounded number
wait their turn in order, and the rest are told at once to come back (429 with Retry-After).

A request is admitted for what it holds now, not for what it may come to hold: its prompt and
up to RESERVE_TOKENS of answer per sequence. A sequence that generates beyond that takes the
rest from the budget as it goes (`Hold.grow`, never waiting), so newcomers wait while the
running ones use the room. vLLM's scheduler works the same way (it allocates KV blocks as
tokens come, never for max_tokens, and preempts when the cache is full); a request without
max_tokens (the rest of the context) is then neither refused nor run alone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

from .errors import Busy, InvalidRequest

MAX_WAITING_DEFAULT = 64
# Answer tokens per sequence held at admission, beyond its prompt (a chat answer's usual length);
# a request asking for fewer holds only those.
RESERVE_TOKENS = 512
RETRY_AFTER_S = 1  # what a refused client is told to wait; SageMaker and SDKs back off from it


class Admission:
    """A token budget shared by the running requests, and a FIFO queue of bounded length.

    `capacity`: tokens of cache the engine holds across sequences (0: unbounded).
    """

    def __init__(self, capacity: int, max_waiting: int = MAX_WAITING_DEFAULT):
        self.capacity = capacity
        self.max_waiting = max_waiting
        self.in_use = 0  # tokens held by running requests
        self.running = 0  # requests admitted and not yet finished
        self._queue: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def check(self, tokens: int, params: tuple[str, ...] = ("messages",)) -> None:
        """400 for a request that could never run, whatever else is running."""
        if self.capacity and tokens > self.capacity:
            raise InvalidRequest(
                f"This request needs cache room for {tokens} tokens (n x (prompt + max_tokens)) "
                f"but the engine holds at most {self.capacity} tokens in all; lower "
                f"{' or '.join(params)}.",
                param=params[0],
            )

    @contextlib.asynccontextmanager
    async def admit(self, tokens: int) -> AsyncIterator[Hold]:
        """Hold `tokens` of the budget while the body runs; wait in line, or raise Busy.
        The caller checked `tokens` against the capacity first (`check`, at planning)."""
        tokens = min(tokens, self.capacity) if self.capacity else 0
        if self._queue or not self._fits(tokens):
            if len(self._queue) >= self.max_waiting:
                raise Busy(len(self._queue), RETRY_AFTER_S)
            turn = asyncio.get_running_loop().create_future()
            entry = (tokens, turn)
            self._queue.append(entry)
            try:
                await turn
            except BaseException:
                if turn.done() and not turn.cancelled():
                    self._release(tokens)  # admitted just as the caller left
                else:
                    self._queue.remove(entry)
                    self._wake()
                raise
        else:
            self._take(tokens)
        hold = Hold(self, tokens)
        try:
            yield hold
        finally:
            self._release(hold.tokens)

    def _grow(self, tokens: int) -> None:
        self.in_use += tokens

    def _fits(self, tokens: int) -> bool:
        return not self.capacity or self.in_use + tokens <= self.capacity

    def _take(self, tokens: int) -> None:
        self.in_use += tokens
        self.running += 1

    def _release(self, tokens: int) -> None:
        self.in_use -= tokens
        self.running -= 1
        self._wake()

    def _wake(self) -> None:
        """Admit waiting requests in order while the first in line fits."""
        while self._queue and self._fits(self._queue[0][0]):
            tokens, turn = self._queue.popleft()
            self._take(tokens)
            turn.set_result(None)


class Hold:
    """One admitted request's share of the budget, grown as its sequences outgrow it."""

    def __init__(self, admission: Admission, tokens: int):
        self._admission = admission
        self.tokens = tokens

    def grow(self, tokens: int) -> None:
        """Take `tokens` more; never waits (the budget may go over: newcomers wait instead)."""
        if self._admission.capacity and tokens > 0:
            self._admission._grow(tokens)
            self.tokens += tokens
