"""What every engine reads from a Hugging Face tokenizer: the model card, EOS ids, encoding."""

from __future__ import annotations

from typing import Any

from .base import ModelCard


def model_card(
    tokenizer: Any,
    *,
    name: str,
    context_length: int,
    features: frozenset[str] = frozenset(),
    vocab_size: int = 0,
) -> ModelCard:
    """The card for a tokenizer; a model without a chat template cannot serve chat."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise ValueError("the model folder has no chat template in its tokenizer files")
    special = (("bos_token", tokenizer.bos_token), ("eos_token", tokenizer.eos_token))
    return ModelCard(
        name=name,
        context_length=context_length,
        chat_template=template,
        special_tokens={k: v for k, v in special if isinstance(v, str)},
        features=features,
        vocab_size=vocab_size,
        special_texts=special_texts(tokenizer),
    )


def eos_ids(*values: object) -> set[int]:
    """Token ids that end a sequence, from config fields that hold an id, a list or None."""
    ids: set[int] = set()
    for value in values:
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids.update(v for v in value if isinstance(v, int))
    return ids


def encode(tokenizer: Any, text: str, special: bool = True) -> list[int]:
    """Token ids of templated text; special=False tokenizes special-token text as text."""
    return list(tokenizer.encode(text, add_special_tokens=False, split_special_tokens=not special))


def special_texts(tokenizer: Any) -> frozenset[str]:
    """The text of the tokenizer's special tokens (those split_special_tokens splits)."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return frozenset(t.content for t in added.values() if getattr(t, "special", False))
