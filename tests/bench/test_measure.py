"""The harness's statistics and its open-loop schedule, on synthetic records (no server)."""

from __future__ import annotations

import asyncio

import pytest

from bench.measure import (
    Send,
    Slo,
    Timing,
    open_loop,
    percentile,
    poisson_arrivals,
    summarize,
    warm_level,
)


def test_percentiles_interpolate_between_ranks_as_numpy_does() -> None:
    values = [float(v) for v in range(1, 11)]  # 1..10
    assert percentile(values, 50) == pytest.approx(5.5)
    assert percentile(values, 90) == pytest.approx(9.1)
    assert percentile(values, 99) == pytest.approx(9.91)
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 50) is None


def _request(start: float, first: float, gaps: list[float], end: float | None) -> Timing:
    arrivals, at = [(first, 1)], first
    for gap in gaps:
        at += gap
        arrivals.append((at, 1))
    return Timing(start=start, arrivals=arrivals, end=end)


def test_summary_of_synthetic_requests() -> None:
    # ten requests: TTFT 0.1 .. 1.0 s, then 4 more tokens 0.05 s apart (TPOT 50 ms),
    # except the last two, whose tokens come 0.3 s apart (TPOT 300 ms)
    timings = []
    for i in range(10):
        gap = 0.3 if i >= 8 else 0.05
        first = 0.1 * (i + 1)
        timings.append(_request(0.0, first, [gap] * 4, end=first + 4 * gap))
    figures = summarize(timings, 0.0, 10.0, Slo(ttft_ms=500, tpot_ms=100))
    assert figures["requests_completed"] == 10
    assert figures["output_tokens"] == 50
    assert figures["output_tokens_per_s"] == 5.0
    assert figures["ttft_p50_ms"] == 550.0
    assert figures["ttft_p99_ms"] == pytest.approx(991.0)
    assert figures["tpot_p50_ms"] == 50.0
    assert figures["tpot_p99_ms"] == pytest.approx(300.0)
    assert figures["itl_p50_ms"] == 50.0
    assert figures["latency_p50_ms"] == pytest.approx(750.0)
    # TTFT <= 500 ms: requests 0..4; all of them decode at 50 ms per token
    assert figures["goodput_requests_per_s"] == 0.5
    assert figures["goodput_fraction"] == 0.5
    assert figures["slo"] == {"ttft_ms": 500, "tpot_ms": 100}


def test_a_request_cut_at_the_deadline_counts_its_tokens_but_not_as_completed() -> None:
    cut = _request(0.0, 0.5, [0.1, 0.1, 0.1], end=None)
    figures = summarize([cut], 0.0, 0.75)
    assert figures["requests_completed"] == 0
    assert figures["output_tokens"] == 3  # the fourth token came after the window
    assert figures["goodput_fraction"] is None and figures["tpot_p50_ms"] is None


def test_poisson_arrivals_are_seeded_and_average_the_rate() -> None:
    arrivals = poisson_arrivals(4.0, 500.0, seed=7)
    assert arrivals == poisson_arrivals(4.0, 500.0, seed=7)
    assert arrivals != poisson_arrivals(4.0, 500.0, seed=8)
    assert arrivals == sorted(arrivals) and arrivals[0] > 0 and arrivals[-1] < 500.0
    assert len(arrivals) / 500.0 == pytest.approx(4.0, rel=0.1)  # seed 7: a fixed sample
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert sum(gaps) / len(gaps) == pytest.approx(0.25, rel=0.1)


def gated(count: int) -> tuple[Send, list[int]]:
    """A sender whose requests each deliver one token, none before `count` have started (one
    run after another would hang), and the prompt indexes it was sent, in order."""
    started: list[int] = []
    release = asyncio.Event()

    async def send(index: int, timing: Timing) -> None:
        started.append(index)
        if len(started) == count:
            release.set()
        await release.wait()
        timing.arrivals.append((timing.start, 1))

    return send, started


def test_open_loop_starts_every_request_without_waiting_for_the_last() -> None:
    send, started = gated(3)
    figures = asyncio.run(open_loop(send, [0.0, 0.01, 0.02], 30.0, prompts=2))
    assert started == [0, 1, 0]  # prompts cycle in arrival order
    assert figures["requests_sent"] == 3 and figures["requests_completed"] == 3
    assert figures["window_s"] == 30.0


def test_a_level_is_warmed_by_one_request_per_stream_all_at_once() -> None:
    send, started = gated(5)
    asyncio.run(asyncio.wait_for(warm_level(send, 5, prompts=3), 10.0))
    assert started == [0, 1, 2, 0, 1]
