"""One forward pass per step: every running row's next token and newcomers' prompt chunks, packed.

A decode step alone is bound by reading the weights (16 rows on the 2-core CPU, demo model,
bf16: ~27 of its ~62 ms), a prompt chunk alone by arithmetic. Packed into one sequence of
tokens, the linear layers read their weights once for both; attention splits the tokens back
apart: the rows read the batch's left-padded KV cache (kvcache.py), each chunk its own
sequence's cache, causally. vLLM's chunked prefill does the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..internals import register_attention, sdpa_attention_forward
from ..sequence import Sequence
from . import kvcache
from .kvcache import ATTENTION, GrowingLayer

# What the model's own mask builder gets: a 4D mask is taken as-is, and the attention below
# builds the masks it needs itself.
NO_MASK = torch.ones(1, 1, 1, 1, dtype=torch.bool)


@dataclass
class Piece:
    """The next `n` prompt tokens of a waiting sequence, into its own cache."""

    seq: Sequence
    n: int
    start: int = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.seq.prefilled
        if self.seq.cache is None:
            self.seq.cache = kvcache.new_cache()

    @property
    def tokens(self) -> list[int]:
        return self.seq.prompt[self.start : self.start + self.n]

    @property
    def completes(self) -> bool:
        return self.start + self.n == len(self.seq.prompt)


class PackedStep:
    """The `past_key_values` of one packed forward pass: the first `rows` tokens are the batch's
    rows (one each), then each piece's tokens. It writes every token's keys and values where
    they belong and keeps them for the attention call of the same layer, which follows."""

    def __init__(
        self, layers: list[GrowingLayer], lengths: list[int], width: int, pieces: list[Piece]
    ):
        self.rows, self.pieces = len(lengths), pieces
        self._layers = layers
        self.kv: tuple[Any, list[tuple[torch.Tensor, torch.Tensor]]] = (None, [])
        self.mask = NO_MASK  # bool [rows, 1, 1, width + 1]: the columns each row attends to
        self.groups: list[tuple[int, int, int]] = []
        if lengths:
            # right-aligned rows: row r attends to its last lengths[r] + 1 columns
            width += 1  # the column this step's tokens take
            device = layers[0].device
            columns = torch.arange(width, device=device)
            first = width - 1 - torch.tensor(lengths, device=device).unsqueeze(1)
            self.mask = (columns >= first)[:, None, None, :]
            self.groups = kvcache.plan_row_groups([n + 1 for n in lengths], width)

    def update(
        self, keys: torch.Tensor, values: torch.Tensor, layer_idx: int, *args: Any, **kw: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch = None
        if self.rows:  # [1, kv_heads, tokens, dim] -> [rows, kv_heads, 1, dim]
            k = keys[0, :, : self.rows].transpose(0, 1).unsqueeze(2)
            v = values[0, :, : self.rows].transpose(0, 1).unsqueeze(2)
            batch = self._layers[layer_idx].update(k, v)
        chunks = []
        at = self.rows
        for piece in self.pieces:
            end = at + piece.n
            cache = piece.seq.cache
            chunks.append(cache.update(keys[:, :, at:end], values[:, :, at:end], layer_idx))
            at = end
        self.kv = (batch, chunks)
        return keys, values


def attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    packed_step: PackedStep | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention of a packed step (query [1, heads, tokens, dim]); output [1, tokens, heads, dim].

    `packed_step`: the model call's own keyword (transformers hands a forward pass's extra
    keywords to every attention call); without one (nothing here calls the model so) plain SDPA.
    """
    step = packed_step
    if step is None or dropout:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    batch, chunks = step.kv
    heads, dim = query.shape[1], query.shape[3]
    parts = []
    if step.rows:
        q = query[0, :, : step.rows].transpose(0, 1).unsqueeze(2)  # [rows, heads, 1, dim]
        out = kvcache.decode_attention(q, batch[0], batch[1], step.mask, step.groups, scaling)
        parts.append(out.reshape(1, step.rows, heads, dim))
    at = step.rows
    for piece, (k, v) in zip(step.pieces, chunks, strict=True):
        q = query[:, :, at : at + piece.n]
        # queries are the last n of the cache's k.shape[2] positions; the first chunk is plainly
        # causal, a later one sees all earlier positions too
        mask = None
        if piece.start:
            rows = torch.arange(piece.start, piece.start + piece.n, device=q.device)
            mask = (torch.arange(k.shape[2], device=q.device) <= rows[:, None])[None, None]
        out, _ = sdpa_attention_forward(module, q, k, v, mask, scaling=scaling, **kwargs)
        parts.append(out)
        at += piece.n
    return torch.cat(parts, dim=1), None


def forward(model: Any, batch: Any, pieces: list[Piece]) -> torch.Tensor:
    """One pass for the batch's rows (batching.Batch; none where no row is live) and `pieces`;
    the next-token logits of each row, then of each piece's last token ([rows + pieces, vocab]).
    """
    rows = batch.rows() if batch.live else []  # (last token, its position)
    ids = [token for token, _ in rows]
    positions = [position for _, position in rows]
    keep = list(range(len(rows)))
    for piece in pieces:
        ids += piece.tokens
        positions += range(piece.start, piece.start + piece.n)
        keep.append(len(ids) - 1)
    device = model.device
    step = PackedStep(batch.layers, positions[: len(rows)], batch.width, pieces)
    out = model(
        input_ids=torch.tensor([ids], device=device),
        position_ids=torch.tensor([positions], device=device),
        attention_mask=NO_MASK.to(device),
        past_key_values=step,
        use_cache=True,
        logits_to_keep=torch.tensor(keep, device=device),
        packed_step=step,
    )
    if rows:
        batch.advance()
    for piece in pieces:
        piece.seq.prefilled += piece.n
    logits: torch.Tensor = out.logits[0]
    return logits


def use_packed_attention(model: Any) -> None:
    """Have `model` attend through `attention` (registered under ATTENTION on first use)."""
    register_attention(ATTENTION, attention)
    model.set_attn_implementation(ATTENTION)
