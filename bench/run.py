"""Run every chosen system at every level on one device, and record what it ran on."""

from __future__ import annotations

import asyncio
import datetime
import importlib.util
import json
import logging
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from . import aiperf
from .hardware import GpuSampler, cpu_info, describe_device
from .measure import (
    MAX_TOKENS,
    SLO,
    Slo,
    Windows,
    closed_loop,
    http_sender,
    open_loop,
    poisson_arrivals,
    warm_level,
    warm_up,
)
from .report import write_reports
from .systems import (
    REPO,
    SYSTEMS,
    PeakMemory,
    Running,
    System,
    cpu_s,
    free_port,
    offline_command,
    running_server,
    server_command,
    tree_cpu_s,
)

log = logging.getLogger(__name__)

LEVELS = (1, 4, 16, 64)
# Open-loop request rates (requests/s): on 2 CPU cores the runtime completes about 4/s
RATES = {"cpu": (1.0, 2.0, 4.0), "cuda": (4.0, 16.0, 64.0)}
# Measured seconds per level. On 2 CPU cores a request at 64 streams lives 21-27 s, so 45 s
# held under two lifetimes and the level's figures were mostly its opening burst of 64
# (bench/README.md, "Windows at 64 streams"); 135 s holds five or more. On GPUs it lives ~2 s.
WINDOWS = {"cpu": Windows(45.0, ((64, 135.0),)), "cuda": Windows(45.0)}


@dataclass(frozen=True)
class BenchOptions:
    model_dir: Path
    prompts: Path  # bench/prompts.json
    results_dir: Path  # bench/results
    readme: Path | None  # README.md whose benchmark section is replaced; None: leave it
    device: str = "cpu"  # cpu or cuda (resolved from --device before this point)
    levels: tuple[int, ...] = LEVELS
    windows: Windows = WINDOWS["cpu"]  # measured seconds per system and concurrency level
    systems: tuple[str, ...] = tuple(s.key for s in SYSTEMS)
    rates: tuple[float, ...] = ()  # open-loop request rates, each for windows.default
    slo: Slo = SLO  # what a request must meet to count toward goodput
    passes: int = 1  # every system this many times, the order reversed every other pass
    # the servers' systems with their servers all up at once, driven in turn window by window
    interleave: bool = False


def quick(options: BenchOptions) -> BenchOptions:
    """A smoke run: three levels, short windows (figures are rough)."""
    return replace(options, levels=(1, 4, 16), windows=Windows(8.0), rates=options.rates[:1])


def run_bench(options: BenchOptions) -> Path:
    """Run every chosen system at every level; write JSON, Markdown and PNG; return the JSON."""
    prompts = json.loads(options.prompts.read_text())["prompts"]
    device = describe_device(options.device)
    skipped: dict[str, str] = {}
    chosen = []
    for system in SYSTEMS:
        if system.key not in options.systems:
            continue
        if system.needs_vllm and importlib.util.find_spec("vllm") is None:
            skipped[system.key] = "vLLM is not installed"
            log.warning("bench: %s left out: vLLM is not installed", system.label)
        elif system.kind == "aiperf" and not aiperf.installed():
            skipped[system.key] = "AIPerf is not installed (make install-aiperf)"
            log.warning("bench: %s left out: AIPerf is not installed", system.label)
        else:
            chosen.append(system)
    runs: dict[str, list[dict[str, Any]]] = {s.key: [] for s in chosen}
    together = [s for s in chosen if options.interleave and _shares_a_server(s)]
    if together:
        runs.update(_bench_interleaved(together, prompts, options))
    alone = [s for s in chosen if s not in together]
    for n in range(options.passes):
        # reversed every other pass, so that no system is always measured last (ABBA)
        for system in alone if n % 2 == 0 else alone[::-1]:
            log.info("bench: %s on %s (pass %d of %d)", system.label, device["name"], n + 1,
                     options.passes)  # fmt: skip
            began = time.perf_counter()
            with _gpu_sampled(options.device) as gpu:
                result = _bench_system(system, prompts, options)
            result.update(label=system.label, gpu=gpu or None)
            runs[system.key].append(result)
            log.info("bench: %s done in %.0f s", system.key, time.perf_counter() - began)
    results = {key: median_of_passes(passes) for key, passes in runs.items()}
    record = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device": device,
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "cpu": cpu_info(),
            "platform": platform.platform(),
        },
        "model": options.model_dir.name,
        "max_tokens": MAX_TOKENS,
        "window_s": options.windows.default,
        "level_windows": {str(c): s for c, s in options.windows.levels},
        "passes": options.passes,
        "interleaved": [s.key for s in together],
        "levels": list(options.levels),
        "rates": list(options.rates),
        "slo": {"ttft_ms": options.slo.ttft_ms, "tpot_ms": options.slo.tpot_ms},
        "prompts": len(prompts),
        "transformers_engine_device": _engine_device_note(options.device),
        "skipped": skipped,
        "systems": results,
    }
    return write_reports(record, options.results_dir, options.readme)


def median_of_passes(passes: list[dict[str, Any]]) -> dict[str, Any]:
    """One system's result from its passes: each level's and rate's figures the median over
    the passes (the mean of two), start-up the median, peak memory the highest, the label and
    GPU utilisation as in the first pass; each pass's own figures kept under `passes`. One
    pass is returned as it is."""
    if len(passes) == 1:
        return passes[0]
    result = dict(passes[0])
    for part in ("levels", "rates"):
        result[part] = {
            key: _median_figures([p[part][key] for p in passes]) for key in passes[0][part]
        }
    result["startup_s"] = round(statistics.median(p["startup_s"] for p in passes), 1)
    result["peak_memory_mib"] = max(p["peak_memory_mib"] for p in passes)
    result["passes"] = [{"levels": p["levels"], "rates": p["rates"]} for p in passes]
    return result


def _median_figures(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the passes that have it (None where none has it);
    values that are not figures (the SLO, a tool's name) as in the first pass."""
    merged: dict[str, Any] = {}
    for key, first in figures[0].items():
        if first is not None and not _is_number(first):
            merged[key] = first
            continue
        numbers = [f[key] for f in figures if _is_number(f.get(key))]
        merged[key] = round(statistics.median(numbers), 3) if numbers else None
    return merged


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@contextmanager
def _gpu_sampled(device: str) -> Iterator[dict[str, Any]]:
    """Yields a dict filled, on exit, with GPU utilisation over the block (empty on CPU)."""
    figures: dict[str, Any] = {}
    sampler = GpuSampler() if device == "cuda" else None
    try:
        yield figures
    finally:
        if sampler:
            figures.update(sampler.stop())


def _bench_system(
    system: System, prompts: list[dict[str, Any]], options: BenchOptions
) -> dict[str, Any]:
    if system.kind == "server":
        return _bench_server(system.key, system.path, prompts, options)
    if system.kind == "aiperf":
        return _bench_aiperf(system.key, system.path, prompts, options)
    return _bench_offline(system.key, options)


def _device_setting() -> str | None:
    """The product's environment variable that picks the transformers engine's device, if any."""
    from sagemaker_openai import settings

    return settings.ENV.get("device")


def _engine_device_note(device: str) -> str:
    variable = _device_setting()
    if variable:
        return f"{device} ({variable}={device})"
    return "the engine's own choice: this version of the product has no device setting"


def _server_env(key: str, device: str) -> dict[str, str]:
    env = dict(os.environ)
    variable = _device_setting()
    if key == "runtime_transformers" and variable:
        env[variable] = device
    return env


@contextmanager
def _started(
    key: str, options: BenchOptions, tmp: str, port: int | None = None
) -> Iterator[Running]:
    """The server of system `key` (an AIPerf row's key starts the harness row's server, and the
    emulator in front of it where the key says so), on `port` or a free one; the last lines of
    its log are logged when it fails to start or while it is measured."""
    base = key.removeprefix("aiperf_").removeprefix("emulator_")
    command = server_command(key, options.model_dir, port or free_port(), options.device)
    log_file = Path(tmp) / f"{key}.log"
    try:
        with running_server(command, log_file, _server_env(base, options.device)) as server:
            yield server
    except RuntimeError:
        log.error("bench: %s failed:\n%s", key, log_file.read_text()[-4000:])
        raise


def _server_figures(server: Running) -> dict[str, Any]:
    return {
        "startup_s": round(server.startup_s, 1),
        "peak_memory_mib": round(server.memory.peak / 2**20),
    }


def _bench_server(
    key: str, path: str, prompts: list[dict[str, Any]], options: BenchOptions
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, _started(key, options, tmp) as server:
        levels, rates = asyncio.run(_drive(server.url, path, prompts, options))
        return {**_server_figures(server), "levels": levels, "rates": rates}


def _bench_aiperf(
    key: str, path: str, prompts: list[dict[str, Any]], options: BenchOptions
) -> dict[str, Any]:
    """The server started as for the harness's own row, each level and rate driven by AIPerf."""
    via_emulator = "emulator" in key  # AIPerf talks to the emulator, one port up
    port = free_port(pair=via_emulator)
    token = aiperf.emulator_token() if via_emulator else None
    with tempfile.TemporaryDirectory() as tmp, _started(key, options, tmp, port) as server:
        url = f"http://127.0.0.1:{port + 1}" if via_emulator else server.url
        levels = {
            str(c): _aiperf_window(url, path, prompts, options, ("level", c), token)
            for c in options.levels
        }
        rates = {
            f"{r:g}": _aiperf_window(url, path, prompts, options, ("rate", r), token)
            for r in options.rates
        }
        return {**_server_figures(server), "levels": levels, "rates": rates,
                "tool": f"aiperf {aiperf.version()}"}  # fmt: skip


# A measured load: ("level", concurrency) in a closed loop, or ("rate", requests/s) in an open one
Load = tuple[str, float]


def _loads(options: BenchOptions) -> list[Load]:
    return [("level", c) for c in options.levels] + [("rate", r) for r in options.rates]


def _load_key(load: Load) -> tuple[str, str]:
    """Where a load's figures go in a result: ("levels", "16") or ("rates", "2")."""
    part, value = load
    return (part + "s", str(int(value)) if part == "level" else f"{value:g}")


def _client(options: BenchOptions) -> httpx.AsyncClient:
    # an open loop can hold many requests at once: connections are not what limits it
    limits = httpx.Limits(max_connections=max(options.levels) + 4 + 256 * bool(options.rates))
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(300.0))


async def _drive(
    url: str, path: str, prompts: list[dict[str, Any]], options: BenchOptions
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each concurrency level (closed loop, warmed at its concurrency first), then each
    request rate (open loop)."""
    async with _client(options) as client:
        send = http_sender(url, path, prompts, client)
        await warm_up(send, len(prompts))
        figures: dict[str, dict[str, Any]] = {"levels": {}, "rates": {}}
        for load in _loads(options):
            part, key = _load_key(load)
            figures[part][key] = await _harness_window(client, url, path, prompts, options, load)
        return figures["levels"], figures["rates"]


async def _harness_window(
    client: httpx.AsyncClient,
    url: str,
    path: str,
    prompts: list[dict[str, Any]],
    options: BenchOptions,
    load: Load,
) -> dict[str, Any]:
    """One load measured by the harness: a level warmed at its concurrency first, then its
    closed loop; a rate's open loop, then the wait until its cut requests have left."""
    send = http_sender(url, path, prompts, client)
    part, value = load
    if part == "level":
        level = int(value)
        await warm_level(send, level, len(prompts))
        figures = await closed_loop(
            send, level, options.windows.at(level), len(prompts), options.slo
        )
    else:
        window = options.windows.default
        offsets = poisson_arrivals(value, window)
        figures = await open_loop(send, offsets, window, len(prompts), options.slo)
        await _settle(client, url)
    log.info("bench:   %s=%g %s", part, value, figures)
    return figures


def _aiperf_window(
    url: str,
    path: str,
    prompts: list[dict[str, Any]],
    options: BenchOptions,
    load: Load,
    token: str | None = None,
) -> dict[str, Any]:
    """One load measured by AIPerf (its own warm-up first: bench/aiperf.py)."""
    part, value = load
    args = (url, path, options.model_dir, prompts)
    if part == "level":
        level = int(value)
        figures = aiperf.run(
            *args, options.windows.at(level), options.slo, concurrency=level, api_key=token
        )
    else:
        figures = aiperf.run(*args, options.windows.default, options.slo, rate=value, api_key=token)
    log.info("bench:   AIPerf %s=%g %s", part, value, figures)
    return figures


def _shares_a_server(system: System) -> bool:
    """Driven over HTTP on a server of its own (not through the emulator, which needs its
    own port beside its server): such systems can keep one server each up together."""
    return system.kind == "server" or (system.kind == "aiperf" and "emulator" not in system.key)


def _bench_interleaved(
    systems: list[System], prompts: list[dict[str, Any]], options: BenchOptions
) -> dict[str, list[dict[str, Any]]]:
    """`--interleave`: every system's server started once and all kept up together (a system
    driven by AIPerf shares its server with the harness's row); then each load measured one
    system at a time, one window each, the systems' order reversed every other pass. Two
    systems next to each other are then minutes apart at most, so the machine's own drift
    (a server moved 10% between measurements minutes apart here: bench/README.md) weighs on
    their ratio less than when each system runs all its loads in a fresh start of its own.

    Each window's figures get `server_cpu_s`, the CPU seconds of the measured server's own
    process (its HTTP and API work: vLLM's engine core is a child process, left out), and
    `others_cpu_s`, those the servers not being measured used meanwhile (what an idle server
    took from the one measured); both over the whole window, its warm-up included."""
    runs: dict[str, list[dict[str, Any]]] = {
        s.key: [{"levels": {}, "rates": {}} for _ in range(options.passes)] for s in systems
    }
    bases = {s.key: s.key.removeprefix("aiperf_") for s in systems}
    with (
        _gpu_sampled(options.device) as gpu,
        tempfile.TemporaryDirectory() as tmp,
        ExitStack() as stack,
    ):
        servers: dict[str, Running] = {}
        for base in dict.fromkeys(bases.values()):
            log.info("bench: starting %s (kept up with the others)", base)
            servers[base] = stack.enter_context(_started(base, options, tmp))
        for system in systems:  # what every server gets before it is measured
            if system.kind == "server":
                asyncio.run(_warmed(servers[bases[system.key]].url, system.path, prompts))
        for load in _loads(options):
            part, key = _load_key(load)
            for n in range(options.passes):
                for system in systems if n % 2 == 0 else systems[::-1]:
                    server = servers[bases[system.key]]
                    others = [s.memory.pid for b, s in servers.items() if b != bases[system.key]]
                    log.info("bench: %s, %s %s (pass %d of %d)", system.key, part[:-1], key,
                             n + 1, options.passes)  # fmt: skip
                    idle = sum(tree_cpu_s(pid) for pid in others)
                    own = cpu_s(server.memory.pid)
                    if system.kind == "aiperf":
                        figures = _aiperf_window(server.url, system.path, prompts, options, load)
                    else:
                        figures = asyncio.run(
                            _window(server.url, system.path, prompts, options, load)
                        )
                    figures["others_cpu_s"] = round(
                        sum(tree_cpu_s(pid) for pid in others) - idle, 1
                    )
                    figures["server_cpu_s"] = round(cpu_s(server.memory.pid) - own, 1)
                    runs[system.key][n][part][key] = figures
        for system in systems:
            server = servers[bases[system.key]]
            for run in runs[system.key]:
                run.update(_server_figures(server), label=system.label)
                if system.kind == "aiperf":
                    run["tool"] = f"aiperf {aiperf.version()}"
    for run in (r for system_runs in runs.values() for r in system_runs):
        run["gpu"] = gpu or None  # GPU utilisation over all the systems' windows together
    return runs


async def _warmed(url: str, path: str, prompts: list[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0)) as client:
        await warm_up(http_sender(url, path, prompts, client), len(prompts))


async def _window(
    url: str, path: str, prompts: list[dict[str, Any]], options: BenchOptions, load: Load
) -> dict[str, Any]:
    async with _client(options) as client:
        return await _harness_window(client, url, path, prompts, options, load)


async def _settle(client: httpx.AsyncClient, url: str) -> None:
    """Wait (up to a minute) until the requests an open loop cut have left the server."""
    for _ in range(120):
        try:
            health = (await client.get(f"{url}/ping")).json()
        except (httpx.HTTPError, ValueError):
            return  # vllm serve's /ping has no counts: its cut requests abort at once
        if not isinstance(health, dict) or not health.get("running"):
            return
        await asyncio.sleep(0.5)


def _bench_offline(key: str, options: BenchOptions) -> dict[str, Any]:
    levels = [1] if key == "transformers_serial" else list(options.levels)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        command = offline_command(
            key, options.model_dir, options.prompts, out, levels, options.windows, options.device
        )
        if key == "engine_alone" and options.rates:  # the others have no request-rate mode
            command += ["--rates", ",".join(f"{r:g}" for r in options.rates)]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO)
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
        "dtype": result.get("dtype"),
        "levels": result["levels"],
        "rates": result.get("rates", {}),
    }
