"""Continuous batching for the transformers engine: one forward pass per step for all sequences.

The running sequences share one KV cache, left-padded: row i holds its own tokens at the right
end, padding (masked out) on the left, so every row's next token lands in the same new column.
A newcomer is prefilled alone into its own cache (in chunks, a few hundred tokens per step, so
running streams keep their pace), then padded and stacked onto the batch; a sequence that ends
or is cancelled is dropped by row. Neither recomputes anyone else's keys and values.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from typing import Any

import torch
import torch.nn.functional as F

from . import kvcache
from .kvcache import new_cache
from .sampling import sample
from .sequence import Sequence

log = logging.getLogger(__name__)

# Prompt tokens prefilled per step: a long prompt is split, so a step that admits it costs the
# running streams at most about this much extra work.
PREFILL_CHUNK = {"cpu": 256, "cuda": 4096}
MAX_ROWS = 256  # sequences decoding at once; more wait (with their prompts not yet prefilled)


class Scheduler:
    """Owns the model on one worker thread; sequences come in through `submit`."""

    def __init__(self, model: Any, device: str):
        self._model = model
        self._device = device
        self._chunk = PREFILL_CHUNK.get(device, PREFILL_CHUNK["cuda"])
        self._inbox: queue.Queue[Sequence] = queue.Queue()
        self._waiting: deque[Sequence] = deque()  # admitted, prompt not fully prefilled
        self._batch = Batch(device)
        self.running = 0  # sequences admitted and not yet finished or cancelled
        self._worker = threading.Thread(target=self._run, name="transformers-engine", daemon=True)
        self._worker.start()

    def submit(self, seq: Sequence) -> None:
        self._inbox.put(seq)

    def _run(self) -> None:
        while True:
            if not self._batch.seqs and not self._waiting:
                self.running = 0
                self._waiting.append(self._inbox.get())  # idle: block until work comes
            while not self._inbox.empty():
                self._waiting.append(self._inbox.get_nowait())
            self.running = len(self._batch.seqs) + len(self._waiting)
            try:
                with torch.inference_mode():
                    self._step()
            except Exception as exc:  # every sequence in flight gets it; the engine goes on
                log.exception("generation failed")
                for seq in [*self._batch.seqs, *self._waiting]:
                    seq.send(exc)
                self._batch = Batch(self._device)
                self._waiting.clear()
            self.running = len(self._batch.seqs) + len(self._waiting)

    def _step(self) -> None:
        self._waiting = deque(s for s in self._waiting if not s.cancelled)
        self._batch.keep([i for i, s in enumerate(self._batch.seqs) if not s.cancelled])
        self._batch.join(self._prefill())
        if self._batch.seqs:
            logits = self._batch.decode(self._model)
            tokens, logprobs = sample(logits, self._batch.seqs)
            seqs = self._batch.seqs
            ended = [s.take(t, lp) for s, t, lp in zip(seqs, tokens, logprobs, strict=True)]
            self._batch.keep([i for i, done in enumerate(ended) if not done])

    def _prefill(self) -> list[Sequence]:
        """Prefill waiting prompts up to the step's token budget; those complete, sampled once."""
        budget = self._chunk
        ready: list[Sequence] = []
        while self._waiting and budget > 0 and len(self._batch.seqs) + len(ready) < MAX_ROWS:
            seq = self._waiting[0]
            n = min(len(seq.prompt) - seq.prefilled, budget)
            logits = self._prefill_chunk(seq, n)
            budget -= n
            if seq.prefilled < len(seq.prompt):
                break  # the budget ran out inside this prompt: on with it next step
            self._waiting.popleft()
            [token], [logprobs] = sample(logits, [seq])
            if not seq.take(token, logprobs):
                ready.append(seq)
        return ready

    def _prefill_chunk(self, seq: Sequence, n: int) -> torch.Tensor:
        """The next `n` prompt tokens into the sequence's own cache; last position's logits."""
        if seq.cache is None:
            seq.cache = new_cache()
        start = seq.prefilled
        ids = torch.tensor([seq.prompt[start : start + n]], device=self._device)
        positions = torch.arange(start, start + n, device=self._device).unsqueeze(0)
        out = self._model(
            input_ids=ids,
            position_ids=positions,
            past_key_values=seq.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        seq.prefilled += n
        return out.logits[:, -1]


class Batch:
    """The running rows: one left-padded KV cache, its attention mask, each row's position."""

    def __init__(self, device: str):
        self._device = device
        self.seqs: list[Sequence] = []
        self._cache: Any = None  # kvcache.GrowingLayer's: keys/values [rows, heads, columns, dim]
        self._mask = torch.zeros(0, 0, dtype=torch.long, device=device)  # [rows, columns]
        self._positions = torch.zeros(0, dtype=torch.long, device=device)  # next token's, [rows]

    def join(self, newcomers: list[Sequence]) -> None:
        """Stack prefilled sequences onto the batch, right-aligned, rows kept longest first."""
        if not newcomers:
            return
        lengths = [s.prefilled for s in newcomers]
        width = max([self._mask.shape[1], *lengths])
        caches = ([self._cache] if self.seqs else []) + [s.cache for s in newcomers]
        if not self.seqs:
            self._cache = newcomers[0].cache
        fresh = torch.tensor(lengths, dtype=torch.long, device=self._device)
        positions = torch.cat([self._positions, fresh])
        # Longest first (stable): the order lengths keep as every row grows by one per step.
        order = torch.argsort(positions, descending=True, stable=True)
        for i, layer in enumerate(self._cache.layers):
            parts = [c.layers[i] for c in caches]
            keys = torch.cat([_pad_left(p.keys, width) for p in parts])[order]
            layer.reset(keys, torch.cat([_pad_left(p.values, width) for p in parts])[order])
        ones = [torch.ones(1, n, dtype=torch.long, device=self._device) for n in lengths]
        self._mask = torch.cat([_pad_left(m, width) for m in [self._mask, *ones]])[order]
        self._positions = positions[order]
        seqs = self.seqs + newcomers
        self.seqs = [seqs[i] for i in order.tolist()]
        for seq in newcomers:
            seq.cache = None

    def keep(self, rows: list[int]) -> None:
        """Keep only `rows` (in order); drop columns that have become padding in every row."""
        if len(rows) == len(self.seqs):
            return
        self.seqs = [self.seqs[i] for i in rows]
        if not rows:
            self.__init__(self._device)  # type: ignore[misc]  # back to empty
            return
        index = torch.tensor(rows, device=self._device)
        self._mask = self._mask[index]
        self._positions = self._positions[index]
        first = int(self._mask.any(dim=0).int().argmax())  # first column some row uses
        self._mask = self._mask[:, first:]
        for layer in self._cache.layers:
            layer.reset(layer.keys[index, :, first:], layer.values[index, :, first:])

    def decode(self, model: Any) -> torch.Tensor:
        """One forward pass: each row's last token in, next-token logits out ([rows, vocab])."""
        ids = torch.tensor([[s.last] for s in self.seqs], device=self._device)
        self._mask = F.pad(self._mask, (0, 1), value=1)
        # each row attends to its own tokens and the one coming in
        lengths = (self._positions + 1).tolist()
        kvcache.row_groups = kvcache.plan_row_groups(lengths, self._mask.shape[1])
        out = model(
            input_ids=ids,
            attention_mask=self._mask,
            position_ids=self._positions.unsqueeze(1),
            past_key_values=self._cache,
            use_cache=True,
            logits_to_keep=1,
        )
        kvcache.row_groups = []
        self._positions += 1
        return out.logits[:, -1]


def _pad_left(t: torch.Tensor, width: int) -> torch.Tensor:
    """Zeros before the sequence axis (2 of [rows, heads, seq, dim]; 1 of a [rows, seq] mask)."""
    missing = width - t.shape[-2 if t.dim() == 4 else -1]
    if missing == 0:
        return t
    return F.pad(t, (0, 0, missing, 0) if t.dim() == 4 else (missing, 0))
