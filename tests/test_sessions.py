"""The session store on its own; the wire behaviour is proven through the server and emulator."""

from __future__ import annotations

import json

import pytest

from sagemaker_openai.errors import InvalidRequest
from sagemaker_openai.serving.sessions import CLOSED_SESSION_ID, NEW_SESSION_ID, Sessions

NEW = json.dumps({"requestType": "NEW_SESSION"}).encode()
CLOSE = json.dumps({"requestType": "CLOSE"}).encode()
CHAT = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def opened(sessions: Sessions) -> str:
    reply = sessions.handle(NEW, "NEW_SESSION")
    assert reply is not None
    return reply.headers[NEW_SESSION_ID].split(";")[0]


def test_open_use_close() -> None:
    clock = Clock()
    sessions = Sessions(True, ttl_s=60, clock=clock)
    reply = sessions.handle(NEW, "NEW_SESSION")
    assert reply is not None
    session_id, expires = reply.headers[NEW_SESSION_ID].split("; ")
    assert expires == "Expires=2027-01-15T08:01:00Z"  # 1_800_000_060 in UTC
    assert sessions.handle(CHAT, session_id) is None
    closed = sessions.handle(CLOSE, session_id)
    assert closed is not None and closed.headers == {CLOSED_SESSION_ID: session_id}
    with pytest.raises(InvalidRequest) as caught:
        sessions.handle(CHAT, session_id)
    assert caught.value.code == "session_not_found"


def test_expired_session_is_a_400_that_says_so() -> None:
    clock = Clock()
    sessions = Sessions(True, ttl_s=60, clock=clock)
    session_id = opened(sessions)
    clock.now += 61
    with pytest.raises(InvalidRequest) as caught:
        sessions.handle(CHAT, session_id)
    assert caught.value.status == 400 and caught.value.code == "session_expired"
    assert "expired" in caught.value.message


def test_unknown_session_on_close() -> None:
    with pytest.raises(InvalidRequest, match="not known"):
        Sessions(True).handle(CLOSE, "no-such-session")


@pytest.mark.parametrize(
    "body", [{"requestType": "OPEN"}, {"requestType": "NEW_SESSION", "extra": 1}]
)
def test_malformed_session_requests_name_request_type(body: dict) -> None:
    with pytest.raises(InvalidRequest) as caught:
        Sessions(True).handle(json.dumps(body).encode(), None)
    assert caught.value.param == "requestType"


def test_disabled_sessions_refuse_session_requests_only() -> None:
    sessions = Sessions(False)
    assert sessions.handle(CHAT, "whatever") is None
    with pytest.raises(InvalidRequest, match="not enabled"):
        sessions.handle(NEW, "NEW_SESSION")
