"""Frozen settings. The only module that reads os.environ: defaults < environment < flags.

Each field's `help` metadata is its documentation and its CLI help, so defaults are written once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .admission import MAX_WAITING_DEFAULT
from .engines.base import DEVICES, DTYPES, KV_CACHE_GIB_DEFAULT
from .reasoning import PARSER_NAMES
from .streaming import MEDIA_TYPES, StreamFormat
from .toolcalls.formats import FORMATS

REASONING_FIELDS = ("both", "reasoning", "reasoning_content")
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "sagemaker-openai"
DEFAULT_MODEL_DIR = Path("/opt/ml/model")  # where SageMaker puts model data in a container

# Environment variables, one prefix beside SageMaker's own (SAGEMAKER_BIND_TO_PORT, SM_NUM_GPUS).
# Few of ours (STYLE.md asks fewer than 15; the two reasoning settings make 16, because what the
# chat layer reads must reach the packaged hosts, which read only the environment). A setting no
# SageMaker container needs is a flag only (host: containers bind every address; cache_dir: the
# demo model's; device: auto finds the GPU; service.FLAG_ONLY).
ENV = {
    "model": "SMOAI_MODEL",
    "engine": "SMOAI_ENGINE",
    "port": "SAGEMAKER_BIND_TO_PORT",
    "stream_format": "SMOAI_STREAM_FORMAT",
    "served_model_name": "SMOAI_SERVED_MODEL_NAME",
    "log_level": "SMOAI_LOG_LEVEL",
    "num_gpus": "SM_NUM_GPUS",
    "kv_cache_gib": "SMOAI_KV_CACHE_GIB",
    "max_model_len": "SMOAI_MAX_MODEL_LEN",
    "enforce_eager": "SMOAI_ENFORCE_EAGER",
    "max_waiting": "SMOAI_MAX_WAITING",
    "dtype": "SMOAI_DTYPE",
    "gpu_memory_utilization": "SMOAI_GPU_MEMORY_UTILIZATION",
    "special_tokens_in_content": "SMOAI_SPECIAL_TOKENS_IN_CONTENT",
    "tool_call_parser": "SMOAI_TOOL_CALL_PARSER",
    "reasoning_field": "SMOAI_REASONING_FIELD",
    "reasoning_parser": "SMOAI_REASONING_PARSER",
    "async_endpoint": "SMOAI_ASYNC_ENDPOINT",
    # aws/model-hosting-container-standards' names, which SageMaker's own containers read.
    "stateful_sessions": "SAGEMAKER_ENABLE_STATEFUL_SESSIONS",
    "sessions_expiration": "SAGEMAKER_SESSIONS_EXPIRATION",
    # the standard's LoRA variable for SageMaker's vLLM containers (05_lora_adapter_management.md)
    "max_loras": "SM_VLLM_MAX_LORAS",
}


@dataclass(frozen=True)
class Settings:
    model: str = field(
        default=str(DEFAULT_MODEL_DIR),
        metadata={"help": "model folder, 'demo' for the demo model, or hf://ORG/NAME[@REVISION]"},
    )
    engine: str = field(
        default="auto", metadata={"help": "transformers, vllm or auto (vllm when installed)"}
    )
    host: str = field(default="0.0.0.0", metadata={"help": "bind address"})
    port: int = field(default=8080, metadata={"help": "port"})
    stream_format: StreamFormat = field(
        default="jsonl", metadata={"help": "framing of streamed /invocations responses"}
    )
    served_model_name: str | None = field(
        default=None, metadata={"help": "`model` in responses", "default": "the folder name"}
    )
    cache_dir: Path = field(
        default=DEFAULT_CACHE_DIR, metadata={"help": "where the demo model is kept"}
    )
    log_level: str = field(default="info", metadata={"help": "debug, info, warning"})
    num_gpus: int = field(
        default=0,
        metadata={
            "help": "GPUs: tensor parallelism for the vllm engine; 0: every visible GPU the "
            "model's heads divide by"
        },
    )
    kv_cache_gib: float = field(
        default=KV_CACHE_GIB_DEFAULT,
        metadata={
            "help": "KV cache, GiB: vllm on CPU sizes its cache; transformers admits within "
            "it (on a GPU, unset: 64% of the memory free after loading)"
        },
    )
    max_model_len: int | None = field(
        default=None,
        metadata={
            "help": "context window cap, tokens",
            "default": "the model's, fitted to the KV cache",
        },
    )
    enforce_eager: bool = field(
        default=False, metadata={"help": "vllm engine: skip compilation (faster start)"}
    )
    max_waiting: int = field(
        default=MAX_WAITING_DEFAULT,
        metadata={"help": "requests that may wait for room; beyond it a 429 with Retry-After"},
    )
    drain_grace_s: float = field(
        default=6.0,
        metadata={
            "help": "on SIGTERM, seconds running requests get to finish (keep it under "
            "the platform's stop timeout: Docker's default is 10 s)"
        },
    )
    keep_alive_s: float = field(
        default=75.0,
        metadata={
            "help": "idle keep-alive connections close after this; above the 60 s idle "
            "timeout of load balancers in front"
        },
    )
    device: str = field(
        default="auto", metadata={"help": "transformers engine: cpu, cuda or auto (cuda if any)"}
    )
    dtype: str = field(
        default="auto",
        metadata={"help": "float32, bfloat16, float16 or auto (bf16 where computed natively)"},
    )
    gpu_memory_utilization: float = field(
        default=0.9, metadata={"help": "vllm engine on GPUs: share of GPU memory it may take"}
    )
    special_tokens_in_content: bool = field(
        default=False,
        metadata={
            "help": "special-token text in message content becomes special tokens, so "
            "content can open turns (the old behaviour)"
        },
    )
    tool_call_parser: str = field(
        default="auto",
        metadata={"help": "tool-call format: auto (from the chat template), " + ", ".join(FORMATS)},
    )
    reasoning_field: str = field(
        default="both",
        metadata={
            "help": "names thinking goes out under: both (reasoning and reasoning_content, "
            "equal), reasoning (vLLM's since 2026) or reasoning_content (the older name)"
        },
    )
    reasoning_parser: str = field(
        default="auto",
        metadata={
            "help": "thinking markers: auto (the chat template's, else <think>), none (no "
            "split), " + ", ".join(PARSER_NAMES[2:])
        },
    )
    async_endpoint: bool = field(
        default=False,
        metadata={"help": "an async endpoint: /invocations answers whole, even with stream"},
    )
    max_loras: int = field(
        default=0,
        metadata={"help": "LoRA adapters that may be registered at once (POST /adapters); 0: off"},
    )
    stateful_sessions: bool = field(
        default=False, metadata={"help": "SageMaker stateful sessions on /invocations"}
    )
    sessions_expiration: int = field(
        default=1200, metadata={"help": "seconds a stateful session lives"}
    )


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from a host's own `defaults`, then the environment, then flags that were
    given (None means not given)."""
    environ = os.environ if environ is None else environ
    types = {f.name: f.type for f in fields(Settings)}
    values: dict[str, Any] = dict(defaults or {})
    for name, var in ENV.items():
        if environ.get(var):
            values[name] = _convert(types[name], var, environ[var])
    for name, value in (flags or {}).items():
        if value is not None and name in types:
            # a flag's text for a folder is a Path, as the same value from the environment
            path = isinstance(value, str) and str(types[name]).startswith("Path")
            values[name] = Path(value).expanduser() if path else value
    settings = replace(Settings(), **values)
    if settings.device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {settings.device!r}")
    if settings.dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {settings.dtype!r}")
    if not 0 < settings.gpu_memory_utilization <= 1:
        raise ValueError("gpu memory utilization must be above 0 and at most 1")
    if settings.tool_call_parser not in ("auto", *FORMATS):
        raise ValueError(
            f"tool-call parser must be auto or one of {', '.join(FORMATS)}, "
            f"not {settings.tool_call_parser!r}"
        )
    _check_reasoning(settings)
    if settings.stream_format not in MEDIA_TYPES:
        raise ValueError(f"stream format must be jsonl or sse, not {settings.stream_format!r}")
    if settings.max_loras < 0:
        raise ValueError(f"max loras must be 0 (off) or more, not {settings.max_loras}")
    return settings


def _check_reasoning(settings: Settings) -> None:
    for name, allowed in (("field", REASONING_FIELDS), ("parser", PARSER_NAMES)):
        value = getattr(settings, f"reasoning_{name}")
        if value not in allowed:
            raise ValueError(f"reasoning {name} must be one of {', '.join(allowed)}, not {value!r}")


def _convert(type_name: object, var: str, raw: str) -> Any:
    text = str(type_name)
    try:
        if text.startswith("int"):
            return int(raw)
        if text.startswith("float"):
            return float(raw)
    except ValueError:
        raise ValueError(f"{var} must be a number, not {raw!r}") from None
    if text.startswith("bool"):
        if raw.lower() not in _BOOLS:
            raise ValueError(f"{var} must be true or false, not {raw!r}")
        return _BOOLS[raw.lower()]
    if text.startswith("Path"):
        return Path(raw).expanduser()
    return raw


_BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
