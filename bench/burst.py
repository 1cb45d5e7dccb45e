"""Bursts of simultaneous streams at an idle server: every request's time to first token.

The harness's closed loop opens each concurrency level with all its streams at once; before
2026-12-03 it did so right after a warm-up at one stream, and at 16 streams its TTFT p99 was
that opening burst (each level is now warmed at its own concurrency: measure.warm_level). This
measures the burst alone: each server is started, warmed as the harness warms it before its
first level (one stream for 2 s), then sent `--bursts` bursts of `--streams` streams (the
harness's prompts, greedy, the harness's max_tokens), one after another with a second between
them; the servers take turns, `--rounds` times. The first burst after start-up is what a
deployment's first busy moment sees; the later ones are the warm figure.
Run: .venv/bin/python -m bench.burst [--systems runtime_vllm,vllm_serve] [--streams 16]
(writes bench/results/burst-<time>-cpu.json: its servers run as the harness's CPU rows).
Another checkout's runtime is measured with PYTHONPATH=<checkout>/src, which the server
inherits.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.__main__ import _model_dir
from bench.measure import Timing, http_sender, warm_up
from bench.systems import REPO, SYSTEMS, free_port, running_server, server_command

SERVERS = {s.key: s for s in SYSTEMS if s.kind == "server"}


async def bursts(
    url: str, path: str, prompts: list[dict[str, Any]], streams: int, count: int
) -> list[dict[str, Any]]:
    """TTFTs (ms, sorted) of each burst, and its span (s) from the first send to the last end."""
    limits = httpx.Limits(max_connections=streams + 4)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(300.0)) as client:
        send = http_sender(url, path, prompts, client)
        await warm_up(send, len(prompts))

        async def one(index: int) -> tuple[float, float]:
            timing = Timing(start=time.perf_counter())
            await send(index % len(prompts), timing)
            first = timing.arrivals[0][0] if timing.arrivals else time.perf_counter()
            return first - timing.start, time.perf_counter()

        results = []
        for burst in range(count):
            started = time.perf_counter()
            done = await asyncio.gather(*(one(burst * streams + i) for i in range(streams)))
            results.append(
                {
                    "ttft_ms": sorted(round(ttft * 1000, 1) for ttft, _ in done),
                    "span_s": round(max(end for _, end in done) - started, 2),
                }
            )
            await asyncio.sleep(1)
        return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__)
    parser.add_argument("--systems", default="runtime_vllm,vllm_serve")
    parser.add_argument("--streams", type=int, default=16)
    parser.add_argument("--bursts", type=int, default=3, help="per server start [3]")
    parser.add_argument("--rounds", type=int, default=2, help="server starts per system [2]")
    parser.add_argument("--label", default="", help="recorded with the results (e.g. a commit)")
    args = parser.parse_args()
    keys = args.systems.split(",")
    unknown = [k for k in keys if k not in SERVERS]
    if unknown:
        names = ", ".join(SERVERS)
        print(
            f"error: --systems: not a server: {', '.join(unknown)} (one of {names})",
            file=sys.stderr,
        )
        sys.exit(1)
    if min(args.streams, args.bursts, args.rounds) < 1:
        print("error: --streams, --bursts and --rounds must be at least 1", file=sys.stderr)
        sys.exit(1)
    model = _model_dir("demo")
    prompts = json.loads((Path(__file__).parent / "prompts.json").read_text())["prompts"]
    runs: dict[str, list[list[dict[str, Any]]]] = {k: [] for k in keys}
    for round_ in range(args.rounds):
        for key in keys if round_ % 2 == 0 else keys[::-1]:
            command = server_command(key, model, free_port())
            with running_server(command, Path(f"/tmp/bench-burst-{key}.log")) as server:
                found = asyncio.run(
                    bursts(server.url, SERVERS[key].path, prompts, args.streams, args.bursts)
                )
            runs[key].append(found)
            print(key, [max(b["ttft_ms"]) for b in found], flush=True)
    summary = {
        key: {
            "first_burst_ttft_max_ms": [r[0]["ttft_ms"][-1] for r in rounds],
            "later_bursts_ttft_max_ms_median": (
                statistics.median(b["ttft_ms"][-1] for r in rounds for b in r[1:])
                if args.bursts > 1
                else None
            ),
        }
        for key, rounds in runs.items()
    }
    record = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "label": args.label,
        "pythonpath": os.environ.get("PYTHONPATH", ""),
        "streams": args.streams,
        "summary": summary,
        "runs": runs,
    }
    stamp = record["date"].replace(":", "-")
    out = REPO / "bench/results" / f"burst-{stamp}-cpu.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
