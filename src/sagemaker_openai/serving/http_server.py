"""uvicorn with the limits a public endpoint needs: bounded request heads (431), a deadline for
a request's head (slowloris), a long keep-alive, and a drain on SIGTERM instead of a cut."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..errors import HeadTooLarge
from .runtime import Runtime

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024  # request line and headers together
MAX_HEADERS = 100
HEAD_TIMEOUT_S = 10.0  # from a request's first byte to the end of its headers


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol (llhttp, as `vllm serve` runs) with a bound on the request
    head (size and line count: 431) and a deadline for it: a peer that trickles its headers, or
    connects and sends nothing, is disconnected. llhttp itself bounds neither."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._reading_head = True  # between requests, or inside a request line and headers
        self._head = 0  # bytes of the current request head so far
        self._lines = 0
        self._tail = b""  # the last bytes seen, to find a head's end across two reads
        self._deadline: asyncio.TimerHandle | None = None
        self._arm(self.timeout_keep_alive)  # connected but silent: an idle connection

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            if self._head == 0:
                self._arm(HEAD_TIMEOUT_S)
            # Count the head only: the body may arrive in the same read.
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")
            part = data if end < 0 else data[: max(0, end + 4 - len(self._tail))]
            self._tail = seen[-3:]
            self._head += len(part)
            self._lines += part.count(b"\n")
            if self._head > MAX_HEAD_BYTES or self._lines > MAX_HEADERS + 2:
                self._refuse_head()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head = self._lines = 0
        self._tail = b""
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True  # the next request's head, if any, is read from here

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._reading_head and not self.transport.is_closing():
            if self._head:
                log.info("closing a connection whose request head took over %.0f s", HEAD_TIMEOUT_S)
            self.transport.close()

    def _refuse_head(self) -> None:
        body = json.dumps(HeadTooLarge(MAX_HEAD_BYTES, MAX_HEADERS).to_dict()).encode()
        head = (
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self._disarm()
        self.transport.write(head.encode() + body)
        self.transport.close()


class DrainingServer(uvicorn.Server):
    """SIGTERM drains (see Runtime.drain) and then stops; SIGINT stops at once as usual."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime, grace_s: float):
        super().__init__(config)
        self._runtime = runtime
        self._grace_s = grace_s
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._draining or self._runtime.chat is None:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        # Re-raised once the server has stopped, as uvicorn does: the process then ends at once
        # by the signal instead of tearing down torch and the model for seconds.
        self._captured_signals.append(sig)
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(lambda: loop.create_task(self._drain_then_exit()))

    async def _drain_then_exit(self) -> None:
        try:
            await self._runtime.drain(self._grace_s)
        finally:
            self.should_exit = True


def uvicorn_config(app: Any, *, host: str, port: int, log_level: str, keep_alive_s: float) -> Any:
    """The one uvicorn configuration: our guarded httptools protocol and its limits."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        http=GuardedHttpTools,
        timeout_keep_alive=int(keep_alive_s),
        timeout_graceful_shutdown=2,  # after our drain: only idle connections are left
    )
