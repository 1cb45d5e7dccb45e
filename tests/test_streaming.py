import json

import pytest

from sagemaker_openai.streaming import (
    SSE_DONE,
    StreamFormat,
    TextChunks,
    choose_format,
    encode_chunk,
)


def test_jsonl_chunk_is_one_line_of_compact_json() -> None:
    data = encode_chunk({"a": "é\n", "choices": []}, "jsonl")
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data) == {"a": "é\n", "choices": []}


def test_sse_chunk_and_done() -> None:
    assert encode_chunk({"a": 1}, "sse") == b'data: {"a":1}\n\n'
    assert SSE_DONE == b"data: [DONE]\n\n"


def test_format_from_custom_attributes_then_accept() -> None:
    assert choose_format("jsonl", "stream_format=sse", "") == "sse"
    assert choose_format("jsonl", "trace=1; stream_format=sse", "") == "sse"
    assert choose_format("sse", "stream_format=jsonl", "text/event-stream") == "jsonl"
    assert choose_format("jsonl", "", "text/event-stream") == "sse"
    assert choose_format("jsonl", "stream_format=xml", "application/json") == "jsonl"


TEXTS = [
    "The",
    " capital",
    "",
    "é\n",
    'a "quote" \\ back',
    "\x00\x1f\x7f",
    "\u2028\u2029",
    "😀 中文",
]


def _chunk(text: str, usage: bool, **choice: object) -> dict[str, object]:
    head: dict[str, object] = {"id": "chatcmpl-1", "object": "chat.completion.chunk"}
    head |= {"created": 1, "model": "m", "system_fingerprint": "fp_1"}
    if usage:
        head["usage"] = None
    base = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
    return head | {"choices": [base | choice]}


@pytest.mark.parametrize("fmt", ["jsonl", "sse"])
@pytest.mark.parametrize("usage", [False, True])
def test_spliced_text_chunks_are_what_the_encoder_writes(fmt: StreamFormat, usage: bool) -> None:
    frames = TextChunks(fmt)
    chunks = [_chunk(t, usage) for t in TEXTS]
    chunks += [
        _chunk("x", usage, index=3),
        _chunk("", usage, finish_reason="stop"),
        _chunk("x", usage, logprobs={"content": [], "refusal": None}),
        _chunk("x", usage, delta={"role": "assistant", "content": ""}),
        _chunk("x", usage, delta={"reasoning_content": "r", "content": ""}),
        _chunk("x", usage, delta={"tool_calls": [{"index": 0}]}),
        {**_chunk("x", usage), "id": "chatcmpl-2"},  # another head: encoded afresh
        _chunk("x", usage) | {"choices": []},
    ]
    for chunk in chunks:
        assert frames.encode(chunk) == encode_chunk(chunk, fmt)
        expected = json.dumps(chunk, ensure_ascii=False, separators=(",", ":")).encode()
        assert frames.encode(chunk).removeprefix(b"data: ").rstrip(b"\n") == expected
