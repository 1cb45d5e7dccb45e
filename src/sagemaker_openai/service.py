"""The one builder of the chat service from settings, for every host: `serve`, the lmi
target's model.py (DJL) and the hf-dlc target's inference.py (the HF inference toolkit).

A setting reaches every host by construction: engine and chat options are filled by name from
`Settings`, so a new setting named as an `EngineOptions` or `ChatOptions` field needs no wiring;
any other setting must be named below as the service's own or as one a host applies itself
(tests/test_hosts_settings.py fails for a setting that is neither).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .admission import Admission
from .chat import ChatOptions, ChatService
from .engines import load_engine
from .engines.base import Engine, EngineOptions
from .settings import Settings

# Settings the builder reads beside the options' fields.
SERVICE_SETTINGS = ("engine", "served_model_name", "max_waiting")

# Options with no environment variable, so `serve`'s flags only, and why a container needs none.
FLAG_ONLY = {"device": "auto takes the GPU where PyTorch sees one, the CPU elsewhere"}

# Settings a host applies itself, not the service, and why the packaged hosts do not.
HOST_SETTINGS = {
    "model": "the packaged hosts load the folder DJL or the toolkit hands them (model_dir)",
    "host": "DJL and the toolkit bind their own HTTP servers",
    "port": "DJL and the toolkit bind SAGEMAKER_BIND_TO_PORT themselves",
    "stream_format": "lmi streams JSON lines, DJL's framing; hf-dlc cannot stream",
    "log_level": "DJL and the toolkit configure logging",
    "cache_dir": "the demo model's cache: `serve --model demo` only",
    "drain_grace_s": "DJL and the toolkit handle SIGTERM",
    "keep_alive_s": "DJL and the toolkit own their connections",
    "stateful_sessions": "sessions are answered by `serve`'s HTTP routes",
    "sessions_expiration": "sessions are answered by `serve`'s HTTP routes",
}


def _by_name(
    options: type[EngineOptions] | type[ChatOptions], settings: Settings
) -> dict[str, object]:
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(options)}


def engine_options(settings: Settings) -> EngineOptions:
    return EngineOptions(**_by_name(EngineOptions, settings))  # type: ignore[arg-type]


def chat_options(settings: Settings) -> ChatOptions:
    return ChatOptions(**_by_name(ChatOptions, settings))  # type: ignore[arg-type]


def chat_service(engine: Engine, settings: Settings) -> ChatService:
    """The chat service on a loaded engine: chat options and admission from `settings`."""
    admission = Admission(engine.card.token_capacity, settings.max_waiting)
    return ChatService(engine, admission, chat_options(settings))


def build_service(settings: Settings, model_dir: Path, *, served_name: str) -> ChatService:
    """Load the engine `settings` name on `model_dir` and build the service on it (blocking).

    `served_name`: `model` in responses; SMOAI_SERVED_MODEL_NAME wins where it is set."""
    engine = load_engine(
        settings.engine,
        model_dir,
        served_name=settings.served_model_name or served_name,
        options=engine_options(settings),
    )
    return chat_service(engine, settings)
