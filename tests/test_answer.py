"""One choice's text into OpenAI's message and deltas: content, reasoning and tool calls."""

from __future__ import annotations

import json

import pytest

from sagemaker_openai.answer import Answer, AnswerFormat
from sagemaker_openai.toolcalls import get_format

HERMES = AnswerFormat(calls=get_format("hermes"), thinking=("<think>", "</think>"))
TEXT = (
    "<think>Weather needs a tool.</think>\n"
    '<tool_call>{"name": "w", "arguments": {"c": "P"}}</tool_call>'
)


def run(fmt: AnswerFormat, text: str, size: int = 3) -> tuple[Answer, list[dict]]:
    answer = Answer(fmt)
    deltas = []
    for i in range(0, len(text), size):
        deltas += answer.feed(text[i : i + size])
    return answer, deltas + answer.finish()


def test_reasoning_then_a_call_whole() -> None:
    answer, _ = run(HERMES, TEXT)
    message = answer.message()
    assert message["content"] is None and message["reasoning_content"] == "Weather needs a tool."
    [call] = message["tool_calls"]
    assert call["function"] == {"name": "w", "arguments": '{"c": "P"}'}
    assert answer.finish_reason("stop") == "tool_calls"


def test_streamed_deltas_have_openai_shapes() -> None:
    _, deltas = run(HERMES, TEXT)
    reasoning = [d for d in deltas if "reasoning_content" in d]
    assert reasoning and all(d["content"] == "" for d in reasoning)  # content stays a string
    head, body = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert set(head) == {"index", "id", "type", "function"} and head["function"]["arguments"] == ""
    assert body == {"index": 0, "function": {"arguments": '{"c": "P"}'}}
    assert not any(d.get("content") for d in deltas)


def test_thinking_goes_out_under_both_names_by_default() -> None:
    answer, deltas = run(AnswerFormat(thinking=("<think>", "</think>")), "<think>hm</think>Hi")
    assert answer.message() == {
        "role": "assistant",
        "content": "Hi",
        "reasoning": "hm",
        "reasoning_content": "hm",
    }
    assert {"content": "", "reasoning": "hm", "reasoning_content": "hm"} in deltas


@pytest.mark.parametrize("name", ["reasoning", "reasoning_content"])
def test_one_reasoning_name_when_set(name: str) -> None:
    fmt = AnswerFormat(thinking=("<think>", "</think>"), reasoning_names=(name,))
    answer, deltas = run(fmt, "<think>hm</think>Hi")
    assert answer.message() == {"role": "assistant", "content": "Hi", name: "hm"}
    assert {"content": "", name: "hm"} in deltas


def test_reasoning_left_out_is_still_kept_from_content() -> None:
    fmt = AnswerFormat(thinking=("<think>", "</think>"), reasoning_names=())
    answer, deltas = run(fmt, "<think>hm</think>Hi")
    assert answer.message() == {"role": "assistant", "content": "Hi"}
    assert all(set(d) == {"content"} for d in deltas) and "hm" not in str(deltas)


def test_multibyte_thinking_splits_only_between_characters() -> None:
    text = "<think>日本語の考え🤔é</think>答え"
    answer = Answer(AnswerFormat(thinking=("<think>", "</think>")))
    deltas = [d for ch in text for d in answer.feed(ch)] + answer.finish()
    pieces = [d["reasoning"] for d in deltas if "reasoning" in d]
    assert "".join(pieces) == "日本語の考え🤔é" and len(pieces) > 1
    # every delta is valid UTF-8 on its own: no lone surrogate, no cut character
    assert all(p.encode("utf-8").decode("utf-8") == p for p in pieces)


def test_parallel_false_keeps_the_first_call() -> None:
    two = "".join(
        f"<tool_call>{json.dumps({'name': n, 'arguments': {}})}</tool_call>" for n in "ab"
    )
    answer, _ = run(AnswerFormat(calls=get_format("hermes"), parallel=False), two)
    assert [c["function"]["name"] for c in answer.message()["tool_calls"]] == ["a"]


def test_without_tools_text_is_content_unchanged() -> None:
    answer, deltas = run(AnswerFormat(), "<tool_call> is just text")
    assert answer.message() == {"role": "assistant", "content": "<tool_call> is just text"}
    assert answer.finish_reason("length") == "length"


def test_a_forced_answer_cut_short_keeps_its_complete_calls_and_says_length() -> None:
    from sagemaker_openai.toolcalls.choice import CallArray, NamedArguments

    text = '[{"name":"w","parameters":{"c":"P"}},{"name":"w","parameters":{"c":"Ro'
    answer, deltas = run(AnswerFormat(calls=CallArray()), text)
    assert answer.message()["content"] is None
    assert [c["function"]["arguments"] for c in answer.message()["tool_calls"]] == ['{"c": "P"}']
    assert answer.finish_reason("length") == "length"  # cut: more calls may have been meant
    assert not any(d.get("content") for d in deltas)
    whole, _ = run(AnswerFormat(calls=CallArray()), text[:36] + "]")
    assert whole.finish_reason("stop") == "tool_calls"
    half, deltas = run(AnswerFormat(calls=NamedArguments("w")), '{"c":"Pa')
    assert half.message() == {"role": "assistant", "content": ""}  # no half call, no JSON text
    assert half.finish_reason("length") == "length" and not any(d.get("content") for d in deltas)
