"""The hf-dlc package's inference.py, driven through the real Hugging Face inference toolkit
handler inside MMS's real worker-side Service, in-process, with the demo model."""

from __future__ import annotations

import importlib
import json
import struct
import sys
from pathlib import Path

import pytest

from sagemaker_openai.endpoint.check.report import run_check
from sagemaker_openai.endpoint.exchange import Exchange

pytest.importorskip("sagemaker_huggingface_inference_toolkit")
pytest.importorskip("mms")


def _toolkit_service(model_dir: Path):
    # The toolkit targets transformers 4.x (its DLC ships 4.49); transformers 5 dropped this
    # one helper it imports. The shim stands in for the container's older transformers.
    import transformers.file_utils

    if not hasattr(transformers.file_utils, "is_tf_available"):
        transformers.file_utils.is_tf_available = lambda: False  # type: ignore[attr-defined]
    from mms.service import Service
    from sagemaker_huggingface_inference_toolkit.handler_service import HuggingFaceHandlerService

    sys.modules.pop("inference", None)  # the toolkit imports code/inference.py by this name
    importlib.invalidate_caches()
    handler = HuggingFaceHandlerService()
    service = Service("model", str(model_dir), None, handler.handle, None, 1)
    # MMS initialises the handler before the first request; its context carries model_dir.
    handler.initialize(service.context)
    return service


def _invoke(service, body: bytes) -> tuple[int, str, bytes]:
    batch = [
        {
            "requestId": b"req-1",
            "parameters": [{"name": "body", "contentType": "application/json", "value": body}],
            "headers": [{"name": b"Content-Type", "value": b"application/json"}],
        }
    ]
    return _parse_predict_response(bytes(service.predict(batch)))


def _parse_predict_response(msg: bytes) -> tuple[int, str, bytes]:
    """MMS's worker-to-frontend frame: (http status, content type, body) of request 0."""
    pos = 0

    def i32() -> int:
        nonlocal pos
        (value,) = struct.unpack_from("!i", msg, pos)
        pos += 4
        return value

    def blob() -> bytes:
        nonlocal pos
        n = i32()
        pos += n
        return msg[pos - n : pos]

    i32()  # batch code
    blob()  # batch message
    blob()  # request id
    content_type = blob().decode()
    status = i32()
    blob()  # phrase
    for _ in range(i32()):
        blob(), blob()
    return status, content_type, blob()


@pytest.fixture(scope="module")
def service(light_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, unpack):
    model_dir = unpack(light_model_dir, "hf-dlc", tmp_path_factory.mktemp("hf"))
    return _toolkit_service(model_dir)


def test_streaming_request_is_refused_naming_stream(service, seed_request: dict) -> None:
    status, _, raw = _invoke(service, json.dumps(seed_request).encode())
    assert status == 400
    assert json.loads(raw)["error"]["param"] == "stream"


def test_seed_request_gets_a_chat_completion(service, seed_request: dict) -> None:
    body = json.dumps({**seed_request, "stream": False}).encode()
    status, content_type, body = _invoke(service, body)
    assert status == 200
    assert content_type == "application/json"
    obj = json.loads(body)
    assert obj["object"] == "chat.completion"
    assert obj["id"].startswith("chatcmpl-")
    assert obj["model"] == "demo-served"
    choice = obj["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")
    usage = obj["usage"]
    assert usage["completion_tokens"] >= 1
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (json.dumps({"messages": []}).encode(), "messages"),
        (
            json.dumps(
                {"messages": [{"role": "user", "content": "hi"}], "temperature": 9}
            ).encode(),
            "temperature",
        ),
    ],
)
def test_bad_input_gets_an_openai_error(service, body: bytes, param: str | None) -> None:
    status, _, raw = _invoke(service, body)
    assert status == 400
    error = json.loads(raw)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param


class _ToolkitTarget:
    """The check's view of the real toolkit: one MMS predict call per request."""

    description = "the Hugging Face inference toolkit"

    def __init__(self, service):
        self.service = service

    def send(self, body: bytes, stream: bool) -> Exchange:
        status, content_type, raw = _invoke(self.service, body)
        return Exchange(status, content_type, (raw,))


def test_check_explains_that_the_toolkit_cannot_stream(service) -> None:
    [result] = run_check(_ToolkitTarget(service), ["stream.content_type"])
    assert not result.passed
    assert result.evidence[0].startswith("status 400: ")
    assert "--target lmi or image" in result.evidence[1]
