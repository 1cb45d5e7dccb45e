"""One request and its response as the conformance check sees them: status, body, and the
exact writes (HTTP chunks from a container, PayloadParts from an endpoint)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlsplit

from .client import EndpointClient, InvocationError


@dataclass(frozen=True)
class Exchange:
    """What came back. For an endpoint, a container error arrives as ModelError and is
    unwrapped, so `status` and `body` are the container's own."""

    status: int
    content_type: str
    parts: tuple[bytes, ...]  # one entry per HTTP chunk / PayloadPart, as framed on the wire
    sagemaker_error: str | None = None  # ValidationError etc.: SageMaker answered, not the model
    stream_error: str | None = None  # an in-stream exception event

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)


Framing = Literal["jsonl", "sse"]


class Unreachable(Exception):
    """The target cannot be sent this request at all (SageMaker forwards only invocations)."""


class Target(Protocol):
    description: str
    framing: Framing  # how this target must frame streams: jsonl, or SSE (the OpenAI route)

    def send(self, body: bytes, stream: bool) -> Exchange: ...

    def get(self, path: str) -> Exchange:
        """GET a path of the server (/v1/models...); Unreachable where it cannot be reached."""
        ...


class ContainerTarget:
    """A container's POST /invocations over plain HTTP/1.1, read chunk by chunk with h11."""

    framing: Framing = "jsonl"

    def __init__(self, url: str, timeout_s: float = 120.0):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"--url must be http://host:port, not {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.tls = False
        self.path = "/invocations"
        self.extra_headers: list[tuple[str, str]] = []
        self.timeout_s = timeout_s
        self.description = f"container {url}"

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        if self.tls:
            return ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        return sock

    def send(self, body: bytes, stream: bool) -> Exchange:
        return self._exchange("POST", self.path, body, stream)

    def get(self, path: str) -> Exchange:
        return self._exchange("GET", path, b"", False)

    def _exchange(self, method: str, path: str, body: bytes, stream: bool) -> Exchange:
        import h11

        conn = h11.Connection(our_role=h11.CLIENT)
        headers = [("Host", f"{self.host}:{self.port}"), *self.extra_headers]
        if method == "POST":
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        request = h11.Request(method=method, target=path, headers=headers)
        with self._connect() as sock:
            sock.sendall(conn.send(request) + (conn.send(h11.Data(data=body)) if body else b""))
            sock.sendall(conn.send(h11.EndOfMessage()))
            status, content_type, parts, current = 0, "", [], b""
            refused: str | None = None  # x-amzn-ErrorType: SageMaker's own refusal (the route)
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(sock.recv(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    found = dict(event.headers)
                    content_type = found.get(b"content-type", b"").decode()
                    refused = found.get(b"x-amzn-errortype", b"").decode() or None
                elif isinstance(event, h11.Data):
                    current += event.data
                    if stream and event.chunk_end:
                        parts.append(current)
                        current = b""
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    if current:
                        parts.append(current)
                    return Exchange(status, content_type, tuple(parts), refused)


class OpenAIRouteTarget(ContainerTarget):
    """SageMaker's OpenAI-compatible route (real or emulated): POST BASE_URL/chat/completions
    with a bearer token, as the `openai` client sends it; streams must be SSE there."""

    framing: Framing = "sse"

    def __init__(self, base_url: str, token: str, timeout_s: float = 120.0):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the route's base URL must be http(s)://..., not {base_url!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.path = parts.path.rstrip("/") + "/chat/completions"
        self.extra_headers = [("Authorization", f"Bearer {token}"), ("Accept", "application/json")]
        self.timeout_s = timeout_s
        self.description = f"OpenAI route {base_url}"

    def get(self, path: str) -> Exchange:
        raise Unreachable("AWS documents only chat/completions on the OpenAI route")


class EndpointTarget:
    """An endpoint through SageMaker Runtime (real, or the emulator), via boto3."""

    framing: Framing = "jsonl"

    def __init__(self, client: EndpointClient):
        self.client = client
        self.description = f"endpoint {client.endpoint_name}"

    def get(self, path: str) -> Exchange:
        raise Unreachable(
            "SageMaker Runtime forwards only invocations; check the container by --url"
        )

    def send(self, body: bytes, stream: bool) -> Exchange:
        try:
            response = self.client.send(body, stream)
        except InvocationError as error:
            return _unwrap(error)
        if not stream:
            return Exchange(200, response.get("ContentType", ""), (response["Body"].read(),))
        parts: list[bytes] = []
        try:
            for event in response["Body"]:
                if "PayloadPart" in event:
                    parts.append(event["PayloadPart"]["Bytes"])
        except Exception as error:  # botocore's EventStreamError: an in-stream exception
            return Exchange(200, response.get("ContentType", ""), tuple(parts), None, str(error))
        return Exchange(200, response.get("ContentType", ""), tuple(parts))


def _unwrap(error: InvocationError) -> Exchange:
    if error.original_status is not None:  # ModelError: the container's own status and body
        body = (error.original_message or "").encode()
        return Exchange(error.original_status, "application/json", (body,))
    return Exchange(error.status or 0, "application/json", (error.message.encode(),), error.code)
