"""DJL Serving's Python engine answering in the OpenAI Chat Completions format (the lmi target).

The packaged model.py is a shim over this module. With "stream": true it streams one
chat.completion.chunk JSON object per line, exactly as the sagemaker-openai runtime does.
sagemaker_openai.serving.invocation answers; this module speaks DJL's Input/Output in both of DJL's
modes (djl-serving engines/python/setup/djl_python, tags v0.29.0 to v0.36.0):

- async (serving.properties `option.async_mode=true`; DJL 0.35 and later): DJL awaits `handle`
  on its one event loop, so requests run concurrently and vLLM batches them. Each line is one
  Output whose content is `Output.binary_encode({"data": line, "last": ...})`.
- sync (DJL 0.34 and earlier ignore async_mode): one request at a time per worker; the lines go
  through `add_stream_content` with no output_formatter, as its default would wrap each one
  as {"outputs": ...} (and fail on bytes).

Engine `auto` by default: the image's vLLM where it is importable and supports the model,
otherwise transformers; SMOAI_ENGINE and the other settings choose otherwise (service.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from djl_python import Input, Output

from ..chat import ChatService
from ..model_folder import djl_model_dir
from ..service import build_service
from ..serving.invocation import invoke
from ..settings import Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Coroutine, Iterator
    from typing import TypeAlias

    # djl_python is untyped: to a type checker its Input and Output are Any
    Answer: TypeAlias = Output | AsyncIterator[Output] | None


class DjlHandler:
    """One model server's handler: the service is built on DJL's first (start-up) call."""

    def __init__(self, served_name: str, settings: Settings | None = None):
        self.served_name = served_name
        self.settings = settings  # None: read on the first call, from the container's environment
        self.service: ChatService | None = None
        self._sync_loop: asyncio.AbstractEventLoop | None = None  # sync mode: our own loop

    def handle(self, inputs: Input) -> Output | None | Coroutine[Any, Any, Answer]:
        """DJL's entry point. In async mode DJL calls it on its running loop and awaits it."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._handle_sync(inputs)
        return self._handle_async(inputs)

    def _chat(self, inputs: Input) -> ChatService:
        if self.service is None:
            properties = inputs.get_properties()
            settings = with_djl_parallelism(self.settings or load_settings(), properties)
            model_dir = djl_model_dir(properties, settings.cache_dir)  # option.model_id too
            self.service = build_service(settings, model_dir, served_name=self.served_name)
        return self.service

    async def _handle_async(self, inputs: Input) -> Answer:
        service = self._chat(inputs)
        if inputs.is_empty():
            return None
        reply = await invoke(service, bytes(inputs.get_as_bytes()), "jsonl")
        if not isinstance(reply.body, bytes):
            return _async_lines(reply.media_type, reply.body)  # a stream: always status 200
        if reply.status != 200:
            # DJL's async mode answers a `code` with its own body {"code", "error"}: our OpenAI
            # error object travels as the `error` string (AsyncRequestManager/Request.java).
            return _async_output(
                reply.media_type, "", last=True, code=reply.status, error=reply.body
            )
        return _async_output(reply.media_type, reply.body.decode("utf-8"), last=True)

    def _handle_sync(self, inputs: Input) -> Output | None:
        if self._sync_loop is None:
            self._sync_loop = asyncio.new_event_loop()
        loop = self._sync_loop
        service = self._chat(inputs)
        if inputs.is_empty():
            return None  # DJL's start-up call
        reply = loop.run_until_complete(invoke(service, bytes(inputs.get_as_bytes()), "jsonl"))
        output = Output(code=reply.status, message=HTTPStatus(reply.status).phrase)
        output.add_property("Content-Type", reply.media_type)
        if isinstance(reply.body, bytes):
            return output.add(reply.body)
        # None: our bytes as they are, one line per streamed frame (the default formatter
        # would JSON-encode each item as {"outputs": ...}).
        return output.add_stream_content(_sync_lines(loop, reply.body), output_formatter=None)


def with_djl_parallelism(settings: Settings, properties: dict[str, str]) -> Settings:
    """DJL's `tensor_parallel_degree` (serving.properties `option.tensor_parallel_degree`, or
    OPTION_TENSOR_PARALLEL_DEGREE) as the GPU count where SM_NUM_GPUS gave none. "max" or -1
    (LMI's default) leave it to the engine, which takes every visible GPU."""
    degree = properties.get("tensor_parallel_degree", "")
    if settings.num_gpus or not degree.isdigit() or int(degree) < 1:
        return settings
    return dataclasses.replace(settings, num_gpus=int(degree))


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
