"""Fixtures that run the real server, with the real demo model, on a real socket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from live import RunningServer, start_server, stop, wait_ready

from sagemaker_openai.demo import ensure_demo_model
from sagemaker_openai.settings import load_settings


@pytest.fixture(scope="session")
def demo_model_dir() -> Path:
    return ensure_demo_model(load_settings().cache_dir)


# The servers `serve_demo` started, by (engine, *flags). The default transformers server is
# shared by the whole session; any other lives until the end of the module that asked for it:
# kept for the session, the vLLM servers (4 GiB of KV cache each) and a dozen transformers ones
# left a later vLLM start a few GiB, and its worker took 5 to 13 minutes to import from a
# thrashing page cache (fresh-clone runs here: server logs of test_lifecycle and check).
_RUNNING: dict[tuple[str, ...], RunningServer] = {}
_SHARED = ("transformers",)


@pytest.fixture(scope="session")
def serve_demo(demo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A factory: `serve_demo(engine, *flags)` -> a RunningServer, started once per module
    (the default `serve_demo()` once per session)."""
    log_dir = tmp_path_factory.mktemp("servers")

    def get(engine: str = "transformers", *extra: str) -> RunningServer:
        key = (engine, *extra)
        if key not in _RUNNING:
            process, url, log = start_server(log_dir, "--model", "demo", "--engine", engine, *extra)
            wait_ready(process, url, log)
            _RUNNING[key] = RunningServer(url, log, process)
        return _RUNNING[key]

    yield get
    _stop_servers(lambda key: True)


@pytest.fixture(scope="module", autouse=True)
def _module_servers() -> Iterator[None]:
    yield
    _stop_servers(lambda key: key != _SHARED)


def _stop_servers(which: Callable[[tuple[str, ...]], bool]) -> None:
    for key in [key for key in _RUNNING if which(key)]:
        stop(_RUNNING.pop(key).process)


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
