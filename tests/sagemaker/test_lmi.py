"""The lmi package's model.py through the DJL stand-in (djl_stub/, after djl-serving v0.36.0's
source), in this repository's environment: engine `auto` picks vLLM where it is installed, as in
the LMI image, and DJL's async mode serves requests concurrently.

Stands for djl-inference:0.36.0-lmi28.0.0-cu130 (async mode, vLLM); the default images' own
library versions are in test_default_images.py.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

STUB = Path(__file__).parent / "djl_stub"


@pytest.fixture(scope="module")
def djl():
    sys.path.insert(0, str(STUB))
    try:
        import djl_frontend
        import djl_python

        yield djl_frontend, djl_python
    finally:
        sys.path.remove(str(STUB))


@pytest.fixture(scope="module")
def frontend(djl, light_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, unpack):
    pytest.importorskip("vllm")
    djl_frontend, _ = djl
    model_dir = unpack(light_model_dir, "lmi", tmp_path_factory.mktemp("lmi"))
    assert "engine=Python" in (model_dir / "serving.properties").read_text()
    spec = importlib.util.spec_from_file_location("model_5d41402a", model_dir / "model.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    mp = pytest.MonkeyPatch()
    mp.setenv("SMOAI_ENFORCE_EAGER", "true")  # start in seconds, not minutes
    mp.setenv("SMOAI_KV_CACHE_GIB", "1")
    try:
        fe = djl_frontend.AsyncFrontend(module, str(model_dir))
    finally:
        mp.undo()
    yield fe, module
    fe.close()
    module.handler.service.engine.close()  # vLLM's engine process, before pytest closes its streams


def test_default_formatter_of_the_stand_in_is_djls(djl) -> None:
    """As in real DJL, bytes through the default formatter end the stream with one error."""
    djl_frontend, djl_python = djl
    output = djl_python.Output().add_stream_content(iter([b'{"a":1}\n']))
    response = djl_frontend._http(*djl_frontend._decode(djl_frontend._wire(output)))
    assert response.chunks == [b"Object of type bytes is not JSON serializable"]
    output = djl_python.Output().add_stream_content(iter(["x"]))
    response = djl_frontend._http(*djl_frontend._decode(djl_frontend._wire(output)))
    assert response.chunks == [b'{"outputs": "x"}\n']


def test_engine_auto_is_vllm(frontend) -> None:
    _, module = frontend
    assert type(module.handler.service.engine).__module__.endswith("engines.vllm")


def test_stream_lines_follow_the_chunk_rules(frontend, seed_request: dict) -> None:
    fe, _ = frontend
    request = dict(seed_request, stream_options={"include_usage": True})
    response = fe.invoke(json.dumps(request).encode())
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/jsonlines"
    objs = []
    for part in response.chunks:  # one complete object and its newline per HTTP chunk
        assert part.endswith(b"}\n") and part.count(b"\n") == 1
        assert not part.startswith(b"data:")
        objs.append(json.loads(part))
    *chunks, usage = objs
    first, last = chunks[0], chunks[-1]
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    for obj, part in zip(chunks, response.chunks, strict=False):
        assert obj["object"] == "chat.completion.chunk"
        assert list(obj)[-1] == "choices" and part.rstrip().endswith(b"}]}")
        for key in ("id", "created", "model", "system_fingerprint"):
            assert obj[key] == first[key]
        assert {"index", "delta", "logprobs", "finish_reason"} <= set(obj["choices"][0])
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert last["choices"][0]["delta"] == {"content": ""}
    assert last["choices"][0]["finish_reason"] in ("stop", "length")
    assert usage["choices"] == [] and set(usage["usage"]) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
    }
    assert first["model"] == "demo-served"


def test_concurrent_streams_are_served_together(frontend, seed_request: dict) -> None:
    fe, _ = frontend
    body = json.dumps(dict(seed_request, max_tokens=32, temperature=1.0)).encode()
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(fe.invoke, [body] * 3))
    for r in responses:
        assert r.status == 200 and len(r.chunks) >= 3
    # every stream sent its first chunk before any stream sent its last one
    assert max(r.times[0] for r in responses) < min(r.times[-1] for r in responses)


def test_no_usage_chunk_unless_asked(frontend, seed_request: dict) -> None:
    fe, _ = frontend
    objs = [json.loads(p) for p in fe.invoke(json.dumps(seed_request).encode()).chunks]
    assert all(o["choices"] for o in objs)
    assert all("usage" not in o for o in objs)


def test_non_stream_gets_a_chat_completion(frontend, seed_request: dict) -> None:
    fe, _ = frontend
    response = fe.invoke(json.dumps(dict(seed_request, stream=False)).encode())
    assert response.status == 200 and len(response.chunks) == 1
    assert response.headers["Content-Type"] == "application/json"
    obj = json.loads(response.chunks[0])
    assert obj["object"] == "chat.completion"
    assert obj["choices"][0]["message"]["content"]


def test_bad_input_keeps_its_status_inside_djls_error_body(frontend) -> None:
    fe, _ = frontend
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "top_p": 0})
    response = fe.invoke(body.encode())
    assert response.status == 400
    djl_body = json.loads(response.chunks[0])  # DJL's async mode writes {"code", "error"}
    error = json.loads(djl_body["error"])["error"]
    assert error["param"] == "top_p" and error["type"] == "invalid_request_error"


def test_binary_encode_matches_djls_wire_format(djl) -> None:
    _, djl_python = djl
    encoded = bytes(djl_python.Output.binary_encode({"data": "é", "last": True}))
    assert encoded == struct.pack(">h", 2) + b"".join(
        struct.pack(">i", len(b)) + b for b in (b"data", "é".encode(), b"last", b"True")
    )
