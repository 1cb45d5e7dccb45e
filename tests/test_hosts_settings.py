"""Every setting reaches every host: `serve`, the lmi model.py (DJL's Input, djl_stub/ after
djl-serving v0.36.0) and the hf-dlc inference.py (the HF inference toolkit's handler functions).

Generated from the settings list: a setting with an environment variable is either built into
the service by service.py (checked here on each host) or named in service.HOST_SETTINGS with
the reason the packaged hosts leave it to their model server; a new setting that is neither, or
that has no sample value below, fails `test_every_setting_is_accounted_for`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live import start_server, stop, wait_ready

from sagemaker_openai.chat import ChatOptions, ChatService
from sagemaker_openai.engines import load_engine
from sagemaker_openai.engines.base import Engine, EngineOptions
from sagemaker_openai.service import FLAG_ONLY, HOST_SETTINGS, SERVICE_SETTINGS
from sagemaker_openai.settings import ENV, Settings, load_settings

STUB = Path(__file__).parent / "sagemaker" / "djl_stub"

# A value other than the default for each setting with an environment variable.
SAMPLES = {
    "model": "/models/other",
    "engine": "transformers",
    "port": "9090",
    "stream_format": "sse",
    "served_model_name": "renamed",
    "log_level": "debug",
    "num_gpus": "2",
    "kv_cache_gib": "1.5",
    "max_model_len": "64",
    "enforce_eager": "true",
    "max_waiting": "7",
    "dtype": "float32",
    "gpu_memory_utilization": "0.5",
    "special_tokens_in_content": "true",
    "tool_call_parser": "mistral",
    "reasoning_parser": "none",
    "reasoning_field": "reasoning",
    "async_endpoint": "true",
    "stateful_sessions": "true",
    "sessions_expiration": "60",
    "max_loras": "3",
}
BUILT = sorted(
    {f.name for f in dataclasses.fields(EngineOptions)}
    | {f.name for f in dataclasses.fields(ChatOptions)}
    | set(SERVICE_SETTINGS)
)


def test_every_setting_is_accounted_for() -> None:
    for name in ENV:
        assert name in SAMPLES, f"give {name} a sample value in SAMPLES"
        assert (name in BUILT) != (name in HOST_SETTINGS), (
            f"{name}: built into the service (an EngineOptions or ChatOptions field, or "
            "SERVICE_SETTINGS) or applied by the host (HOST_SETTINGS), exactly one"
        )
    every = {f.name for f in dataclasses.fields(Settings)}
    assert set(BUILT) <= every, "an option field with no setting of that name"
    # the packaged hosts read only the environment: a built setting without a variable would
    # reach `serve` alone
    assert {n for n in BUILT if n not in ENV} == set(FLAG_ONLY)
    for name in ENV:
        default = getattr(Settings(), name)
        assert getattr(load_settings({}, {ENV[name]: SAMPLES[name]}), name) != default, name


@dataclasses.dataclass
class Loaded:
    """What a host asked the engine loader for, and the service it built."""

    name: str
    served_name: str
    options: EngineOptions
    service: ChatService | None = None


@pytest.fixture(scope="module")
def demo_engine(demo_model_dir: Path) -> Iterator[Engine]:
    engine = load_engine("transformers", demo_model_dir, served_name="demo")
    yield engine
    engine.close()


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch, demo_engine: Engine) -> list[Loaded]:
    """Records service.py's call to the engine loader, which answers with the real demo engine
    (loaded once: the options are what is under test, not loading)."""
    seen: list[Loaded] = []

    def load(name: str, model_dir: Path, *, served_name: str, options: EngineOptions) -> Engine:
        seen.append(Loaded(name, served_name, options))
        return demo_engine

    monkeypatch.setattr("sagemaker_openai.service.load_engine", load)
    return seen


def _serve_host(model_dir: Path) -> ChatService:
    from sagemaker_openai.cli import build_parser
    from sagemaker_openai.cli.serve import service_builder
    from sagemaker_openai.model_folder import resolve_model

    args = build_parser().parse_args(["serve", "--model", str(model_dir)])
    settings = load_settings(vars(args))
    return service_builder(settings, resolve_model(settings.model, settings.cache_dir))()


def _lmi_host(model_dir: Path) -> ChatService:
    sys.path.insert(0, str(STUB))
    try:
        import djl_frontend

        from sagemaker_openai.hosts.djl import DjlHandler

        handler = DjlHandler("demo-served")
        handler.handle(djl_frontend.request_input(None, str(model_dir)))  # DJL's start-up call
    finally:
        sys.path.remove(str(STUB))
    assert handler.service is not None
    return handler.service


def _hf_dlc_host(model_dir: Path) -> ChatService:
    from sagemaker_openai.hosts.hf_toolkit import model_fn

    return model_fn(str(model_dir), "demo-served")


HOSTS: dict[str, Callable[[Path], ChatService]] = {
    "serve": _serve_host,
    "lmi": _lmi_host,
    "hf-dlc": _hf_dlc_host,
}


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("name", [n for n in ENV if n in BUILT])
def test_setting_reaches_the_host(
    name: str, host: str, loads: list[Loaded], demo_model_dir: Path, monkeypatch
) -> None:
    for var in ENV.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(ENV[name], SAMPLES[name])
    service = HOSTS[host](demo_model_dir)
    [loaded] = loads
    expected = getattr(load_settings({}, {ENV[name]: SAMPLES[name]}), name)
    reached: dict[str, Any] = {
        "engine": loaded.name,
        "served_model_name": loaded.served_name,
        "max_waiting": service.admission.max_waiting,
        **dataclasses.asdict(loaded.options),
        **dataclasses.asdict(service.options),
    }
    assert reached[name] == expected


# What the issue asks each host to show, with the real engine: special-token text in content
# counts as special tokens only when asked, and a context cap turns a long prompt into a 400.
SPECIAL = {"SMOAI_SPECIAL_TOKENS_IN_CONTENT": "true", "SMOAI_MAX_MODEL_LEN": "64"}
MARKED = {"messages": [{"role": "user", "content": "<|im_start|>hi"}], "max_tokens": 2}
LONG = {"messages": [{"role": "user", "content": "word " * 120}], "max_tokens": 2}


def check_settings_honoured(send: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]) -> int:
    """The prompt_tokens of MARKED; asserts the 400 for LONG."""
    status, body = send(LONG)
    assert status == 400, body
    assert body["error"]["code"] == "context_length_exceeded"
    status, body = send(MARKED)
    assert status == 200, body
    return int(body["usage"]["prompt_tokens"])


@pytest.fixture(scope="session")
def plain_prompt_tokens(demo_server) -> int:
    """MARKED's prompt tokens with default settings: the special-token text counted as text."""
    reply = httpx.post(f"{demo_server.url}/invocations", json=MARKED, timeout=120)
    return int(reply.json()["usage"]["prompt_tokens"])


def test_serve_honours_the_settings(plain_prompt_tokens: int, tmp_path: Path) -> None:
    process, url, log = start_server(
        tmp_path, "--model", "demo", "--engine", "transformers", env=SPECIAL
    )
    try:
        wait_ready(process, url, log)

        def send(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            reply = httpx.post(f"{url}/invocations", json=body, timeout=120)
            return reply.status_code, reply.json()

        assert check_settings_honoured(send) < plain_prompt_tokens
    finally:
        stop(process)
