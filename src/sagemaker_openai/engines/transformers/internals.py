"""Every internal of transformers the engine relies on, in one place (tested on transformers
5.5.3, 5.9.0 and 5.19.0: the hf-dlc and LMI images' and this repository's; pyproject caps it).

Public names that are not promised stable: the per-layer cache objects (DynamicCache's layers,
transformers 4.56) that batch/kvcache.py subclasses, and the attention and mask registries with
the SDPA functions that batch/mixed.py registers under its own name. PEFT's calls (lora.py) are
its public API. Nothing registers at import: `register_attention` is called once per load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from transformers import AttentionInterface, DynamicCache
from transformers.cache_utils import DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

__all__ = ["DynamicCache", "DynamicLayer", "register_attention", "sdpa_attention_forward"]


def register_attention(name: str, attention: Callable[..., Any]) -> None:
    """Make `attn_implementation=name` call `attention`, with SDPA's mask builder."""
    AttentionInterface.register(name, attention)
    AttentionMaskInterface.register(name, sdpa_mask)
