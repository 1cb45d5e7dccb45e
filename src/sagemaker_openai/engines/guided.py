"""Grammar-constrained decoding for the transformers engine, with xgrammar (vLLM's default)."""

from __future__ import annotations

import inspect
import json
import re
from functools import lru_cache
from typing import Any

import torch
import xgrammar as xgr

from .base import Guided

OBJECT = '{"type": "object"}'  # json_object: any JSON object
# whether apply_token_bitmask_inplace takes `backend` (xgrammar 0.2.8 does)
BACKEND_OPTION = "backend" in inspect.signature(xgr.apply_token_bitmask_inplace).parameters


class InvalidGuide(ValueError):
    """The constraint cannot be compiled (a schema xgrammar refuses)."""


def check_json_schema(guided: Guided) -> None:
    """InvalidGuide unless xgrammar (vLLM's structured-output backend too) converts the schema."""
    try:
        xgr.Grammar.from_json_schema(guided.json_schema or OBJECT, any_whitespace=False)
    except (RuntimeError, ValueError) as exc:
        raise InvalidGuide(_reason(exc)) from None


class GuidedDecoding:
    """Compiles constraints for one tokenizer; hands each sequence its own processor."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: list[int]):
        # vocab_size is the model's (its logits' width), which may exceed the tokenizer's
        info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids
        )
        self._compiler = xgr.GrammarCompiler(info, max_threads=1)
        self._vocab_size = info.vocab_size
        self._compile = lru_cache(maxsize=64)(self._compile_uncached)

    def compile(self, guided: Guided) -> Any:
        """The compiled grammar (cached); InvalidGuide if xgrammar refuses the schema."""
        return self._compile(guided)

    def processor(self, guided: Guided) -> Processor:
        return Processor(self.compile(guided), self._vocab_size)

    def _compile_uncached(self, guided: Guided) -> Any:
        try:
            # Compact JSON: with free whitespace a small model can emit blanks until max_tokens.
            schema = guided.json_schema or OBJECT
            return self._compiler.compile_json_schema(schema, any_whitespace=False)
        except (RuntimeError, ValueError, json.JSONDecodeError) as exc:
            raise InvalidGuide(_reason(exc)) from None


class Processor:
    """One sequence's grammar state: masks logits before sampling, follows the chosen tokens."""

    def __init__(self, compiled: Any, vocab_size: int):
        self._matcher = xgr.GrammarMatcher(compiled)
        self._vocab_size = vocab_size
        self._bitmask = xgr.allocate_token_bitmask(1, vocab_size)  # int32 [1, vocab/32], CPU
        self._on_device: torch.Tensor | None = None  # its copy beside logits on a GPU

    def mask(self, logits_row: torch.Tensor) -> None:
        """Set every token the grammar forbids to -inf, in place (logits_row: [vocab]).

        The matcher fills a CPU bitmask; xgrammar's apply_token_bitmask_inplace raises unless
        logits and bitmask share a device (xgrammar 0.2.8, matcher.py: "logits and bitmask
        should be on the same device"), so on a GPU the mask is copied beside the logits and
        applied there with xgrammar's pure-torch kernel (no Triton build needed for one row).
        """
        self._matcher.fill_next_token_bitmask(self._bitmask)
        bitmask, options = self._bitmask, dict[str, Any]()
        if logits_row.device.type != "cpu":
            if self._on_device is None or self._on_device.device != logits_row.device:
                self._on_device = torch.empty_like(self._bitmask, device=logits_row.device)
            bitmask = self._on_device
            bitmask.copy_(self._bitmask)
            if BACKEND_OPTION:  # older xgrammar picks its GPU kernel itself
                options["backend"] = "torch_native"
        xgr.apply_token_bitmask_inplace(
            logits_row.unsqueeze(0), bitmask, vocab_size=self._vocab_size, **options
        )

    def accept(self, token_id: int) -> None:
        if not self._matcher.accept_token(token_id):
            raise RuntimeError(f"token {token_id} is outside the grammar; mask() was skipped")

    def done(self) -> bool:
        """The grammar has ended (its stop token accepted): nothing more may be generated."""
        return bool(self._matcher.is_terminated())


def _reason(exc: Exception) -> str:
    # xgrammar prefixes its C++ errors with "[hh:mm:ss] /path/file.cc:123: "
    text = (str(exc).splitlines() or [type(exc).__name__])[0]
    return re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", text)
