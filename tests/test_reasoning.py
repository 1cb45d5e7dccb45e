"""Thinking split from the answer, whole and streamed."""

from __future__ import annotations

import pytest

from sagemaker_openai.reasoning import ReasoningStream, thinking_markers

THINK = ("<think>", "</think>")


def split(text: str, size: int, prompt: str = "", markers=THINK) -> tuple[str, str]:
    stream = ReasoningStream(markers, prompt)
    pieces = []
    for i in range(0, len(text), size):
        pieces += stream.feed(text[i : i + size])
    pieces += stream.finish()
    reasoning = "".join(t for k, t in pieces if k == "reasoning")
    return reasoning, "".join(t for k, t in pieces if k == "content")


@pytest.mark.parametrize("size", [1, 3, 100])
def test_leading_think_block_goes_to_reasoning(size: int) -> None:
    text = "<think>\nThe user greets me.\n</think>\n\nHello!"
    assert split(text, size) == ("The user greets me.", "Hello!")


@pytest.mark.parametrize("size", [1, 100])
def test_template_that_opens_the_block_itself(size: int) -> None:
    # DeepSeek-R1's generation prompt ends with "<think>\n": the answer starts inside it
    assert split("2 + 2 is 4.</think>The answer is 4.", size, "<|Assistant|><think>\n") == (
        "2 + 2 is 4.",
        "The answer is 4.",
    )


def test_thinking_turned_off_by_the_template_is_plain_content() -> None:
    # Qwen3 with enable_thinking=False writes an empty block into the prompt
    assert split("Hi.", 1, "<|im_start|>assistant\n<think>\n\n</think>\n\n") == ("", "Hi.")


def test_no_block_is_content_unchanged_and_later_tags_stay() -> None:
    assert split("Plain answer.", 1) == ("", "Plain answer.")
    assert split("Use <think> tags.", 1) == ("", "Use <think> tags.")
    assert split("<thin", 1) == ("", "<thin")


def test_unfinished_thinking_stays_reasoning() -> None:
    assert split("<think>still going", 2) == ("still going", "")


def test_template_markers() -> None:
    assert thinking_markers("{{ '[THINK]' }}") == ("[THINK]", "[/THINK]")
    assert thinking_markers("{{ messages }}") == THINK
    assert split("[THINK]hmm[/THINK]ok", 1, markers=("[THINK]", "[/THINK]")) == ("hmm", "ok")
