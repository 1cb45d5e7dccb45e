"""The `serve` executable SageMaker runs (`docker run IMAGE serve`), with SageMaker's defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from live import free_port, stop, wait_ready

SERVE = Path(sys.executable).parent / "serve"


def test_serve_on_path_is_this_projects() -> None:
    out = subprocess.run([SERVE, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "sagemaker-openai serve" in out.stdout


def test_serve_takes_port_and_model_from_sagemakers_environment(demo_model_dir, tmp_path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        "PATH": str(SERVE.parent),
        "HOME": str(Path.home()),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SMOAI_MODEL": str(demo_model_dir),  # stands in for /opt/ml/model
        "SMOAI_ENGINE": "transformers",
    }
    process = subprocess.Popen(
        [SERVE, "serve"], stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(process, url, log)
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        response = httpx.post(f"{url}/invocations", json=body, timeout=60)
        assert response.status_code == 200
        assert response.json()["model"] == demo_model_dir.name
    finally:
        stop(process)


def test_serve_refuses_a_folder_that_is_not_a_model(tmp_path) -> None:
    out = subprocess.run(
        [SERVE, "--model", str(tmp_path), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert "not a model folder" in out.stderr
