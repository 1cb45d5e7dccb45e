"""Requests to prompts and sampling parameters; engine steps to OpenAI objects."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from typing import Any, cast

from . import __version__
from .admission import Admission
from .answer import Answer, AnswerFormat
from .constraint import decoding_constraint, structured_format
from .conversation import template_inputs
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
from .reasoning import thinking_markers
from .streaming import prepend
from .template import render_chat
from .toolcalls import (
    ToolChoice,
    detect_format,
    get_format,
    read_tool_choice,
    template_supports_tools,
)


@dataclass(frozen=True)
class ChatOptions:
    """The chat layer's settings, named as in `Settings` (service.py fills them by name)."""

    special_tokens_in_content: bool = False  # True: special-token text in content is tokens
    tool_call_parser: str = "auto"  # a toolcalls format, or auto: from the chat template
    async_endpoint: bool = False  # an async endpoint: streams are answered whole


@dataclass(frozen=True)
class Plan:
    """One validated request, ready for the engine: one SamplingParams per choice."""

    id: str
    created: int
    prompt: list[int]
    choices: tuple[SamplingParams, ...]
    include_usage: bool
    answer: AnswerFormat


class ChatService:
    """OpenAI chat completions on top of one engine."""

    def __init__(
        self,
        engine: Engine,
        admission: Admission | None = None,
        options: ChatOptions | None = None,
    ):
        options = options or ChatOptions()
        self.engine = engine
        self.admission = admission or Admission(engine.card.token_capacity)
        self.options = options
        self.literal_content = not options.special_tokens_in_content
        card = engine.card
        tool_call_parser = options.tool_call_parser
        if tool_call_parser != "auto":
            get_format(tool_call_parser)  # an unknown name fails at start-up, not per request
        elif template_supports_tools(card.chat_template):
            tool_call_parser = detect_format(card.chat_template)
        else:
            tool_call_parser = "hermes"  # the fallback prompt asks for Hermes-style calls
        self.tool_call_parser = tool_call_parser
        self.reasoning_field = False  # also send `reasoning` beside `reasoning_content`
        digest = hashlib.sha256(f"{__version__}:{card.name}:{type(engine).__name__}".encode())
        self.fingerprint = "fp_" + digest.hexdigest()[:10]

    def plan(self, request: ChatCompletionRequest, adapter: str | None = None) -> Plan:
        """Validate what the engine must honour, render and tokenize the prompt. `adapter`: a
        registered LoRA adapter to generate with (adapters.pick_adapter), named in the answer."""
        card = self.engine.card
        tools = read_tool_choice(request.tools, request.tool_choice, request.parallel_tool_calls)
        _check_features(request, card.features, tools)
        _check_logit_bias(request.logit_bias, card.vocab_size)
        guided = decoding_constraint(self.engine, request.response_format, tools)
        messages, variables = template_inputs(request, card, tools)
        chars = sum(len(m["content"]) for m in messages if isinstance(m.get("content"), str))
        _check_length_before_encoding(chars, card.context_length, card.max_token_chars)
        prompt = encode_prompt(
            card, messages, self.engine.encode, literal=self.literal_content, variables=variables
        )
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
            response_format=structured_format(request.response_format),
            guided=guided,
            adapter=adapter,
        )
        n = request.n or 1
        # One request that could never fit is a 400 now, not a wait for room that never comes.
        named = ("n", "max_tokens") if n > 1 else ("max_tokens", "messages")
        self.admission.check(n * (len(prompt) + max_tokens), named)
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
            answer=self._answer_format(tools, messages, variables),
        )

    def _answer_format(
        self, tools: ToolChoice | None, messages: list[dict[str, Any]], variables: dict[str, Any]
    ) -> AnswerFormat:
        card = self.engine.card
        thinking = thinking_markers(card.chat_template)
        prompt_text = ""
        if thinking[0] in card.chat_template:  # the template may open the block itself
            context = {**card.special_tokens, **variables}
            prompt_text = render_chat(card.chat_template, messages, context)
        calls = None
        if tools is not None and tools.mode != "none":
            calls = tools.constrained_format() or get_format(self.tool_call_parser)
        return AnswerFormat(
            calls=calls,
            parallel=tools.parallel if tools else True,
            thinking=thinking,
            prompt_text=prompt_text,
            reasoning_field=self.reasoning_field,
        )

    async def complete(self, plan: Plan) -> ChatCompletion:
        """A whole `chat.completion` object; cancelling the caller cancels every sequence."""
        async with self.admission.admit(_tokens_needed(plan)):
            results = await asyncio.gather(
                *(_collect(self.engine.generate(plan.prompt, p)) for p in plan.choices)
            )
        choices: list[ChatCompletionChoice] = []
        completion_tokens = 0
        for index, (text, tokens, finish, logprobs) in enumerate(results):
            completion_tokens += tokens
            answer = Answer(plan.answer)
            answer.feed(text)
            answer.finish()
            choices.append(
                {
                    "index": index,
                    "message": answer.message(),
                    "logprobs": _logprobs(logprobs, plan.choices[index]),
                    "finish_reason": answer.finish_reason(finish),
                }
            )
        return {
            "id": plan.id,
            "object": "chat.completion",
            "created": plan.created,
            "model": plan.choices[0].adapter or self.engine.card.name,
            "system_fingerprint": self.fingerprint,
            "choices": choices,
            "usage": _usage(len(plan.prompt), completion_tokens),
        }

    async def stream(self, plan: Plan) -> AsyncIterator[ChatCompletionChunk]:
        """`chat.completion.chunk` objects in order. The first comes once the request is
        admitted and the engine has accepted it, so its refusals raise before a byte is sent."""
        async with self.admission.admit(_tokens_needed(plan)):
            steps = _merge(self.engine, plan)
            try:
                first = await anext(steps)
                for index in range(len(plan.choices)):
                    yield self._chunk(plan, [_choice(index, {"role": "assistant", "content": ""})])
                async for chunk in self._step_chunks(plan, prepend(first, steps)):
                    yield chunk
            finally:
                await steps.aclose()

    async def _step_chunks(
        self, plan: Plan, steps: AsyncIterator[tuple[int, Step]]
    ) -> AsyncIterator[ChatCompletionChunk]:
        completion_tokens = 0
        answers = [Answer(plan.answer) for _ in plan.choices]
        async for index, step in steps:
            answer, params = answers[index], plan.choices[index]
            deltas = answer.feed(step.text) if step.text else []
            if step.finish_reason:
                deltas += answer.finish()
            if step.logprobs and not deltas:
                deltas = [{"content": ""}]  # held-back text: its logprobs still go out now
            for k, delta in enumerate(deltas):
                # a step's logprobs ride on its first delta
                yield self._chunk(plan, [_choice(index, delta, step if k == 0 else None, params)])
            if step.finish_reason:
                completion_tokens += step.completion_tokens
                reason = answer.finish_reason(step.finish_reason)
                yield self._chunk(plan, [_choice(index, {"content": ""}, finish_reason=reason)])
        if plan.include_usage:
            yield self._chunk(plan, [], _usage(len(plan.prompt), completion_tokens))

    def _chunk(
        self, plan: Plan, choices: list[ChatCompletionChunkChoice], usage: Usage | None = None
    ) -> ChatCompletionChunk:
        chunk: dict[str, Any] = {
            "id": plan.id,
            "object": "chat.completion.chunk",
            "created": plan.created,
            "model": plan.choices[0].adapter or self.engine.card.name,
            "system_fingerprint": self.fingerprint,
        }
        if plan.include_usage:  # every chunk but the last: "usage": null, as OpenAI sends
            chunk["usage"] = usage  # wire order: usage, then choices
        chunk["choices"] = choices
        return cast(ChatCompletionChunk, chunk)


def _tokens_needed(plan: Plan) -> int:
    """Cache room the request can come to hold: every choice at its full length."""
    return sum(len(plan.prompt) + p.max_tokens for p in plan.choices)


async def _merge(engine: Engine, plan: Plan) -> AsyncGenerator[tuple[int, Step], None]:
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


def _check_features(
    request: ChatCompletionRequest, features: frozenset[str], tools: ToolChoice | None
) -> None:
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
    if tools and tools.mode in ("required", "named") and "response_format" not in features:
        refuse("tool_choice", f"tool_choice {tools.mode!r} (constrained decoding)")


def _check_logit_bias(bias: dict[str, float] | None, vocab_size: int) -> None:
    """Keys (digits, checked by protocol) must be token ids of this model; before a stream."""
    for key in bias or {}:
        if vocab_size and not 0 <= int(key) < vocab_size:
            raise InvalidRequest(
                f"logit_bias key {key} is not a token id of this model (0 to {vocab_size - 1}).",
                param="logit_bias",
            )


def _check_length_before_encoding(chars: int, context: int, max_token_chars: int) -> None:
    """A prompt surely beyond the context is refused without spending seconds tokenizing it."""
    if max_token_chars and chars > context * max_token_chars:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {context} tokens. However, your messages "
            f"resulted in at least {chars // max_token_chars} tokens ({chars} characters). "
            "Please reduce the length of the messages."
        )


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
