"""SageMaker stateful sessions, as aws/model-hosting-container-standards defines them.

A body of exactly `{"requestType": "NEW_SESSION"}` opens a session (answer header
`X-Amzn-SageMaker-New-Session-Id: <id>; Expires=<UTC time>`); `{"requestType": "CLOSE"}` with
`X-Amzn-SageMaker-Session-Id` closes it (`X-Amzn-SageMaker-Closed-Session-Id`). Any other request
naming a session must name a live one. Unlike the standard (which answers 424 for some of these),
an unknown or expired id is always a 400, in OpenAI's error shape.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidRequest

SESSION_ID = "X-Amzn-SageMaker-Session-Id"
NEW_SESSION_ID = "X-Amzn-SageMaker-New-Session-Id"
CLOSED_SESSION_ID = "X-Amzn-SageMaker-Closed-Session-Id"
NEW_SESSION = "NEW_SESSION"
CLOSE = "CLOSE"
DEFAULT_TTL_S = 1200  # the standard's SAGEMAKER_SESSIONS_EXPIRATION default, 20 minutes


@dataclass(frozen=True)
class SessionReply:
    """The container's whole answer to a session request: a header and a line of text."""

    headers: dict[str, str]
    text: str


class Sessions:
    """Live sessions of this container, in memory (SageMaker routes a session to one instance)."""

    def __init__(
        self, enabled: bool, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.time
    ) -> None:
        self.enabled = enabled
        self.ttl_s = ttl_s
        self._clock = clock
        self._expiry: dict[str, float] = {}  # session id -> expiry, epoch seconds
        self._lock = threading.Lock()

    def handle(self, body: bytes, session_id: str | None) -> SessionReply | None:
        """Answer a session request; for any other request check its session, return None."""
        kind = _request_type(body)
        if kind is None:
            if self.enabled and session_id and session_id != NEW_SESSION:
                self._check(session_id)
            return None
        if not self.enabled:
            raise InvalidRequest(
                "Invalid payload: stateful sessions are not enabled on this endpoint "
                "(set SAGEMAKER_ENABLE_STATEFUL_SESSIONS=true).",
                param="requestType",
            )
        if kind == NEW_SESSION:
            return self._open()
        if not session_id or session_id == NEW_SESSION:
            raise InvalidRequest(
                f"Closing a session needs its id in the {SESSION_ID} header.",
                param="requestType",
            )
        self._check(session_id)
        with self._lock:
            self._expiry.pop(session_id, None)
        return SessionReply({CLOSED_SESSION_ID: session_id}, f"Session {session_id} closed")

    def _open(self) -> SessionReply:
        session_id = str(uuid.uuid4())
        expires = self._clock() + self.ttl_s
        with self._lock:
            self._forget_expired()
            self._expiry[session_id] = expires
        stamp = dt.datetime.fromtimestamp(expires, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        header = f"{session_id}; Expires={stamp}"
        return SessionReply({NEW_SESSION_ID: header}, f"Session {session_id} created")

    def _check(self, session_id: str) -> None:
        with self._lock:
            expires = self._expiry.get(session_id)
            if expires is not None and self._clock() > expires:
                del self._expiry[session_id]
                raise InvalidRequest(
                    f"Session {session_id} has expired (sessions last {self.ttl_s:.0f} s); "
                    "open a new one with requestType NEW_SESSION.",
                    code="session_expired",
                )
        if expires is None:
            raise InvalidRequest(
                f"Session {session_id} is not known to this endpoint (closed, expired, or never "
                "opened); open one with requestType NEW_SESSION.",
                code="session_not_found",
            )

    def _forget_expired(self) -> None:
        now = self._clock()
        for session_id in [s for s, t in self._expiry.items() if now > t]:
            del self._expiry[session_id]


def _request_type(body: bytes) -> str | None:
    """NEW_SESSION or CLOSE for a session request, None for anything else."""
    if b"requestType" not in body:
        return None  # a chat request: parsed (and judged) elsewhere
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or "requestType" not in data:
        return None
    if data.get("requestType") not in (NEW_SESSION, CLOSE) or len(data) != 1:
        raise InvalidRequest(
            'A session request is exactly {"requestType": "NEW_SESSION"} or '
            '{"requestType": "CLOSE"}.',
            param="requestType",
        )
    return str(data["requestType"])
