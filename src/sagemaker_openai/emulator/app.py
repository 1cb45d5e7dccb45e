"""A local SageMaker Runtime API: InvokeEndpoint, InvokeEndpointWithResponseStream,
InvokeEndpointAsync and the OpenAI-compatible route.

It forwards to a container's /invocations as SageMaker does and answers with SageMaker's
headers, error shapes and event-stream framing, so unmodified SDKs can be tested before deploy.
"""

from __future__ import annotations

import socket
import threading
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .async_inference import AsyncInvocations
from .endpoint import Emulator, EmulatorConfig
from .errors import ServiceError
from .openai_route import OpenAIRoute

__all__ = ["EmulatorConfig", "create_emulator_app", "describe_emulator", "run_emulator"]


def create_emulator_app(config: EmulatorConfig) -> Starlette:
    """The Runtime API as a Starlette app, with one pooled HTTP client to the container."""
    emulator = Emulator(config)
    openai = OpenAIRoute(emulator)
    chat = "/openai/v1/chat/completions"
    routes = [
        Route("/endpoints/{name}/invocations", emulator.invoke, methods=["POST"]),
        Route(
            "/endpoints/{name}/invocations-response-stream",
            emulator.invoke_stream,
            methods=["POST"],
        ),
        Route("/endpoints/{name}" + chat, openai.chat, methods=["POST"]),
        Route("/endpoints/{name}/inference-components/{ic}" + chat, openai.chat, methods=["POST"]),
        Route(
            "/endpoints/{name}/async-invocations",
            AsyncInvocations(emulator).invoke,
            methods=["POST"],
        ),
    ]
    handlers = {HTTPException: _http_error, Exception: _internal_error}
    return Starlette(routes=routes, lifespan=emulator.lifespan, exception_handlers=handlers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own answers (no such path, wrong method) in SageMaker's error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        message = f"No operation matches {request.method} {request.url.path}."
        error = ServiceError(exc.status_code, "UnknownOperationException", message)
    else:
        error = ServiceError(exc.status_code, "ValidationError", str(exc.detail))
    response = error.to_response(str(uuid.uuid4()))
    response.headers.update(exc.headers or {})  # Allow, on a 405
    return response


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer, so uvicorn still logs the traceback.
    error = ServiceError(500, "InternalFailure", "The emulator failed; see its log.")
    return error.to_response(str(uuid.uuid4()))


def emulator_server(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 8081) -> Any:
    """A uvicorn.Server for the emulator, not yet started."""
    import uvicorn

    app = create_emulator_app(config)
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False))


def run_emulator(
    config: EmulatorConfig,
    host: str = "127.0.0.1",
    port: int = 8081,
    sock: socket.socket | None = None,
) -> None:
    """Serve the emulator until interrupted (on `sock` when given: already bound)."""
    emulator_server(config, host, port).run(sockets=[sock] if sock else None)


def start_emulator_thread(
    config: EmulatorConfig,
    host: str = "127.0.0.1",
    port: int = 8081,
    sock: socket.socket | None = None,
) -> threading.Thread:
    """Serve the emulator from a daemon thread beside a container server in the main thread.

    Pass a bound `sock` so a busy port fails in the caller, not silently in this thread."""
    server = emulator_server(config, host, port)
    sockets = [sock] if sock else None
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": sockets}, name="sagemaker-emulator", daemon=True
    )
    thread.start()
    return thread


def describe_emulator(config: EmulatorConfig, host: str, port: int) -> str:
    """One line telling the user where the emulator is and how to point an SDK at it."""
    local = "127.0.0.1" if host in ("0.0.0.0", "") else host
    names = ", ".join(config.endpoint_names)
    return (
        f"endpoints {names} at http://{local}:{port} -> {config.upstream}; point SDKs at it with "
        f"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://{local}:{port}"
    )
