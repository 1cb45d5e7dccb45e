"""The client's side of a call: its body read no further than SageMaker's limit, and its
leaving noticed so the container's request is closed (the container then stops generating)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from .errors import validation_error

T = TypeVar("T")


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused unread when its declared length is over `limit`, and refused as soon as
    `limit` is passed when undeclared (chunked): never more than `limit` bytes are held."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise validation_error(
            f"Request payload of {int(declared)} bytes exceeds the limit of {limit} bytes."
        )
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            # The rest is left unread: uvicorn discards what arrives after the answer.
            raise validation_error(f"Request payload exceeds the limit of {limit} bytes.")
        parts.append(part)
    return b"".join(parts)


async def until_disconnect(request: Request) -> None:
    """Return when the client has gone (call only once its body has been read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """The result of `work`, or None when the client leaves first: `work` is then cancelled,
    which closes its connection to the container."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(until_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return None if task.cancelled() else task.result()
