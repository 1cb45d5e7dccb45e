"""The comparisons without HTTP, run as their own process so their memory can be measured.

`python -m bench.offline vllm|transformers|static MODEL_DIR PROMPTS OUT ... [--device cuda]`
  vllm: vLLM's offline engine (what `LLM.generate` drives), `c` requests always in flight.
  transformers: plain `model.generate` one request at a time, as a custom inference script does.
  static: plain `model.generate` on batches of `c` prompts (left-padded), one batch after the
    other: the limit a batching engine is held to. Not streamed, so each request's first token
    "arrives" with the whole batch, and TTFT is the batch's time.
  cb: transformers' own continuous batching (ContinuousBatchingManager: a paged cache and its
    scheduler), `c` streaming requests always in flight, in the dtype our transformers engine
    picks on this device: the alternative to our engine's cache and scheduling half.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .measure import MAX_TOKENS, Timing, Windows, poisson_arrivals, summarize

GIB = 1 << 30


def run_vllm(
    model_dir: str,
    prompts: list[list[int]],
    levels: list[int],
    windows: Windows,
    dtype: str = "bfloat16",
    enforce_eager: bool = False,
    device: str = "cpu",
    rates: list[float] | None = None,
) -> dict[str, Any]:
    from vllm import LLM
    from vllm import SamplingParams as VllmParams
    from vllm.inputs.engine import tokens_input
    from vllm.sampling_params import RequestOutputKind

    started = time.perf_counter()
    # the same engine settings as the runtime's vllm engine (engines/vllm.py) on CPU
    llm = LLM(
        model=model_dir,
        dtype=dtype,  # type: ignore[arg-type]  # a str from the command line, checked by vLLM
        enforce_eager=enforce_eager,
        kv_cache_memory_bytes=4 * GIB
        if device == "cpu"
        else None,  # on GPUs: vLLM's memory utilisation
        disable_log_stats=True,
    )
    load_s = time.perf_counter() - started
    engine = llm.llm_engine
    params = VllmParams(max_tokens=MAX_TOKENS, temperature=0, output_kind=RequestOutputKind.DELTA)
    results = {}
    for level in levels:
        for i in range(level):  # warmed as the harness warms a level (measure.warm_level)
            engine.add_request(uuid.uuid4().hex, tokens_input(prompts[i % len(prompts)]), params)
        while engine.has_unfinished_requests():
            engine.step()
        timings: dict[str, Timing] = {}
        finished: list[Timing] = []
        next_prompt = 0
        begin = time.perf_counter()
        deadline = begin + windows.at(level)
        while time.perf_counter() < deadline:
            while len(timings) < level:  # refill: closed loop, like `level` HTTP clients
                rid = uuid.uuid4().hex
                timings[rid] = Timing(start=time.perf_counter())
                engine.add_request(rid, tokens_input(prompts[next_prompt % len(prompts)]), params)
                next_prompt += 1
            _step(engine, timings, finished)
        engine.abort_request(list(timings))
        while engine.has_unfinished_requests():
            engine.step()
        results[str(level)] = summarize([*finished, *timings.values()], begin, deadline)
    by_rate = {}
    for rate in rates or []:  # open loop: requests join at Poisson arrival times
        offsets = poisson_arrivals(rate, windows.default)
        timings, finished = {}, []
        begin = time.perf_counter()
        deadline = begin + windows.default
        while time.perf_counter() < deadline:
            while offsets and begin + offsets[0] <= time.perf_counter():
                offsets.pop(0)
                rid = uuid.uuid4().hex
                timings[rid] = Timing(start=time.perf_counter())
                engine.add_request(rid, tokens_input(prompts[next_prompt % len(prompts)]), params)
                next_prompt += 1
            if not engine.has_unfinished_requests():
                time.sleep(0.001)
                continue
            _step(engine, timings, finished)
        engine.abort_request(list(timings))
        while engine.has_unfinished_requests():
            engine.step()
        by_rate[f"{rate:g}"] = summarize([*finished, *timings.values()], begin, deadline)
        by_rate[f"{rate:g}"]["requests_sent"] = len(finished) + len(timings)
    return {"load_s": round(load_s, 1), "levels": results, "rates": by_rate}


def _step(engine: Any, timings: dict[str, Timing], finished: list[Timing]) -> None:
    """One engine step: each output's new tokens arrive now; finished requests move over."""
    for output in engine.step():
        timing = timings[output.request_id]
        count = len(output.outputs[0].token_ids)
        if count:
            timing.arrivals.append((time.perf_counter(), count))
        if output.finished:
            timing.end = time.perf_counter()
            finished.append(timings.pop(output.request_id))


def _load(model_dir: str, device: str) -> tuple[Any, Any, str]:
    """Tokenizer, model on `device`, and its dtype: fp32 on CPU, bf16 where the GPU computes it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.float32
    if device == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    model = model.to(device).eval()  # type: ignore[arg-type]  # transformers types .to without self
    return tokenizer, model, str(dtype).removeprefix("torch.")


def run_transformers(
    model_dir: str, prompts: list[list[int]], windows: Windows, device: str = "cpu"
) -> dict[str, Any]:
    import torch
    from transformers import TextIteratorStreamer

    started = time.perf_counter()
    tokenizer, model, dtype = _load(model_dir, device)
    load_s = time.perf_counter() - started
    with torch.inference_mode():  # the level's warm-up (measure.warm_level): one request
        ids = torch.tensor([prompts[0]], device=device)
        model.generate(input_ids=ids, max_new_tokens=MAX_TOKENS, do_sample=False)
    timings: list[Timing] = []
    begin = time.perf_counter()
    deadline = begin + windows.at(1)
    index = 0
    while time.perf_counter() < deadline:
        timing = Timing(start=time.perf_counter())
        timings.append(timing)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        ids = torch.tensor([prompts[index % len(prompts)]], device=device)
        kwargs: dict[str, Any] = {"max_new_tokens": MAX_TOKENS, "do_sample": False}
        worker = threading.Thread(
            target=model.generate,
            kwargs={"input_ids": ids, "streamer": streamer, **kwargs},
        )
        worker.start()
        for text in streamer:
            if text:  # the streamer yields words; count tokens from the text
                tokens = len(tokenizer.encode(text, add_special_tokens=False))
                timing.arrivals.append((time.perf_counter(), tokens))
        worker.join()
        timing.end = time.perf_counter()
        index += 1
    levels = {"1": summarize(timings, begin, deadline)}
    return {"load_s": round(load_s, 1), "dtype": dtype, "levels": levels}


def run_static(
    model_dir: str, prompts: list[list[int]], levels: list[int], windows: Windows, device: str
) -> dict[str, Any]:
    """Batches of `level` prompts through one `generate` each, until the window is spent."""
    import torch

    started = time.perf_counter()
    tokenizer, model, dtype = _load(model_dir, device)
    load_s = time.perf_counter() - started
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)

    def generate(batch: list[list[int]]) -> Any:
        width = max(map(len, batch))
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch], device=device)
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=MAX_TOKENS,
                do_sample=False, pad_token_id=pad,
            )  # fmt: skip
        return out[:, width:].tolist()

    results, index = {}, 0
    for level in levels:
        generate([prompts[i % len(prompts)] for i in range(level)])  # the level's warm-up
        timings: list[Timing] = []
        begin = time.perf_counter()
        while time.perf_counter() < begin + windows.at(level):  # the last batch may end past it
            batch = [prompts[(index + i) % len(prompts)] for i in range(level)]
            index += level
            start = time.perf_counter()
            rows = generate(batch)
            end = time.perf_counter()
            for row in rows:
                tokens = next((i for i, t in enumerate(row) if t in eos_ids), len(row))
                timings.append(Timing(start=start, arrivals=[(end, tokens)], end=end))
        results[str(level)] = summarize(timings, begin, time.perf_counter())
    return {"load_s": round(load_s, 1), "dtype": dtype, "levels": results}


def run_cb(
    model_dir: str,
    prompts: list[list[int]],
    levels: list[int],
    windows: Windows,
    device: str,
    kv_cache_gib: float = 1.0,
) -> dict[str, Any]:
    """transformers' ContinuousBatchingManager, `level` streaming requests always in flight,
    its paged cache held to `kv_cache_gib` (left to itself the manager takes most of the free
    memory; 1 GiB holds 64 of the harness's requests of the demo model several times over)."""
    import torch
    from transformers import AutoModelForCausalLM, ContinuousBatchingConfig, GenerationConfig

    from sagemaker_openai.engines.hardware import pick_dtype

    started = time.perf_counter()
    dtype = pick_dtype("auto", device)  # what our transformers engine loads on this device
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    model = model.to(device).eval()  # type: ignore[arg-type]  # transformers types .to without self
    config = GenerationConfig(  # type: ignore[no-untyped-call]  # transformers leaves it untyped
        max_new_tokens=MAX_TOKENS,
        do_sample=False,
        eos_token_id=model.generation_config.eos_token_id,
    )
    paging = ContinuousBatchingConfig()
    per_page = paging.page_size * _kv_bytes_per_token(model.config, dtype)
    paging.num_blocks = max(1, int(kv_cache_gib * GIB) // per_page)
    # tokens per forward pass: its attention mask grows with this times the cache's tokens
    # (at the default, 8192, the first try here asked for 11 GiB and met the OOM killer)
    paging.max_batch_tokens = 512
    manager = model.init_continuous_batching(
        generation_config=config, continuous_batching_config=paging
    )
    manager.start()
    load_s = time.perf_counter() - started
    results, index = {}, 0
    try:
        for level in levels:
            warming = {f"warm{level}-{i}": prompts[i % len(prompts)] for i in range(level)}
            for rid, prompt in warming.items():  # as measure.warm_level
                manager.add_request(prompt, rid)
            while warming:
                output = manager.get_result(timeout=300)
                if output is None:
                    raise RuntimeError("continuous batching: no warm-up result in 300 s")
                if output.is_finished():
                    warming.pop(output.request_id, None)
            timings: dict[str, Timing] = {}
            seen: dict[str, int] = {}  # tokens already counted per request
            finished: list[Timing] = []
            begin = time.perf_counter()
            deadline = begin + windows.at(level)
            while time.perf_counter() < deadline:
                while len(timings) < level:  # closed loop, like `level` HTTP clients
                    rid = f"r{index}"
                    timings[rid] = Timing(start=time.perf_counter())
                    seen[rid] = 0
                    manager.add_request(prompts[index % len(prompts)], rid, streaming=True)
                    index += 1
                output = manager.get_result(timeout=0.1)
                if output is None or output.request_id not in timings:
                    continue
                timing = timings[output.request_id]
                count = len(output.generated_tokens) - seen[output.request_id]
                if count > 0:
                    seen[output.request_id] += count
                    timing.arrivals.append((time.perf_counter(), count))
                if output.is_finished():
                    timing.end = time.perf_counter()
                    finished.append(timings.pop(output.request_id))
            for rid in timings:
                manager.cancel_request(rid)
            results[str(level)] = summarize([*finished, *timings.values()], begin, deadline)
    finally:
        manager.stop(block=True)
    return {"load_s": round(load_s, 1), "dtype": dtype, "levels": results}


def _kv_bytes_per_token(config: Any, dtype: str) -> int:
    """Keys and values of one token in every layer."""
    heads: int = config.num_attention_heads
    kv_heads: int = getattr(config, "num_key_value_heads", None) or heads
    head_dim: int = getattr(config, "head_dim", None) or config.hidden_size // heads
    itemsize = 4 if dtype == "float32" else 2
    return 2 * int(config.num_hidden_layers) * kv_heads * head_dim * itemsize


def encode_prompts(model_dir: str, prompts_file: str) -> list[list[int]]:
    """The prompts as the runtime sends them: the chat template rendered, then tokenized."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    out = []
    for prompt in json.loads(Path(prompts_file).read_text())["prompts"]:
        text = tokenizer.apply_chat_template(
            prompt["messages"], tokenize=False, add_generation_prompt=True
        )
        out.append(tokenizer.encode(text, add_special_tokens=False))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("engine", choices=["vllm", "transformers", "static", "cb"])
    parser.add_argument("model_dir")
    parser.add_argument("prompts")
    parser.add_argument("out")
    parser.add_argument("--levels", default="1,4,16,64")
    parser.add_argument("--window", type=Windows.parse, default=Windows(), help="45,64=135")
    parser.add_argument("--dtype", default="bfloat16", help="vllm only: to compare settings")
    parser.add_argument("--eager", action="store_true", help="vllm only: no torch.compile")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--rates", default="", help="vllm only: open-loop requests/s")
    parser.add_argument("--kv-cache-gib", type=float, default=1.0, help="cb only: paged cache")
    args = parser.parse_args()
    prompts = encode_prompts(args.model_dir, args.prompts)
    levels = [int(v) for v in args.levels.split(",")]
    if args.engine == "vllm":  # vLLM picks its device from the build installed
        dtype = args.dtype if args.device == "cpu" else "auto"
        rates = [float(v) for v in args.rates.split(",") if v]
        result = run_vllm(
            args.model_dir, prompts, levels, args.window, dtype, args.eager, args.device, rates
        )
    elif args.engine == "static":
        result = run_static(args.model_dir, prompts, levels, args.window, args.device)
    elif args.engine == "cb":
        result = run_cb(
            args.model_dir, prompts, levels, args.window, args.device, args.kv_cache_gib
        )
    else:
        result = run_transformers(args.model_dir, prompts, args.window, args.device)
    Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":  # vLLM spawns processes that re-import the main module
    main()
