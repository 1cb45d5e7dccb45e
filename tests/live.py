"""Helpers for tests that run the real server: start it, wait for it, read its wire bytes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.systems import free_port  # one copy, beside the harness that also needs it

# The user's brief's example request, word for word.
SEED_REQUEST = {
    "model": "YourDefinedModel",
    "messages": [{"role": "user", "content": "hello"}],
    "stream": True,
    "temperature": 0.5,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "top_p": 1,
    "max_tokens": 4000,
}
START_TIMEOUT_S = 600  # first start may convert the demo model (~35 s) and load an engine


@dataclass(frozen=True)
class RunningServer:
    url: str
    log: Path
    process: subprocess.Popen

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(
    log_dir: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str, Path]:
    """Start `sagemaker-openai serve` on a free port; returns at once (no waiting for /ping)."""
    port = free_port()
    log = log_dir / f"server-{port}.log"
    cmd = [sys.executable, "-m", "sagemaker_openai.cli", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), *args]
    process = subprocess.Popen(
        cmd,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    return process, f"http://127.0.0.1:{port}", log


def wait_ready(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"server not ready after {START_TIMEOUT_S} s:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class ChunkedResponse:
    status: int
    headers: dict[str, str]
    chunks: list[bytes]  # one entry per HTTP chunk, exactly as framed on the wire


def post_raw(url: str, path: str, body: bytes, headers: dict[str, str] | None = None):
    """POST over a plain socket and return the response split by HTTP chunk boundaries."""
    import h11

    host, port = url.removeprefix("http://").split(":")
    conn = h11.Connection(our_role=h11.CLIENT)
    request_headers = [("Host", host), ("Content-Length", str(len(body)))]
    request_headers += [("Content-Type", "application/json")]
    request_headers += list((headers or {}).items())
    with socket.create_connection((host, int(port)), timeout=120) as sock:
        sock.sendall(conn.send(h11.Request(method="POST", target=path, headers=request_headers)))
        sock.sendall(conn.send(h11.Data(data=body)))
        sock.sendall(conn.send(h11.EndOfMessage()))
        status, response_headers, chunks, current = 0, {}, [], b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                response_headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                current += event.data
                if event.chunk_end or "chunked" not in response_headers.get(
                    "transfer-encoding", ""
                ):
                    chunks.append(current)
                    current = b""
            elif isinstance(event, h11.EndOfMessage):
                return ChunkedResponse(status, response_headers, chunks)


# The one tool the tool tests offer (a city name, bounded so a constrained call ends soon).
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
