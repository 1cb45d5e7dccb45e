"""Fixtures that run the real server, with the real demo model, on a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live import RunningServer, start_server, stop, wait_ready

from sagemaker_openai.demo import ensure_demo_model
from sagemaker_openai.settings import load_settings


@pytest.fixture(scope="session")
def demo_model_dir() -> Path:
    return ensure_demo_model(load_settings().cache_dir)


@pytest.fixture(scope="session")
def serve_demo(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A factory: `serve_demo(engine)` -> a RunningServer, started once per engine per session."""
    running: dict[tuple[str, ...], RunningServer] = {}
    log_dir = tmp_path_factory.mktemp("servers")

    def get(engine: str = "transformers", *extra: str) -> RunningServer:
        key = (engine, *extra)
        if key not in running:
            process, url, log = start_server(log_dir, "--model", "demo", "--engine", engine, *extra)
            wait_ready(process, url, log)
            running[key] = RunningServer(url, log, process)
        return running[key]

    yield get
    for server in running.values():
        stop(server.process)


@pytest.fixture(scope="session")
def demo_server(serve_demo) -> RunningServer:
    """The demo model behind the transformers engine."""
    return serve_demo("transformers")


@pytest.fixture(scope="session")
def base_url(demo_server: RunningServer) -> str:
    return demo_server.url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=120) as c:
        yield c
