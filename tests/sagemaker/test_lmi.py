"""The lmi package's model.py, driven through DJL's documented Python Input/Output interface."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

STUB = Path(__file__).parent / "djl_stub"


@pytest.fixture(scope="module")
def lmi(light_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, unpack):
    model_dir = unpack(light_model_dir, "lmi", tmp_path_factory.mktemp("lmi"))
    assert "engine=Python" in (model_dir / "serving.properties").read_text()
    sys.path.insert(0, str(STUB))
    try:
        spec = importlib.util.spec_from_file_location("lmi_model", model_dir / "model.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        from djl_python import Input

        # DJL's first call at start-up carries the properties and no content.
        assert module.handle(Input({"model_dir": str(model_dir)})) is None
        yield module, Input
    finally:
        sys.path.remove(str(STUB))


def _chunks(output) -> list[bytes]:
    assert output.stream_content is not None
    return [bytes(part) for part in output.stream_content]


def test_stream_lines_follow_the_chunk_rules(lmi, seed_request: dict) -> None:
    module, Input = lmi
    request = dict(seed_request, stream_options={"include_usage": True})
    output = module.handle(Input({}, json.dumps(request).encode()))
    assert output.code == 200
    assert output.properties["content-type"] == "application/jsonlines"
    parts = _chunks(output)
    objs = []
    for part in parts:  # one complete object and its newline per streamed write
        assert part.endswith(b"}\n") and part.count(b"\n") == 1
        assert not part.startswith(b"data:")
        objs.append(json.loads(part))
    *chunks, usage = objs
    first, last = chunks[0], chunks[-1]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    for obj, part in zip(chunks, parts, strict=False):
        assert obj["object"] == "chat.completion.chunk"
        assert list(obj)[-1] == "choices" and part.rstrip().endswith(b"}]}")
        for key in ("id", "created", "model", "system_fingerprint"):
            assert obj[key] == first[key]
        choice = obj["choices"][0]
        assert {"index", "delta", "logprobs", "finish_reason"} <= set(choice)
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert last["choices"][0]["delta"] == {"content": ""}
    assert last["choices"][0]["finish_reason"] in ("stop", "length")
    assert usage["choices"] == [] and set(usage["usage"]) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
    }
    assert first["model"] == "demo-served"


def test_no_usage_chunk_unless_asked(lmi, seed_request: dict) -> None:
    module, Input = lmi
    output = module.handle(Input({}, json.dumps(seed_request).encode()))
    objs = [json.loads(p) for p in _chunks(output)]
    assert all(o["choices"] for o in objs)
    assert "usage" not in objs[-1] or objs[-1]["usage"] is None


def test_non_stream_gets_a_chat_completion(lmi, seed_request: dict) -> None:
    module, Input = lmi
    output = module.handle(Input({}, json.dumps(dict(seed_request, stream=False)).encode()))
    assert output.code == 200 and output.stream_content is None
    obj = json.loads(bytes(output.content[0][1]))
    assert obj["object"] == "chat.completion"
    assert obj["choices"][0]["message"]["content"]


def test_bad_input_gets_an_openai_error_status(lmi) -> None:
    module, Input = lmi
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "top_p": 0})
    output = module.handle(Input({}, body.encode()))
    assert output.code == 400 and output.stream_content is None
    error = json.loads(bytes(output.content[0][1]))["error"]
    assert error["param"] == "top_p" and error["type"] == "invalid_request_error"


def test_an_async_endpoint_answers_a_stream_request_whole(
    lmi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMOAI_ASYNC_ENDPOINT=true in the model's environment (deploy sets it for async
    endpoints): "stream": true gets one chat.completion, as the S3 result must be."""
    module, Input = lmi
    monkeypatch.setattr(module, "ASYNC_ENDPOINT", True)
    request = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": True}
    output = module.handle(Input({}, json.dumps(request).encode()))
    assert output.code == 200 and output.stream_content is None
    assert json.loads(bytes(output.content[0][1]))["object"] == "chat.completion"
