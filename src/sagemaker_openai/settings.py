"""Frozen settings. The only module that reads os.environ: defaults < environment < flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

StreamFormat = Literal["jsonl", "sse"]

# Environment variables, one prefix beside SageMaker's own (SAGEMAKER_BIND_TO_PORT, SM_NUM_GPUS).
ENV = {
    "model": "SMOAI_MODEL",
    "engine": "SMOAI_ENGINE",
    "host": "SMOAI_HOST",
    "port": "SAGEMAKER_BIND_TO_PORT",
    "stream_format": "SMOAI_STREAM_FORMAT",
    "served_model_name": "SMOAI_SERVED_MODEL_NAME",
    "cache_dir": "SMOAI_CACHE_DIR",
    "log_level": "SMOAI_LOG_LEVEL",
    "num_gpus": "SM_NUM_GPUS",
    "special_tokens_in_content": "SMOAI_SPECIAL_TOKENS_IN_CONTENT",
}


@dataclass(frozen=True)
class Settings:
    model: str = "/opt/ml/model"  # a model folder, or "demo" for the bundled demo model
    engine: str = "auto"  # transformers, vllm, or auto (vllm when installed)
    host: str = "0.0.0.0"
    port: int = 8080
    stream_format: StreamFormat = "jsonl"  # framing of streamed responses on /invocations
    served_model_name: str | None = None  # the `model` in responses; default: the folder name
    cache_dir: Path = Path.home() / ".cache" / "sagemaker-openai"  # demo model lives here
    log_level: str = "info"
    num_gpus: int = 0  # SageMaker's SM_NUM_GPUS: tensor parallelism for the vllm engine
    # true: special-token text in message content becomes special tokens (turns can be forged)
    special_tokens_in_content: bool = False


def load_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings from the environment, then flags that were given (None means not given)."""
    environ = os.environ if environ is None else environ
    types = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = {}
    for name, var in ENV.items():
        if environ.get(var):
            values[name] = _convert(types[name], environ[var])
    for name, value in (flags or {}).items():
        if value is not None and name in types:
            values[name] = value
    settings = replace(Settings(), **values)
    if settings.stream_format not in ("jsonl", "sse"):
        raise ValueError(f"stream format must be jsonl or sse, not {settings.stream_format!r}")
    return settings


def _convert(type_name: object, raw: str) -> Any:
    text = str(type_name)
    if text.startswith("int"):
        return int(raw)
    if text.startswith("bool"):
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{raw!r} is not true or false")
        return raw.lower() in ("true", "1")
    if text.startswith("Path"):
        return Path(raw).expanduser()
    return raw
