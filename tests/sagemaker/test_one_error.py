"""One invocation core: the server, the LMI handler (model.py) and the HF toolkit handler
(inference.py) answer the same bad body with the same status and the same OpenAI error."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from sagemaker_openai.engines import load_engine
from sagemaker_openai.service import chat_service
from sagemaker_openai.serving.server import create_app
from sagemaker_openai.settings import load_settings

SETTINGS = load_settings({})

STUB = Path(__file__).parent / "djl_stub"
HI = [{"role": "user", "content": "hi"}]
BAD_BODIES = [
    b"{not json",  # (not invalid UTF-8: the HF toolkit decodes JSON bodies before our code)
    json.dumps({"messages": []}).encode(),
    json.dumps({"messages": HI, "temperature": 9}).encode(),
    json.dumps({"messages": HI, "stream_options": {"include_usage": True}}).encode(),
    json.dumps({"messages": HI, "top_logprobs": 2}).encode(),
    json.dumps({"messages": HI, "logit_bias": {"x": 1}}).encode(),
    json.dumps({"messages": HI, "response_format": {"type": "yaml"}}).encode(),
    json.dumps({"messages": HI, "max_tokens": 100_000}).encode(),
]

Answer = tuple[int, dict[str, Any]]


@pytest.fixture(scope="module")
def server(light_model_dir: Path) -> Iterator[TestClient]:
    def load() -> Any:
        return load_engine("transformers", light_model_dir, served_name="demo-served")

    with TestClient(create_app(SETTINGS, lambda: chat_service(load(), SETTINGS))) as client:
        deadline = time.monotonic() + 300
        while client.get("/ping").status_code != 200:
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        yield client


@pytest.fixture(scope="module")
def lmi(light_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, unpack):
    """model.py in DJL's sync mode (DJL before 0.35), which sends our status and body as they are;
    in async mode DJL wraps them in its own body (test_lmi.py)."""
    model_dir = unpack(light_model_dir, "lmi", tmp_path_factory.mktemp("lmi"))
    sys.path.insert(0, str(STUB))
    mp = pytest.MonkeyPatch()
    mp.setenv("SMOAI_ENGINE", "transformers")  # the same engine as the server fixture
    try:
        import djl_frontend

        spec = importlib.util.spec_from_file_location("lmi_one_error", model_dir / "model.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        frontend = djl_frontend.SyncFrontend(module, str(model_dir))
        yield lambda body: _lmi_answer(frontend.invoke(body))
    finally:
        mp.undo()
        sys.path.remove(str(STUB))


def _lmi_answer(response: Any) -> Answer:
    assert len(response.chunks) == 1  # a whole body, not a stream
    assert response.headers["Content-Type"] == "application/json"
    return response.status, json.loads(response.chunks[0])


@pytest.fixture(scope="module")
def hf(light_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, unpack):
    pytest.importorskip("sagemaker_huggingface_inference_toolkit")
    pytest.importorskip("mms")
    from test_hf_dlc import _invoke, _toolkit_service

    service = _toolkit_service(unpack(light_model_dir, "hf-dlc", tmp_path_factory.mktemp("hf")))

    def answer(body: bytes) -> Answer:
        status, content_type, raw = _invoke(service, body)
        assert content_type == "application/json"
        return status, json.loads(raw)

    return answer


@pytest.mark.parametrize("body", BAD_BODIES, ids=lambda b: b[:40].decode(errors="replace"))
def test_the_same_bad_body_gets_the_same_error_everywhere(server, lmi, hf, body: bytes) -> None:
    response = server.post("/invocations", content=body)
    from_server: Answer = (response.status_code, response.json())
    assert from_server[0] == 400
    error = from_server[1]["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    assert lmi(body) == from_server
    assert hf(body) == from_server
