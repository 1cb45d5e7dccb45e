"""One invocation: body bytes and a framing in, a reply out. Every host adapts this one core
(the Starlette server, DJL's LMI handler, the Hugging Face toolkit's handlers), so a rule of
the wire contract is written once, and so is the one mapping of errors to OpenAI's shape."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..chat import ChatService
from ..engines.base import AdapterMissing
from ..errors import InternalError, InvalidRequest, OpenAIError
from ..planning import Plan
from ..protocol import ChatCompletionRequest, parse_request
from ..streaming import MEDIA_TYPES, StreamFormat, encode_chunk, encode_stream, prepend
from .adapters import AdapterNotFound, pick_adapter
from .sessions import Sessions

log = logging.getLogger(__name__)

JSON = "application/json"
SAGEMAKER_SYNC_LIMIT_S = 60  # real SageMaker cuts non-streaming invocations after 60 s
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# One thread plans every request (parse, template, tokenize), in arrival order, as `vllm serve`
# renders in one (vllm 0.32.0, config/model.py: renderer_num_workers = 1). In asyncio's default
# executor (6 threads on 2 cores) a burst of 64 requests reached the engine over 368-621 ms
# against vllm serve's 77-85 ms: planners and the event loop took turns holding the GIL, and
# every request's plan finished late instead of the first ones early.
PLANNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planning")


@dataclass(frozen=True)
class Reply:
    """What a host sends back: a whole body, or chunks written one per write."""

    status: int
    media_type: str
    body: bytes | AsyncIterator[bytes]
    headers: Mapping[str, str] = field(default_factory=dict)


async def invoke(
    chat: ChatService,
    body: bytes,
    fmt: StreamFormat,
    *,
    no_stream: str | None = None,
    tool_choice: str | None = None,
    whole: bool | None = None,
    adapter: str | None = None,
) -> Reply:
    """Answer one chat request. `no_stream`: why this host cannot stream (refused with 400).
    `tool_choice`: the custom attribute of that name (see `require_a_call`).
    `whole`: an async endpoint, whose answer is one S3 object: streams come back whole (None:
    as the service's `async_endpoint` option says).
    `adapter`: the X-Amzn-SageMaker-Adapter-Identifier header (adapters.py).

    Decoding, templating and tokenizing run in the planning thread (PLANNER), so the event loop
    (and /ping) never waits on a big body. A stream's first chunk is awaited here, so a refusal by
    admission or by the engine is an error status, never a 200 that then fails."""
    if whole is None:
        whole = chat.options.async_endpoint
    try:
        prepare = functools.partial(_prepare, chat, body, no_stream, tool_choice, whole, adapter)
        context = contextvars.copy_context()  # as asyncio.to_thread passes it
        request, plan = await asyncio.get_running_loop().run_in_executor(
            PLANNER, context.run, prepare
        )
        if request.stream:
            chunks = chat.stream(plan)
            first = await anext(chunks)
            stream = guarded(encode_stream(prepend(first, chunks), fmt), fmt)
            return Reply(200, MEDIA_TYPES[fmt], stream, STREAM_HEADERS)
        started = time.perf_counter()
        completion = await chat.complete(plan)
    except Exception as exc:
        return error_reply(exc)
    _warn_if_slow(time.perf_counter() - started)
    return Reply(200, JSON, encode_json(completion))


def _prepare(
    chat: ChatService,
    body: bytes,
    no_stream: str | None,
    tool_choice: str | None,
    whole: bool,
    adapter: str | None,
) -> tuple[ChatCompletionRequest, Plan]:
    request = parse_request(body)
    if tool_choice is not None:
        request = require_a_call(request, tool_choice)
    if request.stream and whole:
        request = request.model_copy(update={"stream": False, "stream_options": None})
    if request.stream and no_stream is not None:
        raise InvalidRequest(no_stream, param="stream")
    model = request.model if isinstance(request.model, str) else None
    named = pick_adapter(chat.engine.adapters, adapter, model)
    return request, chat.plan(request, named)


def require_a_call(request: ChatCompletionRequest, attribute: str) -> ChatCompletionRequest:
    """Custom attribute `tool_choice=required`: tool_choice "auto" (or absent) becomes "required"
    on turns that do not answer a tool result, so a model too small to choose a tool still calls
    one for agents that always send "auto" (Strands). After a tool result it answers freely,
    which ends the loop (the OpenAI Agents SDK resets tool_choice the same way)."""
    if attribute != "required":
        raise InvalidRequest(
            f"The custom attribute tool_choice may only be 'required', not {attribute!r}.",
            param="tool_choice",
        )
    answering_a_tool = request.messages[-1].role == "tool"
    if request.tools and request.tool_choice in (None, "auto") and not answering_a_tool:
        return request.model_copy(update={"tool_choice": "required"})
    return request


def session_reply(sessions: Sessions, body: bytes, session_id: str | None) -> Reply | None:
    """A session request's whole answer; None for a chat request (whose session is live)."""
    try:
        answer = sessions.handle(body, session_id)
    except OpenAIError as exc:
        return error_reply(exc)
    if answer is None:
        return None
    return Reply(200, "text/plain; charset=utf-8", answer.text.encode(), answer.headers)


def error_reply(exc: BaseException) -> Reply:
    """The one mapping: our errors keep their fields; anything else is one internal error."""
    if isinstance(exc, AdapterMissing):  # unregistered while its request waited for room
        exc = AdapterNotFound(exc.name)
    if not isinstance(exc, OpenAIError):
        log.error("request failed", exc_info=exc)
        exc = InternalError()
    return Reply(exc.status, JSON, encode_json(exc.to_dict()), getattr(exc, "headers", {}))


async def guarded(stream: AsyncIterator[bytes], fmt: StreamFormat) -> AsyncIterator[bytes]:
    """After the first byte, a failure ends the stream with one error object."""
    try:
        async for data in stream:
            yield data
    except OpenAIError as exc:
        yield encode_chunk(exc.to_dict(), fmt)
    except Exception:
        log.exception("stream failed")
        yield encode_chunk(InternalError().to_dict(), fmt)


def encode_json(obj: Any) -> bytes:
    """A whole JSON body, compact and UTF-8 (what Starlette's JSONResponse writes)."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")


def _warn_if_slow(elapsed: float) -> None:
    if elapsed > SAGEMAKER_SYNC_LIMIT_S:
        log.warning(
            "a non-streaming completion took %.0f s; SageMaker cuts InvokeEndpoint at %d s: "
            "stream long answers or lower max_tokens",
            elapsed,
            SAGEMAKER_SYNC_LIMIT_S,
        )
