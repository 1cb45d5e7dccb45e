"""`stream.content_type` explains a refusal to stream from the error's `param`, not its text."""

from __future__ import annotations

import json

from sagemaker_openai.endpoint.check.report import run_check
from sagemaker_openai.endpoint.exchange import Exchange


class Refusing:
    """Stands in for another server: every request gets one 400 error object."""

    description = "a refusing server"

    def __init__(self, error: dict[str, object]):
        self.body = json.dumps({"error": error}, separators=(",", ":")).encode()

    def send(self, body: bytes, stream: bool) -> Exchange:
        return Exchange(400, "application/json", (self.body,))


def _evidence(error: dict[str, object]) -> list[str]:
    [result] = run_check(Refusing(error), ["stream.content_type"])
    assert not result.passed
    return result.evidence


def test_a_refusal_naming_stream_is_explained() -> None:
    evidence = _evidence({"message": "cannot stream", "type": "x", "param": "stream", "code": None})
    assert evidence[0].startswith("status 400: ")
    assert "--target lmi or image" in evidence[1]


def test_param_stream_in_the_message_text_is_not_read_as_the_param() -> None:
    message = 'bad value; "param": "stream" is not what failed'
    evidence = _evidence({"message": message, "type": "x", "param": "temperature", "code": None})
    assert len(evidence) == 1 and evidence[0].startswith("status 400: ")
