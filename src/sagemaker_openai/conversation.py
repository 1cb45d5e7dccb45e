"""A request's messages, tools and template options as a chat template's inputs."""

from __future__ import annotations

from typing import Any

from .engines.base import ModelCard
from .errors import InvalidRequest
from .protocol import ChatCompletionRequest
from .toolcalls import ToolChoice, fallback_messages, template_messages, template_supports_tools

# Variables the renderer sets itself; chat_template_kwargs may not replace them.
_RESERVED = frozenset({"messages", "tools", "add_generation_prompt"})


def template_inputs(
    request: ChatCompletionRequest, card: ModelCard, tool_choice: ToolChoice | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Messages and extra template variables (tools, chat_template_kwargs) for the model's own
    template; a template without tool support gets the fallback's plain turns."""
    messages = [_template_message(i, m) for i, m in enumerate(request.messages)]
    tools = list(tool_choice.tools) if tool_choice and tool_choice.mode != "none" else None
    extra = dict(request.chat_template_kwargs or {})
    for key in extra:
        if key in _RESERVED or key in card.special_tokens:
            raise InvalidRequest(
                f"chat_template_kwargs may not set {key!r}; the server sets it.",
                param=f"chat_template_kwargs.{key}",
            )
    if request.reasoning_effort is not None:
        # as vLLM 0.32 (ChatCompletionRequest.build_chat_params): the effort as is, and
        # enable_thinking for templates that know only that, unless the kwargs set it
        extra["reasoning_effort"] = request.reasoning_effort
        extra.setdefault("enable_thinking", request.reasoning_effort != "none")
    if template_supports_tools(card.chat_template):
        if tools:
            extra["tools"] = tools
        messages = template_messages(messages)
    else:
        messages = fallback_messages(messages, tools)
    return messages, extra


def _template_message(index: int, message: Any) -> dict[str, Any]:
    """A message as chat templates expect it: string content, developer as system."""
    where = f"messages[{index}]"
    content = message.content
    if isinstance(content, list):
        for j, part in enumerate(content):
            if part["type"] != "text":
                raise InvalidRequest(
                    f"Content parts of type '{part['type']}' are not supported by this model "
                    "(it reads text only); send 'text' parts.",
                    param=f"{where}.content[{j}].type",
                )
        content = "\n".join(part["text"] for part in content)
    if content is None and not (message.role == "assistant" and message.tool_calls):
        raise InvalidRequest(
            f"{where}.content may be null only for an assistant message with tool_calls.",
            param=f"{where}.content",
        )
    if message.tool_calls is not None:
        if message.role != "assistant":
            raise InvalidRequest(
                f"{where}.tool_calls is allowed only on assistant messages.",
                param=f"{where}.tool_calls",
            )
        for j, call in enumerate(message.tool_calls):
            _check_call(f"{where}.tool_calls[{j}]", call)
    if message.role == "tool" and not message.tool_call_id:
        raise InvalidRequest(
            f"{where} is a tool message without tool_call_id.", param=f"{where}.tool_call_id"
        )
    out: dict[str, Any] = {
        "role": "system" if message.role == "developer" else message.role,
        "content": content or "",
    }
    for key in ("name", "tool_calls", "tool_call_id"):
        if getattr(message, key) is not None:
            out[key] = getattr(message, key)
    reasoning = _past_thinking(where, message)
    if reasoning is not None:
        # both names, as vLLM 0.32 gives templates (renderers/chat_utils.py): Qwen3's reads
        # reasoning_content, newer ones reasoning
        out["reasoning"] = out["reasoning_content"] = reasoning
    return out


def _past_thinking(where: str, message: Any) -> str | None:
    """An earlier assistant turn's thinking, under either name (`reasoning` wins, as in vLLM)."""
    name = "reasoning" if message.reasoning is not None else "reasoning_content"
    reasoning: str | None = getattr(message, name)
    if reasoning is not None and message.role != "assistant":
        raise InvalidRequest(
            f"{where}.{name} is allowed only on assistant messages.", param=f"{where}.{name}"
        )
    return reasoning


def _check_call(where: str, call: Any) -> None:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequest(
            f'{where} must be {{"id", "type": "function", "function": {{"name", "arguments"}}}}.',
            param=f"{where}.function",
        )
    if not isinstance(function.get("arguments", ""), str):
        raise InvalidRequest(
            f"{where}.function.arguments must be a JSON string.",
            param=f"{where}.function.arguments",
        )
