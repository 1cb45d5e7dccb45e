"""One sequence of the transformers engine: its sampling state and its text, step by step."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

import torch

from ..base import SamplingParams, Step, TokenLogprob
from .thinking import ThinkingBudget


class LogitsProcessor(Protocol):
    """A per-sequence constraint (grammar-guided decoding, engines/guided.py)."""

    def mask(self, logits_row: torch.Tensor) -> None:
        """Set disallowed tokens to -inf in place ([vocab] float32), before sampling."""
        ...

    def accept(self, token_id: int) -> None:
        """Follow the sampled token."""
        ...

    def done(self) -> bool:
        """Nothing more may be generated."""
        ...


log = logging.getLogger(__name__)

# (chosen token's logprob, [(token id, logprob)] best first), from the model's raw distribution
Logprobs = tuple[float, list[tuple[int, float]]]


class Sequence:
    """A request's state from prompt to last token. Once submitted, only the scheduler's worker
    thread touches it; the event loop reads the outbox (batch/worker.py)."""

    def __init__(
        self,
        prompt: list[int],
        params: SamplingParams,
        tokenizer: Any,
        *,
        eos: set[int],
        token_bytes: Any,
        device: str,
        processor: LogitsProcessor | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        thinking: tuple[list[int], list[int]] | None = None,
    ):
        """`thinking`: the start and end markers' token ids, for a thinking budget."""
        self.prompt = prompt
        self.params = params
        self.processor = processor
        self.tokens: list[int] = []
        self.cancelled = False  # the caller left (set by the worker: batch/worker.py)
        self.finished = False  # its last step is sent; the batch drops its row next step
        self.on_end: Callable[[], None] = lambda: None  # the scheduler's count of running
        self.prefilled = 0  # prompt tokens already in the KV cache (chunked prefill)
        self.cached = 0  # of them, those the prefix cache held (usage's cached_tokens)
        self.cache: Any = None  # its own KV cache until it joins the running batch
        self.outbox: asyncio.Queue[Step | BaseException] = asyncio.Queue()
        self._loop = loop
        self._eos = set() if params.ignore_eos else eos
        self.stop_ids = self._eos | set(params.stop_token_ids)  # barred before min_tokens
        self._token_bytes = token_bytes
        self._detokenizer = IncrementalDetokenizer(tokenizer, prompt)
        self._stop_text = StopText(params.stop)
        seed = params.seed if params.seed is not None else random.getrandbits(63)
        # On the logits' device: sampling draws there, with no copy of the distribution.
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.counts: torch.Tensor | None = None  # occurrences of each token in the completion
        self.counted = 0  # completion tokens already in `counts`
        self.error: Exception | None = None  # its own failure (sampling.py): it ends alone
        self.seen: torch.Tensor | None = None  # tokens of prompt and completion (repetition)
        self.seen_upto = 0  # completion tokens already in `seen`
        self.thinking = (
            ThinkingBudget(*thinking, params.thinking_budget, prompt)
            if thinking and params.thinking_budget is not None
            else None
        )

    @property
    def last(self) -> int:
        """The token the next decode step feeds in."""
        return self.tokens[-1]

    def send(self, item: Step | BaseException) -> None:
        if self._loop is None:
            self.outbox.put_nowait(item)
        else:
            self._loop.call_soon_threadsafe(self.outbox.put_nowait, item)

    def advance(self, token: int, logprobs: Logprobs | None) -> bool:
        """`take`, except that a failure of this sequence's own (its constraint, its text) ends
        it alone with that error; the others in the batch go on. True when it has ended."""
        if self.error is None:
            try:
                return self.take(token, logprobs)
            except Exception as exc:
                self.error = exc
        log.error("a sequence failed alone", exc_info=self.error)
        self.fail(self.error)
        return True

    def fail(self, error: BaseException) -> None:
        """End with `error` for the caller (a cancelled or ended sequence has no caller)."""
        if not (self.finished or self.cancelled):
            self._end()
            self.send(error)

    def _end(self) -> None:
        self.finished = True  # before the last item goes out: `running` must not count it
        self.on_end()

    def take(self, token: int, logprobs: Logprobs | None) -> bool:
        """Add a sampled token, stream what it completes; True when the sequence has ended."""
        if self.processor is not None:
            self.processor.accept(token)
        if self.thinking is not None:
            self.thinking.accept(token)
        if token in self.stop_ids:  # min_tokens barred them until now
            text, _ = self._drain()
            # The end-of-turn token counts, as vLLM counts it, but is not shown (no logprobs);
            # so does a stop token id (vLLM leaves its text out too).
            return self._finish("stop", text, len(self.tokens) + 1, ())
        self.tokens.append(token)
        entries = (self._entry(token, logprobs),) if logprobs is not None else ()
        # vLLM looks for stop strings only past min_tokens
        check = len(self.tokens) > self.params.min_tokens
        text, stopped = self._stop_text.feed(self._detokenizer.add(token), check)
        if stopped:
            return self._finish("stop", text, len(self.tokens), entries)
        guided_end = self.processor is not None and self.processor.done()
        if len(self.tokens) >= self.params.max_tokens or guided_end:
            tail, stopped = self._drain()
            reason = "stop" if stopped or guided_end else "length"
            return self._finish(reason, text + tail, len(self.tokens), entries)
        if text or entries:
            self.send(Step(text, len(self.tokens), None, entries))
        return False

    def _drain(self) -> tuple[str, bool]:
        """Text held back at the end; True if it completes a stop string."""
        text, stopped = self._stop_text.feed(self._detokenizer.flush())
        return (text, True) if stopped else (text + self._stop_text.flush(), False)

    def _finish(
        self, reason: Any, text: str, count: int, entries: tuple[TokenLogprob, ...]
    ) -> bool:
        self._end()
        self.send(Step(text, count, reason, entries, self.cached))
        return True

    def _entry(self, token: int, logprobs: Logprobs) -> TokenLogprob:
        chosen, top = logprobs
        token_text, raw = self._piece(token)
        alternatives = [(*self._piece(i), lp) for i, lp in top]
        return TokenLogprob(
            token=token_text,
            logprob=max(chosen, -9999.0),
            bytes=list(raw),
            top_logprobs=[(t, max(lp, -9999.0), list(b)) for t, b, lp in alternatives],
        )

    def _piece(self, token: int) -> tuple[str, bytes]:
        raw = self._token_bytes(token)
        return raw.decode("utf-8", errors="replace"), raw


class IncrementalDetokenizer:
    """Token ids to text deltas that never split a UTF-8 character."""

    def __init__(self, tokenizer: Any, prompt: list[int]):
        self._tokenizer = tokenizer
        # A few prompt tokens of context so a word's leading space decodes as it should.
        self._ids = list(prompt[-4:])
        self._prefix = 0
        self._read = len(self._ids)

    def add(self, token: int) -> str:
        self._ids.append(token)
        return self._emit()

    def flush(self) -> str:
        """What is held back at the end, less the bytes of a character cut off by max_tokens."""
        return self._emit(final=True).rstrip("\ufffd")

    def _emit(self, final: bool = False) -> str:
        decode = self._tokenizer.decode
        before: str = decode(self._ids[self._prefix : self._read], skip_special_tokens=True)
        after: str = decode(self._ids[self._prefix :], skip_special_tokens=True)
        if len(after) <= len(before) or (after.endswith("\ufffd") and not final):
            return ""  # an incomplete multi-byte character: wait for the next token
        self._prefix, self._read = self._read, len(self._ids)
        return after[len(before) :]


class StopText:
    """Finds stop strings across deltas; holds back only text that could begin one."""

    def __init__(self, stops: tuple[str, ...]):
        self._stops = stops
        self._pending = ""

    def feed(self, text: str, check: bool = True) -> tuple[str, bool]:
        """(text safe to emit, whether a stop string was found); check=False: let it all by."""
        if not self._stops:
            return text, False
        if not check:
            out, self._pending = self._pending + text, ""
            return out, False
        self._pending += text
        found = [i for i in (self._pending.find(s) for s in self._stops) if i >= 0]
        if found:
            out, self._pending = self._pending[: min(found)], ""
            return out, True
        held = max(map(self._held, self._stops))
        cut = len(self._pending) - held
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out, False

    def _held(self, stop: str) -> int:
        """Length of the longest end of the pending text that begins `stop`."""
        for size in range(min(len(stop) - 1, len(self._pending)), 0, -1):
            if stop.startswith(self._pending[-size:]):
                return size
        return 0

    def flush(self) -> str:
        out, self._pending = self._pending, ""
        return out
