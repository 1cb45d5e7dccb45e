"""The HTTP app: SageMaker's container contract (/ping, /invocations) and OpenAI's /v1 routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..chat import ChatService
from ..errors import HTTPStatusError, NotFound, OpenAIError, RequestTooLarge, ShuttingDown
from ..protocol import MAX_BODY_BYTES
from ..settings import Settings
from ..streaming import StreamFormat, choose_format, custom_attribute, encode_chunk
from .adapters import ADAPTER_HEADER, ALIAS_HEADER, parse_registration, register, unregister
from .invocation import Reply, error_reply, invoke, session_reply
from .runtime import Runtime
from .sessions import SESSION_ID, Sessions

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    build: Callable[[], ChatService],
    on_load_failure: Callable[[], None] | None = None,
) -> Starlette:
    """The ASGI app. `build` (service.build_service, bound to a model) runs in a worker thread
    after start-up, so /ping answers at once."""
    runtime = Runtime(build, on_load_failure)
    sessions = Sessions(settings.stateful_sessions, settings.sessions_expiration)

    async def ping(request: Request) -> Response:
        try:
            chat = runtime.ready()
        except OpenAIError as exc:
            return _error(exc)
        # Counts only (cheap reads): what runs in the engine, what holds or awaits admission.
        counts = {"running": chat.engine.running, "admitted": chat.admission.running}
        body = {"status": "healthy", **counts, "waiting": chat.admission.waiting}
        # the context as the engine fitted it to memory (vLLM's auto-fit; transformers' budget)
        body["max_model_len"] = chat.engine.card.context_length
        return JSONResponse(body)

    async def invocations(request: Request) -> Response:
        attributes = request.headers.get("x-amzn-sagemaker-custom-attributes", "")
        fmt = choose_format(settings.stream_format, attributes, request.headers.get("accept", ""))
        tool_choice = custom_attribute(attributes, "tool_choice")
        options = {
            "tool_choice": tool_choice,
            "adapter": _adapter_of(request),
        }
        return await _chat(runtime, request, fmt, sessions, options)

    async def chat_completions(request: Request) -> Response:
        options = {"adapter": _adapter_of(request), "whole": False}  # OpenAI's route streams
        return await _chat(runtime, request, "sse", options=options)

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": _model_cards(runtime)})

    async def model(request: Request) -> Response:
        return JSONResponse(_model_card(runtime, request.path_params["model_id"]))

    adapter_edits = asyncio.Lock()  # one register or unregister at a time: names stay unique

    async def register_adapter(request: Request) -> Response:
        engine = runtime.ready().engine
        registration = parse_registration(await _read_body(request), request.query_params)
        async with adapter_edits:
            text = await register(
                engine.adapters,
                registration,
                engine.card.name,
                settings.max_loras,
                request.headers.get(ALIAS_HEADER),
            )
        return Response(text, 200, media_type="text/plain; charset=utf-8")

    async def unregister_adapter(request: Request) -> Response:
        engine = runtime.ready().engine
        async with adapter_edits:
            name = request.path_params["adapter_name"]
            text = await unregister(engine.adapters, name, request.headers.get(ALIAS_HEADER))
        return Response(text, 200, media_type="text/plain; charset=utf-8")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return _error(NotFound(f"No route {request.method} {request.url.path}."))
        return _error(HTTPStatusError(exc.status_code, str(exc.detail)))

    async def openai_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OpenAIError)
        return _error(exc)

    app = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            # The path SageMaker's OpenAI-compatible route may forward (docs/sagemaker-features.md)
            Route("/openai/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", model, methods=["GET"]),  # ids may hold "/"
            # aws/model-hosting-container-standards' adapter routes (adapters.py)
            Route("/adapters", register_adapter, methods=["POST"]),
            Route("/adapters/{adapter_name}", unregister_adapter, methods=["DELETE"]),
        ],
        exception_handlers={HTTPException: http_error, OpenAIError: openai_error},
        lifespan=_lifespan(runtime),
    )
    app.state.runtime = runtime
    return app


def _model_cards(runtime: Runtime) -> list[dict[str, Any]]:
    engine = runtime.ready().engine
    base = engine.card.name
    cards: list[dict[str, Any]] = [
        {"id": base, "object": "model", "created": 0, "owned_by": "owner"}
    ]
    # registered adapters, as vLLM lists them: a `model` naming one picks it
    for name in sorted(engine.adapters.names if engine.adapters else ()):
        cards.append({"id": name, "object": "model", "created": 0, "owned_by": "owner"})
        cards[-1]["parent"] = base
    return cards


def _model_card(runtime: Runtime, wanted: str) -> dict[str, Any]:
    """OpenAI's retrieve: one card, or a 404 `model_not_found` naming `model`."""
    for card in _model_cards(runtime):
        if card["id"] == wanted:
            return card
    raise NotFound(f"The model {wanted!r} does not exist.", param="model", code="model_not_found")


def _adapter_of(request: Request) -> str | None:
    return request.headers.get(ADAPTER_HEADER)


def _lifespan(runtime: Runtime) -> Callable[[Starlette], Any]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime.start()
        yield
        runtime.stop()

    return lifespan


async def _chat(
    runtime: Runtime,
    request: Request,
    fmt: StreamFormat,
    sessions: Sessions | None = None,
    options: dict[str, Any] | None = None,
) -> Response:
    """`sessions`: answer session requests (/invocations); `options`: invoke's keywords."""
    try:
        chat = runtime.ready()
    except OpenAIError as exc:
        return _error(exc)
    runtime.active += 1
    try:
        body = await _read_body(request)
        session = request.headers.get(SESSION_ID)
        answered = session_reply(sessions, body, session) if sessions else None
        if answered is None:
            answered = await _while_wanted(
                invoke(chat, body, fmt, **(options or {})), request, runtime
            )
        reply = answered
    except OpenAIError as exc:
        reply = error_reply(exc)
    except BaseException:
        runtime.active -= 1
        raise
    if isinstance(reply.body, bytes):
        runtime.active -= 1
        return _respond(reply)
    stream = _until_stopped(reply.body, runtime.stopped, fmt)
    return _Stream(stream, runtime, reply.status, dict(reply.headers), reply.media_type)


async def _while_wanted(work: Awaitable[Reply], request: Request, runtime: Runtime) -> Reply:
    """The reply, unless the client leaves or the drain ends first: then the work is cancelled,
    so the engine frees its sequences at once instead of generating for nobody."""
    task = asyncio.ensure_future(work)
    left = asyncio.ensure_future(_disconnected(request))
    stopped = asyncio.ensure_future(runtime.stopped.wait())
    try:
        await asyncio.wait({task, left, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (left, stopped):
            waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if not task.cancelled():
        return task.result()
    # Nobody reads this when the client left; a drain tells its client to go elsewhere.
    return error_reply(ShuttingDown())


async def _disconnected(request: Request) -> None:
    """Returns when the client closes the connection (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _until_stopped(
    stream: AsyncIterator[bytes], stopped: asyncio.Event, fmt: StreamFormat
) -> AsyncIterator[bytes]:
    """A stream that ends with one error line, in its framing, once the drain's grace is over.
    A running stream yields a chunk per token, so checking between chunks is prompt."""
    async for data in stream:
        yield data
        if stopped.is_set():
            yield encode_chunk(
                ShuttingDown("The server shut down during this stream.").to_dict(), fmt
            )
            return


class _Stream(StreamingResponse):
    """Closes its chunks as soon as the response ends, however it ends, so the engine frees the
    sequences of a client that left, and the runtime counts the request as done."""

    def __init__(self, content: AsyncIterator[bytes], runtime: Runtime, *args: Any):
        super().__init__(content, *args)
        self._runtime = runtime
        self._content = content

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._content.aclose()  # type: ignore[attr-defined]
            self._runtime.active -= 1


def _respond(reply: Reply) -> Response:
    """A whole body (streams go through _Stream)."""
    assert isinstance(reply.body, bytes)
    return Response(reply.body, reply.status, dict(reply.headers), reply.media_type)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large(int(declared))
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > MAX_BODY_BYTES:
            raise _too_large(len(body))
    return bytes(body)


def _too_large(size: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"The request body is {size} bytes or more; SageMaker accepts at most "
        f"{MAX_BODY_BYTES} bytes (6 MiB)."
    )


def _error(exc: OpenAIError) -> Response:
    return _respond(error_reply(exc))
