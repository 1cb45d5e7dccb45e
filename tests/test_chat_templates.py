"""Every template that renders in transformers renders here, to the same text.

The fixtures are the chat templates of popular model families (tests/fixtures/chat_templates,
sources in SOURCES.md); the reference is transformers' own `apply_chat_template`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jinja2 import TemplateError
from transformers import AutoTokenizer

from sagemaker_openai.errors import InvalidRequest
from sagemaker_openai.template import render_chat

FIXTURES = Path(__file__).parent / "fixtures" / "chat_templates"
TEMPLATES = sorted(p.name for p in FIXTURES.glob("*.jinja"))

CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "user": [{"role": "user", "content": "  Hello, who are you?  "}],
    "system": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "héllo ✓"},
    ],
    "turns": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
        {"role": "user", "content": "and 3+3?"},
    ],
    "not alternating": [
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
    ],
}


@pytest.fixture(scope="module")
def tokenizer(demo_model_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(demo_model_dir)


def _transformers(tokenizer: Any, template: str, messages: list[dict[str, Any]]) -> str:
    text = tokenizer.apply_chat_template(
        messages, chat_template=template, tokenize=False, add_generation_prompt=True
    )
    return str(text)


def test_at_least_five_families_are_fixtures() -> None:
    families = {name.split("-")[0].rstrip(".0123456789") for name in TEMPLATES}
    assert len(families) >= 5, families


@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
@pytest.mark.parametrize("name", TEMPLATES)
def test_renders_as_transformers_does(tokenizer: Any, name: str, conversation: str) -> None:
    template = (FIXTURES / name).read_text()
    messages = CONVERSATIONS[conversation]
    special = {k: v for k, v in tokenizer.special_tokens_map.items() if isinstance(v, str)}
    try:
        expected = _transformers(tokenizer, template, messages)
    except TemplateError as exc:  # the template refuses: ours refuses with its message
        with pytest.raises(InvalidRequest, match="chat template") as refused:
            render_chat(template, messages, special)
        assert str(exc) in str(refused.value)
        return
    assert render_chat(template, messages, special) == expected


def test_the_environment_has_transformers_extensions_and_globals(tokenizer: Any) -> None:
    template = (
        "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}"
        "{% if m.role == 'system' %}{% continue %}{% endif %}"
        "{% generation %}[{{ m.content }}]{% endgeneration %}{% endfor %}"
        "{{ strftime_now('%Y') | length }}{{ messages[0] | tojson(indent=1, sort_keys=true) }}"
        "{{ {'b': 1, 'a': 2} | tojson(separators=(',', ':')) }}"
    )
    messages = [{"role": "user", "content": "x"}, {"role": "user", "content": "y"}]
    rendered = render_chat(template, messages, {})
    assert rendered == _transformers(tokenizer, template, messages)
    assert rendered.startswith('[x]4{\n "content": "x",\n "role": "user"\n}{"b":1,"a":2}')
