"""The portable engine: PyTorch and transformers on CPU or one GPU, sequences batched."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from .base import ModelCard, SamplingParams, Step
from .batching import Scheduler
from .hardware import pick_device, pick_dtype
from .kvcache import ATTENTION
from .sequence import LogitsProcessor, Sequence
from .token_bytes import token_bytes_table

log = logging.getLogger(__name__)

FEATURES = frozenset({"logprobs", "logit_bias"})


def load(
    model_dir: Path, *, served_name: str, device: str = "auto", dtype: str = "auto", **_: object
) -> Engine:
    """Load weights and tokenizer from a Hugging Face folder (blocking).

    `device` auto: CUDA when PyTorch sees one, else CPU. `dtype` auto: what the device computes
    natively (engines/hardware.py).
    """
    device = pick_device(device)
    dtype = pick_dtype(dtype, device)
    # Leave a core to the event loop and the HTTP side: an OpenMP team that loses a core to
    # them waits at every barrier (measured on 2 cores while serving: 7.5 tok/s with 2 threads,
    # 17.3 with 1). vLLM's CPU engine makes the same choice.
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) - 1))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    model.to(device).eval()
    model.set_attn_implementation(ATTENTION)
    log.info("transformers engine on %s, %s", device, dtype)
    if not tokenizer.chat_template:
        raise ValueError(f"{model_dir} has no chat template in its tokenizer files")
    config = model.config
    card = ModelCard(
        name=served_name,
        context_length=int(getattr(config, "max_position_embeddings", 2048)),
        chat_template=tokenizer.chat_template,
        special_tokens={
            k: v
            for k, v in (("bos_token", tokenizer.bos_token), ("eos_token", tokenizer.eos_token))
            if isinstance(v, str)
        },
        features=FEATURES,
        vocab_size=int(config.vocab_size),
    )
    return Engine(model, tokenizer, card, device, dtype)


class Engine:
    """Continuous batching (engines/batching.py): all sequences advance in one forward pass."""

    def __init__(
        self, model: Any, tokenizer: Any, card: ModelCard, device: str = "cpu", dtype: str = ""
    ):
        self.card = card
        self.device = device
        self.dtype = dtype or str(model.dtype).removeprefix("torch.")
        self._tokenizer = tokenizer
        self._device = device
        self._eos = _eos_ids(model, tokenizer)
        self._token_bytes = token_bytes_table(tokenizer)
        self._guides: Any = None  # engines.guided.GuidedDecoding, built on first use
        self._scheduler = Scheduler(model, device)

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    @property
    def running(self) -> int:
        """Sequences admitted and not yet finished or cancelled."""
        return self._scheduler.running

    async def generate(self, prompt: list[int], params: SamplingParams) -> AsyncIterator[Step]:
        seq = Sequence(
            prompt,
            params,
            self._tokenizer,
            eos=self._eos,
            token_bytes=self._token_bytes,
            device=self._device,
            processor=self._processor(params),
            loop=asyncio.get_running_loop(),
        )
        self._scheduler.submit(seq)
        try:
            while True:
                item = await seq.outbox.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason:
                    return
        finally:
            seq.cancelled = True  # the scheduler drops its row, and its cache, before next step

    def _processor(self, params: SamplingParams) -> LogitsProcessor | None:
        """The sequence's grammar matcher when the request constrains its output."""
        guided = getattr(params, "guided", None)
        if guided is None:
            return None
        if self._guides is None:
            from .guided import GuidedDecoding

            vocab = self.card.vocab_size
            self._guides = GuidedDecoding(self._tokenizer, vocab, sorted(self._eos))
        return self._guides.processor(guided)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for value in (
        getattr(model.generation_config, "eos_token_id", None),
        model.config.eos_token_id,
        tokenizer.eos_token_id,
    ):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids.update(v for v in value if isinstance(v, int))
    return ids
