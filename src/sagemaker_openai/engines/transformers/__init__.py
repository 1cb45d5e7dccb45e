"""The portable engine: PyTorch and transformers on CPU or one GPU, sequences batched.

Two halves: what OpenAI's parameters mean per sequence, which no library offers per request
(engine.py, sequence.py, sampling.py, lora.py; seed, penalties, logit_bias, top_logprobs,
grammar, stop, LoRA), and the cache and scheduling under them (batch/: one packed forward pass
per step over per-layer KV caches, the prefix cache), which rests on transformers' internals.
"""

from .engine import TransformersEngine, load

__all__ = ["TransformersEngine", "load"]
