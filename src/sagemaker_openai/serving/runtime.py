"""The serving state /ping reports: loading, ready, draining, or dead. It loads the engine in a
thread, watches that the engine can still generate, and drains requests on shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ..chat import ChatService
from ..engines.base import Engine
from ..errors import EngineDead, NotReady, ShuttingDown

log = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 0.5  # how often the engine's liveness is read; /ping never waits on it


class Runtime:
    """Holds the engine once it has loaded; /ping reads it without waiting on anything.

    `on_failure` is called once when the engine fails to load or dies later: the builder stops
    the process with a non-zero status, so the platform replaces the instance."""

    def __init__(
        self, build: Callable[[], ChatService], on_failure: Callable[[], None] | None = None
    ):
        self._build = build
        self._on_failure = on_failure
        self.chat: ChatService | None = None
        self.draining = False
        self.dead = False
        self.active = 0  # requests between their first byte in and their last byte out
        self.stopped = asyncio.Event()  # set when the grace period is over: end what still runs
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._spawn(self._load_in_thread())

    async def _load_in_thread(self) -> None:
        started = time.perf_counter()
        try:
            self.chat = await asyncio.to_thread(self._build)
        except Exception:
            log.exception("loading the model failed")
            self._fail()
            return
        engine, admission = self.chat.engine, self.chat.admission
        log.info(
            "model %s ready in %.1f s (admission budget: %s tokens, %d waiting at most)",
            engine.card.name,
            time.perf_counter() - started,
            admission.capacity or "unbounded",
            admission.max_waiting,
        )
        self._spawn(self._watch(engine))

    async def _watch(self, engine: Engine) -> None:
        while engine.alive:
            await asyncio.sleep(HEALTH_INTERVAL_S)
        if not self.draining:
            log.error("the engine can no longer generate; /ping now answers 503, exiting")
            self.dead = True
            self._fail()

    def _fail(self) -> None:
        if self._on_failure:
            self._on_failure()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def healthy(self) -> bool:
        return self.chat is not None and not self.draining and not self.dead

    def ready(self) -> ChatService:
        """The chat service, or the reason there is none to serve this request."""
        if self.dead:
            raise EngineDead()
        if self.draining:
            raise ShuttingDown()
        if self.chat is None:
            raise NotReady()
        return self.chat

    async def drain(self, grace_s: float) -> None:
        """Refuse new requests, let running ones finish for `grace_s`, then end the rest."""
        self.draining = True
        log.info("draining: %d requests running, %.0f s grace", self.active, grace_s)
        deadline = time.monotonic() + grace_s
        while self.active and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if self.active:
            log.warning("grace period over: ending %d requests", self.active)
            self.stopped.set()
            ended = time.monotonic() + 2.0  # each ends at its next await
            while self.active and time.monotonic() < ended:
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        """Stop an engine that runs processes of its own (vLLM's engine core); uvicorn ends a
        SIGTERM-ed server by re-raising the signal, so exit hooks never run."""
        for task in self._tasks:
            task.cancel()
        if self.chat is not None:
            self.chat.engine.close()
