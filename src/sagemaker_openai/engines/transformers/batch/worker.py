"""What the transformers scheduler rests on: the model on one worker thread, an inbox of
sequences, and an inbox of cancellations.

A scheduler sets up its own state, then calls `start`; its `_run` is the worker's loop. Once
submitted, a Sequence belongs to the worker thread: the event loop only reads its outbox, and
asks for a cancellation through `cancel`, which the worker carries out (`_take_cancels`).
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
        self._cancels: queue.SimpleQueue[Sequence] = queue.SimpleQueue()
        self._open = 0  # submitted, not yet ended or dropped (`running`)
        self._counting = threading.Lock()  # the loop adds, the worker subtracts
        self._worker = threading.Thread(target=self._run, name="transformers-engine", daemon=True)

    def start(self) -> None:
        self._worker.start()

    def submit(self, seq: Sequence) -> None:
        seq.on_end = self._ended
        with self._counting:
            self._open += 1
        self._inbox.put(seq)

    @property
    def running(self) -> int:
        """Sequences submitted and not yet ended or dropped; 0 by the time every caller has
        its last step (a sequence ends before its last step is sent)."""
        return self._open

    def _ended(self) -> None:
        with self._counting:
            self._open -= 1

    def cancel(self, seq: Sequence) -> None:
        """From the event loop: the worker drops the sequence's row and cache before its next
        step (a submitted sequence is always in the inbox or the worker's hands by then)."""
        self._cancels.put(seq)

    def _take_cancels(self) -> None:
        """On the worker thread: mark the sequences the event loop gave up on."""
        while True:
            try:
                seq = self._cancels.get_nowait()
            except queue.Empty:
                return
            if not (seq.finished or seq.cancelled):
                seq.cancelled = True
                self._ended()

    @property
    def alive(self) -> bool:
        """False once the worker loop itself has died (one sequence's failure does not)."""
        return self._worker.is_alive()

    def _run(self) -> None:
        raise NotImplementedError
