"""Tool-call parsers on the real output formats of each family (from their chat templates)."""

from __future__ import annotations

import json

import pytest

from sagemaker_openai.toolcalls import ToolCall, ToolCallStream, get_format, parse_calls

# Qwen2.5's template asks for exactly this; two calls are two blocks (Qwen's function-call docs).
QWEN_TWO_CALLS = (
    "<tool_call>\n"
    '{"name": "get_current_temperature", "arguments": {"location": "San Francisco, CA, USA"}}\n'
    "</tool_call>\n"
    "<tool_call>\n"
    '{"name": "get_temperature_date", "arguments": {"location": "San Francisco, CA, USA", '
    '"date": "2024-10-01"}}\n'
    "</tool_call>"
)
# Llama 3.1's template: 'Respond in the format {"name": function name, "parameters": ...}'.
LLAMA_CALL = '{"name": "get_current_conditions", "parameters": {"location": "San Francisco, CA"}}'
MISTRAL_V3 = (
    '[TOOL_CALLS] [{"name": "get_current_weather", "arguments": {"location": "Paris, France", '
    '"format": "celsius"}}]'
)
MISTRAL_V11 = '[TOOL_CALLS]get_current_weather[ARGS]{"location": "Paris, France"}'


def calls_of(text: str, family: str) -> tuple[str | None, list[tuple[str, dict]]]:
    content, calls = parse_calls(text, get_format(family))
    return content, [(c.name, json.loads(c.arguments)) for c in calls]


def streamed(text: str, family: str, size: int = 1) -> list:
    """The events of `text` fed `size` characters at a time."""
    stream = ToolCallStream(get_format(family))
    events = []
    for i in range(0, len(text), size):
        events += stream.feed(text[i : i + size])
    return events + stream.finish()


def test_hermes_two_parallel_calls() -> None:
    content, calls = calls_of(QWEN_TWO_CALLS, "hermes")
    assert content is None
    assert calls == [
        ("get_current_temperature", {"location": "San Francisco, CA, USA"}),
        ("get_temperature_date", {"location": "San Francisco, CA, USA", "date": "2024-10-01"}),
    ]


def test_hermes_text_before_a_call() -> None:
    text = (
        "Let me check the weather.\n<tool_call>\n"
        + LLAMA_CALL.replace("parameters", "arguments")
        + "\n</tool_call>"
    )
    content, calls = calls_of(text, "hermes")
    assert content == "Let me check the weather."
    assert calls == [("get_current_conditions", {"location": "San Francisco, CA"})]


def test_hermes_without_closing_tag_at_the_end() -> None:
    content, calls = calls_of('<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n', "hermes")
    assert content is None and calls == [("f", {"a": 1})]


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "f", "arguments": {"a": 1}\n</tool_call>',  # a brace short
        "<tool_call>\nnot json at all\n</tool_call>",
        '<tool_call>\n{"arguments": {"a": 1}}\n</tool_call>',  # no name
        '<tool_call>\n{"name": "f", "arguments": [1, 2]}\n</tool_call>',  # arguments not an object
    ],
)
def test_malformed_call_comes_back_as_text(text: str) -> None:
    assert calls_of(text, "hermes") == (text, [])
    assert "".join(e for e in streamed(text, "hermes") if isinstance(e, str)) == text


def test_stop_string_inside_arguments_leaves_text_not_a_half_call() -> None:
    # stop=["Paris"] cut the answer inside the arguments: what is left is not a call
    cut = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "'
    assert calls_of(cut, "hermes") == (cut, [])


def test_plain_text_is_content() -> None:
    assert calls_of("The capital is Paris.", "hermes") == ("The capital is Paris.", [])
    assert calls_of("A < B and <tool is not a call", "hermes")[1] == []


def test_llama3_json_call_and_two_calls() -> None:
    assert calls_of(LLAMA_CALL, "llama3_json") == (
        None,
        [("get_current_conditions", {"location": "San Francisco, CA"})],
    )
    two = LLAMA_CALL + "; " + '{"name": "get_time", "parameters": {}}'
    assert [n for n, _ in calls_of(two, "llama3_json")[1]] == ["get_current_conditions", "get_time"]
    tagged = '<|python_tag|>{"name": "brave_search", "parameters": {"query": "weather"}}'
    assert calls_of(tagged, "llama3_json")[1] == [("brave_search", {"query": "weather"})]


def test_llama3_json_that_is_not_a_call_is_text() -> None:
    assert calls_of('{"answer": 42}', "llama3_json") == ('{"answer": 42}', [])
    text = 'Here is JSON: {"name": "f", "parameters": {}}'  # a call only opens the answer
    assert calls_of(text, "llama3_json") == (text, [])


def test_mistral_v3_and_v11() -> None:
    expected = [("get_current_weather", {"location": "Paris, France", "format": "celsius"})]
    assert calls_of(MISTRAL_V3, "mistral") == (None, expected)
    assert calls_of(MISTRAL_V11, "mistral") == (
        None,
        [("get_current_weather", {"location": "Paris, France"})],
    )
    two = MISTRAL_V11 + '[TOOL_CALLS]get_time[ARGS]{"zone": "CET"}'
    # decoding that skips special tokens leaves v3's array without its marker
    assert calls_of(MISTRAL_V3.removeprefix("[TOOL_CALLS]"), "mistral") == (None, expected)
    assert calls_of("[1, 2] are numbers", "mistral") == ("[1, 2] are numbers", [])
    assert [n for n, _ in calls_of(two, "mistral")[1]] == ["get_current_weather", "get_time"]


@pytest.mark.parametrize(
    ("family", "text"),
    [
        ("hermes", "Checking.\n" + QWEN_TWO_CALLS),
        ("llama3_json", LLAMA_CALL),
        ("mistral", MISTRAL_V3),
        ("mistral", MISTRAL_V11),
    ],
)
@pytest.mark.parametrize("size", [1, 2, 7])
def test_a_call_split_across_many_steps_never_leaks_into_content(
    family: str, text: str, size: int
) -> None:
    events = streamed(text, family, size)
    whole = parse_calls(text, get_format(family))
    content = "".join(e for e in events if isinstance(e, str))
    assert content == (whole[0] or "")
    assert "tool_call" not in content and "{" not in content and "TOOL_CALLS" not in content
    assert [(c.name, c.arguments) for c in events if isinstance(c, ToolCall)] == [
        (c.name, c.arguments) for c in whole[1]
    ]


def test_stream_holds_back_only_what_could_become_a_call() -> None:
    stream = ToolCallStream(get_format("hermes"))
    assert stream.feed("Sure <tool") == ["Sure"]  # the space may precede a call: held too
    assert stream.feed("kit is ready") == [" <toolkit is ready"]
    assert stream.finish() == []


def test_call_ids_are_unique() -> None:
    _, calls = parse_calls(QWEN_TWO_CALLS, get_format("hermes"))
    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("call_") for c in calls)
