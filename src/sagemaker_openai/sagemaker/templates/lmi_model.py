"""DJL Serving's entry point for sagemaker-openai, packaged by `sagemaker-openai package
--target lmi` as model.py: a shim over sagemaker_openai.hosts.djl, imported from the wheel
shipped beside it, so every setting reaches this host as it reaches `serve` (service.py)."""

from __future__ import annotations

from typing import Any

from sagemaker_openai.hosts.djl import DjlHandler

SERVED_MODEL_NAME = "__SERVED_MODEL_NAME__"  # filled in at package time

handler = DjlHandler(SERVED_MODEL_NAME)


def handle(inputs: Any) -> Any:
    """DJL's entry point (`option.entryPoint=model.py`, function `handle`)."""
    return handler.handle(inputs)
