"""A GPU proof in one command (`make gpu-check`): on a machine with a CUDA GPU and no network,
the CUDA-marked tests, then per installed engine, through real HTTP: one streamed answer,
constrained decoding, two LoRA adapters at once, and tok/s at concurrency 1, 16 and 64 with the
GPU's utilisation. Results go to bench/results/gpu-check-<time>-<device>.json and .md.

It needs only what shared/device/prepare carries: the package's small dependencies as wheels
(pass `xgrammar peft accelerate psutil` to it for constrained decoding and adapters) and the demo
model's config and tokenizer in .gpu-model/, to which random bf16 weights are added here (the
cost per token is the real model's). Without CUDA it stops at once with one line (exit 2);
`--device cpu` runs every piece on the CPU, as a smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LEVELS = (1, 16, 64)
MAX_TOKENS = 64  # random weights rarely stop on their own: every request is cut here
DEMO_NAME = "SmolLM2-135M-Instruct"  # sagemaker_openai.demo's folder name in the cache
MODEL_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")
UNIT = {
    "type": "object",
    "properties": {"unit": {"enum": ["C", "F"]}},
    "required": ["unit"],
    "additionalProperties": False,
}
PROMPT = [{"role": "user", "content": "Name three colours of the rainbow."}]
NEEDED = ("transformers", "httpx", "starlette", "uvicorn", "pydantic")  # the rest: skipped


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    problem = _missing_device(args.device)
    if problem:
        print(f"gpu-check: {problem}", file=sys.stderr)
        return 2
    started = time.time()
    home = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    model = build_model(args.model, home / ".cache" / "sagemaker-openai" / DEMO_NAME, args.device)
    # `--model demo` (the tests' fixture) finds this folder in the demo model's cache
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": _pythonpath()}
    record: dict[str, Any] = {
        "device": args.device,
        "gpu": _gpu_name() if args.device == "cuda" else None,
        "model": str(args.model),
        "weights": "random bf16 from the config" if _built(args.model) else "the folder's",
        "cuda_tests": run_cuda_tests(env, args.device),
        "engines": {},
    }
    for engine in args.engines.split(","):
        if importlib.util.find_spec(engine) is None:
            record["engines"][engine] = {"skipped": f"{engine} is not installed"}
            continue
        record["engines"][engine] = check_engine(engine, model, env, args)
    record["elapsed_s"] = round(time.time() - started, 1)
    out = write_results(record, args.results)
    print(f"gpu-check: results in {out}")
    shutil.rmtree(home, ignore_errors=True)
    return 0 if _passed(record) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    default_model = REPO / ".gpu-model"
    parser.add_argument(
        "--model",
        type=Path,
        default=default_model,
        help="a model folder; without weights, random bf16 ones are built from its config "
        "[.gpu-model/, from shared/device/prepare]",
    )
    parser.add_argument("--engines", default="transformers,vllm", help="those installed run")
    parser.add_argument("--window-s", type=float, default=15.0, help="seconds per level")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    return parser


def _missing_device(device: str) -> str | None:
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    if device == "cuda" and not torch.cuda.is_available():
        return "no CUDA device (PyTorch sees none); `--device cpu` runs the pieces on the CPU"
    missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (pass them to shared/device/prepare)"
    return None


def _pythonpath() -> str:
    """This checkout's src/ and root first, then whatever was already on the path (the
    prepared wheels' folder)."""
    parts = [str(REPO / "src"), str(REPO), os.environ.get("PYTHONPATH", "")]
    return os.pathsep.join(p for p in parts if p)


def _built(source: Path) -> bool:
    return not any(source.glob("*.safetensors"))


def build_model(source: Path, target: Path, device: str) -> Path:
    """`source` with weights: as it is (copied); without: random bf16 weights from its config,
    initialised on `device` (seconds for the 135M demo model)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    target.mkdir(parents=True, exist_ok=True)
    for name in (*MODEL_FILES, "chat_template.jinja"):
        if (source / name).is_file():
            shutil.copy(source / name, target / name)
    if not _built(source):
        for weights in source.glob("*.safetensors"):
            shutil.copy(weights, target / weights.name)
        return target
    config = AutoConfig.from_pretrained(source)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)  # type: ignore[no-untyped-call]
    model.save_pretrained(target)  # config.json (dtype bfloat16) and model.safetensors
    return target


def run_cuda_tests(env: dict[str, str], device: str) -> dict[str, Any]:
    """pytest -m cuda on the test files that hold CUDA tests; none run without CUDA."""
    if device != "cuda":
        return {"skipped": "--device cpu"}
    if importlib.util.find_spec("pytest") is None:
        return {"passed": None, "skipped": "pytest is not installed"}
    files = [str(p) for p in (REPO / "tests").rglob("test_*.py") if "mark.cuda" in p.read_text()]
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider"]
    started = time.time()
    try:
        done = subprocess.run(
            [*command, *files], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
        )
    except subprocess.TimeoutExpired:
        return {"passed": False, "summary": "timed out after 300 s"}
    lines = done.stdout.strip().splitlines()
    return {
        "passed": done.returncode == 0,
        "summary": lines[-1] if lines else done.stderr[-500:],
        "seconds": round(time.time() - started, 1),
        "failures": [line for line in lines if line.startswith("FAILED")][:20],
    }


def check_engine(engine: str, model: Path, env: dict[str, str], args: Any) -> dict[str, Any]:
    """Start `serve` on this engine, then each check against it through HTTP."""
    import httpx

    from bench.hardware import GpuSampler
    from bench.systems import free_port, running_server

    port = free_port()
    command = [
        sys.executable, "-m", "sagemaker_openai.cli", "serve", "--model", str(model),
        "--engine", engine, "--host", "127.0.0.1", "--port", str(port), "--max-loras", "2",
        "--log-level", "warning",
    ]  # fmt: skip
    if engine == "transformers":
        command += ["--device", args.device]
    log = Path(tempfile.mkdtemp(prefix="gpu-check-log-")) / f"{engine}.log"
    result: dict[str, Any] = {}
    try:
        with running_server(command, log, env) as server:
            result["startup_s"] = round(server.startup_s, 1)
            result["ping"] = httpx.get(f"{server.url}/ping", timeout=10).json()
            result["stream"] = _attempt(check_stream, server.url)
            result["constrained"] = _attempt(check_constrained, server.url)
            result["adapters"] = _attempt(check_adapters, server.url, model, args.device)
            sampler = GpuSampler() if args.device == "cuda" else None
            result["bench"] = asyncio.run(bench(server.url, args.window_s))
            if sampler is not None:
                result["gpu"] = sampler.stop()
    except RuntimeError as exc:
        result["failed"] = f"{exc}\n{log.read_text(errors='replace')[-3000:]}"
    return result


def _attempt(check: Any, *args: Any) -> dict[str, Any]:
    """One check's result; its failure is recorded (and fails the run), the others go on."""
    try:
        outcome: dict[str, Any] = check(*args)
        return outcome
    except Exception as exc:  # any failure is a finding to report, not a reason to stop
        return {"passed": False, "error": f"{type(exc).__name__}: {exc}"[:1000]}


def check_stream(url: str) -> dict[str, Any]:
    """One streamed answer in JSON lines: 200, text, a finish reason, usage."""
    import httpx

    body = {
        "messages": PROMPT,
        "max_tokens": MAX_TOKENS,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{url}/invocations", json=body, timeout=300) as response:
        status = response.status_code
        chunks = [json.loads(line) for line in response.iter_lines() if line]
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")]
    usage = chunks[-1].get("usage") if chunks else None
    ok = status == 200 and bool(usage) and finish[-1] in ("stop", "length")
    return {"passed": ok, "status": status, "chunks": len(chunks), "usage": usage}


def check_constrained(url: str) -> dict[str, Any]:
    """response_format json_schema: the answer parses and follows the schema."""
    import httpx

    body = {
        "messages": [{"role": "user", "content": "Celsius or Fahrenheit?"}],
        "max_tokens": MAX_TOKENS,
        "response_format": {"type": "json_schema", "json_schema": {"name": "u", "schema": UNIT}},
    }
    reply = httpx.post(f"{url}/invocations", json=body, timeout=300)
    if reply.status_code != 200:
        return {"passed": False, "status": reply.status_code, "body": reply.text[:500]}
    content = reply.json()["choices"][0]["message"]["content"]
    try:
        value = json.loads(content)
    except ValueError:
        return {"passed": False, "content": content}
    return {"passed": value.get("unit") in ("C", "F"), "content": content}


def check_adapters(url: str, model: Path, device: str) -> dict[str, Any]:
    """Two LoRA adapters registered, then one streamed request per adapter at the same time."""
    if importlib.util.find_spec("peft") is None:
        return {"passed": None, "skipped": "peft is not installed (prepare peft accelerate)"}
    import httpx

    folder = Path(tempfile.mkdtemp(prefix="gpu-check-lora-"))
    names = ("one", "two")
    for seed, name in enumerate(names, 1):
        _make_adapter(model, folder / name, seed)
        reply = httpx.post(
            f"{url}/adapters", json={"name": name, "src": str(folder / name)}, timeout=120
        )
        if reply.status_code != 200:
            return {"passed": False, "register": name, "status": reply.status_code}

    async def both() -> list[tuple[int, set[str]]]:  # the two streams overlap in the engine
        async with httpx.AsyncClient(timeout=300) as client:
            return list(await asyncio.gather(*(_adapter_stream(client, url, n) for n in names)))

    answers = asyncio.run(both())
    pairs = zip(answers, names, strict=True)
    ok = all(status == 200 and models == {name} for (status, models), name in pairs)
    return {"passed": ok, "answers": [[s, sorted(m)] for s, m in answers]}


async def _adapter_stream(client: Any, url: str, name: str) -> tuple[int, set[str]]:
    body = {"messages": PROMPT, "max_tokens": MAX_TOKENS, "stream": True}
    headers = {"x-amzn-sagemaker-adapter-identifier": name}
    async with client.stream("POST", f"{url}/invocations", json=body, headers=headers) as r:
        chunks = [json.loads(line) async for line in r.aiter_lines() if line]
        return r.status_code, {c["model"] for c in chunks}


def _make_adapter(base: Path, out: Path, seed: int) -> None:
    """A random LoRA (r=8 on q_proj and v_proj), saved by PEFT (tests/test_adapters.py's)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base)
    config = LoraConfig(
        r=8, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    get_peft_model(model, config).save_pretrained(str(out))


async def bench(url: str, window_s: float) -> dict[str, Any]:
    """Output tokens/s at each level: a closed loop of streamed requests (bench/measure.py)."""
    import httpx

    from bench import measure

    prompts = json.loads((REPO / "bench" / "prompts.json").read_text())["prompts"]
    limits = httpx.Limits(max_connections=max(LEVELS) + 4)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(300.0)) as client:
        send = _token_sender(url, prompts, client)
        await measure.closed_loop(send, 1, 2.0, len(prompts))  # warm-up, not recorded
        levels = {}
        for level in LEVELS:
            figures = await measure.closed_loop(send, level, window_s, len(prompts))
            levels[str(level)] = {
                k: figures[k] for k in ("output_tokens_per_s", "ttft_p50_ms", "itl_p50_ms")
            }
        # a level that delivered nothing failed (its requests' errors are not kept)
        passed = all(v["output_tokens_per_s"] for v in levels.values())
        return {"passed": passed, **levels}


def _token_sender(url: str, prompts: Sequence[dict[str, Any]], client: Any) -> Any:
    """bench/measure.py's sender, counting tokens by the usage the last chunk reports: random
    weights pick many tokens that add no text (a chunk counts one token in measure.py)."""
    from bench.measure import Timing

    async def send(index: int, timing: Timing) -> None:
        body = {
            "messages": prompts[index]["messages"],
            "max_tokens": MAX_TOKENS,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        async with client.stream("POST", f"{url}/invocations", json=body) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                chunk = json.loads(line) if line else {}
                choices = chunk.get("choices") or ()
                if choices and choices[0]["delta"].get("content"):  # at least one token
                    timing.arrivals.append((time.perf_counter(), 1))
                elif chunk.get("usage") and timing.arrivals:  # the rest, with the last chunk
                    extra = chunk["usage"]["completion_tokens"] - timing.tokens
                    timing.arrivals.append((timing.arrivals[-1][0], max(extra, 0)))

    return send


def _gpu_name() -> str:
    import torch

    return str(torch.cuda.get_device_name(0))


def _passed(record: dict[str, Any]) -> bool:
    """No check failed (a skipped one, for a package not installed, is not a failure)."""
    if record["cuda_tests"].get("passed") is False:
        return False
    for result in record["engines"].values():
        if "failed" in result:
            return False
        checks = [result.get(k, {}) for k in ("stream", "constrained", "adapters", "bench")]
        if any(c.get("passed") is False for c in checks):
            return False
    return True


def write_results(record: dict[str, Any], results: Path) -> Path:
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime())
    from bench.hardware import slug

    name = f"gpu-check-{stamp}-{slug(record['gpu']) if record['gpu'] else record['device']}"
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    (results / f"{name}.md").write_text(markdown(record))
    return results / f"{name}.json"


def markdown(record: dict[str, Any]) -> str:
    lines = [
        f"# gpu-check on {record['gpu'] or record['device']}",
        "",
        f"Model: {record['model']} ({record['weights']}); {record['elapsed_s']} s in all.",
        f"CUDA tests: {record['cuda_tests']}",
        "",
        "| engine | stream | constrained | adapters | tok/s c=1 | c=16 | c=64 | GPU util % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for engine, r in record["engines"].items():
        if "skipped" in r or "failed" in r:
            lines.append(f"| {engine} | {r.get('skipped') or 'FAILED to start'} |||||||")
            continue
        bench_ = r.get("bench", {})
        rates = [str(bench_.get(str(c), {}).get("output_tokens_per_s")) for c in LEVELS]
        gpu = r.get("gpu") or {}
        ok = [_mark(r[k]) for k in ("stream", "constrained", "adapters")]
        util = f"{gpu.get('util_mean_pct')}/{gpu.get('util_max_pct')}"
        lines.append(f"| {engine} | {' | '.join(ok)} | {' | '.join(rates)} | {util} |")
    return "\n".join(lines) + "\n"


def _mark(check: dict[str, Any]) -> str:
    return {True: "ok", False: "FAILED", None: "skipped"}[check.get("passed")]


if __name__ == "__main__":
    sys.exit(main())
