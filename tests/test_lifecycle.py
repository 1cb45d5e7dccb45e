"""The server's life beyond single requests, with the real demo model through real HTTP: a
drain on SIGTERM, /ping that tells the truth about the engine, an event loop that never blocks,
and limits on slow or oversized request heads."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from live import free_port, start_server, stop, wait_ready

from sagemaker_openai.engines import available_engines, load_engine
from sagemaker_openai.service import chat_service
from sagemaker_openai.serving.http_server import HEAD_TIMEOUT_S, MAX_HEAD_BYTES
from sagemaker_openai.serving.server import create_app
from sagemaker_openai.settings import load_settings

SETTINGS = load_settings({})

COUNT = [{"role": "user", "content": "Count from 1 to 300, separated by commas."}]
GRACE_S = 4.0


def _open_stream(url: str, max_tokens: int) -> tuple[socket.socket, Any]:
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(
        {"messages": COUNT, "max_tokens": max_tokens, "temperature": 0, "stream": True}
    )
    sock = socket.create_connection((host, int(port)), timeout=60)
    head = "POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode())
    return sock, sock.makefile("rb")


def _read_chunked(reader: Any) -> list[bytes]:
    """The chunks of a chunked response body, to its end."""
    chunks = []
    while True:
        size = int(reader.readline().strip(), 16)
        if size == 0:
            return chunks
        chunks.append(reader.read(size))
        reader.readline()


def test_sigterm_drains_running_streams_then_exits(tmp_path: Path) -> None:
    process, url, log = start_server(
        tmp_path, "--model", "demo", "--engine", "transformers", "--drain-grace-s", str(GRACE_S)
    )
    try:
        wait_ready(process, url, log)
        # 4 streams end within the grace period, 4 run far beyond it (greedy counting to 1000)
        streams = [_open_stream(url, 12 if i < 4 else 1000) for i in range(8)]
        for _, reader in streams:
            while reader.readline() not in (b"\r\n", b""):  # status line and headers
                pass
        process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        assert httpx.get(f"{url}/ping", timeout=5).status_code == 503
        refused = httpx.post(f"{url}/invocations", json={"messages": COUNT}, timeout=5)
        assert refused.status_code == 503 and refused.json()["error"]["code"]
        for sock, reader in streams:
            lines = b"".join(_read_chunked(reader)).splitlines()
            last = json.loads(lines[-1])
            errors = [line for line in lines if b'"error"' in line]
            if "error" in last:
                assert errors == [lines[-1]], lines[-3:]  # one error line, the last
                assert last["error"]["type"] == "server_error"
            else:
                assert errors == [] and last["choices"][0]["finish_reason"] in ("stop", "length")
            sock.close()
        process.wait(timeout=GRACE_S + 30)
        exited = time.monotonic() - sent
        print(f"exited {exited:.1f} s after SIGTERM (grace {GRACE_S} s)")
        assert exited < GRACE_S + 15  # grace, then ending streams and closing the engine
    finally:
        stop(process)


def test_a_5_9_mib_prompt_never_blocks_ping(demo_server) -> None:
    url = demo_server.url
    prompt = "word " * (int(5.9 * 1024 * 1024) // 5)
    answer: list[httpx.Response] = []

    def send() -> None:
        body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": 1}
        answer.append(httpx.post(f"{url}/invocations", json=body, timeout=120))

    sender = threading.Thread(target=send)
    sender.start()
    slowest = 0.0
    while sender.is_alive():
        started = time.perf_counter()
        assert httpx.get(f"{url}/ping", timeout=10).status_code == 200
        slowest = max(slowest, time.perf_counter() - started)
        time.sleep(0.05)
    sender.join()
    print(f"slowest /ping during a 5.9 MiB prompt: {slowest * 1000:.0f} ms")
    assert answer[0].status_code == 400
    assert answer[0].json()["error"]["code"] == "context_length_exceeded"
    assert slowest < 2.0  # SageMaker's health check limit, generously above what is measured


def test_an_oversized_head_gets_431_and_a_slow_one_is_closed(demo_server) -> None:
    host, port = demo_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MAX_HEAD_BYTES + b"\r\n")
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 431"), head[:100]
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        fields = b"".join(b"X-%d: 1\r\n" % i for i in range(200))
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 431")
    with socket.create_connection((host, int(port)), timeout=HEAD_TIMEOUT_S + 30) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /ping HTTP/1.1\r\n")
        closed = False
        while time.monotonic() < started + HEAD_TIMEOUT_S + 20:
            try:
                sock.sendall(b"X-a: b\r\n")  # a header a second: slowloris
            except OSError:
                closed = True
                break
            time.sleep(1)
        assert closed, "a trickled request head was never cut off"
    assert httpx.get(f"{demo_server.url}/ping").status_code == 200


def test_one_connection_carries_requests_whose_heads_arrive_in_pieces(demo_server) -> None:
    """The head guard counts each request's head anew: on one kept-alive connection, a head
    split across reads (its end in the same read as the body) and a second request both pass."""
    host, port = demo_server.url.removeprefix("http://").split(":")
    body = json.dumps({"messages": COUNT, "max_tokens": 2, "temperature": 0}).encode()
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        reader = sock.makefile("rb")
        for _ in range(2):
            sock.sendall(head[:20])
            time.sleep(0.3)
            sock.sendall(head[20:] + body)
            assert reader.readline().startswith(b"HTTP/1.1 200"), "a split head was refused"
            length = 0
            while (line := reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            assert json.loads(reader.read(length))["object"] == "chat.completion"


def test_a_dead_vllm_engine_core_turns_ping_503_and_exits_non_zero(tmp_path: Path) -> None:
    if "vllm" not in available_engines():
        pytest.skip("vllm is not installed")
    process, url, log = start_server(
        tmp_path, "--model", "demo", "--engine", "vllm", "--enforce-eager"
    )
    try:
        wait_ready(process, url, log)
        children = psutil.Process(process.pid).children(recursive=True)
        assert children, "vLLM's engine core runs as a child process"
        for child in children:
            child.kill()
        killed = time.monotonic()
        while time.monotonic() < killed + 10:
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 503:
                    break
            except httpx.TransportError:
                break  # already shutting down
            time.sleep(0.1)
        else:
            pytest.fail("/ping still 200 10 s after the engine core died")
        print(f"/ping stopped answering 200 {time.monotonic() - killed:.1f} s after the kill")
        assert process.wait(timeout=60) != 0
    finally:
        stop(process)


def test_a_broken_transformers_worker_turns_ping_503_and_stops(demo_model_dir: Path) -> None:
    import uvicorn

    engine = load_engine("transformers", demo_model_dir, served_name="demo")
    failed = threading.Event()
    app = create_app(SETTINGS, lambda: chat_service(engine, SETTINGS), on_load_failure=failed.set)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _ping_is(url, 200):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        # A fault in the worker loop itself (not in one sequence, which the loop survives): its
        # inbox breaks, then the idle worker is woken and its next look at the inbox fails.
        scheduler = engine._scheduler  # type: ignore[attr-defined]
        inbox, scheduler._inbox = scheduler._inbox, _BrokenQueue()
        inbox.put(None)
        broken = time.monotonic()
        while not _ping_is(url, 503):
            assert time.monotonic() < broken + 10, "/ping still 200 after the worker died"
            time.sleep(0.1)
        assert failed.wait(5)  # the builder's cue to exit non-zero
        assert not engine.alive
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class _BrokenQueue:
    def empty(self) -> bool:
        raise RuntimeError("the worker loop's inbox is broken")

    def qsize(self) -> int:
        return 0


def _ping_is(url: str, status: int) -> bool:
    try:
        return httpx.get(f"{url}/ping", timeout=2).status_code == status
    except httpx.TransportError:
        return False
