"""Prompts are encoded in several planning threads at once (serving/invocation.py): each gets
its own ids, and vLLM's tokenizer pool is never copied while serving.

With the demo model's real tokenizer; vLLM's pool is vLLM's own function (vllm 0.32.0,
vllm/tokenizers/hf.py, `maybe_make_thread_pool`), applied as its HfRenderer applies it.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from sagemaker_openai.engines.tokenizer import Encoder

# Templated text around content that spells the template's own special tokens
TEXT = "<|im_start|>user\nhello <|im_end|> world<|im_end|>\n" * 20


@pytest.fixture
def tokenizer(demo_model_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(demo_model_dir)


def _at_once(threads: int, work: Callable[[int], None]) -> None:
    start = threading.Barrier(threads)

    def run(index: int) -> None:
        start.wait()
        work(index)

    running = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()


def test_threads_encoding_templated_and_literal_text_each_get_their_own_ids(
    tokenizer: Any,
) -> None:
    # transformers sets split_special_tokens on its one Rust tokenizer before each encoding:
    # shared without the lock, 150 of 8,000 such encodings here came out the other way.
    encode = Encoder(tokenizer)
    expected = {True: encode(TEXT, True), False: encode(TEXT, False)}
    assert expected[True] != expected[False]
    wrong: list[bool] = []

    def work(index: int) -> None:
        special = index % 2 == 0
        for _ in range(1500):
            if encode(TEXT, special) != expected[special]:
                wrong.append(special)

    _at_once(4, work)
    assert wrong == []


def test_vllms_tokenizer_pool_is_not_copied_by_concurrent_planning(
    tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hf = pytest.importorskip("vllm.tokenizers.hf")
    pooled = hf.maybe_make_thread_pool(tokenizer, 2)  # renderer_num_workers (1) + 1 copies
    copies: list[object] = []
    deepcopy = copy.deepcopy

    def counted(value: Any, *args: Any) -> Any:
        copies.append(value)
        return deepcopy(value, *args)

    monkeypatch.setattr(hf.copy, "deepcopy", counted)
    encode = Encoder(pooled)
    # asyncio's default executor on a 2-core machine has 6 threads; each copy took 0.13-0.66 s
    # of the first burst's time when they borrowed from the pool together
    _at_once(6, lambda index: [encode(TEXT, index % 2 == 0) for _ in range(20)])
    assert copies == []
