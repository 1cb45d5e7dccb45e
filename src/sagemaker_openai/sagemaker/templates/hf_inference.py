"""Hugging Face inference toolkit handlers answering in the OpenAI Chat Completions format.

Packaged by `sagemaker-openai package --target hf-dlc` as code/inference.py. The toolkit (MMS)
returns one body per request and cannot stream: a request with "stream": true gets a 400 that
names `stream`, rather than a whole completion where a client expects chunks.
A thin adapter: sagemaker_openai.invocation answers, this file speaks the toolkit's handlers.
The transformers engine serves (MMS calls one request at a time per worker, so vLLM's batching
would gain nothing); it runs on the GPU when PyTorch sees one. Proven with the transformers
versions of the default images in tests/sagemaker/test_default_images.py.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sagemaker_openai.chat import ChatService
from sagemaker_openai.engines import load_engine
from sagemaker_openai.invocation import invoke
from sagemaker_openai.settings import load_settings

if TYPE_CHECKING:
    from sagemaker_openai.invocation import Reply

SERVED_MODEL_NAME = "__SERVED_MODEL_NAME__"  # filled in at package time
# SMOAI_ASYNC_ENDPOINT in the model's environment: an async endpoint answers streams whole.
ASYNC_ENDPOINT = load_settings().async_endpoint
NO_STREAM = (
    "This endpoint runs the Hugging Face inference toolkit, which cannot stream: send "
    '"stream": false, or deploy with --target lmi or image to stream.'
)

# One loop per worker process: the engine may hold loop-bound state between requests.
_loop = asyncio.new_event_loop()


def model_fn(model_dir: str) -> ChatService:
    engine = load_engine("transformers", Path(model_dir), served_name=SERVED_MODEL_NAME)
    return ChatService(engine)


def input_fn(input_data: str | bytes | bytearray, content_type: str) -> bytes:
    return input_data.encode("utf-8") if isinstance(input_data, str) else bytes(input_data)


def predict_fn(body: bytes, service: ChatService) -> Reply:
    answer = invoke(service, body, "jsonl", no_stream=NO_STREAM, whole=ASYNC_ENDPOINT)
    return _loop.run_until_complete(answer)


def output_fn(reply: Reply, accept: str, context: Any) -> str:
    """`context`: the toolkit's (MMS) Context, an untyped outside object."""
    assert isinstance(reply.body, bytes)  # NO_STREAM: every reply here is whole
    if reply.status != 200:
        # MMS sends this status with our body verbatim; raising would wrap it in MMS's own shape.
        context.set_response_status(reply.status, HTTPStatus(reply.status).phrase)
    return reply.body.decode("utf-8")
