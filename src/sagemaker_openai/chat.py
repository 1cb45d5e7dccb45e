"""Requests to prompts and sampling parameters; engine steps to OpenAI objects."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any, cast

from . import __version__, planning, responding
from .admission import Admission
from .answer import REASONING_NAMES, Answer, AnswerFormat
from .constraint import decoding_constraint
from .conversation import template_inputs
from .engines.base import Engine, SamplingParams, Step
from .errors import InvalidRequest
from .planning import Plan
from .prompt import encode_prompt
from .protocol import (
    ChatCompletion,
    ChatCompletionChoice,
    ChatCompletionChunk,
    ChatCompletionChunkChoice,
    ChatCompletionRequest,
    Usage,
)
from .reasoning import PARSER_NAMES, reasoning_markers
from .streaming import prepend
from .toolcalls import (
    ToolChoice,
    detect_format,
    get_format,
    read_tool_choice,
    template_supports_tools,
)

# SMOAI_REASONING_FIELD: the names thinking goes out under
REASONING_FIELDS = {
    "both": REASONING_NAMES,
    "reasoning": ("reasoning",),
    "reasoning_content": ("reasoning_content",),
}


@dataclass(frozen=True)
class ChatOptions:
    """The chat layer's settings, named as in `Settings` (service.py fills them by name)."""

    special_tokens_in_content: bool = False  # True: special-token text in content is tokens
    tool_call_parser: str = "auto"  # a toolcalls format, or auto: from the chat template
    async_endpoint: bool = False  # an async endpoint: streams are answered whole
    reasoning_field: str = "both"  # the names thinking goes out under (REASONING_FIELDS)
    reasoning_parser: str = "auto"  # thinking markers: reasoning.PARSER_NAMES


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
        # the template's facts, read once: whether it renders tools, its call format, its thinking
        self.tool_aware = template_supports_tools(card.chat_template)
        tool_call_parser = options.tool_call_parser
        if tool_call_parser != "auto":
            get_format(tool_call_parser)  # an unknown name fails at start-up, not per request
        elif self.tool_aware:
            tool_call_parser = detect_format(card.chat_template)
        else:
            tool_call_parser = "hermes"  # the fallback prompt asks for Hermes-style calls
        self.tool_call_parser = tool_call_parser
        if options.reasoning_field not in REASONING_FIELDS:
            raise ValueError(f"reasoning field must be one of {', '.join(REASONING_FIELDS)}")
        if options.reasoning_parser not in PARSER_NAMES:
            raise ValueError(f"reasoning parser must be one of {', '.join(PARSER_NAMES)}")
        self.reasoning_names = REASONING_FIELDS[options.reasoning_field]
        self.thinking = reasoning_markers(card.chat_template, options.reasoning_parser)
        digest = hashlib.sha256(f"{__version__}:{card.name}:{type(engine).__name__}".encode())
        self.fingerprint = "fp_" + digest.hexdigest()[:10]

    def plan(self, request: ChatCompletionRequest, adapter: str | None = None) -> Plan:
        """Validate what the engine must honour, render and tokenize the prompt. `adapter`: a
        registered LoRA adapter to generate with (adapters.pick_adapter), named in the answer."""
        card = self.engine.card
        tools = read_tool_choice(request.tools, request.tool_choice, request.parallel_tool_calls)
        planning.check_features(request, card.features, tools)
        planning.check_logit_bias(request.logit_bias, card.vocab_size)
        planning.check_token_ids(request.stop_token_ids, card.vocab_size)
        guided = decoding_constraint(self.engine, request.response_format, tools)
        messages, variables = template_inputs(request, card, tools, self.tool_aware)
        chars = sum(len(m["content"]) for m in messages if isinstance(m.get("content"), str))
        planning.check_length_before_encoding(chars, card.context_length, card.max_token_chars)
        rendered = encode_prompt(
            card, messages, self.engine.encode, literal=self.literal_content, variables=variables
        )
        prompt = rendered.ids
        max_tokens = planning.completion_budget(
            len(prompt), request.completion_limit, card.context_length
        )
        planning.check_min_tokens(request.min_tokens, max_tokens)
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
            guided=guided,
            adapter=adapter,
            top_k=planning.top_k(request.top_k, card.vocab_size),
            min_p=request.min_p or 0.0,
            repetition_penalty=request.repetition_penalty or 1.0,
            min_tokens=request.min_tokens or 0,
            stop_token_ids=tuple(request.stop_token_ids or ()),
            ignore_eos=bool(request.ignore_eos),
            thinking_budget=self._thinking_budget(request.thinking_token_budget, max_tokens),
        )
        n = request.n or 1
        # One request that could never be admitted is a 400 now, not a wait that never ends.
        named = ("n", "max_tokens") if n > 1 else ("max_tokens", "messages")
        hold = n * planning.reservation(len(prompt), max_tokens)
        self.admission.check(hold, named)
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
            answer=self._answer_format(tools, rendered.text, request.include_reasoning),
            hold=hold,
        )

    def _thinking_budget(self, budget: int | None, max_tokens: int) -> int | None:
        """vLLM's thinking_token_budget (-1: unlimited), where thinking is split out at all."""
        if budget is not None and self.thinking is None:
            raise InvalidRequest(
                "thinking_token_budget needs a reasoning parser; this endpoint's is 'none'.",
                param="thinking_token_budget",
            )
        # a budget the completion cannot reach changes nothing: unlimited, as -1
        return None if budget is None or not 0 <= budget < max_tokens else budget

    def _answer_format(
        self, tools: ToolChoice | None, prompt_text: str, include_reasoning: bool | None = True
    ) -> AnswerFormat:
        thinking = self.thinking
        if not (thinking and thinking[0] in self.engine.card.chat_template):
            prompt_text = ""  # only a template that writes the start marker can open the block
        calls = None
        if tools is not None and tools.mode != "none":
            calls = tools.constrained_format() or get_format(self.tool_call_parser)
        return AnswerFormat(
            calls=calls,
            parallel=tools.parallel if tools else True,
            thinking=thinking,
            prompt_text=prompt_text,
            reasoning_names=self.reasoning_names if include_reasoning is not False else (),
        )

    async def complete(self, plan: Plan) -> ChatCompletion:
        """A whole `chat.completion` object; cancelling the caller cancels every sequence."""
        async with self.admission.admit(plan.hold) as hold:
            results = await asyncio.gather(
                *(
                    responding.collect(responding.metered(self.engine, plan.prompt, p, hold))
                    for p in plan.choices
                )
            )
        choices: list[ChatCompletionChoice] = []
        completion_tokens = cached = 0
        for index, (text, tokens, finish, logprobs, hit) in enumerate(results):
            completion_tokens += tokens
            cached = max(cached, hit)
            answer = Answer(plan.answer)
            answer.feed(text)
            answer.finish()
            choices.append(
                {
                    "index": index,
                    "message": answer.message(),
                    "logprobs": responding.choice_logprobs(logprobs, plan.choices[index]),
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
            "usage": responding.usage(len(plan.prompt), completion_tokens, cached),
        }

    async def stream(self, plan: Plan) -> AsyncIterator[ChatCompletionChunk]:
        """`chat.completion.chunk` objects in order. The first comes once the request is
        admitted and the engine has accepted it, so its refusals raise before a byte is sent."""
        async with self.admission.admit(plan.hold) as hold:
            steps = responding.merge(self.engine, plan, hold)
            try:
                first = await anext(steps)
                for index in range(len(plan.choices)):
                    yield self._chunk(
                        plan, [responding.choice(index, {"role": "assistant", "content": ""})]
                    )
                async for chunk in self._step_chunks(plan, prepend(first, steps)):
                    yield chunk
            finally:
                await steps.aclose()

    async def _step_chunks(
        self, plan: Plan, steps: AsyncIterator[tuple[int, Step]]
    ) -> AsyncIterator[ChatCompletionChunk]:
        completion_tokens = cached = 0
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
                yield self._chunk(
                    plan, [responding.choice(index, delta, step if k == 0 else None, params)]
                )
            if step.finish_reason:
                completion_tokens += step.completion_tokens
                cached = max(cached, step.cached_tokens)
                reason = answer.finish_reason(step.finish_reason)
                yield self._chunk(
                    plan, [responding.choice(index, {"content": ""}, finish_reason=reason)]
                )
        if plan.include_usage:
            yield self._chunk(
                plan, [], responding.usage(len(plan.prompt), completion_tokens, cached)
            )

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
