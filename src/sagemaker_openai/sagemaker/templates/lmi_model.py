"""DJL Serving Python-engine handler answering in the OpenAI Chat Completions format.

Packaged by `sagemaker-openai package --target lmi` as model.py. With "stream": true it streams
one chat.completion.chunk JSON object per line, exactly as the sagemaker-openai runtime does.
A thin adapter: sagemaker_openai.invocation answers, this file speaks DJL's Input/Output.
"""

import asyncio
from http import HTTPStatus
from pathlib import Path

from djl_python import Input, Output

from sagemaker_openai.chat import ChatService
from sagemaker_openai.engines import load_engine
from sagemaker_openai.invocation import invoke

SERVED_MODEL_NAME = "__SERVED_MODEL_NAME__"  # filled in at package time

# One loop per worker process: the engine may hold loop-bound state between requests.
_loop = asyncio.new_event_loop()
_service = None


def handle(inputs: Input):
    global _service
    if _service is None:
        model_dir = Path(inputs.get_properties().get("model_dir", "/opt/ml/model"))
        engine = load_engine("transformers", model_dir, served_name=SERVED_MODEL_NAME)
        _service = ChatService(engine)
    if inputs.is_empty():
        return None  # DJL's warm-up call at start-up
    reply = _loop.run_until_complete(invoke(_service, bytes(inputs.get_as_bytes()), "jsonl"))
    output = Output(code=reply.status, message=HTTPStatus(reply.status).phrase)
    output.add_property("content-type", reply.media_type)
    if isinstance(reply.body, bytes):
        output.add(reply.body)
    else:
        output.add_stream_content(_writes(reply.body))
    return output


def _writes(chunks):
    """DJL pulls a sync iterator: one encoded chunk per streamed write."""
    try:
        while True:
            try:
                yield _loop.run_until_complete(chunks.__anext__())
            except StopAsyncIteration:
                return
    finally:
        _loop.run_until_complete(chunks.aclose())
