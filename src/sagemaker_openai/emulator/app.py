"""A local SageMaker Runtime API: InvokeEndpoint and InvokeEndpointWithResponseStream.

It forwards to a container's /invocations as SageMaker does and answers with SageMaker's
headers, error shapes and event-stream framing, so unmodified SDKs can be tested before deploy.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .eventstream import encode_exception, encode_payload_part

Fault = Literal["none", "split", "merge"]
MAX_BODY_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's request payload limit, 6 MiB
EVENTSTREAM = "application/vnd.amazon.eventstream"

# Request headers SageMaker passes on to the container, by the name the container sees.
_FORWARDED = (
    "Content-Type",
    "Accept",
    "X-Amzn-SageMaker-Custom-Attributes",
    "X-Amzn-SageMaker-Target-Variant",
    "X-Amzn-SageMaker-Inference-Id",
    "X-Amzn-SageMaker-Inference-Component",
    "X-Amzn-SageMaker-Session-Id",
)

log = logging.getLogger("sagemaker_openai.emulator")


@dataclass(frozen=True)
class EmulatorConfig:
    """What the emulator serves and where it forwards."""

    upstream: str = "http://127.0.0.1:8080"  # the container's base URL
    endpoint_names: tuple[str, ...] = ("demo",)
    fault: Fault = "none"  # split: one chunk over two parts; merge: two chunks in one part
    timeout_s: float = 60.0  # SageMaker's limit for a container to answer, seconds
    variant: str = "AllTraffic"
    region: str = "us-east-1"
    account: str = "123456789012"


@dataclass
class ServiceError(Exception):
    """An error answered as SageMaker Runtime does: JSON body plus x-amzn-ErrorType."""

    status: int
    error_type: str
    message: str
    fields: Mapping[str, object] | None = None

    def to_response(self, request_id: str) -> Response:
        body = {"Message": self.message, **(self.fields or {})}
        headers = {"x-amzn-ErrorType": self.error_type, "x-amzn-RequestId": request_id}
        return JSONResponse(body, status_code=self.status, headers=headers)


def create_emulator_app(config: EmulatorConfig) -> Starlette:
    """The Runtime API as a Starlette app, with one pooled HTTP client to the container."""
    emulator = _Emulator(config)
    routes = [
        Route("/endpoints/{name}/invocations", emulator.invoke, methods=["POST"]),
        Route(
            "/endpoints/{name}/invocations-response-stream",
            emulator.invoke_stream,
            methods=["POST"],
        ),
    ]
    return Starlette(routes=routes, lifespan=emulator.lifespan)


class _Emulator:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.ready = False  # latched: SageMaker routes traffic once the container pings 200
        self.client: httpx.AsyncClient | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        timeout = httpx.Timeout(self.config.timeout_s, connect=5.0)
        async with httpx.AsyncClient(base_url=self.config.upstream, timeout=timeout) as client:
            # Send only what SageMaker sends: no default Accept, no compression of the stream.
            del client.headers["accept"], client.headers["accept-encoding"]
            self.client = client
            yield

    async def invoke(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            body = await self._accept(request)
            upstream = await self._send(request, body, stream=False)
            await upstream.aread()
        except ServiceError as error:
            return error.to_response(request_id)
        headers = self._response_headers(upstream, request_id)
        media_type = upstream.headers.get("content-type", "application/json")
        return Response(upstream.content, status_code=200, headers=headers, media_type=media_type)

    async def invoke_stream(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            body = await self._accept(request)
            upstream = await self._send(request, body, stream=True)
        except ServiceError as error:
            return error.to_response(request_id)
        headers = self._response_headers(upstream, request_id)
        headers["X-Amzn-SageMaker-Content-Type"] = upstream.headers.get(
            "content-type", "application/octet-stream"
        )
        frames = _frames(upstream, self.config.fault)
        return StreamingResponse(frames, status_code=200, headers=headers, media_type=EVENTSTREAM)

    async def _accept(self, request: Request) -> bytes:
        """Check the endpoint, the body size and readiness, in SageMaker's order."""
        name = request.path_params["name"]
        if name not in self.config.endpoint_names:
            message = f"Endpoint {name} of account {self.config.account} not found."
            raise ServiceError(400, "ValidationError", message)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            message = (
                f"Request payload of {len(body)} bytes exceeds the limit of {MAX_BODY_BYTES} "
                "bytes for InvokeEndpoint."
            )
            raise ServiceError(400, "ValidationError", message)
        if not await self._is_ready():
            message = (
                f"Model for endpoint {name} is not ready: the container does not ping 200 yet."
            )
            raise ServiceError(429, "ModelNotReadyException", message)
        return body

    async def _is_ready(self) -> bool:
        if not self.ready:
            assert self.client is not None
            try:
                ping = await self.client.get("/ping", timeout=2.0)
                self.ready = ping.status_code == 200
            except httpx.TransportError:
                return False
        return self.ready

    async def _send(self, request: Request, body: bytes, stream: bool) -> httpx.Response:
        """POST to the container; any non-2xx becomes ModelError before a byte is streamed."""
        assert self.client is not None
        name = request.path_params["name"]
        outgoing = self.client.build_request(
            "POST", "/invocations", content=body, headers=_forward_headers(request.headers, stream)
        )
        try:
            upstream = await self.client.send(outgoing, stream=True)
        except httpx.TimeoutException:
            timed_out = (
                "Your invocation timed out while waiting for a response from container primary."
            )
            raise self._model_error(name, 0, timed_out) from None
        except httpx.TransportError as error:
            message = f"Could not reach the container at {self.config.upstream}: {error!r}"
            raise ServiceError(500, "InternalFailure", message) from None
        if not 200 <= upstream.status_code < 300:
            text = (await upstream.aread()).decode("utf-8", "replace")
            await upstream.aclose()
            raise self._model_error(name, upstream.status_code, text)
        return upstream

    def _model_error(self, name: str, status: int, original: str) -> ServiceError:
        c = self.config
        group = f"/aws/sagemaker/Endpoints/{name}"
        kind = "client" if 400 <= status < 500 else "server"
        message = (
            f'Received {kind} error ({status}) from primary with message "{original}". See '
            f"https://{c.region}.console.aws.amazon.com/cloudwatch/home?region={c.region}"
            f"#logEventViewer:group={group} in account {c.account} for more information."
        )
        fields = {
            "OriginalStatusCode": status,
            "OriginalMessage": original,
            "LogStreamArn": f"arn:aws:logs:{c.region}:{c.account}:log-group:{group}",
            "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
        }
        return ServiceError(424, "ModelError", message, fields)

    def _response_headers(self, upstream: httpx.Response, request_id: str) -> dict[str, str]:
        headers = {
            "x-Amzn-Invoked-Production-Variant": self.config.variant,
            "x-amzn-RequestId": request_id,
        }
        attributes = upstream.headers.get("X-Amzn-SageMaker-Custom-Attributes")
        if attributes is not None:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = attributes
        return headers


def _forward_headers(incoming: Mapping[str, str], stream: bool) -> dict[str, str]:
    headers = {name: incoming[name] for name in _FORWARDED if name in incoming}
    # On the stream call the SDKs send the wanted type as X-Amzn-SageMaker-Accept.
    if stream and "X-Amzn-SageMaker-Accept" in incoming:
        headers["Accept"] = incoming["X-Amzn-SageMaker-Accept"]
    return headers


async def _frames(upstream: httpx.Response, fault: Fault) -> AsyncIterator[bytes]:
    """One PayloadPart per container chunk (or as the fault says); transport faults in-stream."""
    try:
        async for part in _parts(upstream.aiter_raw(), fault):
            yield encode_payload_part(part)
    except httpx.TimeoutException:
        message = "The container did not send the next part of its response in time."
        yield encode_exception(message, "ModelInvocationTimeExceeded")
    except httpx.TransportError as error:
        log.warning("container stream broke: %r", error)
        yield encode_exception(f"The container's response stream broke: {error}", "StreamBroken")
    finally:
        await upstream.aclose()


async def _parts(chunks: AsyncIterator[bytes], fault: Fault) -> AsyncIterator[bytes]:
    pending = b""  # merge mode: a chunk waiting for its partner
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            if fault == "split" and len(chunk) > 1:
                yield chunk[: len(chunk) // 2]
                yield chunk[len(chunk) // 2 :]
            elif fault == "merge" and not pending:
                pending = chunk
            elif fault == "merge":
                yield pending + chunk
                pending = b""
            else:
                yield chunk
    except httpx.TransportError:
        if pending:
            yield pending
        raise
    if pending:
        yield pending


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
