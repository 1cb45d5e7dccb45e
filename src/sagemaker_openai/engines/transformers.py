"""The portable engine: PyTorch and transformers, one worker thread, sequences interleaved."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import random
import threading
from collections.abc import AsyncIterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from .base import EngineOptions, Guided, ModelCard, SamplingParams, Step
from .tokenizer import encode, eos_ids, model_card

log = logging.getLogger(__name__)

GIB = 1 << 30
# Below this a temperature is greedy, as in vLLM: dividing logits by it overflows float32.
GREEDY_TEMPERATURE = 1e-5


def load(model_dir: Path, *, served_name: str, options: EngineOptions) -> TransformersEngine:
    """Load weights and tokenizer from a Hugging Face folder (blocking)."""
    _check_options(options)
    # Leave a core to the event loop and the HTTP side: an OpenMP team that loses a core to
    # them waits at every barrier (measured on 2 cores while serving: 7.5 tok/s with 2 threads,
    # 17.3 with 1). vLLM's CPU engine makes the same choice.
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) - 1))
    dtype = "float32" if options.dtype == "auto" else options.dtype
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, **_dtype_argument(getattr(torch, dtype))
    )
    model.eval()
    context = int(getattr(model.config, "max_position_embeddings", 2048))
    if options.max_model_len is not None:
        context = min(context, options.max_model_len)
    capacity = int(options.kv_cache_gib * GIB) // _cache_bytes_per_token(model)
    card = model_card(
        tokenizer,
        name=served_name,
        context_length=context,
        # constrained decoding needs xgrammar, which SageMaker's DLC images lack
        features=frozenset({"response_format"} if find_spec("xgrammar") else ()),
        vocab_size=int(model.config.vocab_size),
        token_capacity=capacity,
    )
    return TransformersEngine(model, tokenizer, card)


def _cache_bytes_per_token(model: Any) -> int:
    """Heap one token of one sequence holds: keys and values in every layer, counted twice
    because a growing cache is concatenated (old and new copies live together for a moment)."""
    config = model.config
    heads = getattr(config, "num_attention_heads", 1)
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    itemsize = torch.tensor([], dtype=model.dtype).element_size()
    return 2 * 2 * config.num_hidden_layers * kv_heads * head_dim * itemsize


def _dtype_argument(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """`from_pretrained`'s dtype keyword: `dtype` from transformers 4.56, `torch_dtype` before.

    The inference images ship older releases (HF DLC 4.49, LMI 0.30 4.45), where an unknown
    `dtype=` lands in the config and breaks its JSON serialisation, or reaches the model's
    constructor (`unexpected keyword argument 'dtype'`).
    """
    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": dtype}


def _check_options(options: EngineOptions) -> None:
    """Options this engine cannot honour are errors, never silently dropped."""
    if options.num_gpus > 1:
        raise ValueError(
            f"the transformers engine runs on one device, not {options.num_gpus} GPUs; "
            "use the vllm engine for tensor parallelism"
        )
    if options.enforce_eager:
        raise ValueError("enforce_eager is a vllm engine option; the transformers engine is eager")


class TransformersEngine:
    """Generates token by token; every active sequence advances one token per round."""

    def __init__(self, model: Any, tokenizer: Any, card: ModelCard):
        self.card = card
        self._model = model
        self._tokenizer = tokenizer
        self._eos = eos_ids(
            getattr(model.generation_config, "eos_token_id", None),
            model.config.eos_token_id,
            tokenizer.eos_token_id,
        )
        self._guides: Any = None  # engines.guided.GuidedDecoding, built on first use
        self._inbox: queue.Queue[_Sequence] = queue.Queue()
        self._running = 0
        self._worker = threading.Thread(target=self._run, name="transformers-engine", daemon=True)
        self._worker.start()

    def encode(self, text: str, *, special: bool = True) -> list[int]:
        return encode(self._tokenizer, text, special)

    @property
    def running(self) -> int:
        """Sequences admitted and not yet finished or cancelled."""
        return self._running

    @property
    def alive(self) -> bool:
        """The worker thread runs every sequence: without it nothing generates."""
        return self._worker.is_alive()

    def close(self) -> None:
        """Nothing to free beyond the heap: the worker thread is a daemon."""

    def check_guided(self, guided: Guided) -> None:
        self._guided_decoding().compile(guided)

    def _guided_decoding(self) -> Any:
        if self._guides is None:
            from .guided import GuidedDecoding  # imports xgrammar

            vocab = int(self._model.config.vocab_size)
            self._guides = GuidedDecoding(self._tokenizer, vocab, sorted(self._eos))
        return self._guides

    async def generate(self, prompt: list[int], params: SamplingParams) -> AsyncIterator[Step]:
        seq = _Sequence(prompt, params, self._tokenizer, asyncio.get_running_loop())
        if params.guided is not None:
            seq.guide = self._guided_decoding().processor(params.guided)
        self._inbox.put(seq)
        try:
            while True:
                item = await seq.outbox.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason:
                    return
        finally:
            seq.cancelled = True  # the worker drops it, and its cache, on its next round

    def _run(self) -> None:
        active: list[_Sequence] = []
        while True:
            # Block only when idle; otherwise take newcomers between rounds.
            if not active:
                active.append(self._inbox.get())
            while not self._inbox.empty():
                active.append(self._inbox.get_nowait())
            for seq in list(active):
                if seq.cancelled:
                    active.remove(seq)
                    continue
                try:
                    with torch.inference_mode():
                        done = self._advance(seq)
                except Exception as exc:
                    log.exception("generation failed")
                    seq.send(exc)
                    done = True
                if done:
                    active.remove(seq)
            self._running = len(active)

    def _advance(self, seq: _Sequence) -> bool:
        """One forward pass and one sampled token for `seq`; True when it has finished."""
        if seq.cache is None:
            input_ids = torch.tensor([seq.prompt])
        else:
            input_ids = torch.tensor([[seq.tokens[-1]]])
        out = self._model(input_ids=input_ids, past_key_values=seq.cache, use_cache=True)
        seq.cache = out.past_key_values
        logits = out.logits[0, -1].float()
        if seq.guide is not None:
            seq.guide.mask(logits)
        token = seq.sample(logits)
        if seq.guide is not None:
            seq.guide.accept(token)
        if token in self._eos or (seq.guide is not None and seq.guide.done()):
            text, _ = seq.drain()
            seq.finish("stop", text, eos=True)
            return True
        seq.tokens.append(token)
        text, stopped = seq.stop_text.feed(seq.detokenizer.add(token))
        if stopped:
            seq.finish("stop", text)
            return True
        if len(seq.tokens) >= seq.params.max_tokens:
            tail, stopped = seq.drain()
            seq.finish("stop" if stopped else "length", text + tail)
            return True
        if text:
            seq.send(Step(text=text, completion_tokens=len(seq.tokens)))
        return False


class _Sequence:
    def __init__(self, prompt: list[int], params: SamplingParams, tokenizer: Any, loop: Any):
        self.prompt = prompt
        self.params = params
        self.tokens: list[int] = []
        self.cache: Any = None
        self.cancelled = False
        self.loop = loop
        self.outbox: asyncio.Queue[Step | BaseException] = asyncio.Queue()
        self.detokenizer = IncrementalDetokenizer(tokenizer, prompt)
        self.stop_text = StopText(params.stop)
        seed = params.seed if params.seed is not None else random.getrandbits(63)
        self.generator = torch.Generator().manual_seed(seed)
        self.counts: torch.Tensor | None = None  # occurrences of each token in the completion
        self.guide: Any = None  # guided.Processor when the output is constrained

    def send(self, item: Step | BaseException) -> None:
        self.loop.call_soon_threadsafe(self.outbox.put_nowait, item)

    def drain(self) -> tuple[str, bool]:
        """Text held back at the end; True if it completes a stop string."""
        text, stopped = self.stop_text.feed(self.detokenizer.flush())
        return (text, True) if stopped else (text + self.stop_text.flush(), False)

    def finish(self, reason: Any, text: str, eos: bool = False) -> None:
        # The end-of-turn token was generated too: counted, as vLLM counts it, but not shown.
        count = len(self.tokens) + int(eos)
        self.send(Step(text=text, completion_tokens=count, finish_reason=reason))

    def sample(self, logits: torch.Tensor) -> int:
        """OpenAI's sampling: penalties on completion tokens, temperature, then nucleus."""
        p = self.params
        logits = logits.float()
        if p.presence_penalty or p.frequency_penalty:
            if self.counts is None:
                self.counts = torch.zeros_like(logits)
            if self.tokens:
                self.counts[self.tokens[-1]] += 1
            logits = logits - self.counts * p.frequency_penalty
            logits = logits - (self.counts > 0).float() * p.presence_penalty
        if p.temperature < GREEDY_TEMPERATURE:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / p.temperature, dim=-1)
        if p.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            # keep the smallest prefix whose mass reaches top_p (always at least one token)
            drop = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= p.top_p
            sorted_probs[drop] = 0.0
            choice = torch.multinomial(sorted_probs, 1, generator=self.generator)
            return int(order[choice])
        return int(torch.multinomial(probs, 1, generator=self.generator))


class IncrementalDetokenizer:
    """Token ids to text deltas that never split a UTF-8 character."""

    def __init__(self, tokenizer: Any, prompt: list[int]):
        self._tokenizer = tokenizer
        # A few prompt tokens of context so a word's leading space decodes as it should.
        self._ids = list(prompt[-4:])
        self._prefix = 0
        self._read = len(self._ids)

    def add(self, token: int) -> str:
        self._ids.append(token)
        return self._emit()

    def flush(self) -> str:
        """What is held back at the end, less the bytes of a character cut off by max_tokens."""
        return self._emit(final=True).rstrip("\ufffd")

    def _emit(self, final: bool = False) -> str:
        decode = self._tokenizer.decode
        before = decode(self._ids[self._prefix : self._read], skip_special_tokens=True)
        after = decode(self._ids[self._prefix :], skip_special_tokens=True)
        if len(after) <= len(before) or (after.endswith("\ufffd") and not final):
            return ""  # an incomplete multi-byte character: wait for the next token
        self._prefix, self._read = self._read, len(self._ids)
        return after[len(before) :]


class StopText:
    """Finds stop strings across deltas; holds back only text that could begin one."""

    def __init__(self, stops: tuple[str, ...]):
        self._stops = stops
        self._pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """(text safe to emit, whether a stop string was found)."""
        if not self._stops:
            return text, False
        self._pending += text
        found = [i for i in (self._pending.find(s) for s in self._stops) if i >= 0]
        if found:
            out, self._pending = self._pending[: min(found)], ""
            return out, True
        held = max(map(self._held, self._stops))
        cut = len(self._pending) - held
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out, False

    def _held(self, stop: str) -> int:
        """Length of the longest end of the pending text that begins `stop`."""
        for size in range(min(len(stop) - 1, len(self._pending)), 0, -1):
            if stop.startswith(self._pending[-size:]):
                return size
        return 0

    def flush(self) -> str:
        out, self._pending = self._pending, ""
        return out
