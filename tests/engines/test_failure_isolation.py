"""A sequence whose own processing fails (its constraint raises) ends alone with the error; the
sequences beside it in the batch stream on, unchanged. The real transformers engine, fp32."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import torch

from sagemaker_openai.engines.base import EngineOptions, SamplingParams

FAILING_SEED = 13  # the request whose constraint breaks


class BrokenConstraint:
    """A logits processor (engines/transformers/sequence.py's protocol) that raises at its
    `fail_at`th call of `where` ("mask" or "accept"), as a grammar matcher may on a bug."""

    def __init__(self, where: str, fail_at: int = 3):
        self.where, self.fail_at, self.calls = where, fail_at, 0

    def _call(self, name: str) -> None:
        if name == self.where:
            self.calls += 1
            if self.calls == self.fail_at:
                raise RuntimeError(f"constraint broke in {name}")

    def mask(self, logits_row: torch.Tensor) -> None:
        self._call("mask")

    def accept(self, token_id: int) -> None:
        self._call("accept")

    def done(self) -> bool:
        return False


@pytest.fixture(scope="module")
def engine(demo_model_dir: Path) -> Any:
    from sagemaker_openai.engines import transformers as te

    engine = te.load(demo_model_dir, served_name="demo", options=EngineOptions(dtype="float32"))
    yield engine
    engine.close()


def _prompt(engine: Any, text: str) -> list[int]:
    return list(engine.encode(f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"))


async def _text(engine: Any, prompt: list[int], params: SamplingParams) -> tuple[str, str]:
    text, finish = "", ""
    async for step in engine.generate(prompt, params):
        text += step.text
        finish = step.finish_reason or finish
    return text, finish


@pytest.mark.parametrize("where", ["mask", "accept"])
def test_a_failing_sequence_fails_alone(
    engine: Any, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = engine._processor

    def processor(params: SamplingParams) -> Any:
        return BrokenConstraint(where) if params.seed == FAILING_SEED else original(params)

    monkeypatch.setattr(engine, "_processor", processor)
    steady = SamplingParams(max_tokens=48, temperature=0.0)
    broken = SamplingParams(max_tokens=24, temperature=0.0, seed=FAILING_SEED)
    prompt = _prompt(engine, "Name three colours of the rainbow.")
    other = _prompt(engine, "Count to ten.")

    async def scenario() -> tuple[tuple[str, str], BaseException | None, tuple[str, str]]:
        alone = await _text(engine, prompt, steady)
        stream = engine.generate(prompt, steady)
        first = await anext(stream)  # it is running in the batch now
        failure: BaseException | None = None
        try:
            await _text(engine, other, broken)
        except RuntimeError as exc:
            failure = exc
        text, finish = first.text, first.finish_reason or ""
        async for step in stream:
            text += step.text
            finish = step.finish_reason or finish
        return alone, failure, (text, finish)

    alone, failure, beside = asyncio.run(scenario())
    assert failure is not None and f"constraint broke in {where}" in str(failure)
    assert beside == alone and beside[1] == "length"
    assert engine.alive and engine.running == 0
    # and the engine serves the next request as before
    assert asyncio.run(_text(engine, prompt, steady)) == alone
