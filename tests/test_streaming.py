import json

from sagemaker_openai.streaming import SSE_DONE, choose_format, encode_chunk


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
