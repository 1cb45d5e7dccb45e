"""The HTTP app: SageMaker's container contract (/ping, /invocations) and OpenAI's /v1 routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .chat import ChatService
from .engines.base import Engine
from .errors import InternalError, NotFound, NotReady, OpenAIError, RequestTooLarge
from .protocol import MAX_BODY_BYTES, parse_request
from .settings import Settings
from .streaming import MEDIA_TYPES, StreamFormat, choose_format, encode_chunk, encode_stream

log = logging.getLogger(__name__)

SAGEMAKER_SYNC_LIMIT_S = 60  # real SageMaker cuts non-streaming invocations after 60 s


class Runtime:
    """Holds the engine once it has loaded; /ping reads it without waiting on anything."""

    def __init__(
        self,
        load: Callable[[], Engine],
        on_failure: Callable[[], None] | None = None,
        literal_content: bool = True,
    ):
        self._load = load
        self._literal_content = literal_content
        self._on_failure = on_failure
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
        self.chat = ChatService(engine, literal_content=self._literal_content)
        log.info("model %s ready in %.1f s", engine.card.name, time.perf_counter() - started)

    def stop(self) -> None:
        """Stop an engine that runs processes of its own (vLLM's engine core); uvicorn ends a
        SIGTERM-ed server by re-raising the signal, so exit hooks never run."""
        close = getattr(self.chat.engine, "close", None) if self.chat else None
        if close is not None:
            close()

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
    runtime = Runtime(load, on_load_failure, not settings.special_tokens_in_content)

    async def ping(request: Request) -> Response:
        if runtime.chat is None:
            return _error(NotReady())
        return JSONResponse({"status": "healthy"})

    async def invocations(request: Request) -> Response:
        fmt = choose_format(
            settings.stream_format,
            request.headers.get("x-amzn-sagemaker-custom-attributes", ""),
            request.headers.get("accept", ""),
        )
        return await _chat(runtime, request, fmt)

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
        err = OpenAIError(str(exc.detail))
        err.status, err.type = exc.status_code, "invalid_request_error"
        return _error(err)

    async def openai_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OpenAIError)
        return _error(exc)

    app = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
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


async def _chat(runtime: Runtime, request: Request, fmt: StreamFormat) -> Response:
    chat = runtime.ready()
    body = await _read_body(request)
    try:
        parsed = parse_request(body)
        if parsed.stream:
            chunks = chat.stream(parsed)  # validates before the first byte is sent
            return StreamingResponse(
                _guarded(encode_stream(chunks, fmt), fmt),
                media_type=MEDIA_TYPES[fmt],
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        started = time.perf_counter()
        completion = await chat.complete(parsed)
    except OpenAIError as exc:
        return _error(exc)
    except Exception:
        log.exception("request failed")
        return _error(InternalError())
    elapsed = time.perf_counter() - started
    if elapsed > SAGEMAKER_SYNC_LIMIT_S:
        log.warning(
            "a non-streaming completion took %.0f s; SageMaker cuts InvokeEndpoint at %d s: "
            "stream long answers or lower max_tokens",
            elapsed,
            SAGEMAKER_SYNC_LIMIT_S,
        )
    return JSONResponse(completion)


async def _guarded(stream: AsyncIterator[bytes], fmt: StreamFormat) -> AsyncIterator[bytes]:
    """After the first byte, a failure ends the stream with one error object."""
    try:
        async for data in stream:
            yield data
    except OpenAIError as exc:
        yield encode_chunk(exc.to_dict(), fmt)
    except Exception:
        log.exception("stream failed")
        yield encode_chunk(InternalError().to_dict(), fmt)


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
    return JSONResponse(exc.to_dict(), status_code=exc.status)


def run_server(settings: Settings, sock: socket.socket | None = None) -> None:
    """Serve until interrupted: bind first, provision and load the model in the background."""
    import uvicorn

    from .engines import load_engine, resolve_engine_name

    locate, served_name = resolve_model(settings)
    engine_name = resolve_engine_name(settings.engine)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    log.info("serving %s (%s) with the %s engine", served_name, settings.model, engine_name)
    server: uvicorn.Server | None = None
    failed: list[bool] = []

    def stop() -> None:
        failed.append(True)
        if server is not None:
            server.should_exit = True

    options: dict[str, Any] = {"num_gpus": settings.num_gpus}
    app = create_app(
        settings,
        lambda: load_engine(settings.engine, locate(), served_name=served_name, **options),
        on_load_failure=stop,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    server.run(sockets=[sock] if sock else None)
    if failed:
        raise SystemExit("error: the model failed to load (see the log above)")


def resolve_model(settings: Settings) -> tuple[Callable[[], Path], str]:
    """A function giving the model folder, and the served name. Bad folders fail here, at once;
    the demo model is provisioned by the function (in the loading thread, after binding)."""
    if settings.model == "demo":
        from .demo import DEMO_NAME, ensure_demo_model

        return lambda: ensure_demo_model(
            settings.cache_dir
        ), settings.served_model_name or DEMO_NAME
    model_dir = Path(settings.model).expanduser()
    if not (model_dir / "config.json").is_file():
        raise SystemExit(f"error: {model_dir} is not a model folder (no config.json)")
    return lambda: model_dir, settings.served_model_name or model_dir.name
