"""Result files named with the device; the README shows the CPU and GPU results side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.hardware import cpu_info, slug
from bench.report import README_BEGIN, README_END, write_reports

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse avx2 avx512f amx_tile amx_bf16

processor\t: 1
model name\t: AMD EPYC 7B13
"""


def _record(kind: str, date: str) -> dict:
    device = {"kind": "cpu", "name": "cpu", "slug": "cpu"}
    if kind == "cuda":
        device = {
            "kind": "cuda",
            "name": "NVIDIA H100 80GB HBM3",
            "slug": slug("NVIDIA H100 80GB HBM3"),
        }
    m = {"output_tokens_per_s": 10.0, "ttft_p50_ms": 5.0, "ttft_p95_ms": 6.0, "itl_p50_ms": 1.0,
         "latency_p50_ms": 9.0}  # fmt: skip
    system = {"label": "(d) runtime", "levels": {"1": m}, "peak_memory_mib": 1, "startup_s": 1}
    return {
        "date": date, "device": device, "model": "demo", "max_tokens": 128, "window_s": 8.0,
        "levels": [1], "prompts": 24, "systems": {"runtime_transformers": system},
        "machine": {"cpus": 2, "cpu": cpu_info(CPUINFO), "platform": "linux"},
    }  # fmt: skip


def test_cpu_model_and_flags() -> None:
    assert cpu_info(CPUINFO) == {"model": "AMD EPYC 7B13", "flags": ["avx2", "avx512f", "amx"]}
    assert slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"


def test_results_named_with_device_and_readme_side_by_side(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{README_BEGIN}\nold\n{README_END}\n\n## after\n")
    results = tmp_path / "results"
    path = write_reports(_record("cpu", "2026-11-24T12:00:00"), results, readme)
    assert path.name == "2026-11-24T12-00-00-cpu.json"
    assert {p.name for p in results.iterdir()} >= {"latest-cpu.md", "latest-cpu.png"}
    text = readme.read_text()
    assert "old" not in text and text.endswith("## after\n")
    assert "AMD EPYC 7B13; avx2, avx512f, amx" in text
    assert "**GPU**: not yet measured." in text

    write_reports(_record("cuda", "2026-11-24T13:00:00"), results, readme)
    assert (results / "2026-11-24T13-00-00-nvidia-h100-80gb-hbm3.json").is_file()
    text = readme.read_text()
    assert "not yet measured" not in text
    cpu, gpu = text.index("**CPU**"), text.index("**GPU**")
    assert cpu < gpu and "NVIDIA H100 80GB HBM3" in text[gpu:]
    assert "](results/latest-gpu.png)" in text  # relative to the README


def test_no_readme_unless_asked(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_reports(_record("cpu", "2026-11-24T12:00:00"), results, None)
    assert (
        json.loads((results / "2026-11-24T12-00-00-cpu.json").read_text())["device"]["slug"]
        == "cpu"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--systems", "nope"], "error: unknown system(s) nope;"),
        (["--model", "/nonexistent"], "error: /nonexistent is not a model folder"),
    ],
)
def test_user_mistakes_are_one_line(argv: list[str], message: str, capsys) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_tables_show_tails_and_the_open_loop(tmp_path: Path) -> None:
    record = _record("cpu", "2026-12-02T12:00:00")
    figures = {"ttft_p99_ms": 77.5, "tpot_p50_ms": 12.5, "latency_p99_ms": 900.0}
    record["systems"]["runtime_transformers"]["levels"]["1"].update(figures)
    rate = {**record["systems"]["runtime_transformers"]["levels"]["1"], "requests_sent": 31}
    record["systems"]["runtime_transformers"]["rates"] = {"2": rate}
    record |= {"rates": [2.0], "slo": {"ttft_ms": 2000.0, "tpot_ms": 200.0}}
    record["level_windows"] = {"64": 135.0}
    readme = tmp_path / "README.md"
    readme.write_text(f"{README_BEGIN}\n{README_END}\n")
    write_reports(record, tmp_path / "results", readme)
    table = (tmp_path / "results" / "latest-cpu.md").read_text()
    assert "| TTFT p99 ms |" in table and "| 77.5 |" in table
    assert "Open loop (Poisson arrivals; goodput: TTFT <= 2000 ms and TPOT <= 200 ms)" in table
    assert "| (d) runtime | 2 | 31 | 10 |" in table
    assert "open loop at 2 requests/s" in table
    assert "each level measured for 8 s (64 streams: 135 s);" in table
    cell = readme.read_text()
    assert "| tok/s | TTFT p50 ms | TTFT p99 ms | TPOT p50 ms | E2E p99 ms |" in cell
    assert "| (d) runtime | 1 | 10 | 5 | 77.5 | 12.5 | 900 |" in cell
