"""Hugging Face inference toolkit handlers answering in the OpenAI Chat Completions format.

Packaged by `sagemaker-openai package --target hf-dlc` as code/inference.py. The toolkit (MMS)
returns one body per request and cannot stream: a request with "stream": true gets a 400 that
names `stream`, rather than a whole completion where a client expects chunks.
"""

import asyncio
import json
import logging
from pathlib import Path

from sagemaker_openai.chat import ChatService
from sagemaker_openai.engines import load_engine
from sagemaker_openai.errors import InternalError, InvalidRequest, OpenAIError
from sagemaker_openai.protocol import parse_request

SERVED_MODEL_NAME = "__SERVED_MODEL_NAME__"  # filled in at package time

log = logging.getLogger(__name__)
# One loop per worker process: the engine may hold loop-bound state between requests.
_loop = asyncio.new_event_loop()


def model_fn(model_dir):
    engine = load_engine("transformers", Path(model_dir), served_name=SERVED_MODEL_NAME)
    return ChatService(engine)


def input_fn(input_data, content_type):
    body = input_data.encode("utf-8") if isinstance(input_data, str) else bytes(input_data)
    try:
        return parse_request(body)
    except OpenAIError as error:
        return error  # answered by output_fn with its own status


def predict_fn(request, service):
    if isinstance(request, OpenAIError):
        return request
    if request.stream:
        # MMS cannot stream; a whole completion where chunks were asked for would break clients.
        return InvalidRequest(
            "This endpoint runs the Hugging Face inference toolkit, which cannot stream: send "
            '"stream": false, or deploy with --target lmi or image to stream.',
            param="stream",
        )
    try:
        return _loop.run_until_complete(service.complete(request))
    except OpenAIError as error:
        return error
    except Exception:
        log.exception("chat completion failed")
        return InternalError("the model failed to generate a completion")


def output_fn(prediction, accept, context):
    if isinstance(prediction, OpenAIError):
        # MMS sends this status with our body verbatim; raising would wrap it in MMS's own shape.
        context.set_response_status(prediction.status, prediction.type)
        return json.dumps(prediction.to_dict())
    return json.dumps(prediction, ensure_ascii=False)
