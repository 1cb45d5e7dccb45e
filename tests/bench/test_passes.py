"""Several passes per system: the order reversed every other pass, each figure the median."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import bench.run
from bench.__main__ import main
from bench.measure import Windows
from bench.run import WINDOWS, BenchOptions, median_of_passes, run_bench
from bench.systems import Running, offline_command

REPO = Path(__file__).resolve().parents[2]


def _pass(tps: float, ttft: float | None, startup: float, memory: int) -> dict[str, Any]:
    level = {"output_tokens_per_s": tps, "ttft_p50_ms": 100.0, "ttft_p99_ms": ttft,
             "slo": {"ttft_ms": 2000.0}}  # fmt: skip
    return {"label": "(e) x", "levels": {"16": level}, "rates": {"2": dict(level)},
            "startup_s": startup, "peak_memory_mib": memory}  # fmt: skip


def test_each_figure_is_the_median_over_the_passes() -> None:
    merged = median_of_passes([_pass(200, 900, 40, 7000), _pass(260, None, 50, 7200),
                               _pass(230, 700, 45, 7100)])  # fmt: skip
    level = merged["levels"]["16"]
    assert level["output_tokens_per_s"] == 230
    assert level["ttft_p99_ms"] == 800  # the pass without the figure is left out: (900 + 700) / 2
    assert level["slo"] == {"ttft_ms": 2000.0}
    assert merged["rates"]["2"]["output_tokens_per_s"] == 230
    assert (merged["startup_s"], merged["peak_memory_mib"]) == (45, 7200)
    assert [p["levels"]["16"]["output_tokens_per_s"] for p in merged["passes"]] == [200, 260, 230]
    one = _pass(200, 900, 40, 7000)
    assert median_of_passes([one]) is one  # one pass: as measured, no `passes`


def test_every_other_pass_runs_the_systems_in_reverse(tmp_path: Path, monkeypatch) -> None:
    order: list[str] = []

    def measured(system: Any, prompts: Any, options: Any) -> dict[str, Any]:
        order.append(system.key)  # this test is about the harness's order, not any figure
        return _pass(100.0 + len(order), 500.0, 30.0, 1000)

    monkeypatch.setattr(bench.run, "_bench_system", measured)
    options = BenchOptions(
        model_dir=tmp_path / "demo", prompts=REPO / "bench/prompts.json", results_dir=tmp_path,
        readme=None, systems=("transformers_serial", "runtime_transformers"), passes=3,
    )  # fmt: skip
    record = json.loads(run_bench(options).read_text())
    first, second = "transformers_serial", "runtime_transformers"
    assert order == [first, second, second, first, first, second]
    assert record["passes"] == 3
    # transformers_serial measured 1st, 4th, 5th: 101, 104, 105 -> 104
    assert record["systems"][first]["levels"]["16"]["output_tokens_per_s"] == 104
    table = (tmp_path / "latest-cpu.md").read_text()
    assert "the median of 3 passes, the systems' order reversed every other pass" in table


@pytest.mark.parametrize("passes", ["0", "-1"])
def test_passes_below_one_is_one_line(passes: str, capsys) -> None:
    assert main(["--passes", passes]) == 1
    err = capsys.readouterr().err
    assert err == f"error: --passes {passes}: give 1 or more\n"


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("45,64=", "give seconds, and LEVEL=SECONDS for a level's own"),
        ("fast", "give seconds, and LEVEL=SECONDS for a level's own"),
        ("45,0=90", "levels and seconds must be above 0"),
        ("-5", "levels and seconds must be above 0"),
    ],
)
def test_a_bad_window_is_one_line(window: str, message: str, capsys) -> None:
    assert main(["--window", window]) == 1
    assert capsys.readouterr().err == f"error: --window {window!r}: {message}\n"


def test_a_levels_own_window_reaches_its_loop(tmp_path: Path, monkeypatch) -> None:
    windows = Windows.parse("30,64=90")
    assert (windows.at(16), windows.at(64), str(windows)) == (30.0, 90.0, "30,64=90")
    assert Windows.parse(str(windows)) == windows  # what bench/offline.py is handed back
    assert WINDOWS["cpu"].at(64) > WINDOWS["cpu"].at(16) == WINDOWS["cuda"].at(64)
    command = offline_command("engine_alone", tmp_path, tmp_path, tmp_path, [16, 64], windows)
    assert command[command.index("--window") + 1] == "30,64=90"
    seen: list[tuple[int, float]] = []

    async def closed(send: Any, level: int, window_s: float, *rest: Any) -> dict[str, Any]:
        seen.append((level, window_s))  # what each level was measured for, not a figure
        return {}

    async def warmed(*args: Any) -> None:
        return None

    monkeypatch.setattr(bench.run, "closed_loop", closed)
    monkeypatch.setattr(bench.run, "warm_up", warmed)
    monkeypatch.setattr(bench.run, "warm_level", warmed)
    options = BenchOptions(
        model_dir=tmp_path, prompts=REPO / "bench/prompts.json", results_dir=tmp_path,
        readme=None, levels=(16, 64), windows=windows,
    )  # fmt: skip
    asyncio.run(bench.run._drive("http://127.0.0.1:1", "/invocations", [{}], options))
    assert seen == [(16, 30.0), (64, 90.0)]


def test_interleave_keeps_the_servers_up_and_measures_them_in_turn(
    tmp_path: Path, monkeypatch
) -> None:
    """--interleave: one start per server (a row driven by AIPerf shares the harness row's),
    each load measured system by system, the order reversed every other pass; the offline
    systems after, as usual. This test is about the harness's order and record, not figures:
    the servers, windows and CPU readings are stand-ins."""
    started: list[str] = []
    order: list[tuple[str, str]] = []
    pids = iter(range(1000, 2000))

    @contextmanager
    def server(command: list[str], log: Path, env: Any = None) -> Iterator[Running]:
        started.append(command[command.index("--engine") + 1])
        memory = SimpleNamespace(pid=next(pids), peak=3 << 20)
        port = command[command.index("--port") + 1]
        yield Running(f"http://127.0.0.1:{port}", 12.0, memory)  # type: ignore[arg-type]

    def window(url: str, path: str, prompts: Any, options: Any, load: Any, *rest: Any) -> Any:
        return {"output_tokens_per_s": 100.0 + len(order), "ttft_p50_ms": 50.0}

    async def harness(*args: Any) -> dict[str, Any]:
        return window(*args)

    async def warmed(*args: Any) -> None:
        return None

    def measured(what: str, tool: Any) -> Any:
        def recorded(url: str, path: str, prompts: Any, options: Any, load: Any) -> Any:
            order.append((what, f"{load[0]}={load[1]:g}"))
            return tool(url, path, prompts, options, load)

        return recorded

    monkeypatch.setattr(bench.run, "running_server", server)
    monkeypatch.setattr(bench.run, "_warmed", warmed)
    monkeypatch.setattr(bench.run, "_window", measured("harness", harness))
    monkeypatch.setattr(bench.run, "_aiperf_window", measured("aiperf", window))
    monkeypatch.setattr(bench.run, "tree_cpu_s", lambda pid: float(len(order)))
    monkeypatch.setattr(bench.run, "cpu_s", lambda pid: 2.0 * len(order))  # 2 s per window
    monkeypatch.setattr(bench.run.aiperf, "installed", lambda: True)
    offline: list[str] = []

    def alone(system: Any, prompts: Any, options: Any) -> dict[str, Any]:
        offline.append(system.key)
        return _pass(90.0, 500.0, 30.0, 1000)

    monkeypatch.setattr(bench.run, "_bench_system", alone)
    options = BenchOptions(
        model_dir=tmp_path, prompts=REPO / "bench/prompts.json", results_dir=tmp_path,
        readme=None, levels=(16,), rates=(2.0,), passes=2, interleave=True,
        systems=("transformers_serial", "runtime_transformers", "aiperf_runtime_transformers"),
    )  # fmt: skip
    record = json.loads(run_bench(options).read_text())
    assert started == ["transformers"]  # one server for both rows
    assert order == [
        ("harness", "level=16"), ("aiperf", "level=16"),  # pass 1
        ("aiperf", "level=16"), ("harness", "level=16"),  # pass 2, reversed
        ("harness", "rate=2"), ("aiperf", "rate=2"),
        ("aiperf", "rate=2"), ("harness", "rate=2"),
    ]  # fmt: skip
    assert offline == ["transformers_serial", "transformers_serial"]
    assert record["interleaved"] == ["runtime_transformers", "aiperf_runtime_transformers"]
    runtime = record["systems"]["runtime_transformers"]
    # measured 1st and 4th: 101 and 104 -> 102.5; no other server, so no other server's CPU
    assert runtime["levels"]["16"]["output_tokens_per_s"] == 102.5
    assert runtime["passes"][1]["levels"]["16"]["others_cpu_s"] == 0
    assert runtime["passes"][1]["levels"]["16"]["server_cpu_s"] == 2.0
    assert (runtime["startup_s"], runtime["peak_memory_mib"]) == (12.0, 3)
    assert record["systems"]["aiperf_runtime_transformers"]["tool"].startswith("aiperf ")
    table = (tmp_path / "latest-cpu.md").read_text()
    assert "aiperf_runtime_transformers with their servers up together" in table
