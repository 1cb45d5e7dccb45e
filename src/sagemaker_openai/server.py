"""The HTTP app: SageMaker's container contract (/ping, /invocations) and OpenAI's /v1 routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .chat import ChatService
from .engines.base import Engine
from .errors import HTTPStatusError, NotFound, NotReady, OpenAIError, RequestTooLarge
from .invocation import Reply, error_reply, invoke, session_reply
from .protocol import MAX_BODY_BYTES
from .sessions import SESSION_ID, Sessions
from .settings import Settings
from .streaming import StreamFormat, choose_format, custom_attribute

log = logging.getLogger(__name__)


class Runtime:
    """Holds the engine once it has loaded; /ping reads it without waiting on anything."""

    def __init__(
        self,
        load: Callable[[], Engine],
        on_failure: Callable[[], None] | None = None,
        chat_options: dict[str, Any] | None = None,
    ):
        self._load = load
        self._on_failure = on_failure
        self._chat_options = chat_options or {}
        self.chat: ChatService | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._load_in_thread())

    async def _load_in_thread(self) -> None:
        started = time.perf_counter()
        try:
            engine = await asyncio.to_thread(self._load)
        except Exception:
            log.exception("loading the model failed")
            if self._on_failure:
                self._on_failure()
            return
        self.chat = ChatService(engine, **self._chat_options)
        log.info("model %s ready in %.1f s", engine.card.name, time.perf_counter() - started)

    def stop(self) -> None:
        """Stop an engine that runs processes of its own (vLLM's engine core); uvicorn ends a
        SIGTERM-ed server by re-raising the signal, so exit hooks never run."""
        if self.chat is not None:
            self.chat.engine.close()

    def ready(self) -> ChatService:
        if self.chat is None:
            raise NotReady()
        return self.chat


def create_app(
    settings: Settings,
    load: Callable[[], Engine],
    on_load_failure: Callable[[], None] | None = None,
) -> Starlette:
    """The ASGI app. `load` runs in a worker thread after start-up, so /ping answers at once."""
    chat_options = {
        "literal_content": not settings.special_tokens_in_content,
        "tool_call_parser": settings.tool_call_parser,
    }
    runtime = Runtime(load, on_load_failure, chat_options)
    sessions = Sessions(settings.stateful_sessions, settings.sessions_expiration)

    async def ping(request: Request) -> Response:
        if runtime.chat is None:
            return _error(NotReady())
        return JSONResponse({"status": "healthy"})

    async def invocations(request: Request) -> Response:
        attributes = request.headers.get("x-amzn-sagemaker-custom-attributes", "")
        fmt = choose_format(settings.stream_format, attributes, request.headers.get("accept", ""))
        try:
            chat = runtime.ready()
            body = await _read_body(request)
        except OpenAIError as exc:
            return _error(exc)
        answered = session_reply(sessions, body, request.headers.get(SESSION_ID))
        if answered is not None:
            return _respond(answered)
        tool_choice = custom_attribute(attributes, "tool_choice")
        reply = await invoke(
            chat, body, fmt, tool_choice=tool_choice, whole=settings.async_endpoint
        )
        return _respond(reply)

    async def chat_completions(request: Request) -> Response:
        return await _chat(runtime, request, "sse")

    async def models(request: Request) -> Response:
        chat = runtime.ready()
        card = {"id": chat.engine.card.name, "object": "model", "created": 0, "owned_by": "owner"}
        return JSONResponse({"object": "list", "data": [card]})

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
        ],
        exception_handlers={HTTPException: http_error, OpenAIError: openai_error},
        lifespan=_lifespan(runtime),
    )
    app.state.runtime = runtime
    return app


def _lifespan(runtime: Runtime) -> Callable[[Starlette], Any]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime.start()
        yield
        runtime.stop()

    return lifespan


async def _chat(
    runtime: Runtime, request: Request, fmt: StreamFormat, tool_choice: str | None = None
) -> Response:
    try:
        chat = runtime.ready()
        body = await _read_body(request)
    except OpenAIError as exc:
        return _error(exc)
    return _respond(await invoke(chat, body, fmt, tool_choice=tool_choice))


def _respond(reply: Reply) -> Response:
    if isinstance(reply.body, bytes):
        return Response(reply.body, reply.status, dict(reply.headers), reply.media_type)
    return StreamingResponse(reply.body, reply.status, dict(reply.headers), reply.media_type)


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
