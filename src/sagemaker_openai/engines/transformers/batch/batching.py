"""Continuous batching for the transformers engine: one forward pass per step for all sequences.

The running sequences share one KV cache, left-padded: row i holds its own tokens at the right
end, padding (masked out) on the left, so every row's next token lands in the same new column.
A newcomer's prompt is prefilled into its own cache in chunks (a few hundred tokens per step,
packed into the same forward pass as the rows' next tokens: batch/mixed.py), after the
longest prefix a finished prompt left in the prefix cache (batch/prefixes.py). It then takes
the row of a sequence that ended, or joins at a rebuild; a sequence that ends or is cancelled
gives up its row. Nobody else's keys and values are recomputed.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import torch

from ..lora import RowAdapters, no_adapters
from ..sampling import sample
from ..sequence import Sequence
from . import kvcache, mixed
from .prefixes import PrefixCache
from .worker import Worker

log = logging.getLogger(__name__)

# Prompt tokens prefilled per step: a long prompt is split, so a step that admits it costs the
# running streams at most about this much extra work.
PREFILL_CHUNK = {"cpu": 256, "cuda": 4096}
MAX_ROWS = 256  # sequences decoding at once; more wait (with their prompts not yet prefilled)
JOIN_WAIT = 4  # steps a prefilled newcomer may wait for others to join the batch with


class Scheduler(Worker):
    """Owns the model on one worker thread; sequences come in through `submit`."""

    def __init__(
        self, model: Any, device: str, prefix_bytes: int = 0, adapters: RowAdapters = no_adapters
    ):
        super().__init__(model, device, adapters)
        self._prefixes = PrefixCache(prefix_bytes)
        self._chunk = PREFILL_CHUNK.get(device, PREFILL_CHUNK["cuda"])
        self._waiting: deque[Sequence] = deque()  # admitted, prompt not fully prefilled
        self._batch = Batch(device)
        self._ready: list[Sequence] = []  # prefilled, first token sent, not yet in the batch
        self._ready_steps = 0  # steps the oldest of them has waited
        self.start()

    def _run(self) -> None:
        while True:
            if not self._batch.live and not self._waiting and not self._ready:
                self._waiting.append(self._inbox.get())  # idle: block until work comes
            while not self._inbox.empty():
                self._waiting.append(self._inbox.get_nowait())
            self._take_cancels()
            try:
                with torch.inference_mode():
                    self._step()
            except Exception as exc:  # the batch's pass failed: every sequence in flight gets
                # it (one sequence's own failure ends only that one: Sequence.advance)
                log.exception("generation failed")
                for seq in [*self._batch.live, *self._waiting, *self._ready]:
                    seq.fail(exc)
                self._batch = Batch(self._device)
                self._waiting.clear()
                self._ready = []

    def _step(self) -> None:
        """Seat prefilled sequences, drop ended rows when it is worth a rebuild, then one forward
        pass (batch/mixed.py) for every row's next token and the next prompt chunks.

        A newcomer no longer than the batch's width takes the row of one that ended (a copy of
        its own cache only). A rebuild copies the whole cache, so it waits until it is worth
        it: a quarter of the rows ended with nobody to take them (they decode, unused, until
        then), or newcomers that found no row amount to an eighth of the rows or have waited
        JOIN_WAIT steps (their first token is already out).
        """
        self._waiting = deque(s for s in self._waiting if not s.cancelled)
        self._ready = [s for s in self._batch.seat(self._ready) if not s.cancelled]
        live = len(self._batch.live)
        ended = len(self._batch.seqs) - live
        self._ready_steps = self._ready_steps + 1 if self._ready else 0
        joining = bool(self._ready) and (
            len(self._ready) * 8 >= live or self._ready_steps > JOIN_WAIT
        )
        idle_rows = ended * 4 >= max(1, len(self._batch.seqs)) and not self._waiting
        if joining or idle_rows:
            self._batch.rebuild(self._ready if joining else [])
            if joining:
                self._ready = []
        pieces = self._pieces()
        if not (pieces or self._batch.live):
            return
        # one adapter name per packed token (transformers/lora.py): each row's, each chunk's tokens'
        running = self._batch.seqs if self._batch.live else []
        names = [s.params.adapter for s in running]
        names += [p.seq.params.adapter for p in pieces for _ in range(p.n)]
        with self._adapters(names):
            logits = mixed.forward(self._model, self._batch, pieces)
        rows = len(logits) - len(pieces)
        if rows:
            tokens, logprobs = sample(logits[:rows], self._batch.seqs)
            for seq, token, lp in zip(self._batch.seqs, tokens, logprobs, strict=True):
                if not (seq.finished or seq.cancelled):
                    seq.finished = seq.advance(token, lp)
        for piece, row in zip(pieces, logits[rows:], strict=True):
            if not piece.completes:
                continue  # the budget ran out inside this prompt: on with it next step
            seq = piece.seq
            if seq.params.adapter is None:
                self._prefixes.store(seq.prompt, seq.cache)
            [token], [lp] = sample(row.unsqueeze(0), [seq])
            seq.finished = seq.advance(token, lp)
            # only now: had sampling failed, _run's handler must still find it to tell it so
            self._waiting.popleft()
            if not seq.finished:
                self._ready.append(seq)

    def _pieces(self) -> list[mixed.Piece]:
        """Prompt chunks of waiting sequences, in order, up to the step's token budget."""
        budget = self._chunk
        pieces: list[mixed.Piece] = []
        rows = len(self._batch.live) + len(self._ready)
        for seq in self._waiting:
            if budget <= 0 or rows + len(pieces) >= MAX_ROWS:
                break
            if seq.cache is None and seq.params.adapter is None:
                # its first piece: start after the longest cached prefix (of the base model's:
                # an adapter's LoRA changes keys and values)
                seq.cache, seq.prefilled = self._prefixes.lookup(seq.prompt)
                seq.cached = seq.prefilled
            pieces.append(mixed.Piece(seq, min(len(seq.prompt) - seq.prefilled, budget)))
            budget -= pieces[-1].n
        return pieces


class Batch:
    """The running rows, longest first: one right-aligned KV cache and each row's length."""

    def __init__(self, device: str):
        self._device = device
        self.seqs: list[Sequence] = []
        self._lengths: list[int] = []  # tokens each row has in the cache (its next position)
        self._width = 0  # cache columns in use: the longest row's length
        self._cache: Any = None  # kvcache.GrowingLayer's: keys/values [rows, heads, columns, dim]

    @property
    def live(self) -> list[Sequence]:
        """Rows neither finished nor cancelled (the others go at the next rebuild)."""
        return [s for s in self.seqs if not (s.finished or s.cancelled)]

    def seat(self, newcomers: list[Sequence]) -> list[Sequence]:
        """Put newcomers into ended rows where they fit; return those left without a row.

        The row's old keys and values left of the newcomer stay: they are masked as padding
        (finite numbers, so no NaN can leak through the masked product).
        """
        if not self.live:
            # Nobody to share with: the rebuild starts a batch of the newcomers alone, with no
            # padding, so an answer alone is computed the same way whatever ran before it
            # (a seeded answer repeats; padded rows change bf16's rounding).
            return list(newcomers)
        free = [i for i, s in enumerate(self.seqs) if s.finished or s.cancelled]
        left: list[Sequence] = []
        for seq in newcomers:
            n = seq.prefilled
            if not free or n > self._width or seq.cancelled:
                left.append(seq)
                continue
            row = free.pop()
            for mine, theirs in zip(self._cache.layers, seq.cache.layers, strict=True):
                mine.keys[row, :, self._width - n :] = theirs.keys[0]
                mine.values[row, :, self._width - n :] = theirs.values[0]
            self.seqs[row], self._lengths[row], seq.cache = seq, n, None
        return left

    def rebuild(self, newcomers: list[Sequence]) -> None:
        """Drop ended rows, add prefilled ones: each kept token is copied once, into place."""
        keep = [i for i, s in enumerate(self.seqs) if not (s.finished or s.cancelled)]
        if len(keep) == len(self.seqs) and not newcomers:
            return
        # (length, source): an old row's index, or a newcomer; longest first, stably, the
        # order lengths keep as every row grows by one per step.
        rows: list[tuple[int, int, Sequence | None]] = [(self._lengths[i], i, None) for i in keep]
        rows += [(s.prefilled, -1, s) for s in newcomers]
        rows.sort(key=lambda r: -r[0])
        if not rows:
            self.__init__(self._device)  # type: ignore[misc]  # back to empty
            return
        width = rows[0][0]
        old = [(dst, src) for dst, (_, src, seq) in enumerate(rows) if seq is None]
        new: list[tuple[int, Any]] = [(d, seq) for d, (_, _, seq) in enumerate(rows) if seq]
        overlap = min(width, self._width)  # old rows' tokens all lie in their last columns
        pad = width - rows[-1][0]  # columns that are padding in some row
        dst_old = torch.tensor([d for d, _ in old], dtype=torch.long, device=self._device)
        src_old = torch.tensor([s for _, s in old], dtype=torch.long, device=self._device)
        target = self._cache if self._cache is not None else newcomers[0].cache
        for i, layer in enumerate(target.layers):
            heads, dim = layer.keys.shape[1], layer.keys.shape[3]
            keys = layer.keys.new_empty(len(rows), heads, width + kvcache.GROW, dim)
            values = layer.values.new_empty(len(rows), heads, width + kvcache.GROW, dim)
            # Padding is masked, but 0 * NaN in probs @ values would still be NaN: zeroed.
            keys[:, :, :pad].zero_()
            values[:, :, :pad].zero_()
            if old:
                cols = slice(self._width - overlap, self._width)
                into = slice(width - overlap, width)
                keys[:, :, into].index_copy_(0, dst_old, layer.keys[src_old, :, cols])
                values[:, :, into].index_copy_(0, dst_old, layer.values[src_old, :, cols])
            for dst, seq in new:
                theirs = seq.cache.layers[i]
                n = theirs.keys.shape[2]
                keys[dst, :, width - n : width] = theirs.keys[0]
                values[dst, :, width - n : width] = theirs.values[0]
            layer.adopt(keys, values, width)
        self._cache = target
        self.seqs = [seq if seq is not None else self.seqs[src] for _, src, seq in rows]
        self._lengths = [n for n, _, _ in rows]
        self._width = width
        for _, seq in new:
            seq.cache = None

    @property
    def width(self) -> int:
        """Cache columns in use: the longest row's length."""
        return self._width

    @property
    def layers(self) -> list[Any]:
        return list(self._cache.layers) if self._cache is not None else []

    def rows(self) -> list[tuple[int, int]]:
        """Each row's last token and its position (rows that ended decode a placeholder until
        the next rebuild drops them)."""
        return [
            (s.last if s.tokens else 0, n) for s, n in zip(self.seqs, self._lengths, strict=True)
        ]

    def advance(self) -> None:
        """Every row took one more column."""
        self._lengths = [n + 1 for n in self._lengths]
        self._width += 1
