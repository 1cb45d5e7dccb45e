"""How many GPUs to shard a model over (tensor parallelism), when the user did not say."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def tensor_parallel_size(config: dict[str, Any], gpus: int) -> int:
    """The largest count up to `gpus` that vLLM can shard this model's layers over.

    vLLM 0.32's rules: the attention heads divide by it (vllm/config/model.py,
    verify_with_parallel_config: "Total number of attention heads ... must be divisible by
    tensor parallel size"); the KV heads divide by it, or it by them (replicas;
    vllm/model_executor/layers/linear.py, QKVParallelLinear); the MLP's intermediate size
    divides by it (MergedColumnParallelLinear asserts every output size does).
    """
    text = config.get("text_config") or config  # multimodal configs nest the language model's
    heads = int(text.get("num_attention_heads") or 1)
    kv_heads = int(text.get("num_key_value_heads") or heads)
    intermediate = int(text.get("intermediate_size") or 0)
    for size in range(max(gpus, 1), 0, -1):
        kv_ok = kv_heads % size == 0 or size % kv_heads == 0
        mlp_ok = not intermediate or intermediate % size == 0
        if heads % size == 0 and kv_ok and mlp_ok:
            return size
    return 1


def default_tensor_parallel_size(model_dir: Path, gpus: int) -> int:
    """All `gpus` visible, reduced to what the model's heads allow (logged when reduced)."""
    config = json.loads((model_dir / "config.json").read_text())
    size = tensor_parallel_size(config, gpus)
    if size < gpus:
        log.warning(
            "%d GPUs visible, but the model's attention heads shard over at most %d of them: "
            "tensor parallelism %d",
            gpus,
            size,
            size,
        )
    return size
