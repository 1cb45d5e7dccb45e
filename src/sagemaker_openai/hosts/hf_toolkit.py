"""Hugging Face inference toolkit handlers answering in the OpenAI Chat Completions format
(the hf-dlc target); the packaged code/inference.py is a shim over this module.

The toolkit (MMS) returns one body per request and cannot stream: a request with "stream": true
gets a 400 that names `stream`, rather than a whole completion where a client expects chunks.
The transformers engine serves unless SMOAI_ENGINE says otherwise (MMS calls one request at a
time per worker, so vLLM's batching would gain nothing); it runs on the GPU when PyTorch sees
one. Proven with the transformers versions of the default images in
tests/sagemaker/test_default_images.py.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from pathlib import Path
from typing import Any

from ..chat import ChatService
from ..service import build_service
from ..serving.invocation import Reply, invoke
from ..settings import DEFAULT_MODEL_DIR, load_settings

NO_STREAM = (
    "This endpoint runs the Hugging Face inference toolkit, which cannot stream: send "
    '"stream": false, or deploy with --target lmi or image to stream.'
)

# One loop per worker process: the engine may hold loop-bound state between requests.
_loop = asyncio.new_event_loop()


def model_fn(model_dir: str, served_name: str) -> ChatService:
    settings = load_settings(defaults={"engine": "transformers"})
    # SMOAI_MODEL names a folder where deploy mounted an S3 prefix's weights beside the code
    chosen = Path(settings.model)
    folder = chosen if chosen != DEFAULT_MODEL_DIR and chosen.is_dir() else Path(model_dir)
    return build_service(settings, folder, served_name=served_name)


def input_fn(input_data: str | bytes | bytearray, content_type: str) -> bytes:
    return input_data.encode("utf-8") if isinstance(input_data, str) else bytes(input_data)


def predict_fn(body: bytes, service: ChatService) -> Reply:
    return _loop.run_until_complete(invoke(service, body, "jsonl", no_stream=NO_STREAM))


def output_fn(reply: Reply, accept: str, context: Any) -> str:
    """`context`: the toolkit's (MMS) Context, an untyped outside object."""
    assert isinstance(reply.body, bytes)  # NO_STREAM: every reply here is whole
    if reply.status != 200:
        # MMS sends this status with our body verbatim; raising would wrap it in MMS's own shape.
        context.set_response_status(reply.status, HTTPStatus(reply.status).phrase)
    return reply.body.decode("utf-8")
