"""Prompts with tools: the template's own tool support, the fallback, chat_template_kwargs."""

from __future__ import annotations

import json

import pytest

from sagemaker_openai.conversation import template_inputs
from sagemaker_openai.engines.base import ModelCard
from sagemaker_openai.errors import InvalidRequest
from sagemaker_openai.protocol import ChatCompletionRequest
from sagemaker_openai.template import render_chat
from sagemaker_openai.toolcalls import read_tool_choice, template_supports_tools

# The demo model's template (SmolLM2-135M-Instruct): no tool support.
PLAIN = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Qwen2.5's tool handling, cut to its essentials (tools listed, calls as <tool_call> blocks with
# arguments | tojson, tool results inside <tool_response>), plus Qwen3's enable_thinking switch.
TOOLED = (
    "{% if tools %}<tools>{% for tool in tools %}{{ tool | tojson }}{% endfor %}"
    "</tools>\n{% endif %}"
    "{% for m in messages %}{% if m.role == 'tool' %}<tool_response>{{ m.content }}</tool_response>"
    "{% elif m.tool_calls %}{% for c in m.tool_calls %}<tool_call>{{ {'name': c.function.name, "
    "'arguments': c.function.arguments} | tojson }}</tool_call>{% endfor %}"
    "{% else %}{{ m.role }}: {{ m.content }}\n{% endif %}{% endfor %}"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>{% endif %}"
)
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CALL = {
    "id": "c1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
LOOP = [
    {"role": "user", "content": "Weather?"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "c1", "content": "Sunny."},
    {"role": "tool", "tool_call_id": "c2", "content": "Warm."},
]


def prompt(template: str, **body) -> str:
    request = ChatCompletionRequest.model_validate(body)
    tools = read_tool_choice(request.tools, request.tool_choice, request.parallel_tool_calls)
    card = ModelCard(name="m", context_length=2048, chat_template=template, special_tokens={})
    messages, variables = template_inputs(request, card, tools, template_supports_tools(template))
    return render_chat(template, messages, variables)


def test_a_tool_aware_template_gets_tools_and_calls_as_objects() -> None:
    text = prompt(TOOLED, messages=LOOP, tools=[TOOL])
    assert f"<tools>{json.dumps(TOOL)}</tools>" in text
    assert '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>' in text
    assert "<tool_response>Sunny.</tool_response>" in text


def test_the_fallback_describes_tools_and_rewrites_the_loop() -> None:
    text = prompt(PLAIN, messages=LOOP, tools=[TOOL])
    assert text.startswith("<|im_start|>system\nYou can call the following tools.")
    assert json.dumps(TOOL) in text and '<tool_call>{"name": "<tool name>"' in text
    assert (
        '<|im_start|>assistant\n<tool_call>{"name": "get_weather", "arguments": '
        '{"city": "Paris"}}</tool_call><|im_end|>' in text
    )
    # both results in one user turn, never a role the template does not know
    assert (
        "<|im_start|>user\n<tool_response>\nSunny.\n</tool_response>\n<tool_response>\nWarm.\n</tool_response><|im_end|>"
        in text
    )
    assert "<|im_start|>tool" not in text


def test_tool_choice_none_leaves_tools_out() -> None:
    assert "<tools>" not in prompt(TOOLED, messages=LOOP[:1], tools=[TOOL], tool_choice="none")
    assert "You can call" not in prompt(PLAIN, messages=LOOP[:1], tools=[TOOL], tool_choice="none")


def test_chat_template_kwargs_reach_the_template() -> None:
    assert prompt(
        TOOLED, messages=LOOP[:1], chat_template_kwargs={"enable_thinking": False}
    ).endswith("<think>\n\n</think>")
    with pytest.raises(InvalidRequest) as caught:
        prompt(TOOLED, messages=LOOP[:1], chat_template_kwargs={"tools": []})
    assert caught.value.param == "chat_template_kwargs.tools"
