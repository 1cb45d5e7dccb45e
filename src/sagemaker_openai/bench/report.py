"""Bench results as JSON, a Markdown table, a PNG plot, and the README's benchmark section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

README_BEGIN = "<!-- bench:begin -->"
README_END = "<!-- bench:end -->"


def write_reports(record: dict[str, Any], results_dir: Path, readme: Path | None) -> Path:
    """`<date>.json`, `.md` and `.png` in results_dir (plus `latest.*`); returns the JSON path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = record["date"].replace(":", "-")
    json_path = results_dir / f"{stem}.json"
    json_path.write_text(json.dumps(record, indent=1) + "\n")
    table = markdown(record)
    for name in (f"{stem}.md", "latest.md"):
        (results_dir / name).write_text(table)
    for name in (f"{stem}.png", "latest.png"):
        plot(record, results_dir / name)
    if readme is not None and readme.is_file():
        _update_readme(readme, table, results_dir / "latest.png")
    return json_path


def markdown(record: dict[str, Any]) -> str:
    head = (
        f"Benchmark of {record['date']}: {record['model']}, {record['machine']['cpus']} CPUs, "
        f"streaming, max_tokens {record['max_tokens']}, greedy, {record['prompts']} prompts of "
        f"mixed length, each level measured for {record['window_s']:g} s.\n\n"
    )
    rows = [
        "| system | concurrency | output tok/s | TTFT p50 ms | TTFT p95 ms | ITL p50 ms "
        "| latency p50 ms | peak memory MiB | start-up s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in record["systems"].values():
        for level, m in result["levels"].items():
            rows.append(
                f"| {result['label']} | {level} | {_f(m['output_tokens_per_s'])} "
                f"| {_f(m['ttft_p50_ms'])} | {_f(m['ttft_p95_ms'])} | {_f(m['itl_p50_ms'])} "
                f"| {_f(m['latency_p50_ms'])} | {result['peak_memory_mib']} "
                f"| {result['startup_s']} |"
            )
    return head + "\n".join(rows) + "\n\n" + _targets(record) + "\n"


def _targets(record: dict[str, Any]) -> str:
    """The issue's targets, checked against this run."""
    systems = record["systems"]

    def metric(key: str, level: int, name: str) -> float | None:
        value = systems.get(key, {}).get("levels", {}).get(str(level), {}).get(name)
        return value if isinstance(value, (int, float)) else None

    lines = []
    ours = "runtime_vllm"
    for level in (16, 64):
        pairs = [
            ("tok/s vs vllm serve", "vllm_serve", "output_tokens_per_s", 1.0, True),
            ("TTFT p50 vs vllm serve", "vllm_serve", "ttft_p50_ms", 1.0, False),
            ("tok/s vs engine alone", "engine_alone", "output_tokens_per_s", 0.85, True),
        ]
        for what, other, name, bound, higher in pairs:
            a, b = metric(ours, level, name), metric(other, level, name)
            if a is not None and b:
                ok = a >= bound * b if higher else a <= b * bound
                lines.append(f"- c={level} {what}: {a:g} vs {b:g} ({a / b:.2f}x) {_ok(ok)}")
    serial = metric("transformers_serial", 1, "output_tokens_per_s")
    ours16 = metric(ours, 16, "output_tokens_per_s")
    if serial and ours16 is not None:
        lines.append(
            f"- c=16 tok/s vs one-at-a-time transformers: {ours16:g} vs {serial:g} "
            f"({ours16 / serial:.1f}x, target 8x) {_ok(ours16 >= 8 * serial)}"
        )
    a, b = (
        metric(ours, 1, "decode_tokens_per_s_p50"),
        metric("engine_alone", 1, "decode_tokens_per_s_p50"),
    )
    if a is not None and b:
        lines.append(
            f"- c=1 decode tok/s vs engine alone: {a:g} vs {b:g} ({a / b:.2f}x, target 0.95) "
            f"{_ok(a >= 0.95 * b)}"
        )
    return "Targets:\n" + "\n".join(lines) if lines else ""


def _ok(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def plot(record: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for i, result in enumerate(record["systems"].values()):
        style = {"color": f"C{i}", "label": result["label"]}  # one colour per system, both plots
        levels = sorted(int(k) for k in result["levels"])
        series = [result["levels"][str(k)] for k in levels]
        ttft = [
            (k, m["ttft_p50_ms"]) for k, m in zip(levels, series, strict=True) if m["ttft_p50_ms"]
        ]
        right.plot([k for k, _ in ttft], [v for _, v in ttft], marker="o", **style)
        if len(levels) == 1:  # the one-at-a-time baseline: the same throughput at any concurrency
            tps = [series[0]["output_tokens_per_s"]] * len(record["levels"])
            left.plot(record["levels"], tps, linestyle="--", **style)
        else:
            left.plot(levels, [m["output_tokens_per_s"] for m in series], marker="o", **style)
    for ax, title, unit in ((left, "Output throughput", "tokens/s"), (right, "TTFT p50", "ms")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(record["levels"], [str(v) for v in record["levels"]])
        ax.set_xlabel("concurrent streams")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    right.set_yscale("log")
    left.legend(fontsize=8)
    fig.suptitle(
        f"{record['model']} on {record['machine']['cpus']} CPUs, max_tokens {record['max_tokens']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _update_readme(readme: Path, table: str, image: Path) -> None:
    text = readme.read_text()
    relative = image.relative_to(readme.parent) if image.is_relative_to(readme.parent) else image
    section = f"{README_BEGIN}\n{table}\n![throughput and TTFT]({relative})\n{README_END}"
    if README_BEGIN in text and README_END in text:
        before, rest = text.split(README_BEGIN, 1)
        text = before + section + rest.split(README_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## Benchmark\n\n" + section + "\n"
    readme.write_text(text)
