"""Text handling of the transformers engine, on the demo model's real tokenizer."""

import pytest

transformers = pytest.importorskip("transformers")

from sagemaker_openai.engines.transformers.sequence import IncrementalDetokenizer, StopText  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer(demo_model_dir):
    return transformers.AutoTokenizer.from_pretrained(demo_model_dir)


@pytest.mark.parametrize("text", ["Hello, world!", "naïve café 東京 🙂🎉 done", " a  b\n\tc"])
def test_deltas_reassemble_the_text_and_never_split_a_character(tokenizer, text) -> None:
    ids = tokenizer.encode(text, add_special_tokens=False)
    detok = IncrementalDetokenizer(tokenizer, prompt=[])
    deltas = [detok.add(i) for i in ids] + [detok.flush()]
    assert "".join(deltas) == text
    assert all("\ufffd" not in d for d in deltas)
    # an emoji is several byte tokens: some steps must have held text back
    if "🙂" in text:
        assert "" in deltas[:-1]


def test_stop_text_holds_back_a_possible_prefix_and_cuts_before_the_stop() -> None:
    stop = StopText(("STOP", "xyz"))
    assert stop.feed("abc S") == ("abc ", False)  # "S" could begin "STOP": held back
    assert stop.feed("TO") == ("", False)
    assert stop.feed("P and more") == ("", True)


def test_stop_text_without_stops_passes_everything() -> None:
    stop = StopText(())
    assert stop.feed("anything") == ("anything", False)


def test_stop_text_flushes_a_held_prefix_that_never_completed() -> None:
    stop = StopText(("END",))
    assert stop.feed("the E") == ("the ", False)
    assert stop.flush() == "E"


def _sequence(params, tokenizer=None):
    from sagemaker_openai.engines.transformers.sequence import Sequence

    class Tok:
        def decode(self, ids, skip_special_tokens=True):
            return ""

    return Sequence(
        [9], params, tokenizer or Tok(), eos={99}, token_bytes=lambda i: b"x", device="cpu"
    )


def test_openai_penalties_subtract_from_logits_of_completion_tokens() -> None:
    import torch

    from sagemaker_openai.engines.base import SamplingParams
    from sagemaker_openai.engines.transformers.sampling import sample

    def pick(**penalties: float) -> int:
        seq = _sequence(SamplingParams(max_tokens=5, temperature=0, **penalties))
        for _ in range(2):  # token 0 generated twice
            [token], _ = sample(torch.tensor([[9.0, 0.0, 0.0]]), [seq])
            seq.take(token, None)
        assert seq.tokens == [0, 0]
        return sample(torch.tensor([[3.0, 1.5, 0.0]]), [seq])[0][0]

    assert pick() == 0
    assert pick(frequency_penalty=1.0) == 1  # 3 - 2 * 1.0 = 1.0 < 1.5
    assert pick(frequency_penalty=0.5) == 0  # 3 - 2 * 0.5 = 2.0 > 1.5
    assert pick(presence_penalty=1.0) == 0  # 3 - 1.0 = 2.0 > 1.5
    assert pick(presence_penalty=2.0) == 1  # 3 - 2.0 = 1.0 < 1.5


def test_each_row_samples_with_its_own_settings() -> None:
    import torch

    from sagemaker_openai.engines.base import SamplingParams
    from sagemaker_openai.engines.transformers.sampling import sample

    logits = torch.tensor([[2.0, 1.0, 0.0]]).repeat(4, 1)
    rows = [
        _sequence(SamplingParams(max_tokens=5, temperature=0)),
        _sequence(SamplingParams(max_tokens=5, temperature=0, logit_bias={2: 100.0})),
        _sequence(SamplingParams(max_tokens=5, temperature=0, logprobs=2)),
        _sequence(SamplingParams(max_tokens=5, temperature=1.0, top_p=0.01, seed=3)),
    ]
    tokens, logprobs = sample(logits, rows)
    assert tokens == [0, 2, 0, 0]  # top_p 0.01 keeps only the most likely token
    # a top_p float32 holds only as 0 (the fuzz run's 1e-300) still keeps it, as vLLM does
    tiny = _sequence(SamplingParams(max_tokens=5, temperature=1.0, top_p=1e-300, seed=3))
    assert sample(logits[:1], [tiny])[0] == [0]
    assert logprobs[0] is None and logprobs[1] is None and logprobs[3] is None
    chosen, top = logprobs[2]
    expected = torch.log_softmax(logits[0], dim=-1)
    assert chosen == pytest.approx(float(expected[0]))
    assert [i for i, _ in top] == [0, 1]


def test_one_seed_draws_the_same_tokens_in_any_batch() -> None:
    import torch

    from sagemaker_openai.engines.base import SamplingParams
    from sagemaker_openai.engines.transformers.sampling import sample

    def draws(batch_size: int) -> list[int]:
        params = SamplingParams(max_tokens=50, temperature=1.0, seed=7)
        seqs = [_sequence(params) for _ in range(batch_size)]
        out = []
        for _ in range(20):
            tokens, _ = sample(torch.zeros(batch_size, 50), seqs)
            out.append(tokens[-1])
        return out

    assert draws(1) == draws(5)
    assert len(set(draws(1))) > 1


def test_a_character_cut_off_at_the_end_is_dropped_not_replaced(tokenizer) -> None:
    ids = tokenizer.encode("ok 🦩", add_special_tokens=False)  # the flamingo is 3 byte tokens
    detok = IncrementalDetokenizer(tokenizer, prompt=[])
    text = "".join(detok.add(i) for i in ids[:-1]) + detok.flush()
    assert text == "ok "
