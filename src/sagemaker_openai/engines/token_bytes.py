"""Token ids to the exact bytes they stand for: OpenAI's logprobs `bytes` field."""

from __future__ import annotations

from typing import Any


def token_bytes_table(tokenizer: Any) -> Any:
    """token id -> the exact bytes it stands for (byte-level BPE maps bytes to printable chars)."""
    byte_of = {ch: b for b, ch in _bytes_to_unicode().items()}
    cache: dict[int, bytes] = {}

    def token_bytes(token_id: int) -> bytes:
        if token_id not in cache:
            piece = tokenizer.convert_ids_to_tokens(token_id) or ""
            if all(ch in byte_of for ch in piece):
                cache[token_id] = bytes(byte_of[ch] for ch in piece)
            else:  # not byte-level (e.g. SentencePiece): its decoded text
                cache[token_id] = tokenizer.decode([token_id]).encode()
        return cache[token_id]

    return token_bytes


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map used by byte-level BPE vocabularies."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    keep += range(ord("®"), ord("ÿ") + 1)
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table
