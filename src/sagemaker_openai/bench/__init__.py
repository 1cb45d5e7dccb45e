"""The benchmark: this runtime against vLLM's own server, vLLM alone and plain transformers."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import platform
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .measure import MAX_TOKENS, closed_loop, http_sender
from .report import write_reports
from .systems import (
    SYSTEMS,
    PeakMemory,
    free_port,
    offline_command,
    running_server,
    server_command,
)

log = logging.getLogger(__name__)

LEVELS = (1, 4, 16, 64)


@dataclass(frozen=True)
class BenchOptions:
    model_dir: Path
    prompts: Path  # bench/prompts.json
    results_dir: Path  # bench/results
    readme: Path | None  # README.md whose benchmark section is replaced; None: leave it
    levels: tuple[int, ...] = LEVELS
    window_s: float = 45.0  # measured seconds per system and concurrency level
    systems: tuple[str, ...] = tuple(s.key for s in SYSTEMS)


def quick(options: BenchOptions) -> BenchOptions:
    """A smoke run: three levels, short windows (figures are rough)."""
    from dataclasses import replace

    return replace(options, levels=(1, 4, 16), window_s=8.0, readme=None)


def run_bench(options: BenchOptions) -> Path:
    """Run every chosen system at every level; write JSON, Markdown and PNG; return the JSON."""
    prompts = json.loads(options.prompts.read_text())["prompts"]
    results: dict[str, Any] = {}
    for system in SYSTEMS:
        if system.key not in options.systems:
            continue
        log.info("bench: %s", system.label)
        began = time.perf_counter()
        if system.kind == "server":
            results[system.key] = _bench_server(system.key, system.path, prompts, options)
        else:
            results[system.key] = _bench_offline(system.key, options)
        results[system.key]["label"] = system.label
        log.info("bench: %s done in %.0f s", system.key, time.perf_counter() - began)
    record = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": _cpus(), "platform": platform.platform()},
        "model": options.model_dir.name,
        "max_tokens": MAX_TOKENS,
        "window_s": options.window_s,
        "levels": list(options.levels),
        "prompts": len(prompts),
        "systems": results,
    }
    return write_reports(record, options.results_dir, options.readme)


def _bench_server(key: str, path: str, prompts: list[dict], options: BenchOptions) -> dict:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log_file = Path(tmp) / f"{key}.log"
        try:
            with running_server(server_command(key, options.model_dir, port), log_file) as server:
                levels = asyncio.run(_drive(server.url, path, prompts, options))
                return {
                    "startup_s": round(server.startup_s, 1),
                    "peak_memory_mib": round(server.memory.peak / 2**20),
                    "levels": levels,
                }
        except RuntimeError:
            log.error("bench: %s failed:\n%s", key, log_file.read_text()[-4000:])
            raise


async def _drive(url: str, path: str, prompts: list[dict], options: BenchOptions) -> dict:
    limits = httpx.Limits(max_connections=max(options.levels) + 4)
    timeout = httpx.Timeout(300.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        send = http_sender(url, path, prompts, client)
        await closed_loop(send, 1, 2.0, len(prompts))  # warm-up, not recorded
        levels = {}
        for level in options.levels:
            levels[str(level)] = await closed_loop(send, level, options.window_s, len(prompts))
            log.info("bench:   c=%d %s", level, levels[str(level)])
        return levels


def _bench_offline(key: str, options: BenchOptions) -> dict:
    levels = list(options.levels) if key == "engine_alone" else [1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = offline_command(
            key, options.model_dir, options.prompts, out, levels, options.window_s
        )
        started = time.perf_counter()
        process = subprocess.Popen(command)
        memory = PeakMemory(process.pid)
        code = process.wait()
        peak = memory.stop()
        if code != 0:
            raise RuntimeError(f"{key} exited with {code}")
        result = json.loads(out.read_text())
    log.info("bench:   %s %s (%.0f s)", key, result["levels"], time.perf_counter() - started)
    return {
        "startup_s": result["load_s"],
        "peak_memory_mib": round(peak / 2**20),
        "levels": result["levels"],
    }


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
