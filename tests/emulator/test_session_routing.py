"""Stateful sessions end to end: unmodified boto3, the emulator, the real demo server started
with SageMaker's session variables as flags (--stateful-sessions, --sessions-expiration)."""

from __future__ import annotations

import json
import time

import pytest
from local_sagemaker import emulator_for, runtime_client

ASK = json.dumps({"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 4})
EXPIRES_S = 4


@pytest.fixture(scope="module")
def runtime(serve_demo):
    server = serve_demo(
        "transformers", "--stateful-sessions", "--sessions-expiration", str(EXPIRES_S)
    )
    with emulator_for(server.url) as url:
        yield runtime_client(url)


def open_session(runtime) -> str:
    response = runtime.invoke_endpoint(
        EndpointName="demo",
        SessionId="NEW_SESSION",
        Body=json.dumps({"requestType": "NEW_SESSION"}),
        ContentType="application/json",
    )
    session_id, expires = response["NewSessionId"].split("; ")
    assert expires.startswith("Expires=20") and expires.endswith("Z")
    return session_id


def test_open_use_close(runtime) -> None:
    session_id = open_session(runtime)
    answer = runtime.invoke_endpoint(EndpointName="demo", SessionId=session_id, Body=ASK)
    assert json.loads(answer["Body"].read())["object"] == "chat.completion"
    closed = runtime.invoke_endpoint(
        EndpointName="demo", SessionId=session_id, Body=json.dumps({"requestType": "CLOSE"})
    )
    assert closed["ClosedSessionId"] == session_id
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        runtime.invoke_endpoint(EndpointName="demo", SessionId=session_id, Body=ASK)
    error = caught.value.response
    assert error["OriginalStatusCode"] == 400
    assert json.loads(error["OriginalMessage"])["error"]["code"] == "session_not_found"


def test_an_expired_session_is_a_clear_400(runtime) -> None:
    session_id = open_session(runtime)
    time.sleep(EXPIRES_S + 1)  # wait past the expiry; nothing here is timed
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        runtime.invoke_endpoint(EndpointName="demo", SessionId=session_id, Body=ASK)
    error = json.loads(caught.value.response["OriginalMessage"])["error"]
    assert error["code"] == "session_expired" and session_id in error["message"]


def test_streams_in_a_session(runtime) -> None:
    session_id = open_session(runtime)
    stream = runtime.invoke_endpoint_with_response_stream(
        EndpointName="demo",
        SessionId=session_id,
        Body=json.dumps({**json.loads(ASK), "stream": True}),
    )
    parts = [e["PayloadPart"]["Bytes"] for e in stream["Body"]]
    assert json.loads(parts[-1])["choices"][0]["finish_reason"] in ("stop", "length")


def test_sessions_off_refuse_session_requests(demo_server) -> None:
    with emulator_for(demo_server.url) as url:
        runtime = runtime_client(url)
        with pytest.raises(runtime.exceptions.ModelError) as caught:
            runtime.invoke_endpoint(
                EndpointName="demo",
                SessionId="NEW_SESSION",
                Body=json.dumps({"requestType": "NEW_SESSION"}),
            )
    error = json.loads(caught.value.response["OriginalMessage"])["error"]
    assert error["param"] == "requestType" and "not enabled" in error["message"]
