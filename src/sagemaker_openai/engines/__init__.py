"""Engines found by name, so heavy ones stay optional imports."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
from pathlib import Path

from .base import Engine, EngineOptions

log = logging.getLogger(__name__)

ENGINES = ("transformers", "vllm")


def available_engines() -> list[str]:
    """Engines whose backing package is installed."""
    backing = {"transformers": "transformers", "vllm": "vllm"}
    return [name for name in ENGINES if importlib.util.find_spec(backing[name]) is not None]


def resolve_engine_name(name: str) -> str:
    """`auto` picks vllm when it is installed, else transformers (see also `load_engine`)."""
    if name != "auto":
        if name not in ENGINES:
            raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)} or auto")
        return name
    installed = available_engines()
    return "vllm" if "vllm" in installed else "transformers"


def load_engine(
    name: str,
    model_dir: Path,
    *,
    served_name: str,
    options: EngineOptions | None = None,
    **fields: object,
) -> Engine:
    """Import `engines.<name>` and call its `load` (blocking: loads weights).

    Options come as an EngineOptions or as its fields; an unknown field is a ValueError.
    `auto` falls back to transformers when vLLM does not support the model's architecture;
    that check imports vLLM (seconds), so it happens here, off the serving thread.
    """
    known = {f.name for f in dataclasses.fields(EngineOptions)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"unknown engine option(s): {', '.join(unknown)}")
    options = dataclasses.replace(options or EngineOptions(), **fields)  # type: ignore[arg-type]
    chosen = resolve_engine_name(name)
    if name == "auto" and chosen == "vllm":
        from . import vllm

        if not vllm.supports(model_dir):
            log.info("vLLM does not support %s; using the transformers engine", model_dir)
            chosen = "transformers"
    module = importlib.import_module(f"{__name__}.{chosen}")
    engine: Engine = module.load(model_dir, served_name=served_name, options=options)
    return engine
