"""DJL Serving Python-engine handler answering in the OpenAI Chat Completions format.

Packaged by `sagemaker-openai package --target lmi` as model.py. With "stream": true it streams
one chat.completion.chunk JSON object per line, exactly as the sagemaker-openai runtime does.
"""

import asyncio
import json
import logging
from pathlib import Path

from djl_python import Input, Output

from sagemaker_openai.chat import ChatService
from sagemaker_openai.engines import load_engine
from sagemaker_openai.errors import InternalError, OpenAIError
from sagemaker_openai.protocol import parse_request
from sagemaker_openai.streaming import encode_chunk

SERVED_MODEL_NAME = "__SERVED_MODEL_NAME__"  # filled in at package time

log = logging.getLogger(__name__)
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
    try:
        request = parse_request(bytes(inputs.get_as_bytes()))
        if request.stream:
            return _stream(_service, request)
        body = _loop.run_until_complete(_service.complete(request))
    except OpenAIError as error:
        return _error(error)
    except Exception:
        log.exception("chat completion failed")
        return _error(InternalError("the model failed to generate a completion"))
    return _json_output(body)


def _stream(service, request):
    chunks = service.stream(request)
    # Errors before the first chunk (context too long, ...) get a status, not a stream line.
    first = _loop.run_until_complete(chunks.__anext__())
    output = Output().add_property("content-type", "application/jsonlines")
    output.add_stream_content(_lines(chunks, first))
    return output


def _lines(chunks, first):
    """One chat.completion.chunk per line, one line per streamed write."""
    yield encode_chunk(first, "jsonl")
    try:
        while True:
            try:
                chunk = _loop.run_until_complete(chunks.__anext__())
            except StopAsyncIteration:
                return
            yield encode_chunk(chunk, "jsonl")
    except OpenAIError as error:
        yield encode_chunk(error.to_dict(), "jsonl")
    except Exception:
        log.exception("stream failed")
        yield encode_chunk(InternalError("the stream failed").to_dict(), "jsonl")
    finally:
        _loop.run_until_complete(chunks.aclose())


def _error(error):
    return _json_output(error.to_dict(), code=error.status, message=error.type)


def _json_output(obj, code=200, message="OK"):
    output = Output(code=code, message=message)
    output.add_property("content-type", "application/json")
    output.add(json.dumps(obj, ensure_ascii=False))
    return output
