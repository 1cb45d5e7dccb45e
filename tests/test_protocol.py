import json

import pytest

from sagemaker_openai.errors import InvalidRequest
from sagemaker_openai.protocol import parse_request

USER = [{"role": "user", "content": "hi"}]


def body(**fields) -> bytes:
    return json.dumps({"messages": USER, **fields}).encode()


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'"hello"', None),
        (b"\xff\xfe\x00", None),
        (b"{}", "messages"),
        (json.dumps({"messages": []}).encode(), "messages"),
        (json.dumps({"messages": [{"role": "bot", "content": "x"}]}).encode(), "messages[0].role"),
        (
            json.dumps({"messages": [{"role": "user", "content": 5}]}).encode(),
            "messages[0].content",
        ),
        (body(temperature=5), "temperature"),
        (body(temperature="0.5"), "temperature"),
        (body(top_p=0), "top_p"),
        (body(max_tokens=0), "max_tokens"),
        (body(max_completion_tokens=0), "max_completion_tokens"),
        (body(n=0), "n"),
        (body(top_logprobs=50), "top_logprobs"),
        (body(presence_penalty=3), "presence_penalty"),
        (body(frequencyPenalty=-3), "frequency_penalty"),
        (body(stop=["a", "b", "c", "d", "e"]), "stop"),
        (body(stop=""), "stop"),
        (body(stream="yes"), "stream"),
        (body(stream_options={"include_usage": "yes"}), "stream_options.include_usage"),
    ],
)
def test_bad_requests_name_their_parameter(raw: bytes, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_request(raw)
    assert caught.value.status == 400
    assert caught.value.param == param
    assert caught.value.message


def test_camel_case_penalties_are_read_as_snake_case() -> None:
    request = parse_request(body(presencePenalty=1.5, frequencyPenalty=-0.5))
    assert (request.presence_penalty, request.frequency_penalty) == (1.5, -0.5)


def test_unknown_keys_are_logged_by_name_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    parse_request(body(aws_secret_access_key="SECRET-VALUE", sagemaker_base_url="http://x"))
    assert "aws_secret_access_key" in caplog.text
    assert "sagemaker_base_url" in caplog.text
    assert "SECRET-VALUE" not in caplog.text


def test_model_is_never_rejected() -> None:
    for model in ("my-endpoint", "", None, 42, {"x": 1}):
        assert parse_request(body(model=model)).model == model


def test_completion_limit_is_the_smaller_of_both() -> None:
    assert parse_request(body(max_tokens=50, max_completion_tokens=20)).completion_limit == 20
    assert parse_request(body(max_tokens=7)).completion_limit == 7
    assert parse_request(body()).completion_limit is None
