"""A typed client for chat endpoints on SageMaker (real, or the local emulator).

Streams are buffered by line, so a chunk split across payload parts, or two chunks merged in
one, still decode; jsonl and sse framing are both read.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Generator, Mapping
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

_NO_REGION = (
    "no AWS region: pass --region, or set AWS_DEFAULT_REGION or `region` in your AWS profile "
    "(~/.aws/config; AWS_REGION is not read)"
)
_NO_CREDENTIALS = (
    "no AWS credentials: run `aws configure` (or `aws sso login`), or set AWS_PROFILE or "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; for the local emulator pass --endpoint-url"
)


class InvocationError(Exception):
    """A failed call: SageMaker's error code and message, plus the container's when it gave one."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        original_status: int | None = None,
        original_message: str | None = None,
    ):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.original_status = original_status  # the container's HTTP status (ModelError)
        self.original_message = original_message  # the container's body (ModelError)

    @property
    def openai_error(self) -> dict[str, Any] | None:
        """The container's OpenAI error object, when its body was one."""
        try:
            body = json.loads(self.original_message or "")
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        return error if isinstance(error, dict) else None


class SetupError(Exception):
    """No call can be made (no region, no credentials, nothing listening); says how to fix it."""


class StreamError(InvocationError):
    """The stream failed after it started: an exception event, or an `{"error": ...}` line."""


class ChunkDecoder:
    """Bytes in any slicing -> whole chunk objects; reads jsonl and sse (`data: {...}`)."""

    def __init__(self) -> None:
        self._buffer = b""  # bytes, so a UTF-8 character split across parts stays whole
        self.done = False  # sse `data: [DONE]` seen

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        return [obj for line in lines if (obj := self._parse(line)) is not None]

    def close(self) -> list[dict[str, Any]]:
        """Whatever the stream left without a final newline."""
        line, self._buffer = self._buffer, b""
        obj = self._parse(line)
        return [] if obj is None else [obj]

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        text = line.decode("utf-8").strip()
        if not text or text.startswith(":") or text.split(":", 1)[0] in ("event", "id", "retry"):
            return None  # blank lines, sse comments and sse fields other than data
        if text.startswith("data:"):
            text = text[5:].strip()
        if text == "[DONE]":
            self.done = True
            return None
        obj = json.loads(text)
        if isinstance(obj, dict) and "error" in obj and "choices" not in obj:
            error = obj["error"] if isinstance(obj["error"], dict) else {"message": obj["error"]}
            raise StreamError(str(error.get("type") or "error"), str(error.get("message")))
        if not isinstance(obj, dict):
            raise StreamError("error", f"stream line is not a JSON object: {text[:200]}")
        return obj


class EndpointClient:
    """Chat completions against one SageMaker endpoint, by name."""

    def __init__(
        self,
        endpoint_name: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        custom_attributes: str | None = None,
        runtime: Any = None,
    ):
        self.endpoint_name = endpoint_name
        self.custom_attributes = custom_attributes  # e.g. "stream_format=sse"
        self.runtime = runtime or _runtime_client(region, endpoint_url)

    def complete(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One non-streaming call: the chat.completion object."""
        body = json.dumps({**request, "stream": False}).encode()
        response = self.send(body, stream=False)
        completion: dict[str, Any] = json.loads(response["Body"].read())
        return completion

    def stream(self, request: Mapping[str, Any]) -> Generator[dict[str, Any], None, None]:
        """One streaming call: chunk objects as they arrive."""
        decoder = ChunkDecoder()
        parts = self.stream_parts(request)
        try:
            for part in parts:
                yield from decoder.feed(part)
            yield from decoder.close()
        finally:
            parts.close()  # a reader that stops early closes the call at once, not at collection

    def stream_parts(self, request: Mapping[str, Any]) -> Generator[bytes, None, None]:
        """One streaming call: the raw bytes of each PayloadPart, as SageMaker framed them."""
        body = json.dumps({**request, "stream": True}).encode()
        response = self.send(body, stream=True)
        try:
            for event in response["Body"]:
                if "PayloadPart" in event:
                    yield event["PayloadPart"]["Bytes"]
        except ClientError as error:  # botocore's EventStreamError for exception events
            raise _stream_error(error) from None
        finally:  # also when the reader stops early (Ctrl-C): the endpoint sees the hang-up
            response["Body"].close()

    def send(self, body: bytes, stream: bool) -> dict[str, Any]:
        """One raw call: boto3's response (its Body a stream, or an event stream)."""
        method = (
            self.runtime.invoke_endpoint_with_response_stream
            if stream
            else self.runtime.invoke_endpoint
        )
        kwargs: dict[str, Any] = {
            "EndpointName": self.endpoint_name,
            "Body": body,
            "ContentType": "application/json",
        }
        if self.custom_attributes:
            kwargs["CustomAttributes"] = self.custom_attributes
        try:
            response: dict[str, Any] = method(**kwargs)
        except ClientError as error:
            raise _invocation_error(error) from None
        except EndpointConnectionError as error:
            raise SetupError(
                _unreachable(error.kwargs.get("endpoint_url", "the endpoint"))
            ) from None
        except NoCredentialsError:
            raise SetupError(_NO_CREDENTIALS) from None
        return response


def _runtime_client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    session = boto3.Session(region_name=region)
    if endpoint_url and not session.region_name:
        session = boto3.Session(region_name="us-east-1")  # a local emulator ignores the region
    if not session.region_name:
        raise SetupError(_NO_REGION)
    config = Config(read_timeout=120, retries={"max_attempts": 1})
    if session.get_credentials() is None:
        if not endpoint_url:
            raise SetupError(_NO_CREDENTIALS)  # found now, not at the first call
        config = config.merge(Config(signature_version=UNSIGNED))  # the emulator accepts any
    return session.client("sagemaker-runtime", endpoint_url=endpoint_url, config=config)


def ensure_reachable(url: str, flag: str) -> None:
    """SetupError unless something accepts a TCP connection at `url` (within 5 s)."""
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    try:
        with socket.create_connection((parts.hostname or "", parts.port or default_port), 5):
            pass
    except OSError:
        raise SetupError(_unreachable(url, flag)) from None


def _unreachable(url: str, flag: str = "--endpoint-url") -> str:
    start = (
        "`sagemaker-openai serve --model demo --emulator-port 8081` serves one"
        if flag == "--endpoint-url"
        else "`sagemaker-openai serve --model demo` serves one"
    )
    return f"nothing answers at {url}: start it ({start}) or fix {flag}"


def _invocation_error(error: ClientError) -> InvocationError:
    # A ModelError adds OriginalStatusCode and OriginalMessage, beyond botocore-stubs' keys.
    response: Mapping[str, Any] = error.response
    details = response.get("Error", {})
    return InvocationError(
        str(details.get("Code", "Unknown")),
        str(details.get("Message", "")),
        status=response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
        original_status=response.get("OriginalStatusCode"),
        original_message=response.get("OriginalMessage"),
    )


def _stream_error(error: ClientError) -> StreamError:
    details = error.response.get("Error", {})
    return StreamError(str(details.get("Code", "Unknown")), str(details.get("Message", "")))
