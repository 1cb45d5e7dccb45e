"""The Chat Completions response objects. Plain dicts on the wire, typed here with OpenAI's
names (key order is wire order)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class PromptTokensDetails(TypedDict):
    cached_tokens: int  # prompt tokens served from the prefix cache


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: NotRequired[PromptTokensDetails]  # when part came from the cache


class ChatCompletionChoice(TypedDict):
    index: int
    message: dict[str, Any]  # {"role": "assistant", "content": str}
    logprobs: dict[str, Any] | None
    finish_reason: str


class ChatCompletion(TypedDict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatCompletionChoice]
    usage: Usage


class ChatCompletionChunkChoice(TypedDict):
    index: int
    delta: dict[str, Any]  # {"role"?, "content"}
    logprobs: dict[str, Any] | None
    finish_reason: str | None


class ChatCompletionChunk(TypedDict):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    system_fingerprint: str
    usage: NotRequired[Usage]  # the last chunk only, when stream_options.include_usage
    choices: list[ChatCompletionChunkChoice]
