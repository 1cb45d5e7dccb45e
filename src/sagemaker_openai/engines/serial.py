"""The transformers engine's fallback before transformers 4.56: sequences take turns.

The batched scheduler (engines/batching.py) edits the per-layer cache objects that transformers
4.56 introduced; older releases (the HF DLC's 4.49, LMI's 4.45) get this one: one worker thread,
each running sequence advances one token per round with its own cache.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from .lora import RowAdapters, no_adapters
from .sampling import sample
from .sequence import Sequence
from .worker import Worker

log = logging.getLogger(__name__)


class SerialScheduler(Worker):
    def __init__(self, model: Any, device: str, adapters: RowAdapters = no_adapters):
        super().__init__(model, device, adapters)
        self.running = 0
        self.start()

    def _run(self) -> None:
        active: list[Sequence] = []
        while True:
            if not active:
                self.running = 0
                active.append(self._inbox.get())  # idle: block until work comes
            while not self._inbox.empty():
                active.append(self._inbox.get_nowait())
            self.running = len(active)
            for seq in list(active):
                try:
                    with torch.inference_mode():
                        done = seq.cancelled or self._advance(seq)
                except Exception as exc:
                    log.exception("generation failed")
                    seq.send(exc)
                    done = True
                if done:
                    active.remove(seq)
            self.running = len(active)

    def _advance(self, seq: Sequence) -> bool:
        """One forward pass and one token for `seq`; True when it has ended."""
        ids = seq.prompt if seq.cache is None else [seq.last]
        with self._adapters([seq.params.adapter]):
            out = self._model(
                input_ids=torch.tensor([ids], device=self._device),
                past_key_values=seq.cache,
                use_cache=True,
            )
        seq.cache = out.past_key_values
        [token], [logprobs] = sample(out.logits[:, -1], [seq])
        return seq.advance(token, logprobs)
