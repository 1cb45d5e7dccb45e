"""What every engine reads from a Hugging Face tokenizer: the model card, EOS ids, encoding."""

from __future__ import annotations

import threading
from typing import Any

from .base import ModelCard


def model_card(
    tokenizer: Any,
    *,
    name: str,
    context_length: int,
    features: frozenset[str] = frozenset(),
    vocab_size: int = 0,
    token_capacity: int = 0,
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
        token_capacity=token_capacity,
        max_token_chars=_max_token_chars(tokenizer),
        special_texts=special_texts(tokenizer),
    )


def _max_token_chars(tokenizer: Any) -> int:
    """Characters of the longest vocabulary entry, +1 for a SentencePiece word-start mark that
    decodes to a space (a byte-level entry's characters are bytes: never fewer than it decodes
    to)."""
    try:
        vocab = tokenizer.get_vocab()
    except Exception:  # a tokenizer without a vocabulary listing: skip the cheap check
        return 0
    return max(map(len, vocab), default=0) + 1


def eos_ids(*values: object) -> set[int]:
    """Token ids that end a sequence, from config fields that hold an id, a list or None."""
    ids: set[int] = set()
    for value in values:
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids.update(v for v in value if isinstance(v, int))
    return ids


class Encoder:
    """Token ids of templated text, one encoding at a time; special=False tokenizes
    special-token text as text.

    Prompts are planned in worker threads, several at once. A Hugging Face fast tokenizer is
    not safe to share between them: `split_special_tokens` is a flag it sets on its one Rust
    tokenizer before encoding (transformers 5.19, tokenization_utils_tokenizers.py,
    `_encode_plus`), so a prompt encoded while another thread encodes literal content can have
    its special tokens split, or the content's joined. vLLM shares its tokenizer through a pool
    (vllm/tokenizers/hf.py, 0.32.0, `maybe_make_thread_pool`: `renderer_num_workers` + 1
    copies) that deep-copies the tokenizer whenever a borrow finds it empty, under the GIL:
    0.13-0.66 s per copy for the demo model's, and up to asyncio's default executor's thread
    count of them in the first burst of requests after start-up. One lock serializes ours:
    encoding is the Rust tokenizer's work, short beside the rest of planning."""

    def __init__(self, tokenizer: Any):
        self._tokenizer = tokenizer
        self._lock = threading.Lock()

    def __call__(self, text: str, special: bool = True) -> list[int]:
        with self._lock:
            ids = self._tokenizer.encode(
                text, add_special_tokens=False, split_special_tokens=not special
            )
        return list(ids)


def special_texts(tokenizer: Any) -> frozenset[str]:
    """The text of the tokenizer's special tokens (those split_special_tokens splits)."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return frozenset(t.content for t in added.values() if getattr(t, "special", False))
