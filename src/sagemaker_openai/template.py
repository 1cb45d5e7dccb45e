"""Chat templates: the model's own Jinja template, rendered in a sandbox.

The environment is transformers' (`apply_chat_template`, transformers 5.x
`utils/chat_template_utils.py`): the same options, extensions, filters and globals, so a
template that renders there renders here, to the same text.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2.ext
from jinja2 import Template, TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import InvalidRequest


class TemplateRaised(Exception):
    """A template's own `raise_exception(...)`: the conversation is one it refuses."""


def render_chat(
    template: str, messages: list[dict[str, Any]], special_tokens: dict[str, str]
) -> str:
    """The prompt text for `messages`, ending with the assistant's turn opened."""
    try:
        # tools and documents default to None, as transformers does: templates test them.
        # `special_tokens` may also carry tools and chat_template_kwargs.
        context = {"tools": None, "documents": None, **special_tokens}
        return _compile(template).render(messages=messages, add_generation_prompt=True, **context)
    except TemplateRaised as exc:
        raise InvalidRequest(
            f"The model's chat template rejected the messages: {exc}", param="messages"
        ) from None
    except (TemplateError, TypeError, ValueError, LookupError, AttributeError) as exc:
        # what the messages' shapes can make a template do (index a missing key, add a str
        # to a list, ...): a request the template cannot take, never a fault of ours
        raise InvalidRequest(
            f"The model's chat template failed on these messages: {exc}", param="messages"
        ) from None


@lru_cache(maxsize=8)
def _compile(source: str) -> Template:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_Generation, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # transformers' signature: Jinja's own tojson would HTML-escape and sort keys.
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


def _raise(message: str) -> None:
    raise TemplateRaised(message)


class _Generation(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` (transformers' assistant-mask tag) renders its body.

    transformers uses the tag only to find assistant tokens for training masks; for a prompt
    it is transparent.
    """

    tags = {"generation"}

    def parse(self, parser: Any) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller: Any) -> str:
        return str(caller())
