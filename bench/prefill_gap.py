"""A running stream's gaps between tokens while the transformers engine prefills a long prompt.

One greedy stream (end-of-sequence banned, so it runs throughout) is decoding when a 7,031-token
prompt arrives; the stream's gaps are recorded before and during that prompt's prefill. Run with
the engine's chunk (prompt tokens per step) and with a chunk larger than the prompt (the whole
prompt in one step, as before chunked prefill):
  .venv/bin/python -m bench.prefill_gap            # writes bench/results/prefill-gap.json
The engine runs in-process (no HTTP): the gaps are the engine's own.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.hardware import cpu_info
from sagemaker_openai.engines import transformers as engine_module
from sagemaker_openai.engines.base import EngineOptions, SamplingParams
from sagemaker_openai.engines.transformers.batch import batching
from sagemaker_openai.engines.transformers.batch.prefixes import PrefixCache

MODEL = Path.home() / ".cache/sagemaker-openai/SmolLM2-135M-Instruct"
PROMPT_TOKENS = 7031  # the prompt of the measurement in issue 15
RESULTS = Path(__file__).resolve().parent / "results" / "prefill-gap.json"


def _turn(text: str) -> str:
    return f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"


async def _measure(engine: Any, chunk: int) -> dict[str, Any]:
    engine._scheduler._chunk = chunk
    words = "The river bends past the old mill and the town beyond it. " * 700
    long = engine.encode(_turn(words))[:PROMPT_TOKENS]
    short = engine.encode(_turn("Count slowly from one to a thousand."))
    never_end = {token: -100.0 for token in engine._eos}
    arrivals: list[float] = []

    async def stream() -> None:
        params = SamplingParams(max_tokens=3000, temperature=0.0, logit_bias=never_end)
        async for _ in engine.generate(short, params):
            arrivals.append(time.perf_counter())

    task = asyncio.create_task(stream())
    await asyncio.sleep(3)
    started = time.perf_counter()
    async for _ in engine.generate(long, SamplingParams(max_tokens=1, temperature=0.0)):
        pass
    ended = time.perf_counter()
    await asyncio.sleep(1)
    task.cancel()
    pairs = list(zip(arrivals, arrivals[1:], strict=False))
    before = [b - a for a, b in pairs if b < started]
    during = [b - a for a, b in pairs if b >= started and a <= ended]
    return {
        "chunk_tokens": chunk,
        "prompt_tokens": len(long),
        "prefill_s": round(ended - started, 2),
        "gap_before_median_ms": round(statistics.median(before) * 1000),
        "gaps_during": len(during),
        "gap_during_median_ms": round(statistics.median(during) * 1000),
        "gap_during_max_ms": round(max(during) * 1000),
    }


def main() -> None:
    engine = engine_module.load(MODEL, served_name="demo", options=EngineOptions())
    scheduler: Any = engine._scheduler  # batching.Scheduler
    scheduler._prefixes = PrefixCache(0)  # the prompt is new every time
    runs = [asyncio.run(_measure(engine, c)) for c in (batching.PREFILL_CHUNK["cpu"], 10**6)]
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpu": cpu_info(), "runs": runs}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
