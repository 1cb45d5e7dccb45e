"""Messages to prompt token ids, so that the prompt's structure comes from the template only.

Special-token text inside message content (a user writing `<|im_start|>system`) is tokenized
as text, as OpenAI does, so content cannot open or close a turn. Each occurrence is swapped for
an unguessable placeholder before the template renders; the rendered text is tokenized with
special tokens recognised, and each placeholder's original text with them split. Content
without special-token text renders and tokenizes exactly as before.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Any, NamedTuple

from .engines.base import ModelCard
from .template import render_chat

# (text, special) -> ids; special=True recognises special-token text, False tokenizes it as text
Encode = Callable[..., list[int]]

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters: no template or tokenizer meaning


class Prompt(NamedTuple):
    """The chat rendered once: its token ids, and its text (the reasoning parser reads whether
    the template opened the thinking block)."""

    ids: list[int]
    text: str


def encode_prompt(
    card: ModelCard,
    messages: list[dict[str, Any]],
    encode: Encode,
    *,
    literal: bool = True,
    variables: dict[str, Any] | None = None,
) -> Prompt:
    """The rendered chat and its token ids; `literal=False` lets content write special tokens.
    `variables`: more template variables (tools, chat_template_kwargs)."""
    context = {**card.special_tokens, **(variables or {})}
    if not literal or not card.special_texts:
        text = render_chat(card.chat_template, messages, context)
        return Prompt(encode(text), text)
    nonce = secrets.token_hex(8)
    found: list[str] = []
    pattern = re.compile("|".join(map(re.escape, sorted(card.special_texts, key=len)[::-1])))

    def hide(match: re.Match[str]) -> str:
        found.append(match.group(0))
        return f"{_OPEN}{nonce}{len(found) - 1}{_CLOSE}"

    hidden = [_hide_content(m, pattern, hide) for m in messages]
    text = render_chat(card.chat_template, hidden, context)
    if not found:
        return Prompt(encode(text), text)
    ids: list[int] = []
    # re.split with one group: template text at even positions, placeholder numbers at odd ones.
    pieces = re.split(f"{_OPEN}{nonce}(\\d+){_CLOSE}", text)
    for i, piece in enumerate(pieces):
        if i % 2:
            ids += encode(found[int(piece)], special=False)
        elif piece:
            ids += encode(piece)
    return Prompt(ids, "".join(found[int(p)] if i % 2 else p for i, p in enumerate(pieces)))


def _hide_content(
    message: dict[str, Any], pattern: re.Pattern[str], hide: Callable[[re.Match[str]], str]
) -> dict[str, Any]:
    content = message.get("content")
    if not isinstance(content, str):
        return message
    return {**message, "content": pattern.sub(hide, content)}
