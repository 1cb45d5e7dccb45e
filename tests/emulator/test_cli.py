"""One command for a whole local endpoint, and `emulate` on its own, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
from live import free_port, start_server, stop, wait_ready
from local_sagemaker import runtime_client

ASK = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 4}


def _wait_port(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the process exited"
        try:
            httpx.post(f"{url}/endpoints/x/invocations", content=b"{}", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listening at {url}")


def test_serve_with_emulator_port_is_one_local_endpoint(tmp_path, monkeypatch) -> None:
    port = free_port()
    process, url, log = start_server(
        tmp_path,
        *("--model", "demo", "--engine", "transformers"),  # the emulator's wiring, any engine
        *("--emulator-port", str(port), "--endpoint-name", "mine"),
    )
    try:
        wait_ready(process, url, log)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{port}")
        response = runtime_client().invoke_endpoint_with_response_stream(
            EndpointName="mine", Body=json.dumps({**ASK, "stream": True})
        )
        parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    finally:
        stop(process)
    assert all(json.loads(part)["object"] == "chat.completion.chunk" for part in parts)
    assert f"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME=http://127.0.0.1:{port}" in log.read_text()


def test_emulate_command_serves_named_endpoints(demo_server) -> None:
    port = free_port()
    command = [sys.executable, "-m", "sagemaker_openai.cli", "emulate", "--port", str(port)]
    command += ["--upstream", demo_server.url, "--endpoint-name", "a", "--endpoint-name", "b"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_port(url, process)
        client = runtime_client(url)
        for name in ("a", "b"):
            body = client.invoke_endpoint(EndpointName=name, Body=json.dumps(ASK))["Body"]
            assert json.loads(body.read())["object"] == "chat.completion"
    finally:
        stop(process)
