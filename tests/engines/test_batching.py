"""The transformers engine's packed steps and prompt prefix reuse, on the demo model in fp32.

fp32 so that greedy answers are comparable token for token: the same prompt, prefilled in other
chunks or copied from the prefix cache, may differ only by float rounding (NEAR below).
"""

import asyncio

import pytest

pytest.importorskip("transformers")

from sagemaker_openai.engines.base import EngineOptions, SamplingParams  # noqa: E402
from sagemaker_openai.engines.transformers.batch.prefixes import BLOCK, PrefixCache  # noqa: E402

NEAR = 1e-3  # logprob tolerance (nats), as tests/engines/test_contract.py's fp32 NEAR_TIE


@pytest.fixture(scope="module")
def engine(demo_model_dir):
    from sagemaker_openai.engines import transformers as te

    engine = te.load(demo_model_dir, served_name="demo", options=EngineOptions(dtype="float32"))
    yield engine
    engine.close()


def _prompt(engine, text: str) -> list[int]:
    return engine.encode(f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n")


async def _answer(engine, prompt: list[int], max_tokens: int = 16) -> tuple[str, list[float]]:
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, logprobs=0)
    text, logprobs = "", []
    async for step in engine.generate(prompt, params):
        text += step.text
        logprobs += [lp.logprob for lp in step.logprobs or []]
    return text, logprobs


def _reference(engine, prompt: list[int], max_tokens: int = 16) -> tuple[str, list[float]]:
    """transformers' own greedy `generate`, the whole prompt in one pass (SDPA, its own cache)."""
    import torch

    model = engine._scheduler._model
    with torch.inference_mode():
        out = model.generate(
            torch.tensor([prompt]),
            max_new_tokens=max_tokens,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
        )
    ids = out.sequences[0, len(prompt) :].tolist()
    steps = zip(out.logits, ids, strict=True)
    logprobs = [float(torch.log_softmax(x[0].float(), -1)[i]) for x, i in steps]
    return engine._tokenizer.decode(ids, skip_special_tokens=True), logprobs


def _same(a: tuple[str, list[float]], b: tuple[str, list[float]]) -> None:
    assert a[0] == b[0]
    assert a[1] == pytest.approx(b[1], abs=NEAR)


def test_a_long_prompt_joining_running_streams_changes_no_answer(engine) -> None:
    long = _prompt(engine, "Tell me about rivers. " * 120)  # several 256-token chunks
    short = [_prompt(engine, f"Count from {i}.") for i in range(4)]
    engine._scheduler._prefixes = PrefixCache(0)  # every prompt prefilled from its start
    alone = [_reference(engine, p) for p in [long, *short]]

    async def together():
        running = [asyncio.create_task(_answer(engine, p, 16)) for p in short]
        await asyncio.sleep(0.3)  # the short ones are decoding when the long one arrives
        first = await _answer(engine, long)
        return [first, *await asyncio.gather(*running)]

    for a, b in zip(alone, asyncio.run(together()), strict=True):
        _same(a, b)
    assert len(long) > 2 * 256


def test_a_repeated_prompt_starts_from_its_cached_prefix_with_the_same_answer(engine) -> None:
    scheduler = engine._scheduler
    scheduler._prefixes = PrefixCache(1 << 30)
    prompt = _prompt(engine, "Describe a lighthouse at night in three sentences. " * 4)
    fresh = _reference(engine, prompt)
    _same(fresh, asyncio.run(_answer(engine, prompt)))
    cache, reused = scheduler._prefixes.lookup(prompt)
    assert reused == (len(prompt) - 1) // BLOCK * BLOCK > 0
    assert cache.layers[0].keys.shape[2] == reused
    _same(fresh, asyncio.run(_answer(engine, prompt)))
    # a prompt that shares only its start reuses the whole blocks they share
    other = prompt[:40] + _prompt(engine, "Now something else entirely.")
    assert scheduler._prefixes.lookup(other)[1] == 32


def test_the_prefix_cache_forgets_the_least_recently_used_prompt_beyond_its_budget() -> None:
    import torch

    def cache_of(n: int):
        from sagemaker_openai.engines.transformers.batch.kvcache import new_cache

        cache = new_cache()
        cache.update(torch.zeros(1, 1, n, 4), torch.zeros(1, 1, n, 4), 0)
        return cache

    one = cache_of(64)
    per_prompt = sum(t.untyped_storage().nbytes() for t in (one.layers[0]._k, one.layers[0]._v))
    prefixes = PrefixCache(2 * per_prompt)
    a, b, c = ([i] * 64 for i in (1, 2, 3))
    prefixes.store(a, cache_of(64))
    prefixes.store(b, cache_of(64))
    assert prefixes.lookup(a + [0])[1] == 64  # a is now the most recently used
    prefixes.store(c, cache_of(64))  # over budget: b goes
    assert prefixes.lookup(b + [0])[1] == 0
    assert prefixes.lookup(a + [0])[1] == 64
    assert prefixes.lookup(c + [0])[1] == 64
    assert prefixes.lookup(c)[1] == 32  # the last token is always left to prefill
