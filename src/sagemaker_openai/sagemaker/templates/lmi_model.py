"""DJL Serving Python-engine handler answering in the OpenAI Chat Completions format.

Packaged by `sagemaker-openai package --target lmi` as model.py. With "stream": true it streams
one chat.completion.chunk JSON object per line, exactly as the sagemaker-openai runtime does.
A thin adapter: sagemaker_openai.invocation answers, this file speaks DJL's Input/Output in both
of DJL's modes (djl-serving engines/python/setup/djl_python, tags v0.29.0 to v0.36.0):

- async (serving.properties `option.async_mode=true`; DJL 0.35 and later): DJL awaits `handle`
  on its one event loop, so requests run concurrently and vLLM batches them. Each line is one
  Output whose content is `Output.binary_encode({"data": line, "last": ...})`.
- sync (DJL 0.34 and earlier ignore async_mode): one request at a time per worker; the lines go
  through `add_stream_content` with no output_formatter, as its default would wrap each one
  as {"outputs": ...} (and fail on bytes).

Engine `auto` by default: the image's vLLM where it is importable and supports the model,
otherwise transformers; SMOAI_ENGINE and the other SMOAI_ variables choose otherwise.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import TYPE_CHECKING

from djl_python import Input, Output

from sagemaker_openai.chat import ChatService
from sagemaker_openai.engines import load_engine
from sagemaker_openai.engines.base import EngineOptions
from sagemaker_openai.invocation import invoke
from sagemaker_openai.model_folder import djl_model_dir
from sagemaker_openai.settings import load_settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Coroutine, Iterator
    from typing import Any, TypeAlias

    # djl_python is untyped: to a type checker its Input and Output are Any
    Answer: TypeAlias = Output | AsyncIterator[Output] | None

SERVED_MODEL_NAME = "__SERVED_MODEL_NAME__"  # filled in at package time
# SMOAI_ASYNC_ENDPOINT in the model's environment: an async endpoint answers streams whole.
ASYNC_ENDPOINT = load_settings().async_endpoint

_service: ChatService | None = None
# sync mode only: our own loop, kept for the engine's loop-bound state
_sync_loop: asyncio.AbstractEventLoop | None = None


def handle(inputs: Input) -> Output | None | Coroutine[Any, Any, Answer]:
    """DJL's entry point. In async mode DJL calls it on its running loop and awaits the result."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _handle_sync(inputs)
    return _handle_async(inputs)


def _chat(inputs: Input) -> ChatService:
    """Loads the engine on DJL's first call (the start-up call, which has no content)."""
    global _service
    if _service is None:
        settings = load_settings()
        model_dir = djl_model_dir(inputs.get_properties(), settings.cache_dir)
        options = EngineOptions(
            num_gpus=settings.num_gpus,
            kv_cache_gib=settings.kv_cache_gib,
            max_model_len=settings.max_model_len,
            enforce_eager=settings.enforce_eager,
        )
        engine = load_engine(
            settings.engine, model_dir, served_name=SERVED_MODEL_NAME, options=options
        )
        _service = ChatService(engine)
    return _service


async def _handle_async(inputs: Input) -> Answer:
    service = _chat(inputs)
    if inputs.is_empty():
        return None
    body = bytes(inputs.get_as_bytes())
    reply = await invoke(service, body, "jsonl", whole=ASYNC_ENDPOINT)
    if not isinstance(reply.body, bytes):
        return _async_lines(reply.media_type, reply.body)  # a stream: always status 200
    if reply.status != 200:
        # DJL's async mode answers a `code` with its own body {"code", "error"}: our OpenAI
        # error object travels as the `error` string (AsyncRequestManager/Request.java).
        return _async_output(reply.media_type, "", last=True, code=reply.status, error=reply.body)
    return _async_output(reply.media_type, reply.body.decode("utf-8"), last=True)


async def _async_lines(media_type: str, chunks: AsyncIterator[bytes]) -> AsyncIterator[Output]:
    """One Output per line, as it comes; an empty last one ends the response."""
    async for line in chunks:
        yield _async_output(media_type, line.decode("utf-8"), last=False)
    yield _async_output(media_type, "", last=True)


def _async_output(
    media_type: str, data: str, *, last: bool, code: int | None = None, error: bytes = b""
) -> Output:
    fields: dict[str, object] = {"data": data, "last": last}
    if code is not None:
        fields["code"] = code
        fields["error"] = error.decode("utf-8")
    output = Output().add_property("Content-Type", media_type)
    return output.add(Output.binary_encode(fields))


def _handle_sync(inputs: Input) -> Output | None:
    global _sync_loop
    if _sync_loop is None:
        _sync_loop = asyncio.new_event_loop()
    service = _chat(inputs)
    if inputs.is_empty():
        return None  # DJL's start-up call
    body = bytes(inputs.get_as_bytes())
    reply = _sync_loop.run_until_complete(invoke(service, body, "jsonl", whole=ASYNC_ENDPOINT))
    output = Output(code=reply.status, message=HTTPStatus(reply.status).phrase)
    output.add_property("Content-Type", reply.media_type)
    if isinstance(reply.body, bytes):
        return output.add(reply.body)
    # None: our bytes as they are, one line per streamed frame (the default formatter would
    # JSON-encode each item as {"outputs": ...}).
    return output.add_stream_content(_sync_lines(_sync_loop, reply.body), output_formatter=None)


def _sync_lines(loop: asyncio.AbstractEventLoop, chunks: AsyncIterator[bytes]) -> Iterator[bytes]:
    """DJL pulls a sync iterator: one encoded chunk per streamed write."""
    try:
        while True:
            try:
                yield loop.run_until_complete(chunks.__anext__())
            except StopAsyncIteration:
                return
    finally:
        # invocation's streams are async generators; Reply types them as AsyncIterator
        loop.run_until_complete(chunks.aclose())  # type: ignore[attr-defined]
