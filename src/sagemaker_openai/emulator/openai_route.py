"""SageMaker's OpenAI-compatible route: /endpoints/NAME[/inference-components/IC]/openai/v1/...

Authenticated with a bearer token (bearer.py), answered "as is from the container, including
streaming". What the container receives here is not documented by AWS: `openai_forward`
chooses among the plausible forms, and docs/openai-route.md says which one is which.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx
from botocore.credentials import Credentials
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..bearer import TokenError, read_token, verify_token
from .client_io import unless_disconnected
from .endpoint import Emulator, forward_headers
from .errors import ServiceError

_PATHS = {
    "invocations": "/invocations",
    "invocations-sse": "/invocations",
    "openai": "/openai/v1/chat/completions",
    "v1": "/v1/chat/completions",
}


class OpenAIRoute:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        keys = emulator.config.credentials
        self.credentials = Credentials(*keys) if keys else None

    async def chat(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        config = self.emulator.config
        try:
            self.emulator.check_endpoint(request.path_params["name"])
            self._authenticate(request.headers.get("authorization", ""))
            body = await self.emulator.accept(request, request.path_params.get("ic"))
            headers = forward_headers(request.headers, stream=False)
            if config.openai_forward == "invocations-sse":
                headers["Accept"] = "text/event-stream"
            if "ic" in request.path_params:
                headers["X-Amzn-SageMaker-Inference-Component"] = request.path_params["ic"]
            sending = self.emulator.send(
                request.path_params["name"],
                body,
                headers,
                path=_PATHS[config.openai_forward],
                check_status=False,
            )
            # A non-streaming answer's headers come only when it is whole: watch the client.
            upstream = await unless_disconnected(request, sending)
        except ServiceError as error:
            return error.to_response(request_id)
        if upstream is None:  # the client left; its container request was closed
            return Response(status_code=499)
        response_headers = {"x-amzn-RequestId": request_id}
        media_type = upstream.headers.get("content-type", "application/json")
        return StreamingResponse(
            _relay(upstream),
            status_code=upstream.status_code,
            headers=response_headers,
            media_type=media_type,
        )

    def _authenticate(self, authorization: str) -> None:
        """A bearer token must be present and well formed; signed by our keys when we have any."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ServiceError(
                401,
                "UnauthorizedException",
                "The OpenAI-compatible route needs Authorization: Bearer <token>; make one "
                "with `sagemaker-openai token` (or the SageMaker SDK's generate_token).",
            )
        try:
            if self.credentials is None:
                parsed = read_token(token.strip())
                if dt.datetime.now(dt.timezone.utc) >= parsed.expires_at:
                    raise TokenError(f"the token expired at {parsed.expires_at.isoformat()}")
            else:
                parsed = verify_token(token.strip(), self.credentials)
        except TokenError as error:
            raise ServiceError(
                403, "AccessDeniedException", f"Invalid bearer token: {error}."
            ) from None
        if parsed.region != self.emulator.config.region:
            raise ServiceError(
                403,
                "AccessDeniedException",
                f"Invalid bearer token: it is signed for {parsed.region}, this endpoint is in "
                f"{self.emulator.config.region}.",
            )


async def _relay(upstream: httpx.Response) -> AsyncIterator[bytes]:
    """The container's bytes as they come, one write per container chunk."""
    try:
        async for chunk in upstream.aiter_raw():
            if chunk:
                yield chunk
    finally:
        await upstream.aclose()
