"""Requests to prompts and sampling parameters; engine steps to OpenAI objects."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any, cast

from . import __version__
from .engines.base import Engine, SamplingParams, Step, TokenLogprob
from .errors import ContextLengthExceeded, InvalidRequest
from .prompt import encode_prompt
from .protocol import (
    ChatCompletion,
    ChatCompletionChoice,
    ChatCompletionChunk,
    ChatCompletionChunkChoice,
    ChatCompletionRequest,
    Usage,
)


@dataclass(frozen=True)
class Plan:
    """One validated request, ready for the engine: one SamplingParams per choice."""

    id: str
    created: int
    prompt: list[int]
    choices: tuple[SamplingParams, ...]
    include_usage: bool


class ChatService:
    """OpenAI chat completions on top of one engine."""

    def __init__(self, engine: Engine, *, literal_content: bool = True):
        self.engine = engine
        self.literal_content = literal_content  # special-token text in content is text
        card = engine.card
        digest = hashlib.sha256(f"{__version__}:{card.name}:{type(engine).__name__}".encode())
        self.fingerprint = "fp_" + digest.hexdigest()[:10]

    def plan(self, request: ChatCompletionRequest) -> Plan:
        """Validate what the engine must honour, render and tokenize the prompt."""
        card = self.engine.card
        _check_features(request, card.features)
        _check_logit_bias(request.logit_bias, card.vocab_size)
        messages = [_template_message(i, m) for i, m in enumerate(request.messages)]
        prompt = encode_prompt(card, messages, self.engine.encode, literal=self.literal_content)
        max_tokens = _completion_budget(len(prompt), request.completion_limit, card.context_length)
        params = SamplingParams(
            max_tokens=max_tokens,
            temperature=1.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            presence_penalty=request.presence_penalty or 0.0,
            frequency_penalty=request.frequency_penalty or 0.0,
            stop=request.stop_sequences,
            seed=request.seed,
            logprobs=(request.top_logprobs or 0) if request.logprobs else None,
            logit_bias={int(k): v for k, v in (request.logit_bias or {}).items()},
            response_format=_structured_format(request.response_format),
        )
        n = request.n or 1
        # Choice i samples with seed + i: n distinct choices, each one repeatable.
        choices = tuple(
            params if params.seed is None else replace(params, seed=params.seed + i)
            for i in range(n)
        )
        return Plan(
            id=f"chatcmpl-{uuid.uuid4().hex}",
            created=int(time.time()),
            prompt=prompt,
            choices=choices,
            include_usage=bool(request.stream_options and request.stream_options.include_usage),
        )

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion:
        """A whole `chat.completion` object."""
        plan = self.plan(request)
        results = await asyncio.gather(
            *(_collect(self.engine.generate(plan.prompt, p)) for p in plan.choices)
        )
        choices: list[ChatCompletionChoice] = []
        completion_tokens = 0
        for index, (text, tokens, finish, logprobs) in enumerate(results):
            completion_tokens += tokens
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": _logprobs(logprobs, plan.choices[index]),
                    "finish_reason": finish,
                }
            )
        return {
            "id": plan.id,
            "object": "chat.completion",
            "created": plan.created,
            "model": self.engine.card.name,
            "system_fingerprint": self.fingerprint,
            "choices": choices,
            "usage": _usage(len(plan.prompt), completion_tokens),
        }

    def stream(self, request: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        """`chat.completion.chunk` objects in order; validation errors raise before the first."""
        return self._chunks(self.plan(request))

    async def _chunks(self, plan: Plan) -> AsyncIterator[ChatCompletionChunk]:
        for index in range(len(plan.choices)):
            yield self._chunk(plan, [_choice(index, {"role": "assistant", "content": ""})])
        completion_tokens = 0
        async for index, step in _merge(self.engine, plan):
            if step.text or step.logprobs:
                delta = {"content": step.text}
                yield self._chunk(plan, [_choice(index, delta, step, plan.choices[index])])
            if step.finish_reason:
                completion_tokens += step.completion_tokens
                final = _choice(index, {"content": ""}, finish_reason=step.finish_reason)
                yield self._chunk(plan, [final])
        if plan.include_usage:
            yield self._chunk(plan, [], _usage(len(plan.prompt), completion_tokens))

    def _chunk(
        self, plan: Plan, choices: list[ChatCompletionChunkChoice], usage: Usage | None = None
    ) -> ChatCompletionChunk:
        chunk: dict[str, Any] = {
            "id": plan.id,
            "object": "chat.completion.chunk",
            "created": plan.created,
            "model": self.engine.card.name,
            "system_fingerprint": self.fingerprint,
        }
        if plan.include_usage:  # every chunk but the last: "usage": null, as OpenAI sends
            chunk["usage"] = usage  # wire order: usage, then choices
        chunk["choices"] = choices
        return cast(ChatCompletionChunk, chunk)


async def _merge(engine: Engine, plan: Plan) -> AsyncIterator[tuple[int, Step]]:
    """Steps of all choices as they come, tagged with the choice index."""
    if len(plan.choices) == 1:
        async for step in engine.generate(plan.prompt, plan.choices[0]):
            yield 0, step
        return
    queue: asyncio.Queue[tuple[int, Step] | BaseException] = asyncio.Queue()

    async def pump(index: int, params: SamplingParams) -> None:
        try:
            async for step in engine.generate(plan.prompt, params):
                queue.put_nowait((index, step))
        except Exception as exc:  # handed to the consumer, which raises it
            queue.put_nowait(exc)

    tasks = [asyncio.create_task(pump(i, p)) for i, p in enumerate(plan.choices)]
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            if item[1].finish_reason:
                remaining -= 1
            yield item
    finally:
        for task in tasks:
            task.cancel()


async def _collect(steps: AsyncIterator[Step]) -> tuple[str, int, str, list[TokenLogprob]]:
    parts: list[str] = []
    logprobs: list[TokenLogprob] = []
    last = Step(text="", completion_tokens=0, finish_reason="stop")
    async for step in steps:
        parts.append(step.text)
        logprobs.extend(step.logprobs)
        last = step
    return "".join(parts), last.completion_tokens, last.finish_reason or "stop", logprobs


def _choice(
    index: int,
    delta: dict[str, Any],
    step: Step | None = None,
    params: SamplingParams | None = None,
    finish_reason: str | None = None,
) -> ChatCompletionChunkChoice:
    logprobs = _logprobs(list(step.logprobs), params) if step and params else None
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}


def _logprobs(entries: list[TokenLogprob], params: SamplingParams) -> dict[str, Any] | None:
    if params.logprobs is None:
        return None
    return {
        "content": [
            {
                "token": e.token,
                "logprob": e.logprob,
                "bytes": e.bytes,
                "top_logprobs": [
                    {"token": t, "logprob": lp, "bytes": b} for t, lp, b in e.top_logprobs
                ],
            }
            for e in entries
        ],
        "refusal": None,
    }


def _usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _template_message(index: int, message: Any) -> dict[str, Any]:
    """A message as chat templates expect it: string content, developer as system."""
    content = message.content
    if isinstance(content, list):
        for j, part in enumerate(content):
            if part["type"] != "text":
                raise InvalidRequest(
                    f"Content parts of type '{part['type']}' are not supported by this model; "
                    "only 'text' parts are.",
                    param=f"messages[{index}].content[{j}].type",
                )
        content = "\n".join(part["text"] for part in content)
    if content is None and not (message.role == "assistant" and message.tool_calls):
        raise InvalidRequest(
            f"messages[{index}].content may be null only for an assistant message with tool_calls.",
            param=f"messages[{index}].content",
        )
    out: dict[str, Any] = {
        "role": "system" if message.role == "developer" else message.role,
        "content": content or "",
    }
    for key in ("name", "tool_calls", "tool_call_id"):
        if getattr(message, key) is not None:
            out[key] = getattr(message, key)
    return out


def _check_features(request: ChatCompletionRequest, features: frozenset[str]) -> None:
    """Parameters this engine cannot honour are refused, never silently ignored."""

    def refuse(param: str, what: str) -> None:
        raise InvalidRequest(
            f"{what} is not supported by this endpoint's engine; remove '{param}'.", param=param
        )

    if request.logprobs and "logprobs" not in features:
        refuse("logprobs", "Returning logprobs")
    if request.logit_bias and "logit_bias" not in features:
        refuse("logit_bias", "logit_bias")
    fmt = (request.response_format or {}).get("type", "text")
    if fmt != "text" and "response_format" not in features:
        refuse("response_format", f"response_format of type '{fmt}'")
    if request.tools:
        refuse("tools", "Tool calling")
    if request.tool_choice not in (None, "none", "auto"):
        refuse("tool_choice", "tool_choice without tools")


def _check_logit_bias(bias: dict[str, float] | None, vocab_size: int) -> None:
    """Keys (digits, checked by protocol) must be token ids of this model; before a stream."""
    for key in bias or {}:
        if vocab_size and not 0 <= int(key) < vocab_size:
            raise InvalidRequest(
                f"logit_bias key {key} is not a token id of this model (0 to {vocab_size - 1}).",
                param="logit_bias",
            )


def _structured_format(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """None for free text; the shape was checked by protocol."""
    if not response_format or response_format.get("type", "text") == "text":
        return None
    return response_format


def _completion_budget(prompt_tokens: int, requested: int | None, context: int) -> int:
    """Completion tokens allowed: the request's limit, or what is left of the context."""
    if requested is not None and prompt_tokens + requested > context:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {context} tokens. However, you requested "
            f"{prompt_tokens + requested} tokens ({prompt_tokens} in the messages, {requested} in "
            "the completion). Please reduce the length of the messages or completion."
        )
    if requested is None and prompt_tokens >= context:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {context} tokens. However, your messages "
            f"resulted in {prompt_tokens} tokens. Please reduce the length of the messages."
        )
    return requested if requested is not None else context - prompt_tokens
