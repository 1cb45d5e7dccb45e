"""The first walk of a request: the checks that need the engine (features, vocabulary, context,
capacity) and the budgets that turn a request into a Plan (chat.ChatService.plan)."""

from __future__ import annotations

from dataclasses import dataclass

from .admission import RESERVE_TOKENS
from .answer import AnswerFormat
from .engines.base import SamplingParams
from .errors import ContextLengthExceeded, InvalidRequest
from .protocol import ChatCompletionRequest
from .toolcalls import ToolChoice


@dataclass(frozen=True)
class Plan:
    """One validated request, ready for the engine: one SamplingParams per choice."""

    id: str
    created: int
    prompt: list[int]
    choices: tuple[SamplingParams, ...]
    include_usage: bool
    answer: AnswerFormat
    hold: int  # cache room it is admitted with: every choice's reservation (admission.py)


def reservation(prompt_tokens: int, max_tokens: int) -> int:
    """Cache room one sequence is admitted with: its prompt and the start of its answer."""
    return prompt_tokens + min(max_tokens, RESERVE_TOKENS)


def check_features(
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
    fmt = request.response_format.type if request.response_format else "text"
    if fmt != "text" and "response_format" not in features:
        refuse("response_format", f"response_format of type '{fmt}'")
    if tools and tools.mode in ("required", "named") and "response_format" not in features:
        refuse("tool_choice", f"tool_choice {tools.mode!r} (constrained decoding)")


def check_logit_bias(bias: dict[str, float] | None, vocab_size: int) -> None:
    """Keys (digits, checked by protocol) must be token ids of this model; before a stream."""
    for key in bias or {}:
        if vocab_size and not 0 <= int(key) < vocab_size:
            raise InvalidRequest(
                f"logit_bias key {key} is not a token id of this model (0 to {vocab_size - 1}).",
                param="logit_bias",
            )


def top_k(top_k: int | None, vocab_size: int) -> int:
    """0 (off) for -1, 0 and any k that keeps the whole vocabulary (vLLM keeps k in 32 bits)."""
    if not top_k or top_k < 0 or (vocab_size and top_k >= vocab_size):
        return 0
    return top_k


def check_min_tokens(min_tokens: int | None, max_tokens: int) -> None:
    """Against the completion budget (protocol checked it against an explicit max_tokens)."""
    if min_tokens is not None and min_tokens > max_tokens:
        raise InvalidRequest(
            f"min_tokens ({min_tokens}) must be at most the tokens the context leaves for the "
            f"completion ({max_tokens}).",
            param="min_tokens",
        )


def check_token_ids(ids: list[int] | None, vocab_size: int) -> None:
    for token in ids or []:
        if vocab_size and not token < vocab_size:
            raise InvalidRequest(
                f"stop_token_ids holds {token}, not a token id of this model "
                f"(0 to {vocab_size - 1}).",
                param="stop_token_ids",
            )


def check_length_before_encoding(chars: int, context: int, max_token_chars: int) -> None:
    """A prompt surely beyond the context is refused without spending seconds tokenizing it."""
    if max_token_chars and chars > context * max_token_chars:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {context} tokens. However, your messages "
            f"resulted in at least {chars // max_token_chars} tokens ({chars} characters). "
            "Please reduce the length of the messages."
        )


def completion_budget(prompt_tokens: int, requested: int | None, context: int) -> int:
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
