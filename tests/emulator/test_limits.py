"""The emulator's edges: bodies over SageMaker's 6 MiB limit refused without being held, every
error in SageMaker's shape (botocore reads it), and a client that leaves closes the container's
request, with the real demo server behind it."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import botocore.model
import botocore.parsers
import httpx
import pytest
from botocore.credentials import Credentials
from botocore.loaders import Loader
from live import free_port
from local_sagemaker import emulator_for, fake_container, runtime_client, serve_app

from sagemaker_openai.bearer import generate_token

MIB = 1024 * 1024
SRC = Path(__file__).resolve().parents[2] / "src"
COUNT = [{"role": "user", "content": "Count from 1 to 300, separated by commas."}]
# The demo model's end tokens (<|endoftext|>, <|im_end|>) banned, so an answer runs to max_tokens.
NO_END = {"0": -100, "2": -100}


@pytest.fixture(scope="module")
def emulator_process() -> Iterator[tuple[str, int]]:
    """An emulator in its own process, so its memory can be read from /proc."""
    port = free_port()
    code = (
        "from sagemaker_openai.emulator.app import EmulatorConfig, run_emulator;"
        f"run_emulator(EmulatorConfig('http://127.0.0.1:9'), port={port})"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(SRC)}, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "the emulator exited"
        assert time.monotonic() < deadline, "the emulator did not start"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def _peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory: a body held even briefly raises it for good."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _mib_pieces(count: int) -> Iterator[bytes]:
    piece = b"x" * MIB
    for _ in range(count):
        yield piece


def test_a_declared_64_mib_body_is_refused_before_it_is_read(emulator_process) -> None:
    url, pid = emulator_process
    before = _peak_rss_mib(pid)
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = "POST /endpoints/demo/invocations HTTP/1.1\r\nHost: x\r\n"
        sock.sendall(f"{head}Content-Length: {64 * MIB}\r\n\r\n".encode())
        reader = sock.makefile("rb")
        status = reader.readline()  # answered with no body byte sent
        headers = dict(
            line.decode().lower().strip().split(": ", 1) for line in iter(reader.readline, b"\r\n")
        )
        body = json.loads(reader.read(int(headers["content-length"])))
        with contextlib.suppress(OSError):  # the emulator may close instead of discarding
            for piece in _mib_pieces(64):
                sock.sendall(piece)
    assert status.split()[1] == b"400", status
    assert headers["x-amzn-errortype"] == "validationerror"
    assert (
        body["Message"]
        == f"Request payload of {64 * MIB} bytes exceeds the limit of {6 * MIB} bytes."
    )
    assert _peak_rss_mib(pid) - before < 4  # nothing of the body is held


def test_a_chunked_64_mib_body_is_refused_after_6_mib_without_holding_it(
    emulator_process,
) -> None:
    url, pid = emulator_process
    before = _peak_rss_mib(pid)
    response = httpx.post(
        f"{url}/endpoints/demo/invocations-response-stream",
        content=_mib_pieces(64),  # no Content-Length: sent chunked
        timeout=120,
    )
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "ValidationError"
    assert "exceeds the limit of 6291456 bytes" in response.json()["Message"]
    grown = _peak_rss_mib(pid) - before
    assert grown < 16, f"the emulator grew by {grown:.1f} MiB"  # 64+ when it held the body


@pytest.fixture(scope="module")
def small_emulator() -> Iterator[str]:
    with serve_app(fake_container([b"{}\n"])) as container, emulator_for(container) as url:
        yield url


def _botocore_error(response: httpx.Response) -> dict:
    """The response as botocore's rest-json parser reads a sagemaker-runtime error."""
    model = botocore.model.ServiceModel(
        Loader().load_service_model("sagemaker-runtime", "service-2")
    )
    parser = botocore.parsers.create_parser(model.metadata["protocol"])
    raw = {
        "status_code": response.status_code,
        "headers": response.headers,
        "body": response.content,
    }
    return parser.parse(raw, model.operation_model("InvokeEndpoint").output_shape)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/endpoints/demo/no-such-operation", 404),
        ("GET", "/", 404),
        ("GET", "/endpoints/demo/invocations", 405),
        ("PUT", "/endpoints/demo/invocations-response-stream", 405),
    ],
)
def test_no_such_operation_is_answered_in_sagemakers_shape(
    small_emulator: str, method: str, path: str, status: int
) -> None:
    response = httpx.request(method, small_emulator + path)
    assert response.status_code == status
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert response.headers["x-amzn-RequestId"]
    assert path in response.json()["Message"]
    if status == 405:
        assert response.headers["allow"] == "POST"
    parsed = _botocore_error(response)
    assert parsed["Error"]["Code"] == "UnknownOperationException"
    assert path in parsed["Error"]["Message"]


def test_boto3_reads_the_oversized_error(small_emulator: str) -> None:
    client = runtime_client(small_emulator)
    with pytest.raises(client.exceptions.ValidationError) as caught:
        client.invoke_endpoint(EndpointName="demo", Body=b"x" * (6 * MIB + 1))
    assert "exceeds the limit" in caught.value.response["Error"]["Message"]


def _open(url: str, path: str, stream: bool, token: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(
        {
            "messages": COUNT,
            "max_tokens": 1500,
            "temperature": 0,
            "logit_bias": NO_END,
            "stream": stream,
        }
    )
    sock = socket.create_connection((host, int(port)), timeout=120)
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += f"Authorization: Bearer {token}\r\n"  # read by the OpenAI route only
    sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode())
    return sock


def _running(container: str) -> int:
    return httpx.get(container + "/ping", timeout=10).json()["running"]


def _wait_running(container: str, want, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while not want(running := _running(container)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return running


@pytest.mark.parametrize(
    ("path", "stream"),
    [
        ("invocations-response-stream", True),
        ("invocations", False),
        ("openai/v1/chat/completions", True),
        ("openai/v1/chat/completions", False),
    ],
)
def test_clients_that_leave_close_their_container_requests(
    demo_server, path: str, stream: bool
) -> None:
    container = demo_server.url
    assert _wait_running(container, lambda n: n == 0, 60) == 0  # nothing left from others
    token = generate_token(Credentials("testing", "testing"), "us-east-1")
    with emulator_for(container) as url:
        clients = [_open(url, f"/endpoints/demo/{path}", stream, token) for _ in range(4)]
        if stream:
            for sock in clients:
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")  # mid-answer
        # 1,500 tokens at a time on this machine's engine take minutes, not seconds.
        assert _wait_running(container, lambda n: n == 4, 60) == 4
        for sock in clients:
            sock.close()
        left = _wait_running(container, lambda n: n == 0, 10)
    assert left == 0, f"{left} generations still running 10 s after their clients left"
