"""Chat templates: the model's own Jinja template, rendered in a sandbox."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import InvalidRequest


class TemplateRaised(Exception):
    """A template's own `raise_exception(...)`: the conversation is one it refuses."""


def render_chat(
    template: str, messages: list[dict[str, Any]], special_tokens: dict[str, str]
) -> str:
    """The prompt text for `messages`, ending with the assistant's turn opened."""
    try:
        return _compile(template).render(
            messages=messages, add_generation_prompt=True, **special_tokens
        )
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
def _compile(source: str) -> Any:
    # The same environment options as transformers' apply_chat_template.
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda value, indent=None: json.dumps(
        value, ensure_ascii=False, indent=indent
    )
    env.globals["raise_exception"] = _raise
    return env.from_string(source)


def _raise(message: str) -> None:
    raise TemplateRaised(message)
