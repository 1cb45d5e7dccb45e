"""Timing of streamed requests at a fixed concurrency, and the figures drawn from them."""

from __future__ import annotations

import asyncio
import json
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


async def closed_loop(
    send: Send, concurrency: int, window_s: float, prompts: int
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
    return summarize(timings, started, time.perf_counter() if not timings else deadline)


def summarize(timings: Sequence[Timing], started: float, stopped: float) -> dict[str, Any]:
    """Throughput over the window; latency figures in milliseconds."""
    window = max(stopped - started, 1e-9)
    tokens = sum(n for t in timings for at, n in t.arrivals if at <= stopped)
    ttft = [t.arrivals[0][0] - t.start for t in timings if t.arrivals]
    gaps = [b[0] - a[0] for t in timings for a, b in zip(t.arrivals, t.arrivals[1:], strict=False)]
    done = [t for t in timings if t.end is not None and t.arrivals]
    decode = [
        (t.tokens - t.arrivals[0][1]) / (t.arrivals[-1][0] - t.arrivals[0][0])
        for t in done
        if len(t.arrivals) > 1 and t.arrivals[-1][0] > t.arrivals[0][0]
    ]
    return {
        "requests_completed": len(done),
        "output_tokens": tokens,
        "window_s": round(window, 2),
        "output_tokens_per_s": round(tokens / window, 1),
        "ttft_p50_ms": _ms(_pct(ttft, 50)),
        "ttft_p95_ms": _ms(_pct(ttft, 95)),
        "itl_p50_ms": _ms(_pct(gaps, 50)),
        "latency_p50_ms": _ms(_pct([t.end - t.start for t in done if t.end], 50)),
        "decode_tokens_per_s_p50": round(statistics.median(decode), 1) if decode else None,
    }


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


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
