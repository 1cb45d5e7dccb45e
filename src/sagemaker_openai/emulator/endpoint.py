"""The emulated endpoint: its configuration, SageMaker's checks in SageMaker's order, the
pooled client to the container, and InvokeEndpoint and InvokeEndpointWithResponseStream."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Literal

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .client_io import read_body, unless_disconnected
from .errors import ServiceError, model_error, validation_error
from .eventstream import Fault, relay_frames

# Where the OpenAI route's requests reach the container; AWS does not document it (docs/).
OpenAIForward = Literal["invocations", "invocations-sse", "openai", "v1"]
MAX_BODY_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's request payload limit, 6 MiB
EVENTSTREAM = "application/vnd.amazon.eventstream"

COMPONENT_HEADER = "X-Amzn-SageMaker-Inference-Component"
ADAPTER_HEADER = "X-Amzn-SageMaker-Adapter-Identifier"  # model-hosting-container-standards
# Request headers SageMaker passes on to the container, by the name the container sees.
_FORWARDED = (
    "Content-Type",
    "Accept",
    "X-Amzn-SageMaker-Custom-Attributes",
    "X-Amzn-SageMaker-Target-Variant",
    "X-Amzn-SageMaker-Inference-Id",
    COMPONENT_HEADER,
    "X-Amzn-SageMaker-Session-Id",
)
# Response headers SageMaker passes back from the container (custom attributes, sessions).
_RETURNED = (
    "X-Amzn-SageMaker-Custom-Attributes",
    "X-Amzn-SageMaker-New-Session-Id",
    "X-Amzn-SageMaker-Closed-Session-Id",
)


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
    # Inference components on the endpoint(s); when any, every call must name one.
    inference_components: tuple[str, ...] = ()
    # Adapter components (name, the adapter's folder) on the base component's container:
    # registered there once it is ready, and named to it in X-Amzn-SageMaker-Adapter-Identifier.
    adapter_components: tuple[tuple[str, str], ...] = ()
    openai_forward: OpenAIForward = "invocations"
    # (access key id, secret): bearer tokens must be signed with it; None checks shape only.
    credentials: tuple[str, str] | None = None
    # Async inference: where SageMaker writes results; None: no async endpoint.
    async_output_path: str | None = None  # s3://bucket/prefix
    async_failure_path: str | None = None
    s3_endpoint_url: str | None = None  # a local S3 stand-in (moto); None: real S3


class Emulator:
    """The shared part: endpoint checks, readiness, and the pooled client to the container."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.ready = False  # latched: SageMaker routes traffic once the container pings 200
        self.client: httpx.AsyncClient | None = None
        self._adapters = dict(config.adapter_components)
        self._registered: set[str] = set()  # adapter components the container has loaded

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
            body = await self.accept(request)
            headers = forward_headers(request.headers, stream=False)
            upstream = await unless_disconnected(
                request, self.send_and_read(request.path_params["name"], body, headers)
            )
        except ServiceError as error:
            return error.to_response(request_id)
        if upstream is None:  # the client left; its container request was closed
            return Response(status_code=499)
        headers = self._response_headers(upstream, request_id)
        media_type = upstream.headers.get("content-type", "application/json")
        return Response(upstream.content, status_code=200, headers=headers, media_type=media_type)

    async def invoke_stream(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            body = await self.accept(request)
            headers = forward_headers(request.headers, stream=True)
            upstream = await unless_disconnected(
                request, self.send(request.path_params["name"], body, headers)
            )
        except ServiceError as error:
            return error.to_response(request_id)
        if upstream is None:  # the client left before the container answered
            return Response(status_code=499)
        # From here StreamingResponse cancels the relay when the client leaves (ASGI 2.3),
        # and the relay's `finally` closes the container's stream.
        headers = self._response_headers(upstream, request_id)
        headers["X-Amzn-SageMaker-Content-Type"] = upstream.headers.get(
            "content-type", "application/octet-stream"
        )
        frames = relay_frames(upstream, self.config.fault)
        return StreamingResponse(frames, status_code=200, headers=headers, media_type=EVENTSTREAM)

    async def accept(
        self, request: Request, component: str | None = None, limit: int = MAX_BODY_BYTES
    ) -> bytes:
        """Check the endpoint, its component, the body size and readiness, in SageMaker's order."""
        name = request.path_params["name"]
        self.check_endpoint(name)
        if component is None:
            component = request.headers.get("X-Amzn-SageMaker-Inference-Component")
        self.check_component(name, component)
        body = await read_body(request, limit)
        await self.check_ready(name)
        return body

    def check_endpoint(self, name: str) -> None:
        if name not in self.config.endpoint_names:
            message = f"Endpoint {name} of account {self.config.account} not found."
            raise validation_error(message)

    def check_component(self, name: str, component: str | None) -> None:
        """Endpoints with components need one named; endpoints without take none."""
        known = (*self.config.inference_components, *self._adapters)
        if component is None and known:
            raise validation_error(
                f"Endpoint {name} hosts inference components: name one with "
                "InferenceComponentName (X-Amzn-SageMaker-Inference-Component)."
            )
        if component is not None and component not in known:
            raise validation_error(f"Inference component {component} not found on endpoint {name}.")

    async def check_ready(self, name: str) -> None:
        if not await self._is_ready():
            message = (
                f"Model for endpoint {name} is not ready: the container does not ping 200 yet."
            )
            raise ServiceError(429, "ModelNotReadyException", message)
        await self._register_adapters(name)

    async def _register_adapters(self, name: str) -> None:
        """What SageMaker does once an adapter component is created on a ready base: register
        the adapter with the container (aws/model-hosting-container-standards' POST /adapters),
        named as the component. Real SageMaker first downloads its ArtifactUrl; here `src` is a
        local folder already."""
        assert self.client is not None
        for adapter, src in self._adapters.items():
            if adapter in self._registered:
                continue
            reply = await self.client.post("/adapters", json={"name": adapter, "src": src})
            if reply.status_code != 200:
                raise self.model_error(name, reply.status_code, reply.text)
            self._registered.add(adapter)

    async def _is_ready(self) -> bool:
        if not self.ready:
            assert self.client is not None
            try:
                ping = await self.client.get("/ping", timeout=2.0)
                self.ready = ping.status_code == 200
            except httpx.TransportError:
                return False
        return self.ready

    async def send(
        self,
        name: str,
        body: bytes,
        headers: Mapping[str, str],
        path: str = "/invocations",
        check_status: bool = True,
        timeout_s: float | None = None,
    ) -> httpx.Response:
        """POST to the container; any non-2xx becomes ModelError before a byte is streamed
        (unless `check_status` is off: the OpenAI route hands the container's answer back as is).
        """
        assert self.client is not None
        timeout = httpx.Timeout(timeout_s, connect=5.0) if timeout_s else httpx.USE_CLIENT_DEFAULT
        component = headers.get(COMPONENT_HEADER)
        if component in self._adapters:  # the base component's container, told which adapter
            headers = {**headers, ADAPTER_HEADER: component}
        outgoing = self.client.build_request(
            "POST", path, content=body, headers=dict(headers), timeout=timeout
        )
        try:
            upstream = await self.client.send(outgoing, stream=True)
        except httpx.TimeoutException:
            timed_out = (
                "Your invocation timed out while waiting for a response from container primary."
            )
            raise self.model_error(name, 0, timed_out) from None
        except httpx.TransportError as error:
            message = f"Could not reach the container at {self.config.upstream}: {error!r}"
            raise ServiceError(500, "InternalFailure", message) from None
        if check_status and not 200 <= upstream.status_code < 300:
            text = (await upstream.aread()).decode("utf-8", "replace")
            await upstream.aclose()
            raise self.model_error(name, upstream.status_code, text)
        return upstream

    async def send_and_read(
        self, name: str, body: bytes, headers: Mapping[str, str]
    ) -> httpx.Response:
        upstream = await self.send(name, body, headers)
        await upstream.aread()
        return upstream

    def model_error(self, name: str, status: int, original: str) -> ServiceError:
        return model_error(name, status, original, self.config.region, self.config.account)

    def _response_headers(self, upstream: httpx.Response, request_id: str) -> dict[str, str]:
        headers = {
            "x-Amzn-Invoked-Production-Variant": self.config.variant,
            "x-amzn-RequestId": request_id,
        }
        for name in _RETURNED:
            value = upstream.headers.get(name)
            if value is not None:
                headers[name] = value
        return headers


def forward_headers(incoming: Mapping[str, str], stream: bool) -> dict[str, str]:
    """The request headers SageMaker passes to the container, by the names it sees."""
    headers = {name: incoming[name] for name in _FORWARDED if name in incoming}
    # On the stream call the SDKs send the wanted type as X-Amzn-SageMaker-Accept.
    if stream and "X-Amzn-SageMaker-Accept" in incoming:
        headers["Accept"] = incoming["X-Amzn-SageMaker-Accept"]
    return headers
