"""A request's messages, tools and template options as a chat template's inputs."""

from __future__ import annotations

from typing import Any

from .engines.base import ModelCard
from .errors import InvalidRequest
from .protocol import ChatCompletionMessage, ChatCompletionRequest
from .toolcalls import ToolChoice, fallback_messages, template_messages

# Variables the renderer sets itself; chat_template_kwargs may not replace them.
_RESERVED = frozenset({"messages", "tools", "add_generation_prompt"})


def template_inputs(
    request: ChatCompletionRequest,
    card: ModelCard,
    tool_choice: ToolChoice | None,
    tool_aware: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Messages and extra template variables (tools, chat_template_kwargs) for the model's own
    template; a template without tool support (`tool_aware`, known at load) gets the
    fallback's plain turns."""
    messages = [_template_message(i, m) for i, m in enumerate(request.messages)]
    tools = tool_choice.template_tools() if tool_choice and tool_choice.mode != "none" else None
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
    if tool_aware:
        if tools:
            extra["tools"] = tools
        messages = template_messages(messages)
    else:
        messages = fallback_messages(messages, tools)
    return messages, extra


def _template_message(index: int, message: ChatCompletionMessage) -> dict[str, Any]:
    """A message as chat templates expect it: string content, developer as system. Its shape
    and rules were checked by protocol; what this model cannot read is refused here."""
    content = message.content
    if isinstance(content, list):
        for j, part in enumerate(content):
            if part.type != "text":
                raise InvalidRequest(
                    f"Content parts of type '{part.type}' are not supported by this model "
                    "(it reads text only); send 'text' parts.",
                    param=f"messages[{index}].content[{j}].type",
                )
        content = "\n".join(part.text or "" for part in content)
    out: dict[str, Any] = {
        "role": "system" if message.role == "developer" else message.role,
        "content": content or "",
    }
    if message.name is not None:
        out["name"] = message.name
    if message.tool_calls is not None:
        out["tool_calls"] = [call.model_dump(exclude_unset=True) for call in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    # an earlier turn's thinking under either name (`reasoning` wins, as in vLLM), given under
    # both, as vLLM 0.32 gives templates (renderers/chat_utils.py): Qwen3's reads
    # reasoning_content, newer ones reasoning
    reasoning = message.reasoning if message.reasoning is not None else message.reasoning_content
    if reasoning is not None:
        out["reasoning"] = out["reasoning_content"] = reasoning
    return out
