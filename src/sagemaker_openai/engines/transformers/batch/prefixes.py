"""Prompt prefixes' keys and values kept after their prefill, so a later prompt starting the same
way (the same system prompt, the next turn of a conversation, a retried request) prefills only
what is new. vLLM's automatic prefix caching, in blocks of BLOCK tokens; least recently used
prompts go first when the byte budget is full.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch

from .kvcache import new_cache

BLOCK = 32  # a prefix is found at a multiple of this many tokens


class Entry:
    """One prompt's cache: per layer, keys and values [1, kv_heads, tokens, dim]."""

    def __init__(self, tokens: list[int], layers: list[tuple[torch.Tensor, torch.Tensor]]):
        self.tokens = tokens
        self.layers = layers
        self.hashes = _chain(tokens)  # the keys it is found by
        self.bytes = sum(
            k.untyped_storage().nbytes() + v.untyped_storage().nbytes() for k, v in layers
        )


class PrefixCache:
    def __init__(self, budget_bytes: int):
        self._budget = budget_bytes
        self._used = 0
        self._entries: OrderedDict[int, Entry] = OrderedDict()  # by id, least recent first
        self._blocks: dict[int, Entry] = {}  # chained hash of a prompt's first blocks -> entry

    def lookup(self, prompt: list[int]) -> tuple[Any, int]:
        """A new cache holding the longest known prefix of `prompt` and its length (0: none).

        At least the prompt's last token is left to prefill: its logits give the first token.
        """
        hashes = _chain(prompt[: len(prompt) - 1])
        for blocks in range(len(hashes), 0, -1):
            entry = self._blocks.get(hashes[blocks - 1])
            n = blocks * BLOCK
            if entry is None or entry.tokens[:n] != prompt[:n]:
                continue
            self._entries.move_to_end(id(entry))
            cache = new_cache()
            for i, (keys, values) in enumerate(entry.layers):
                cache.update(keys[:, :, :n], values[:, :, :n], i)  # copied into the new cache
            return cache, n
        return None, 0

    def store(self, prompt: list[int], cache: Any) -> None:
        """Keep a fully prefilled prompt's cache (views of its buffers: nothing is copied)."""
        if self._budget <= 0 or len(prompt) < BLOCK:
            return
        n = len(prompt)
        entry = Entry(
            prompt, [(layer.keys[:, :, :n], layer.values[:, :, :n]) for layer in cache.layers]
        )
        if entry.bytes > self._budget:
            return
        for h in entry.hashes:
            self._blocks[h] = entry  # a newer prompt with the same start serves it from now on
        self._entries[id(entry)] = entry
        self._used += entry.bytes
        while self._used > self._budget:
            _, old = self._entries.popitem(last=False)
            self._used -= old.bytes
            for h in old.hashes:
                if self._blocks.get(h) is old:
                    del self._blocks[h]


def _chain(tokens: list[int]) -> list[int]:
    """Hash of the first 1, 2, ... whole blocks of `tokens`, each chained onto the one before."""
    hashes: list[int] = []
    h = 0
    for start in range(0, len(tokens) - BLOCK + 1, BLOCK):
        h = hash((h, *tokens[start : start + BLOCK]))
        hashes.append(h)
    return hashes
