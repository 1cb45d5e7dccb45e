"""The second walk: engine steps to OpenAI objects, under the admission hold that metered them
(chat.ChatService.complete and .stream)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from .admission import Hold
from .engines.base import Engine, SamplingParams, Step, TokenLogprob
from .planning import Plan, reservation
from .protocol import ChatCompletionChunkChoice, Usage


async def metered(
    engine: Engine, prompt: list[int], params: SamplingParams, hold: Hold
) -> AsyncGenerator[Step, None]:
    """One sequence's steps; what it holds beyond its reservation is taken as it grows."""
    held = reservation(len(prompt), params.max_tokens)
    steps = engine.generate(prompt, params)
    try:
        async for step in steps:
            used = len(prompt) + step.completion_tokens
            if used > held:
                hold.grow(used - held)
                held = used
            yield step
    finally:
        close = getattr(steps, "aclose", None)  # an engine's async generator: frees its sequence
        if close is not None:
            await close()


async def merge(engine: Engine, plan: Plan, hold: Hold) -> AsyncGenerator[tuple[int, Step], None]:
    """Steps of all choices as they come, tagged with the choice index."""
    if len(plan.choices) == 1:
        async for step in metered(engine, plan.prompt, plan.choices[0], hold):
            yield 0, step
        return
    queue: asyncio.Queue[tuple[int, Step] | BaseException] = asyncio.Queue()

    async def pump(index: int, params: SamplingParams) -> None:
        try:
            async for step in metered(engine, plan.prompt, params, hold):
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


async def collect(
    steps: AsyncIterator[Step],
) -> tuple[str, int, str, list[TokenLogprob], int]:
    parts: list[str] = []
    logprobs: list[TokenLogprob] = []
    last = Step(text="", completion_tokens=0, finish_reason="stop")
    async for step in steps:
        parts.append(step.text)
        logprobs.extend(step.logprobs)
        last = step
    finish = last.finish_reason or "stop"
    return "".join(parts), last.completion_tokens, finish, logprobs, last.cached_tokens


def choice(
    index: int,
    delta: dict[str, Any],
    step: Step | None = None,
    params: SamplingParams | None = None,
    finish_reason: str | None = None,
) -> ChatCompletionChunkChoice:
    logprobs = choice_logprobs(list(step.logprobs), params) if step and params else None
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}


def choice_logprobs(entries: list[TokenLogprob], params: SamplingParams) -> dict[str, Any] | None:
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


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> Usage:
    usage: Usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens:  # OpenAI's field, as vLLM sends it
        usage["prompt_tokens_details"] = {"cached_tokens": min(cached_tokens, prompt_tokens)}
    return usage
