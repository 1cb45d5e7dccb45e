"""Bench results as JSON, a Markdown table, a PNG plot, and the README's benchmark section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .targets import check_targets, load_targets

README_BEGIN = "<!-- bench:begin -->"
README_END = "<!-- bench:end -->"
KINDS = {"cpu": "CPU", "cuda": "GPU"}  # device kind -> the README column that shows it


def write_reports(record: dict[str, Any], results_dir: Path, readme: Path | None) -> Path:
    """`<date>-<device>.json`, `.md` and `.png` (and `latest-cpu|gpu.*`); returns the JSON path."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{record['date'].replace(':', '-')}-{record['device']['slug']}"
    json_path = results_dir / f"{stem}.json"
    json_path.write_text(json.dumps(record, indent=1) + "\n")
    latest = f"latest-{_kind(record).lower()}"
    table = markdown(record)
    for name in (stem, latest):
        (results_dir / f"{name}.md").write_text(table)
        plot(record, results_dir / f"{name}.png")
    if readme is not None:
        update_readme(readme, results_dir)
    return json_path


def _kind(record: dict[str, Any]) -> str:
    return KINDS[record.get("device", {}).get("kind", "cpu")]  # early results: all CPU


def describe(record: dict[str, Any]) -> str:
    """What the run measured, on what: one line."""
    machine = record["machine"]
    cpu = machine.get("cpu", {})
    where = f"{machine['cpus']} CPUs"
    if cpu:
        flags = ", ".join(cpu["flags"]) or "none"
        where += f" ({cpu['model']}; {flags} of avx2/avx512f/avx512_bf16/amx)"
    if _kind(record) == "GPU":
        where = f"{record['device']['name']}, host {where}"
    return (
        f"Benchmark of {record['date']}: {record['model']} on {where}, streaming, max_tokens "
        f"{record['max_tokens']}, greedy, {record['prompts']} prompts of mixed length, each level "
        f"measured for {record['window_s']:g} s"
        + "".join(
            f" ({level} streams: {seconds:g} s)"
            for level, seconds in record.get("level_windows", {}).items()
        )
        + (
            f"; each figure the median of {record['passes']} passes, the systems' order "
            "reversed every other pass"
            if record.get("passes", 1) > 1
            else ""
        )  # fmt: skip
        + (
            f"; {', '.join(record['interleaved'])} with their servers up together, measured in "
            "turn one window each"
            if record.get("interleaved")
            else ""
        )  # fmt: skip
        + (
            f"; open loop at {', '.join(f'{r:g}' for r in record['rates'])} requests/s"
            if record.get("rates")
            else ""
        )  # fmt: skip
        + "."
    )


# The full table's figures per row: (heading, key in a level's or rate's figures)
COLUMNS = (
    ("output tok/s", "output_tokens_per_s"),
    ("TTFT p50 ms", "ttft_p50_ms"),
    ("TTFT p90 ms", "ttft_p90_ms"),
    ("TTFT p99 ms", "ttft_p99_ms"),
    ("ITL p50 ms", "itl_p50_ms"),
    ("ITL p99 ms", "itl_p99_ms"),
    ("TPOT p50 ms", "tpot_p50_ms"),
    ("TPOT p99 ms", "tpot_p99_ms"),
    ("E2E p50 ms", "latency_p50_ms"),
    ("E2E p99 ms", "latency_p99_ms"),
    ("goodput req/s", "goodput_requests_per_s"),
)
# The README's cells: fewer columns, side by side
README_COLUMNS = (
    ("tok/s", "output_tokens_per_s"),
    ("TTFT p50 ms", "ttft_p50_ms"),
    ("TTFT p99 ms", "ttft_p99_ms"),
    ("TPOT p50 ms", "tpot_p50_ms"),
    ("E2E p99 ms", "latency_p99_ms"),
)


def markdown(record: dict[str, Any]) -> str:
    head = "| system | concurrency | " + " | ".join(h for h, _ in COLUMNS)
    rows = [
        head + " | peak memory MiB | start-up s | GPU util mean/max % |",
        "|---|---:|" + "---:|" * (len(COLUMNS) + 3),
    ]
    for result in record["systems"].values():
        gpu = result.get("gpu") or {}
        util = f"{_f(gpu.get('util_mean_pct'))}/{_f(gpu.get('util_max_pct'))}" if gpu else "-"
        for level, m in result["levels"].items():
            rows.append(
                f"| {result['label']} | {level} | {_figures(m, COLUMNS)} "
                f"| {result['peak_memory_mib']} | {result['startup_s']} | {util} |"
            )
    return (
        describe(record)
        + "\n\n"
        + "\n".join(rows)
        + "\n\n"
        + _rates_table(record, COLUMNS)
        + _targets(record)
        + "\n"
    )


def _figures(m: dict[str, Any], columns: tuple[tuple[str, str], ...]) -> str:
    return " | ".join(_f(m.get(key)) for _, key in columns)


def _rates_table(record: dict[str, Any], columns: tuple[tuple[str, str], ...]) -> str:
    """Open-loop rows (Poisson arrivals at a request rate), when the run had any."""
    rows = []
    for result in record["systems"].values():
        for rate, m in (result.get("rates") or {}).items():
            sent = m.get("requests_sent")
            rows.append(f"| {result['label']} | {rate} | {_f(sent)} | {_figures(m, columns)} |")
    if not rows:
        return ""
    slo = record.get("slo") or {}
    heading = (
        f"Open loop (Poisson arrivals; goodput: TTFT <= {_f(slo.get('ttft_ms'))} ms and TPOT <= "
        f"{_f(slo.get('tpot_ms'))} ms):\n\n"
        "| system | requests/s | sent | " + " | ".join(h for h, _ in columns) + " |\n"
        "|---|---:|---:|" + "---:|" * len(columns) + "\n"
    )
    return heading + "\n".join(rows) + "\n\n"


def _targets(record: dict[str, Any]) -> str:
    lines = check_targets(record, load_targets())
    return "Targets (bench/targets.json):\n" + "\n".join(lines) if lines else ""


def latest_records(results_dir: Path) -> dict[str, dict[str, Any]]:
    """The newest record of each kind (CPU, GPU) in results_dir.

    Only the harness's own records count (`<date>-<device>.json`): the standalone measurements
    (sessions-ttft.json, prefill-gap.json) write their JSON beside them.
    """
    latest: dict[str, dict[str, Any]] = {}
    for path in sorted(results_dir.glob("[0-9]*.json")):
        record = json.loads(path.read_text())
        kind = _kind(record)
        if kind not in latest or record["date"] >= latest[kind]["date"]:
            latest[kind] = record
    return latest


def readme_section(results_dir: Path, base: Path) -> str:
    """CPU and GPU side by side (an HTML table of two Markdown cells), each with its targets."""
    records = latest_records(results_dir)
    cells = []
    for kind in KINDS.values():
        record = records.get(kind)
        cells.append(
            _cell(kind, record, results_dir, base) if record else f"**{kind}**: not yet measured."
        )
    return (
        "<table><tr>\n"
        + "\n".join(f'<td valign="top">\n\n{cell}\n\n</td>' for cell in cells)
        + "\n</tr></table>"
    )


def _cell(kind: str, record: dict[str, Any], results_dir: Path, base: Path) -> str:
    head = "| system | c | " + " | ".join(h for h, _ in README_COLUMNS) + " |"
    rows = [head, "|---|---:|" + "---:|" * len(README_COLUMNS)]
    for result in record["systems"].values():
        for level, m in result["levels"].items():
            rows.append(f"| {result['label']} | {level} | {_figures(m, README_COLUMNS)} |")
    latest = results_dir / f"latest-{kind.lower()}"
    full, image = (_relative(latest.with_suffix(s), base) for s in (".md", ".png"))
    return (
        f"**{kind}**. {describe(record)} Full table: [{full}]({full}).\n\n"
        + "\n".join(rows)
        + "\n\n"
        + _rates_table(record, README_COLUMNS)
        + f"{_targets(record)}\n\n![{kind} throughput and TTFT]({image})"
    )


def _relative(path: Path, base: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(base) if path.is_relative_to(base) else path)


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
    where = (
        record["device"]["name"] if _kind(record) == "GPU" else f"{record['machine']['cpus']} CPUs"
    )
    fig.suptitle(f"{record['model']} on {where}, max_tokens {record['max_tokens']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def update_readme(readme: Path, results_dir: Path) -> None:
    """Replace the README's benchmark section (between the markers) with the latest results."""
    text = readme.read_text()
    section = (
        f"{README_BEGIN}\n{readme_section(results_dir, readme.parent.resolve())}\n{README_END}"
    )
    if README_BEGIN in text and README_END in text:
        before, rest = text.split(README_BEGIN, 1)
        text = before + section + rest.split(README_END, 1)[1]
    else:
        text = text.rstrip() + "\n\n## Benchmark\n\n" + section + "\n"
    readme.write_text(text)
