"""The OpenAI Chat Completions request, validated at the edge: every field typed, every rule
across fields checked, every failure an InvalidRequest naming its parameter."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator

from ..errors import InvalidRequest
from ..limits import INT64_MAX, INT64_MIN, decode_json
from .parts import (
    ChatCompletionMessage,
    NamedToolChoice,
    ResponseFormat,
    Tool,
    _Model,
    check_schema,
)

log = logging.getLogger(__name__)

MAX_TOOLS = 128  # OpenAI's limit on `tools`
LOGGED_KEYS = 5  # unknown keys named in the log line; the rest are only counted

Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]
TokenId = Annotated[int, Field(ge=0, le=INT64_MAX)]
# vLLM 0.32's values (entrypoints/openai/chat_completion/protocol.py, ChatCompletionRequest)
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class StreamOptions(_Model):
    include_usage: bool | None = None


class ChatCompletionRequest(_Model):
    messages: list[ChatCompletionMessage] = Field(min_length=1)
    model: Any = None  # never rejected: clients send endpoint names, placeholders, anything
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    presence_penalty: Penalty | None = Field(
        None, validation_alias=AliasChoices("presence_penalty", "presencePenalty")
    )
    frequency_penalty: Penalty | None = Field(
        None, validation_alias=AliasChoices("frequency_penalty", "frequencyPenalty")
    )
    stop: str | list[str] | None = None
    n: Annotated[int, Field(ge=1, le=128)] | None = None
    seed: Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)] | None = None  # 64 bits, as vLLM's
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    logit_bias: dict[str, Annotated[float, Field(ge=-100.0, le=100.0)]] | None = None
    user: str | None = None
    response_format: ResponseFormat | None = None
    tools: Annotated[list[Tool], Field(max_length=MAX_TOOLS)] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    chat_template_kwargs: dict[str, Any] | None = None  # vLLM's name: extra template variables
    # Reasoning, with vLLM's names and values: effort goes to the template, the budget ends
    # thinking after that many tokens (-1: unlimited), include_reasoning false drops it.
    reasoning_effort: ReasoningEffort | None = None
    include_reasoning: bool | None = None
    thinking_token_budget: Annotated[int, Field(ge=-1, le=INT64_MAX)] | None = None
    # vLLM's sampling extras, with the ranges of vLLM 0.32's SamplingParams._verify_args
    # (vllm/sampling_params.py): top_k -1 or 0 is off; repetition_penalty 1 is off.
    top_k: Annotated[int, Field(ge=-1, le=INT64_MAX)] | None = None
    min_p: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    repetition_penalty: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] | None = None
    min_tokens: Annotated[int, Field(ge=0, le=INT64_MAX)] | None = None
    stop_token_ids: list[TokenId] | None = None
    ignore_eos: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_spelling(cls, data: Any) -> Any:
        # Both spellings at once would leave one unvalidated in the extras: refuse the pair.
        for camel, snake in _ALIASES.items():
            if isinstance(data, dict) and snake in data and camel in data:
                raise InvalidRequest(
                    f"Give '{snake}' or its alias '{camel}', not both.", param=snake
                )
        return data

    @field_validator("tool_choice", mode="before")
    @classmethod
    def _tool_choice_shape(cls, value: Any) -> Any:
        # one message for every wrong shape (a union's own errors name its members)
        if value is None or value in ("none", "auto", "required"):
            return value
        try:
            return NamedToolChoice.model_validate(value)
        except ValidationError:
            raise InvalidRequest(
                "tool_choice must be 'none', 'auto', 'required' or "
                '{"type": "function", "function": {"name": ...}}.',
                param="tool_choice",
            ) from None

    @field_validator("stop")
    @classmethod
    def _stop_shape(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences are allowed")
        if any(s == "" for s in stops):
            raise ValueError("stop sequences must not be empty")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ChatCompletionRequest:
        # Rules across fields, raised as InvalidRequest (pydantic lets non-ValueErrors through)
        # so each names its own param and message.
        if self.stream_options is not None and not self.stream:
            raise InvalidRequest(
                "stream_options is only allowed when stream is true.", param="stream_options"
            )
        if self.top_logprobs is not None and not self.logprobs:
            raise InvalidRequest(
                "logprobs must be true when top_logprobs is set.", param="top_logprobs"
            )
        for key in self.logit_bias or {}:
            if not (key.isascii() and key.isdigit() and len(key) <= 18):
                raise InvalidRequest(
                    f"logit_bias keys must be token ids, not {key!r}.", param="logit_bias"
                )
        if self.seed is not None and self.seed + (self.n or 1) - 1 > INT64_MAX:
            # choice i samples with seed + i
            raise InvalidRequest(
                f"seed + n - 1 must fit in 64 bits (at most {INT64_MAX}).", param="seed"
            )
        limit = self.completion_limit
        if self.min_tokens is not None and limit is not None and self.min_tokens > limit:
            # vLLM's rule: min_tokens must not exceed max_tokens
            raise InvalidRequest(
                f"min_tokens ({self.min_tokens}) must be at most max_tokens ({limit}).",
                param="min_tokens",
            )
        self._check_tools()
        self._check_messages()
        return self

    def _check_tools(self) -> None:
        tools = self.tools or []
        names = [tool.function.name for tool in tools]
        for i, tool in enumerate(tools):
            where = f"tools[{i}].function"
            if tool.function.name in names[:i]:
                raise InvalidRequest(
                    f"Tool names must be unique; {tool.function.name!r} appears twice.",
                    param=f"{where}.name",
                )
            if "parameters" in tool.function.model_fields_set:
                check_schema(tool.function.parameters, f"{where}.parameters")
        choice = self.tool_choice
        if isinstance(choice, NamedToolChoice) and tools and choice.function.name not in names:
            raise InvalidRequest(
                f"tool_choice names a function that is not in tools: {choice.function.name!r}.",
                param="tool_choice",
            )
        forced = "named" if isinstance(choice, NamedToolChoice) else choice
        if forced in ("required", "named") and not tools:
            raise InvalidRequest(
                f"tool_choice {forced!r} needs tools; the request has none.", param="tool_choice"
            )
        fmt = self.response_format
        if forced in ("required", "named") and fmt is not None and fmt.type != "text":
            raise InvalidRequest(
                "response_format cannot be combined with tool_choice 'required' or a named "
                "tool: the answer is then a tool call.",
                param="response_format",
            )

    def _check_messages(self) -> None:
        for i, message in enumerate(self.messages):
            where = f"messages[{i}]"
            if message.content is None and not (message.role == "assistant" and message.tool_calls):
                raise InvalidRequest(
                    f"{where}.content may be null only for an assistant message with tool_calls.",
                    param=f"{where}.content",
                )
            if message.tool_calls is not None and message.role != "assistant":
                raise InvalidRequest(
                    f"{where}.tool_calls is allowed only on assistant messages.",
                    param=f"{where}.tool_calls",
                )
            if message.role == "tool" and not message.tool_call_id:
                raise InvalidRequest(
                    f"{where} is a tool message without tool_call_id.",
                    param=f"{where}.tool_call_id",
                )
            name = "reasoning" if message.reasoning is not None else "reasoning_content"
            if getattr(message, name) is not None and message.role != "assistant":
                raise InvalidRequest(
                    f"{where}.{name} is allowed only on assistant messages.",
                    param=f"{where}.{name}",
                )

    @property
    def completion_limit(self) -> int | None:
        """The smaller of max_tokens and max_completion_tokens, if either is given."""
        limits = [v for v in (self.max_tokens, self.max_completion_tokens) if v is not None]
        return min(limits) if limits else None

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


def parse_request(body: bytes) -> ChatCompletionRequest:
    """Decode and validate a request body; every failure is an InvalidRequest naming its param."""
    data = decode_json(body)
    if not isinstance(data, dict):
        raise InvalidRequest(
            f"The request body must be a JSON object, not a JSON {_json_type(data)}."
        )
    try:
        request = ChatCompletionRequest.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if request.model_extra:
        # Names only: clients leak settings and credentials into the body (LiteLLM does).
        log.info("ignoring unknown request keys: %s", describe_keys(request.model_extra))
    return request


def describe_keys(keys: Any) -> str:
    """A count and the first few names, escaped and truncated: a key can neither forge a log
    line (no raw newline) nor flood the log (bounded length)."""
    names = sorted(keys)
    shown = ", ".join(_bounded(k) for k in names[:LOGGED_KEYS])
    more = f" and {len(names) - LOGGED_KEYS} more" if len(names) > LOGGED_KEYS else ""
    return f"{len(names)}: {shown}{more}"


def _bounded(name: str, limit: int = 40) -> str:
    escaped = name.encode("unicode_escape").decode("ascii")
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def _invalid(exc: ValidationError) -> InvalidRequest:
    error = exc.errors(include_url=False)[0]
    loc = [p for p in error["loc"] if not (isinstance(p, str) and _is_type_tag(p))]
    param = _param_path([_ALIASES.get(p, p) if isinstance(p, str) else p for p in loc])
    if error["type"] == "missing":
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    value = json.dumps(error.get("input"), default=str)  # ASCII: escapes any odd text
    if len(value) > 80:
        value = value[:77] + "..."
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].upper() + message[1:]
    return InvalidRequest(f"Invalid value for '{param}': {value}. {message}.", param=param)


_ALIASES = {"presencePenalty": "presence_penalty", "frequencyPenalty": "frequency_penalty"}


def _is_type_tag(part: str) -> bool:
    # pydantic puts union member names ('str', 'list[str]', 'constrained-float') into locations
    return part in {"str", "int", "float", "bool", "list[str]", "dict[str,any]"} or part.startswith(
        ("constrained-", "function-", "list[", "dict[")
    )


def _param_path(loc: list[Any]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _json_type(value: Any) -> str:
    names = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
