"""The Hugging Face inference toolkit's handlers for sagemaker-openai, packaged by
`sagemaker-openai package --target hf-dlc` as code/inference.py: a shim over
sagemaker_openai.hosts.hf_toolkit, imported from the wheel shipped beside it, so every setting
reaches this host as it reaches `serve` (service.py). The toolkit calls these by name and
counts their arguments (handler_service.py, sagemaker-huggingface-inference-toolkit 2.6.0)."""

from __future__ import annotations

from typing import Any

from sagemaker_openai.hosts import hf_toolkit

SERVED_MODEL_NAME = "__SERVED_MODEL_NAME__"  # filled in at package time


def model_fn(model_dir: str) -> Any:
    return hf_toolkit.model_fn(model_dir, SERVED_MODEL_NAME)


def input_fn(input_data: Any, content_type: str) -> bytes:
    return hf_toolkit.input_fn(input_data, content_type)


def predict_fn(body: bytes, service: Any) -> Any:
    return hf_toolkit.predict_fn(body, service)


def output_fn(reply: Any, accept: str, context: Any) -> str:
    return hf_toolkit.output_fn(reply, accept, context)
