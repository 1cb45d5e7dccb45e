"""The transformers engine's batch rows without a model: seating a newcomer in an ended row and
rebuilding the right-aligned KV cache, checked column by column on caches whose every value
says which sequence wrote it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from sagemaker_openai.engines.transformers.batch.batching import Batch  # noqa: E402
from sagemaker_openai.engines.transformers.batch.kvcache import new_cache  # noqa: E402

LAYERS, HEADS, DIM = 2, 2, 4


def _seq(tokens: int, mark: float) -> Any:
    """A prefilled sequence whose own cache holds `tokens` columns of `mark` (values: -mark)."""
    cache = new_cache()
    for layer in range(LAYERS):
        keys = torch.full((1, HEADS, tokens, DIM), mark)
        cache.update(keys, -keys, layer)
    return SimpleNamespace(
        prefilled=tokens, cache=cache, finished=False, cancelled=False, tokens=[7], last=7
    )


def _row(batch: Batch, row: int) -> list[float]:
    """The marks in a row's columns, the same in every layer, head and dim (and values = -keys)."""
    out = []
    for layer in batch.layers:
        keys = layer.keys[row]
        assert torch.equal(layer.values[row], -keys)
        assert torch.equal(keys, keys[:1, :, :1].expand_as(keys))
        out.append(keys[0, :, 0].tolist())
    assert all(marks == out[0] for marks in out)
    return out[0]


def test_a_rebuild_right_aligns_rows_longest_first_with_zeroed_padding() -> None:
    batch = Batch("cpu")
    short, long = _seq(3, 1.0), _seq(5, 2.0)
    batch.rebuild([short, long])
    assert batch.seqs == [long, short] and batch.width == 5
    assert _row(batch, 0) == [2.0] * 5
    assert _row(batch, 1) == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert short.cache is None and long.cache is None  # their columns now live in the batch
    assert batch.rows() == [(7, 5), (7, 3)]


def test_a_newcomer_takes_an_ended_row_and_keeps_the_others_columns() -> None:
    batch = Batch("cpu")
    first, second = _seq(5, 2.0), _seq(4, 1.0)
    batch.rebuild([first, second])
    second.finished = True
    newcomer, too_long = _seq(2, 3.0), _seq(6, 4.0)
    left = batch.seat([newcomer, too_long])
    assert left == [too_long]  # wider than the batch: it waits for a rebuild
    assert batch.seqs == [first, newcomer] and newcomer.cache is None
    assert _row(batch, 0) == [2.0] * 5
    # its columns at the right; the ended row's old columns to its left, masked as padding
    assert _row(batch, 1) == [0.0, 1.0, 1.0, 3.0, 3.0]
    assert batch.rows() == [(7, 5), (7, 2)]


def test_with_no_live_row_newcomers_wait_for_a_rebuild_of_their_own() -> None:
    batch = Batch("cpu")
    only = _seq(3, 1.0)
    batch.rebuild([only])
    only.finished = True
    newcomer = _seq(2, 5.0)
    assert batch.seat([newcomer]) == [newcomer]  # no padding left over from an ended answer
    batch.rebuild([newcomer])
    assert batch.seqs == [newcomer] and batch.width == 2
    assert _row(batch, 0) == [5.0, 5.0]


def test_a_rebuild_drops_ended_and_cancelled_rows_and_narrows_to_the_longest_left() -> None:
    batch = Batch("cpu")
    a, b, c = _seq(6, 1.0), _seq(4, 2.0), _seq(2, 3.0)
    batch.rebuild([a, b, c])
    a.finished, c.cancelled = True, True
    batch.rebuild([])
    assert batch.seqs == [b] and batch.width == 4 and batch.rows() == [(7, 4)]
    assert _row(batch, 0) == [2.0] * 4  # its own columns only, no padding left
    b.finished = True
    batch.rebuild([])
    assert batch.seqs == [] and batch.width == 0 and batch.layers == []
