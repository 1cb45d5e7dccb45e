"""Chat templates render in a sandbox; a template's refusal or failure is the request's 400."""

from __future__ import annotations

import pytest

from sagemaker_openai.errors import InvalidRequest
from sagemaker_openai.template import render_chat

HI = [{"role": "user", "content": "héllo"}]
SIMPLE = (
    "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def test_renders_messages_then_opens_the_assistant_turn() -> None:
    assert render_chat(SIMPLE, HI, {}) == "<user>héllo\n<assistant>"


def test_special_tokens_reach_the_template() -> None:
    assert (
        render_chat("{{ bos_token }}{{ eos_token }}", HI, {"bos_token": "<s>", "eos_token": "</s>"})
        == "<s></s>"
    )


def test_tojson_keeps_unicode_as_transformers_does() -> None:
    assert (
        render_chat("{{ messages[0] | tojson }}", HI, {}) == '{"role": "user", "content": "héllo"}'
    )


def test_blocks_are_trimmed_as_in_transformers() -> None:
    assert render_chat("{% if true %}\n  x{% endif %}", HI, {}) == "  x"


def test_raise_exception_is_a_400_naming_messages() -> None:
    with pytest.raises(InvalidRequest) as caught:
        render_chat("{{ raise_exception('no system role') }}", HI, {})
    assert caught.value.param == "messages" and "no system role" in caught.value.message


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",  # the sandbox refuses private attributes
        "{{ messages.append(1) }}",  # and mutating the request (immutable sandbox)
        "{{ 1 + 'a' }}",
    ],
)
def test_a_failing_template_is_a_400_not_a_crash(template: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        render_chat(template, HI, {})
    assert caught.value.status == 400 and caught.value.param == "messages"
