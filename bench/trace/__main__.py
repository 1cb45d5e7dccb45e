"""The timeline of each burst in a trace (bench/trace/sitecustomize.py says how to record one):
`python -m bench.trace FILE [--streams 64]`. Per server start and per burst (a run of
`--streams` request bodies arriving within 2 s), milliseconds from the burst's first body to
the first, median and last of: bodies, generate calls, engine-core adds and first outputs;
then the engine's steps up to the last first output (tokens per step, median step time)."""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any


def spread(times: list[float], t0: float) -> list[int]:
    ordered = sorted(times)
    return [round((t - t0) * 1000) for t in (ordered[0], ordered[len(ordered) // 2], ordered[-1])]


def bursts(events: list[list[Any]], streams: int) -> list[str]:
    by_pid: dict[int, list[list[Any]]] = defaultdict(list)
    for event in events:
        by_pid[event[1]].append(event)
    span = {pid: (es[0][0], es[-1][0]) for pid, es in by_pid.items()}
    apis = [p for p, es in by_pid.items() if any(e[2] == "body" for e in es)]
    cores = [p for p, es in by_pid.items() if any(e[2] == "sched" for e in es)]
    lines = []
    for api in sorted(apis, key=lambda p: span[p][0]):
        ours = by_pid[api]
        theirs = [e for c in cores if span[c][0] <= span[api][1] and span[c][1] >= span[api][0]
                  for e in by_pid[c]]  # fmt: skip
        bodies = [e[0] for e in ours if e[2] == "body"]
        lines.append(f"server process {api}")
        i = 0
        while i + streams <= len(bodies):
            # a burst opens with bodies close together (the warm-up's one stream does not)
            if bodies[i + streams - 1] - bodies[i] >= 2.0 or bodies[i + 1] - bodies[i] >= 0.1:
                i += 1
                continue
            t0, until = bodies[i], bodies[i + streams - 1] + 120

            def times(
                kind: str, among: list[list[Any]], t0: float = t0, until: float = until
            ) -> list[float]:
                return [e[0] for e in among if e[2] == kind and t0 <= e[0] < until][:streams]

            firsts = times("first", ours)
            steps = [e for e in theirs if e[2] == "sched" and t0 <= e[0] <= max(firsts)]
            gaps = [b[0] - a[0] for a, b in zip(steps, steps[1:], strict=False)]
            lines.append(
                f"  burst: body {spread(bodies[i : i + streams], t0)} "
                f"gen {spread(times('gen', ours), t0)} "
                f"core_add {spread(times('core_add', theirs), t0)} first {spread(firsts, t0)}"
            )
            lines.append(
                f"    {len(steps)} steps to the last first output, tokens "
                f"{[s[4] for s in steps]}, median step {statistics.median(gaps) * 1000:.0f} ms"
                if gaps
                else "    one step"
            )
            i += streams
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.trace", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--streams", type=int, default=64)
    args = parser.parse_args()
    events = [json.loads(line) for line in args.file.read_text().splitlines()]
    print("\n".join(bursts(events, args.streams)))


if __name__ == "__main__":
    main()
