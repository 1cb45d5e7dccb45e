"""The batch's KV cache and the attention that reads it, without copying it at every step.

transformers' DynamicCache concatenates each step's keys onto the whole cache (a full copy per
layer per token), and its SDPA path repeats grouped-query K/V heads whenever a mask is given
(a left-padded batch always has one), another full copy. Measured on the 2-core CPU, demo model,
16 rows of ~950 tokens: 80% of a decode step's time was those two copies.
"""

from __future__ import annotations

from typing import Any

import torch

from ..internals import DynamicCache, DynamicLayer

ATTENTION = "smoai_grouped"  # registered with transformers by batch/mixed.py
GROW = 128  # spare columns allocated when a layer's buffer is full


# transformers' CacheLayerMixin.__init_subclass__ (which mypy sees called here) is unannotated.
class GrowingLayer(DynamicLayer):  # type: ignore[no-untyped-call]
    """A DynamicLayer whose keys/values are views of buffers with spare columns at the end."""

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kw: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self.hold(key_states[:, :, :0], value_states[:, :, :0])
        assert self.keys is not None and self.values is not None  # held above
        used, new = self.keys.shape[-2], key_states.shape[-2]
        if used + new > self._k.shape[-2]:
            self.hold(self.keys, self.values, spare=new + GROW)
        self._k[:, :, used : used + new] = key_states
        self._v[:, :, used : used + new] = value_states
        self.keys, self.values = self._k[:, :, : used + new], self._v[:, :, : used + new]
        return self.keys, self.values

    def adopt(self, keys: torch.Tensor, values: torch.Tensor, used: int) -> None:
        """Take buffers ([rows, heads, capacity, dim]) whose first `used` columns are the cache."""
        self._k, self._v = keys, values
        self.keys, self.values = keys[:, :, :used], values[:, :, :used]
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True

    def hold(self, keys: torch.Tensor, values: torch.Tensor, spare: int = GROW) -> None:
        """Hold exactly `keys`/`values` ([rows, heads, columns, dim]), room for `spare` more."""
        rows, heads, used, dim = keys.shape
        self._k = keys.new_empty(rows, heads, used + spare, dim)
        self._v = values.new_empty(rows, heads, used + spare, values.shape[-1])
        self._k[:, :, :used], self._v[:, :, :used] = keys, values
        self.keys, self.values = self._k[:, :, :used], self._v[:, :, :used]
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True


def new_cache() -> DynamicCache:
    cache = DynamicCache()
    cache.layer_class_to_replicate = GrowingLayer  # layers are created on first update
    return cache


def decode_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor,
    groups: list[tuple[int, int, int]],
    scaling: float | None,
) -> torch.Tensor:
    """Attention of one new token per row, query heads grouped onto their K/V head (no K/V copy).

    query [rows, heads, 1, dim]; key/value [rows, kv_heads, columns, dim] (strided views); mask
    bool [rows, 1, 1, columns] (True: attend); groups from plan_row_groups. Output [rows, 1,
    heads, dim].
    """
    if len(groups) < 2:
        return _decode_attention(query, key, value, mask, scaling)
    parts = [
        _decode_attention(
            query[a:b], key[a:b, :, c:], value[a:b, :, c:], mask[a:b, ..., c:], scaling
        )
        for a, b, c in groups
    ]
    return torch.cat(parts)


def _decode_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor,
    scaling: float | None,
) -> torch.Tensor:
    rows, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    if key.device.type == "cpu" and key.dtype != torch.float32:
        # CPU bf16 matmuls on the buffers' strided views take a slow path: measured at 64 rows x
        # 1000 columns, 12.8 ms strided vs 1.5 ms contiguous plus 1.2 ms to copy. fp32 is
        # faster strided (4.6 ms) than copied.
        key, value = key.contiguous(), value.contiguous()
    grouped = query.reshape(rows, kv_heads, heads // kv_heads, dim)
    scores = torch.matmul(grouped, key.transpose(-1, -2)).float()  # [rows, kv, group, columns]
    scores *= scaling if scaling is not None else dim**-0.5
    scores.masked_fill_(~mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(value.dtype)
    out = torch.matmul(probs, value)  # [rows, kv, group, dim]
    return out.reshape(rows, heads, 1, dim).transpose(1, 2).contiguous()


def plan_row_groups(lengths: list[int], width: int) -> list[tuple[int, int, int]]:
    """Runs of consecutive rows whose lengths are within 2x of each other.

    Rows are sorted longest first at each rebuild; a newcomer seated in an ended row's place
    may break that order, which only makes runs shorter.
    """
    groups: list[tuple[int, int, int]] = []
    start, low, high = 0, lengths[0], lengths[0]
    for i in range(1, len(lengths) + 1):
        if i < len(lengths) and max(high, lengths[i]) <= 2 * min(low, lengths[i]):
            low, high = min(low, lengths[i]), max(high, lengths[i])
            continue
        groups.append((start, i, width - high))
        if i < len(lengths):
            start, low, high = i, lengths[i], lengths[i]
    return groups
