"""NVIDIA AIPerf (what SageMaker's benchmark jobs run) driving a server, its figures in ours.

AIPerf lives in a venv of its own (`make install-aiperf`): its pins are not the product's. It
sends the same prompts as the harness (bench/prompts.json as a single_turn dataset), streaming,
max_tokens 128, greedy, for the same window, at a concurrency (closed loop) or a request rate
(Poisson arrivals), and counts tokens with the model's own tokenizer.

Its names and ours: AIPerf's `inter_token_latency` is per request (latency - TTFT) /
(tokens - 1), which is our TPOT; its `inter_chunk_latency` is the gap between streamed chunks,
our ITL.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .measure import MAX_TOKENS, Slo
from .systems import REPO

AIPERF = REPO / ".venv-aiperf" / "bin" / "aiperf"
# (our key, AIPerf's metric tag, its statistic); AIPerf reports times in ms
FIGURES = (
    ("output_tokens_per_s", "output_token_throughput", "avg"),
    ("ttft_p50_ms", "time_to_first_token", "p50"),
    ("ttft_p90_ms", "time_to_first_token", "p90"),
    ("ttft_p95_ms", "time_to_first_token", "p95"),
    ("ttft_p99_ms", "time_to_first_token", "p99"),
    ("itl_p50_ms", "inter_chunk_latency", "p50"),
    ("itl_p90_ms", "inter_chunk_latency", "p90"),
    ("itl_p99_ms", "inter_chunk_latency", "p99"),
    ("tpot_p50_ms", "inter_token_latency", "p50"),
    ("tpot_p90_ms", "inter_token_latency", "p90"),
    ("tpot_p99_ms", "inter_token_latency", "p99"),
    ("latency_p50_ms", "request_latency", "p50"),
    ("latency_p90_ms", "request_latency", "p90"),
    ("latency_p99_ms", "request_latency", "p99"),
    ("goodput_requests_per_s", "goodput", "avg"),
    ("requests_completed", "request_count", "avg"),
)


def installed() -> bool:
    return AIPERF.is_file()


def version() -> str:
    """The installed release (the Makefile's AIPERF_VERSION stamps the venv)."""
    stamps = sorted(AIPERF.parent.glob("aiperf-*"))
    return stamps[-1].name.removeprefix("aiperf-") if stamps else "unknown"


def dataset(prompts: list[dict[str, Any]], path: Path) -> Path:
    """The harness's prompts as AIPerf's single_turn JSONL (one user message each)."""
    lines = []
    for prompt in prompts:
        (message,) = prompt["messages"]  # bench/prompts.json: one user turn per prompt
        lines.append(json.dumps({"type": "single_turn", "text": message["content"]}))
    path.write_text("\n".join(lines) + "\n")
    return path


def command(
    url: str,
    path: str,
    model_dir: Path,
    data: Path,
    out: Path,
    window_s: float,
    slo: Slo,
    *,
    concurrency: int | None = None,
    rate: float | None = None,
    api_key: str | None = None,
) -> list[str]:
    """`aiperf profile` for one level (concurrency) or one request rate, SSE, `window_s` long.
    `api_key`: a bearer token (SageMaker's OpenAI-compatible route)."""
    load = ["--concurrency", str(concurrency)] if concurrency else []
    if rate:
        load = ["--request-rate", f"{rate:g}", "--arrival-pattern", "poisson"]
    if api_key:
        load += ["--api-key", api_key]
    return [
        str(AIPERF), "profile",
        "--model", "demo", "--url", url, "--endpoint-type", "chat", "--custom-endpoint", path,
        "--streaming",
        # /invocations answers SSE when asked (SageMaker's custom attributes); /v1 always does
        "--header", "X-Amzn-SageMaker-Custom-Attributes:stream_format=sse",
        "--input-file", str(data), "--custom-dataset-type", "single_turn",
        "--dataset-sampling-strategy", "sequential",
        "--extra-inputs", json.dumps({"max_tokens": MAX_TOKENS, "temperature": 0}),
        "--tokenizer", str(model_dir),
        *load,
        "--benchmark-duration", f"{window_s:g}",  # and AIPerf's grace period (30 s) for the last
        # one request per stream, at the level's concurrency (AIPerf's default for its warm-up
        # phase), as the harness warms a level (measure.warm_level); two before a rate
        "--warmup-request-count", str(concurrency or 2),
        "--goodput", f"time_to_first_token:{slo.ttft_ms:g} inter_token_latency:{slo.tpot_ms:g}",
        "--random-seed", "0", "--ui-type", "none", "--no-gpu-telemetry", "--no-server-metrics",
        "--output-artifact-dir", str(out),
    ]  # fmt: skip


def emulator_token() -> str:
    """A bearer token for the local emulator's OpenAI route, signed with throwaway keys (the
    emulator checks signatures only when told where real credentials are)."""
    from botocore.credentials import Credentials

    from sagemaker_openai.bearer import generate_token

    return generate_token(Credentials("AKIDBENCHLOCAL", "bench-local-secret"), "us-east-1")


def figures(export: dict[str, Any]) -> dict[str, Any]:
    """Our keys from AIPerf's profile_export_aiperf.json (metric tag -> {avg, p50, ...})."""
    result: dict[str, Any] = {}
    for key, tag, stat in FIGURES:
        metric = export.get(tag)
        value = metric.get(stat) if isinstance(metric, dict) else None
        result[key] = round(value, 3 if key == "goodput_requests_per_s" else 1) if value else value
    result["tool"] = "aiperf"
    return result


def run(
    url: str,
    path: str,
    model_dir: Path,
    prompts: list[dict[str, Any]],
    window_s: float,
    slo: Slo,
    *,
    concurrency: int | None = None,
    rate: float | None = None,
    api_key: str | None = None,
) -> dict[str, Any]:
    """One AIPerf run; raises RuntimeError with AIPerf's last output lines when it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        data = dataset(prompts, Path(tmp) / "prompts.jsonl")
        out = Path(tmp) / "artifacts"
        cmd = command(
            url, path, model_dir, data, out, window_s, slo,
            concurrency=concurrency, rate=rate, api_key=api_key,
        )  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        exports = sorted(out.rglob("profile_export_aiperf.json"))
        if done.returncode != 0 or not exports:
            tail = (done.stdout + done.stderr)[-3000:]
            raise RuntimeError(f"aiperf exited with {done.returncode}:\n{tail}")
        return figures(json.loads(exports[-1].read_text()))
