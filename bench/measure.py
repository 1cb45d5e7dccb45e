"""Timing of streamed requests at a fixed concurrency (closed loop) or a request rate (open
loop, Poisson arrivals), and the figures drawn from them."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_TOKENS = 128


@dataclass
class Timing:
    """One request: when it started, and when each token (or chunk of tokens) arrived."""

    start: float  # perf_counter seconds
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (time, tokens in chunk)
    end: float | None = None  # set when the request completed inside the window

    @property
    def tokens(self) -> int:
        return sum(n for _, n in self.arrivals)


# A request runner: stream prompt `index`, appending arrivals to the Timing as they come.
Send = Callable[[int, Timing], Awaitable[None]]


@dataclass(frozen=True)
class Slo:
    """The service level a request must meet to count toward goodput (AIPerf's --goodput)."""

    ttft_ms: float = 2000.0  # time to first token
    tpot_ms: float = 200.0  # time per output token after the first


SLO = Slo()
WARM_UP_S = 2.0  # one stream, before any measured level: not recorded


@dataclass(frozen=True)
class Windows:
    """Seconds measured per concurrency level: `default`, or a level's own. Written `45` or
    `45,64=135` (the --window of `python -m bench` and of bench/offline.py)."""

    default: float = 45.0
    levels: tuple[tuple[int, float], ...] = ()  # (level, seconds)

    def at(self, level: int) -> float:
        return dict(self.levels).get(level, self.default)

    def __str__(self) -> str:
        return ",".join([f"{self.default:g}", *(f"{c}={s:g}" for c, s in self.levels)])

    @classmethod
    def parse(cls, text: str) -> Windows:
        """`45`, `64=135` or `45,64=135`; a user's mistake raises ValueError with one line."""
        default, levels = cls.default, {}
        try:
            for part in filter(None, (p.strip() for p in text.split(","))):
                level, _, seconds = part.rpartition("=")
                if level:
                    levels[int(level)] = float(seconds)
                else:
                    default = float(seconds)
        except ValueError:
            raise ValueError(
                f"--window {text!r}: give seconds, and LEVEL=SECONDS for a level's own"
            ) from None
        if default <= 0 or any(c < 1 or s <= 0 for c, s in levels.items()):
            raise ValueError(f"--window {text!r}: levels and seconds must be above 0")
        return cls(default, tuple(sorted(levels.items())))


async def warm_up(send: Send, prompts: int) -> None:
    """What every server gets before it is measured: one stream for WARM_UP_S seconds."""
    await closed_loop(send, 1, WARM_UP_S, prompts)


async def warm_level(send: Send, concurrency: int, prompts: int) -> None:
    """What every level gets before it is measured: one request per stream, all at once, each
    to its end, not recorded. AIPerf's warm-up phase runs at the profiled concurrency
    (--warmup-concurrency defaults to --concurrency: aiperf 0.13.0,
    config/flags/_converter_warmup.py); without it a level's opening burst is the engine's
    first sight of that batch size, the same cost in every system (bench/README.md, "The
    opening burst"), and at 16 streams it alone is TTFT p99."""
    await asyncio.gather(
        *(send(i % prompts, Timing(start=time.perf_counter())) for i in range(concurrency))
    )


async def closed_loop(
    send: Send, concurrency: int, window_s: float, prompts: int, slo: Slo = SLO
) -> dict[str, Any]:
    """`concurrency` clients, each sending its next prompt as soon as the last one ends."""
    timings: list[Timing] = []
    counter = iter(range(1 << 30))
    started = time.perf_counter()
    deadline = started + window_s

    async def client() -> None:
        while time.perf_counter() < deadline:
            timing = Timing(start=time.perf_counter())
            timings.append(timing)
            await send(next(counter) % prompts, timing)
            timing.end = time.perf_counter()

    tasks = [asyncio.create_task(client()) for _ in range(concurrency)]
    await asyncio.wait(tasks, timeout=max(0.0, deadline - time.perf_counter()))
    for task in tasks:
        task.cancel()  # requests still streaming at the deadline are cut (and counted so far)
    await asyncio.gather(*tasks, return_exceptions=True)
    return summarize(timings, started, time.perf_counter() if not timings else deadline, slo)


def poisson_arrivals(rate: float, window_s: float, seed: int = 0) -> list[float]:
    """Request start offsets (s) in [0, window_s): a Poisson process of `rate` requests/s,
    the same for every system (seeded), as AIPerf's request-rate mode draws them."""
    rng = random.Random(seed)
    offsets, at = [], rng.expovariate(rate)
    while at < window_s:
        offsets.append(at)
        at += rng.expovariate(rate)
    return offsets


async def open_loop(
    send: Send, offsets: Sequence[float], window_s: float, prompts: int, slo: Slo = SLO
) -> dict[str, Any]:
    """Requests start at `offsets` (s, from poisson_arrivals) whatever is still running (open
    loop): queueing shows in TTFT instead of slowing the arrivals down, as with real traffic."""
    timings: list[Timing] = []
    started = time.perf_counter()
    deadline = started + window_s

    async def request(index: int, at: float) -> None:
        await asyncio.sleep(max(0.0, started + at - time.perf_counter()))
        timing = Timing(start=time.perf_counter())
        timings.append(timing)
        await send(index % prompts, timing)
        timing.end = time.perf_counter()

    tasks = [asyncio.create_task(request(i, at)) for i, at in enumerate(offsets)]
    if tasks:
        await asyncio.wait(tasks, timeout=max(0.0, deadline - time.perf_counter()))
    for task in tasks:
        task.cancel()  # cut at the deadline, as the closed loop does
    await asyncio.gather(*tasks, return_exceptions=True)
    result = summarize(timings, started, deadline, slo)
    result["requests_sent"] = len(timings)
    return result


def summarize(
    timings: Sequence[Timing], started: float, stopped: float, slo: Slo = SLO
) -> dict[str, Any]:
    """Throughput over the window; latency figures in milliseconds, percentiles interpolated
    linearly between the nearest ranks (numpy's default, as AIPerf and GuideLLM report them).

    ITL is the gap between streamed chunks (a chunk may carry several tokens); TPOT is a
    request's decode time over its tokens after the first: (last - first arrival) / (n - 1).
    Goodput: completed requests per second whose TTFT and TPOT both meet `slo`."""
    window = max(stopped - started, 1e-9)
    tokens = sum(n for t in timings for at, n in t.arrivals if at <= stopped)
    ttft = [t.arrivals[0][0] - t.start for t in timings if t.arrivals]
    gaps = [b[0] - a[0] for t in timings for a, b in zip(t.arrivals, t.arrivals[1:], strict=False)]
    done = [t for t in timings if t.end is not None and t.arrivals]
    latency = [t.end - t.start for t in done if t.end is not None]
    tpot = {id(t): _tpot(t) for t in done}
    decode = [1 / v for v in tpot.values() if v]
    good = [
        t
        for t in done
        if (t.arrivals[0][0] - t.start) * 1000 <= slo.ttft_ms
        and (tpot[id(t)] or 0.0) * 1000 <= slo.tpot_ms
    ]
    figures: dict[str, Any] = {
        "requests_completed": len(done),
        "output_tokens": tokens,
        "window_s": round(window, 2),
        "output_tokens_per_s": round(tokens / window, 1),
    }
    for name, values, quantiles in (
        ("ttft", ttft, (50, 90, 95, 99)),
        ("itl", gaps, (50, 90, 99)),
        ("tpot", [v for v in tpot.values() if v is not None], (50, 90, 99)),
        ("latency", latency, (50, 90, 99)),
    ):
        for q in quantiles:
            figures[f"{name}_p{q}_ms"] = _ms(percentile(values, q))
    figures["decode_tokens_per_s_p50"] = round(statistics.median(decode), 1) if decode else None
    figures["goodput_requests_per_s"] = round(len(good) / window, 3)
    figures["goodput_fraction"] = round(len(good) / len(done), 3) if done else None
    figures["slo"] = {"ttft_ms": slo.ttft_ms, "tpot_ms": slo.tpot_ms}
    return figures


def _tpot(t: Timing) -> float | None:
    """Seconds per output token after the first; None for a one-token answer."""
    after_first = t.tokens - t.arrivals[0][1]
    span = t.arrivals[-1][0] - t.arrivals[0][0]
    return span / after_first if after_first > 0 and span > 0 else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile, linear between closest ranks (numpy.percentile's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def http_sender(url: str, path: str, prompts: Sequence[dict[str, Any]], client: Any) -> Send:
    """Stream chat completions; `/invocations` answers in JSON lines, `/v1/...` in SSE."""

    async def send(index: int, timing: Timing) -> None:
        body = {
            "model": "demo",
            "messages": prompts[index]["messages"],
            "max_tokens": MAX_TOKENS,
            "temperature": 0,
            "stream": True,
        }
        async with client.stream("POST", url + path, json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    line = line[6:]
                if not line or line == "[DONE]":
                    continue
                choices = json.loads(line).get("choices") or ()
                if choices and choices[0]["delta"].get("content"):
                    timing.arrivals.append((time.perf_counter(), 1))

    return send
