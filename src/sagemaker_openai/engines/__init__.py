"""Engines found by name, so heavy ones stay optional imports."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from .base import Engine

ENGINES = ("transformers", "vllm")


def available_engines() -> list[str]:
    """Engines whose backing package is installed."""
    backing = {"transformers": "transformers", "vllm": "vllm"}
    return [name for name in ENGINES if importlib.util.find_spec(backing[name]) is not None]


def resolve_engine_name(name: str) -> str:
    """`auto` picks vllm when it is installed, else transformers."""
    if name != "auto":
        if name not in ENGINES:
            raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)} or auto")
        return name
    installed = available_engines()
    return "vllm" if "vllm" in installed else "transformers"


def load_engine(name: str, model_dir: Path, *, served_name: str, **options: object) -> Engine:
    """Import `engines.<name>` and call its `load` (blocking: loads weights)."""
    module = importlib.import_module(f"{__name__}.{resolve_engine_name(name)}")
    return module.load(model_dir, served_name=served_name, **options)
