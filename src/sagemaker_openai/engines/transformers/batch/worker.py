"""What both transformers schedulers share: the model on one worker thread, an inbox of sequences.

A scheduler sets up its own state, then calls `start`; its `_run` is the worker's loop.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from ..lora import RowAdapters
from ..sequence import Sequence


class Worker:
    def __init__(self, model: Any, device: str, adapters: RowAdapters):
        self._model = model
        self._device = device
        self._adapters = adapters
        self._inbox: queue.Queue[Sequence] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="transformers-engine", daemon=True)

    def start(self) -> None:
        self._worker.start()

    def submit(self, seq: Sequence) -> None:
        self._inbox.put(seq)

    @property
    def alive(self) -> bool:
        """False once the worker loop itself has died (one sequence's failure does not)."""
        return self._worker.is_alive()

    def _run(self) -> None:
        raise NotImplementedError
