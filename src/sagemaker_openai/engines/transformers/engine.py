"""The portable engine: PyTorch and transformers on CPU or one GPU, sequences batched."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from ..base import (
    KV_CACHE_GIB_DEFAULT,
    EngineOptions,
    Guided,
    ModelCard,
    SamplingParams,
    Step,
    thinking_markers,
)
from ..hardware import pick_device, pick_dtype
from ..token_bytes import token_bytes_table
from ..tokenizer import Encoder, eos_ids, model_card
from .lora import LoraAdapters, no_adapters
from .sequence import LogitsProcessor, Sequence

if TYPE_CHECKING:
    from .batch.batching import Scheduler

log = logging.getLogger(__name__)

FEATURES = frozenset({"logprobs", "logit_bias"})  # and response_format where xgrammar is
GIB = 1 << 30
# On a GPU without kv_cache_gib: the budget and its prefix-cache quarter take 80% of the memory
# free once the weights are loaded (0.64 + 0.16); the rest is for activations and the allocator.
FREE_GPU_SHARE = 0.64


def load(model_dir: Path, *, served_name: str, options: EngineOptions) -> TransformersEngine:
    """Load weights and tokenizer from a Hugging Face folder (blocking).

    device auto: CUDA when PyTorch sees one, else CPU; dtype auto: what that device computes
    natively (engines/hardware.py). Weights load straight onto the device (no copy in host
    memory first); the KV budget is `kv_cache_gib`, or on a GPU where it was not set a share of
    the memory left free (kv_budget_bytes); the context is the model's, capped by
    `max_model_len` and by the budget (one sequence of full context always fits, as vLLM's
    auto-fit), logged.
    """
    _check_options(options)
    _check_transformers()
    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device)
    # Leave a core to the event loop and the HTTP side: an OpenMP team that loses a core to
    # them waits at every barrier (measured on 2 cores while serving: 7.5 tok/s with 2 threads,
    # 17.3 with 1). vLLM's CPU engine makes the same choice.
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) - 1))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = load_weights(model_dir, getattr(torch, dtype), device)
    log.info("transformers engine on %s, %s", device, dtype)
    free = torch.cuda.mem_get_info()[0] if device == "cuda" else None
    budget = kv_budget_bytes(options.kv_cache_gib, free)
    capacity = budget // _cache_bytes_per_token(model)
    context = int(getattr(model.config, "max_position_embeddings", 2048))
    if options.max_model_len is not None:
        context = min(context, options.max_model_len)
    if options.max_model_len is not None and capacity < options.max_model_len:
        log.warning(
            "max_model_len %d is cut to the KV budget's %d tokens", options.max_model_len, capacity
        )
    context = min(context, capacity)
    log.info(
        "transformers context: %d tokens; KV budget %.2f GiB (%d tokens)",
        context,
        budget / GIB,
        capacity,
    )
    card = model_card(
        tokenizer,
        name=served_name,
        context_length=context,
        # constrained decoding needs xgrammar, which SageMaker's DLC images lack
        features=FEATURES | ({"response_format"} if find_spec("xgrammar") else set()),
        vocab_size=int(model.config.vocab_size),
        token_capacity=capacity,
    )
    adapters = LoraAdapters(model, device) if options.max_loras else None
    # a quarter of the KV budget keeps finished prompts for reuse (batch/prefixes.py)
    prefix_bytes = budget // 4
    return TransformersEngine(model, tokenizer, card, device, adapters, prefix_bytes)


def load_weights(model_dir: Path, dtype: torch.dtype, device: str) -> Any:
    """The model in eval mode, its weights read straight onto `device`: transformers places
    each tensor as it loads it (device_map), so an 8B model never sits whole in host memory."""
    placed = {} if device == "cpu" else {"device_map": device}
    model = AutoModelForCausalLM.from_pretrained(model_dir, **_dtype_argument(dtype), **placed)
    model.eval()  # type: ignore[no-untyped-call]  # torch's Module.eval is untyped here
    return model


def kv_budget_bytes(kv_cache_gib: float, free_gpu_bytes: int | None) -> int:
    """The KV budget: `kv_cache_gib` where set (or on CPU), else FREE_GPU_SHARE of the GPU
    memory free after loading (torch.cuda.mem_get_info)."""
    if free_gpu_bytes is None or kv_cache_gib != KV_CACHE_GIB_DEFAULT:
        return int(kv_cache_gib * GIB)
    return int(free_gpu_bytes * FREE_GPU_SHARE)


def _cache_bytes_per_token(model: Any) -> int:
    """Memory one token of one sequence holds: keys and values in every layer, counted twice
    because a batch's cache is rebuilt when rows join or leave (old and new copies live
    together for a moment)."""
    config = model.config
    # transformers' config is untyped: its sizes are ints
    heads: int = getattr(config, "num_attention_heads", 1)
    kv_heads: int = getattr(config, "num_key_value_heads", None) or heads
    head_dim: int = getattr(config, "head_dim", None) or config.hidden_size // heads
    layers: int = config.num_hidden_layers
    itemsize = torch.tensor([], dtype=model.dtype).element_size()
    return 2 * 2 * layers * kv_heads * head_dim * itemsize


def _dtype_argument(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """`from_pretrained`'s dtype keyword (`torch_dtype` before transformers 4.56)."""
    return {"dtype": dtype}


MIN_TRANSFORMERS = (4, 56)  # per-layer cache objects (cache_utils.DynamicLayer): batching.py


def _check_transformers() -> None:
    """Every default image ships 4.56 or later (hf-dlc 5.5.3, LMI 28's vLLM 0.26 needs 5.5.3;
    sagemaker/images.py); an older one, from an image chosen by hand, fails the load in a line."""
    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    if (major, minor) < MIN_TRANSFORMERS:
        raise RuntimeError(
            f"transformers {transformers.__version__} is too old for the transformers engine: "
            "it needs 4.56 or later (choose a newer image, or the vllm engine)"
        )


def _check_options(options: EngineOptions) -> None:
    """Options this engine cannot honour are errors, never silently dropped."""
    if options.num_gpus > 1:
        raise ValueError(
            f"the transformers engine runs on one device, not {options.num_gpus} GPUs; "
            "use the vllm engine for tensor parallelism"
        )
    if options.enforce_eager:
        raise ValueError("enforce_eager is a vllm engine option; the transformers engine is eager")
    if options.gpu_memory_utilization != EngineOptions.gpu_memory_utilization:
        raise ValueError("gpu_memory_utilization is a vllm engine option")


class TransformersEngine:
    """Continuous batching (batch/batching.py): all sequences advance in one forward pass."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        card: ModelCard,
        device: str = "cpu",
        adapters: LoraAdapters | None = None,
        prefix_bytes: int = 0,
    ):
        self.card = card
        self.adapters = adapters
        self.device = device
        self.dtype = str(model.dtype).removeprefix("torch.")
        self._tokenizer = tokenizer
        self._encode = Encoder(tokenizer)
        self._eos = eos_ids(
            getattr(model.generation_config, "eos_token_id", None),
            model.config.eos_token_id,
            tokenizer.eos_token_id,
        )
        self._token_bytes = token_bytes_table(tokenizer)
        self._guides: Any = None  # engines.guided.GuidedDecoding, built on first use
        self._scheduler = _scheduler(model, device, adapters, prefix_bytes)
        # a thinking budget ends with the template's end marker (as vLLM's reasoning config)
        start, end = thinking_markers(card.chat_template)
        self._thinking = (self.encode(start), self.encode(end))

    def encode(self, text: str, *, special: bool = True) -> list[int]:
        return self._encode(text, special)

    @property
    def running(self) -> int:
        """Sequences admitted and not yet finished or cancelled."""
        return self._scheduler.running

    @property
    def alive(self) -> bool:
        """The worker thread runs every sequence: without it nothing generates."""
        return bool(self._scheduler.alive)

    def close(self) -> None:
        """Nothing to free beyond the heap: the worker thread is a daemon."""

    async def generate(self, prompt: list[int], params: SamplingParams) -> AsyncIterator[Step]:
        seq = Sequence(
            prompt,
            params,
            self._tokenizer,
            eos=self._eos,
            token_bytes=self._token_bytes,
            device=self.device,
            processor=self._processor(params),
            loop=asyncio.get_running_loop(),
            thinking=self._thinking,
        )
        held = self.adapters.holding(params.adapter) if self.adapters else contextlib.nullcontext()
        with held:
            self._scheduler.submit(seq)
            ended = False  # the worker sent its last step or its error
            try:
                while True:
                    item = await seq.outbox.get()
                    if isinstance(item, BaseException):
                        ended = True
                        raise item
                    ended = bool(item.finish_reason)
                    yield item
                    if ended:
                        return
            finally:
                if not ended:  # the caller left: the worker drops its row and cache
                    self._scheduler.cancel(seq)

    def check_guided(self, guided: Guided) -> None:
        self._guided_decoding().compile(guided)

    def _processor(self, params: SamplingParams) -> LogitsProcessor | None:
        """The sequence's grammar matcher when the request constrains its output."""
        if params.guided is None:
            return None
        processor: LogitsProcessor = self._guided_decoding().processor(params.guided)
        return processor

    def _guided_decoding(self) -> Any:
        if self._guides is None:
            from ..guided import GuidedDecoding  # imports xgrammar

            vocab = self.card.vocab_size
            self._guides = GuidedDecoding(self._tokenizer, vocab, sorted(self._eos))
        return self._guides


def _scheduler(
    model: Any, device: str, adapters: LoraAdapters | None, prefix_bytes: int
) -> Scheduler:
    """Continuous batching: one packed forward pass per step (batch/mixed.py)."""
    # imported here: they need transformers 4.56's per-layer caches (_check_transformers)
    from .batch.batching import Scheduler
    from .batch.mixed import use_packed_attention

    rows = adapters.forward if adapters else no_adapters
    use_packed_attention(model)
    return Scheduler(model, device, prefix_bytes, rows)
