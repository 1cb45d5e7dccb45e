"""Errors that carry their own HTTP status and OpenAI error fields; serving/invocation.py maps
them. Every error a client can see is one of these."""

from __future__ import annotations

from typing import Any


class OpenAIError(Exception):
    """An error with OpenAI's fields: `{"error": {"message", "type", "param", "code"}}`."""

    status = 500
    type = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(OpenAIError):
    status = 400
    type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    def __init__(self, message: str, *, param: str | None = "messages"):
        super().__init__(message, param=param, code="context_length_exceeded")


class RequestTooLarge(OpenAIError):
    status = 413
    type = "invalid_request_error"

    def __init__(self, message: str):
        super().__init__(message, code="request_too_large")


class HeadTooLarge(OpenAIError):
    """A request head over the server's bounds (serving/http_server.py answers before routing)."""

    status = 431
    type = "invalid_request_error"

    def __init__(self, max_bytes: int, max_fields: int):
        super().__init__(
            f"The request head is too large: at most {max_bytes} bytes and {max_fields} "
            "header fields are accepted.",
            code="request_header_fields_too_large",
        )


class NotFound(OpenAIError):
    status = 404
    type = "invalid_request_error"


class HTTPStatusError(OpenAIError):
    """A request the HTTP layer refused before our code saw it (405, a bad header, ...)."""

    type = "invalid_request_error"

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Unavailable(OpenAIError):
    """503: this instance cannot answer now (loading, draining, or its engine stopped)."""

    status = 503


class NotReady(Unavailable):
    def __init__(self, message: str = "The model is still loading; retry once /ping returns 200."):
        super().__init__(message, code="model_not_ready")


class Busy(OpenAIError):
    """Every slot and every place in admission's queue is taken: retry shortly."""

    status = 429
    type = "requests"  # OpenAI's type and code for a request it refuses for load

    def __init__(self, waiting: int, retry_after_s: int):
        super().__init__(
            f"The server is busy: {waiting} requests are already waiting. Retry after "
            f"{retry_after_s} s.",
            code="rate_limit_exceeded",
        )
        self.headers = {"Retry-After": str(retry_after_s)}


class ShuttingDown(Unavailable):
    def __init__(self, message: str = "The server is shutting down; retry on another instance."):
        super().__init__(message, code="server_shutting_down")


class EngineDead(Unavailable):
    def __init__(self) -> None:
        super().__init__(
            "The model engine has stopped; this instance is restarting.", code="engine_dead"
        )


class InternalError(OpenAIError):
    """A fault of ours: the body says only that; the log has the traceback."""

    def __init__(self, message: str = "The server had an internal error generating a response."):
        super().__init__(message, code="internal_error")
