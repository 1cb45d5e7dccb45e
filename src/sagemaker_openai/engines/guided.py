"""Grammar-constrained decoding with xgrammar (vLLM's default backend): one grammar per
constraint, built here for both engines, so both follow exactly the same rules."""

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
# Compact JSON: with free whitespace a small model can emit blanks (or indent) until max_tokens.
SEPARATORS = (",", ":")
WALK = 2048  # bytes of a schema's grammar walked to find a dead end (check_json_schema)


class InvalidGuide(ValueError):
    """The constraint cannot be compiled (a schema xgrammar refuses)."""


@lru_cache(maxsize=64)
def json_grammar(guided: Guided) -> Any:
    """The xgrammar Grammar of a constraint (compact JSON), or InvalidGuide. The vllm engine
    passes its EBNF text to vLLM: vLLM 0.32 reads whitespace settings only from its engine-wide
    StructuredOutputsConfig (the per-request `disable_any_whitespace` is never read), and its
    `auto` backend accepts an xgrammar EBNF grammar as it is."""
    try:
        return xgr.Grammar.from_json_schema(
            guided.json_schema or OBJECT, any_whitespace=False, separators=SEPARATORS
        )
    except (RuntimeError, ValueError, json.JSONDecodeError) as exc:
        raise InvalidGuide(_reason(exc)) from None


def check_json_schema(guided: Guided) -> None:
    """InvalidGuide unless xgrammar converts the schema (both engines decode with it) into a
    grammar without a dead end on the way a byte-by-byte walk takes (the lowest allowed byte
    each time, for WALK bytes): a `$ref` that only refers to itself leaves decoding, there, no
    token to choose. (A dead end off that way ends its sequence: Processor.mask.)"""
    if _dead_end(guided):
        raise InvalidGuide("no JSON value matches the schema (a $ref that only refers to itself?)")


@lru_cache(maxsize=64)
def _dead_end(guided: Guided) -> bool:
    matcher = xgr.GrammarMatcher(_byte_compiler().compile_grammar(json_grammar(guided)))
    allowed = xgr.allocate_token_bitmask(1, 257)
    for _ in range(WALK):
        if matcher.is_terminated():
            return False
        matcher.fill_next_token_bitmask(allowed)
        words = allowed[0].tolist()
        word = next((i for i, bits in enumerate(words) if bits), None)
        if word is None:
            return True
        bits = words[word]
        matcher.accept_token(word * 32 + (bits & -bits).bit_length() - 1)  # its lowest bit
    return False


@lru_cache(maxsize=1)
def _byte_compiler() -> Any:
    """A compiler for a vocabulary of the 256 bytes (and a stop token): enough to ask a grammar
    which first bytes it allows, whatever the model's tokenizer."""
    vocab = [bytes([i]) for i in range(256)] + [b"<stop>"]
    return xgr.GrammarCompiler(xgr.TokenizerInfo(vocab, stop_token_ids=[256]), max_threads=1)


class GuidedDecoding:
    """Compiles constraints for one tokenizer; hands each sequence its own processor."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: list[int]):
        # vocab_size is the model's (its logits' width), which may exceed the tokenizer's
        info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids
        )
        self._compiler = xgr.GrammarCompiler(info, max_threads=1)
        self._vocab_size = info.vocab_size
        self._stop = stop_token_ids[0]
        self._compile = lru_cache(maxsize=64)(self._compile_uncached)

    def compile(self, guided: Guided) -> Any:
        """The compiled grammar (cached); InvalidGuide if xgrammar refuses the schema."""
        return self._compile(guided)

    def processor(self, guided: Guided) -> Processor:
        return Processor(self.compile(guided), self._vocab_size, self._stop)

    def _compile_uncached(self, guided: Guided) -> Any:
        check_json_schema(guided)  # the same refusals as the vllm engine's
        grammar = json_grammar(guided)
        try:
            return self._compiler.compile_grammar(grammar)
        except (RuntimeError, ValueError) as exc:
            raise InvalidGuide(_reason(exc)) from None


class Processor:
    """One sequence's grammar state: masks logits before sampling, follows the chosen tokens."""

    def __init__(self, compiled: Any, vocab_size: int, stop_token: int):
        self._matcher = xgr.GrammarMatcher(compiled)
        self._vocab_size = vocab_size
        self._bitmask = xgr.allocate_token_bitmask(1, vocab_size)  # int32 [1, vocab/32], CPU
        self._on_device: torch.Tensor | None = None  # its copy beside logits on a GPU
        self._stop = stop_token
        self._dead_end = False  # the grammar allows no next token (a schema no value matches)

    def mask(self, logits_row: torch.Tensor) -> None:
        """Set every token the grammar forbids to -inf, in place (logits_row: [vocab]).

        The matcher fills a CPU bitmask; xgrammar's apply_token_bitmask_inplace raises unless
        logits and bitmask share a device (xgrammar 0.2.8, matcher.py: "logits and bitmask
        should be on the same device"), so on a GPU the mask is copied beside the logits and
        applied there with xgrammar's pure-torch kernel (no Triton build needed for one row).
        """
        self._matcher.fill_next_token_bitmask(self._bitmask)
        if not bool(self._bitmask.any()):
            # Nothing may follow: the sequence ends here (finish "stop") instead of sampling
            # from nothing, which would fail the whole batch's step.
            self._dead_end = True
            stop = logits_row[self._stop].clone()
            logits_row.fill_(float("-inf"))
            logits_row[self._stop] = stop
            return
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
        if self._dead_end:
            return
        if not self._matcher.accept_token(token_id):
            raise RuntimeError(f"token {token_id} is outside the grammar; mask() was skipped")

    def done(self) -> bool:
        """The grammar has ended (its stop token accepted): nothing more may be generated."""
        return self._dead_end or bool(self._matcher.is_terminated())


def _reason(exc: Exception) -> str:
    # xgrammar prefixes its C++ errors with "[hh:mm:ss] /path/file.cc:123: "
    text = (str(exc).splitlines() or [type(exc).__name__])[0]
    return re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", text)
