"""The client: line buffering in unit tests; then boto3 through the emulator and its faults."""

from __future__ import annotations

import pytest
from local_sagemaker import emulator_for, fake_container, serve_app

from sagemaker_openai.endpoint.client import (
    ChunkDecoder,
    EndpointClient,
    InvocationError,
    StreamError,
)

LINES = ['{"n":1,"text":"héllo 🙂"}\n', '{"n":2}\n', '{"n":3}\n']
ASK = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 6, "temperature": 0}


def _decode(parts: list[bytes]) -> list[dict]:
    decoder = ChunkDecoder()
    return [obj for part in parts for obj in decoder.feed(part)] + decoder.close()


def test_decoder_reads_chunks_split_at_every_byte() -> None:
    data = "".join(LINES).encode()
    assert [o["n"] for o in _decode([data[i : i + 1] for i in range(len(data))])] == [1, 2, 3]
    assert _decode([data[i : i + 1] for i in range(len(data))])[0]["text"] == "héllo 🙂"


def test_decoder_reads_merged_chunks_and_a_last_line_without_newline() -> None:
    data = "".join(LINES).encode().rstrip(b"\n")
    assert [o["n"] for o in _decode([data])] == [1, 2, 3]


def test_decoder_reads_sse() -> None:
    decoder = ChunkDecoder()
    sse = b'data: {"n":1}\n\n: keep-alive\n\nevent: x\ndata: {"n":2}\n\ndata: [DONE]\n\n'
    assert [o["n"] for o in decoder.feed(sse)] == [1, 2]
    assert decoder.done


def test_decoder_raises_on_an_error_line() -> None:
    line = b'{"error": {"message": "engine failed", "type": "server_error"}}\n'
    with pytest.raises(StreamError, match="engine failed") as caught:
        ChunkDecoder().feed(line)
    assert caught.value.code == "server_error"


def test_decoder_raises_on_a_line_that_is_not_an_object() -> None:
    with pytest.raises(StreamError, match="not a JSON object"):
        ChunkDecoder().feed(b'["a chunk must be an object"]\n')


def test_stream_survives_split_and_merged_parts(emulators) -> None:
    texts = {}
    for fault, url in emulators.items():
        client = EndpointClient("demo", endpoint_url=url)
        chunks = list(client.stream(ASK))
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
        texts[fault] = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert texts["split"] == texts["merge"] == texts["none"] != ""  # greedy: same answer


def test_parts_really_are_split_and_merged(emulators) -> None:
    split = list(EndpointClient("demo", endpoint_url=emulators["split"]).stream_parts(ASK))
    merged = list(EndpointClient("demo", endpoint_url=emulators["merge"]).stream_parts(ASK))
    assert not any(part.endswith(b"\n") for part in split[0::2])
    assert merged[0].count(b"\n") == 2


def test_complete_and_errors(emulators) -> None:
    client = EndpointClient("demo", endpoint_url=emulators["none"])
    assert client.complete(ASK)["object"] == "chat.completion"
    with pytest.raises(InvocationError) as caught:
        client.complete({**ASK, "temperature": 5})
    assert (caught.value.code, caught.value.status, caught.value.original_status) == (
        "ModelError",
        424,
        400,
    )
    assert caught.value.openai_error["param"] == "temperature"
    with pytest.raises(InvocationError, match="ValidationError"):
        EndpointClient("missing", endpoint_url=emulators["none"]).complete(ASK)


def test_in_stream_failure_raises_stream_error() -> None:
    fake = fake_container([b'{"n":1}\n'], break_after=True)
    with serve_app(fake) as container, emulator_for(container) as url:
        stream = EndpointClient("demo", endpoint_url=url).stream(ASK)
        assert next(stream) == {"n": 1}
        with pytest.raises(StreamError) as caught:
            next(stream)
    assert caught.value.code == "ModelStreamError"
