"""The engine interface: what the server needs from anything that generates tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

FinishReason = Literal["stop", "length"]

# vLLM's KV cache on CPU, GiB: its own default reserves most of a NUMA node.
KV_CACHE_GIB_DEFAULT = 4.0

# EngineOptions.device and .dtype values; auto: the hardware's choice (engines/hardware.py)
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "bfloat16", "float16")

# Optional request features an engine may declare; the chat layer rejects the rest with a 400.
Feature = Literal["logprobs", "logit_bias", "response_format"]

# A reasoning model's thinking markers (start, end): <think> always, the others where a chat
# template uses them (reasoning.py splits them out; engines end a thinking budget with the end)
THINKING_MARKERS = (
    ("<think>", "</think>"),
    ("[THINK]", "[/THINK]"),
    ("<|START_THINKING|>", "<|END_THINKING|>"),
)


def thinking_markers(chat_template: str) -> tuple[str, str]:
    """The template's own markers, or <think> and </think>."""
    return next((m for m in THINKING_MARKERS if m[0] in chat_template), THINKING_MARKERS[0])


@dataclass(frozen=True)
class EngineOptions:
    """How to load an engine. An engine refuses an option it cannot honour (ValueError)."""

    num_gpus: int = 0  # GPUs to shard over (tensor parallelism); 0 or 1: one device
    device: str = "auto"  # transformers: cpu, cuda or auto (cuda when available)
    dtype: str = "auto"  # weights' dtype by torch name; auto: what the hardware computes natively
    kv_cache_gib: float = KV_CACHE_GIB_DEFAULT  # vLLM on CPU: KV cache size; transformers: budget
    max_model_len: int | None = None  # context window cap, tokens; None: the model's own
    enforce_eager: bool = False  # vLLM: skip compilation (faster start, slower decode)
    gpu_memory_utilization: float = 0.9  # vLLM on GPUs: share of GPU memory it may take
    max_loras: int = 0  # LoRA adapters registered at once; 0: adapters off


@dataclass(frozen=True)
class Guided:
    """A constraint on the output: JSON text matching a schema. Each engine turns it into its own
    mechanism (xgrammar in the transformers engine, structured outputs in vLLM)."""

    json_schema: str | None = None  # the schema as JSON text (hashable); None: any JSON object


@dataclass(frozen=True)
class SamplingParams:
    """One sequence's sampling settings, already validated (OpenAI semantics)."""

    max_tokens: int  # completion tokens, >= 1, already capped to the context window
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    stop: tuple[str, ...] = ()  # stop text is excluded from the output
    seed: int | None = None
    logprobs: int | None = None  # None: off; k >= 0: chosen token plus k alternatives
    logit_bias: dict[int, float] = field(default_factory=dict)
    guided: Guided | None = None  # constrained decoding; None: free text
    adapter: str | None = None  # a registered LoRA adapter's name; None: the base model
    # vLLM's extras, with vLLM's meaning (vllm/sampling_params.py)
    top_k: int = 0  # the k most likely tokens only; 0 or -1: all
    min_p: float = 0.0  # drop tokens below min_p x the most likely one's probability
    repetition_penalty: float = 1.0  # prompt and completion tokens: logit / p if > 0, else x p
    min_tokens: int = 0  # end-of-sequence and stop_token_ids are barred before this many
    stop_token_ids: tuple[int, ...] = ()  # generating one ends the sequence (its text is not sent)
    ignore_eos: bool = False  # go on past end-of-sequence tokens
    thinking_budget: int | None = None  # thinking tokens before the end marker is written


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    bytes: list[int]
    top_logprobs: list[tuple[str, float, list[int]]]  # (token, logprob, bytes)


@dataclass(frozen=True)
class Step:
    """What one generation step adds to a sequence."""

    text: str  # new text, whole UTF-8 characters only; may be ""
    completion_tokens: int  # tokens generated so far (cumulative)
    finish_reason: FinishReason | None = None  # set on the last step only
    logprobs: tuple[TokenLogprob, ...] = ()  # for the tokens this step added, when asked
    cached_tokens: int = 0  # prompt tokens found in the prefix cache (on the last step)


@dataclass(frozen=True)
class ModelCard:
    """What the chat layer needs to know about the loaded model."""

    name: str  # served model name
    context_length: int  # tokens: prompt + completion
    chat_template: str  # Jinja source, rendered by the chat layer in a sandbox
    special_tokens: dict[str, str]  # bos_token, eos_token, ... passed to the template
    features: frozenset[str] = frozenset()  # subset of Feature
    vocab_size: int = 0  # token ids are 0..vocab_size-1 (logit_bias keys); 0 means unknown
    # tokens of cache all running sequences may hold together (admission budget); 0: unbounded
    token_capacity: int = 0
    # the most characters one token stands for: a prompt of more than context x this many
    # characters is too long without tokenizing it (a cheap check before the work); 0: unknown
    max_token_chars: int = 0
    special_texts: frozenset[str] = frozenset()  # special tokens' text: in content, it is text


# The most LoRA rank an adapter may have (vLLM preallocates for it; the transformers engine
# holds to the same bound so an adapter that one engine serves, the other serves too).
MAX_LORA_RANK = 64


class AdapterRejected(ValueError):
    """An adapter folder the engine cannot serve; the message says why (a 400 naming src)."""


class AdapterMissing(LookupError):
    """A sequence names an adapter unregistered since its request was checked (a 404)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class Adapters(Protocol):
    """LoRA adapters served beside the base model; SamplingParams.adapter picks one per sequence.
    Callers check names, folder layout and the limit first (serving/adapters.py)."""

    @property
    def names(self) -> frozenset[str]:
        """The adapters registered now."""
        ...

    async def add(self, name: str, path: Path) -> None:
        """Load a PEFT LoRA folder under `name`; AdapterRejected if it does not fit the model."""
        ...

    async def remove(self, name: str) -> None:
        """Forget `name`: new requests cannot use it; running sequences finish with it."""
        ...


class Engine(Protocol):
    """A loaded model. `generate` is called concurrently from the event loop."""

    @property
    def card(self) -> ModelCard:
        """What the chat layer needs to know about the model."""
        ...

    @property
    def running(self) -> int:
        """Sequences admitted and not yet finished or cancelled."""
        ...

    @property
    def alive(self) -> bool:
        """False once the engine can no longer generate (its worker or process has died)."""
        ...

    @property
    def adapters(self) -> Adapters | None:
        """LoRA adapters, or None where the engine was started without them (max_loras 0)."""
        ...

    def encode(self, text: str, *, special: bool = True) -> list[int]:
        """Token ids of templated text (none added); special=False: special-token text as text."""
        ...

    def generate(self, prompt: list[int], params: SamplingParams) -> AsyncIterator[Step]:
        """Stream one sequence; closing the iterator early must free the sequence."""
        ...

    def check_guided(self, guided: Guided) -> None:
        """Raise ValueError (with the reason) if this engine cannot follow `guided`; called
        before a stream starts, so a schema it refuses is a 400, not an in-stream error."""
        ...

    def close(self) -> None:
        """Free what the engine holds beyond the heap (processes, devices); idempotent."""
        ...
