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


def test_unknown_keys_are_logged_as_a_count_and_a_few_escaped_names(caplog) -> None:
    import logging

    keys = {"a\nERROR forged line": 1, "k" * 1_000_000: 2, **{f"extra{i}": i for i in range(3000)}}
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], **keys}).encode()
    with caplog.at_level(logging.INFO, logger="sagemaker_openai.protocol"):
        parse_request(body)
    (record,) = [r for r in caplog.records if "unknown" in r.getMessage()]
    line = record.getMessage()
    assert "\n" not in line and "\r" not in line  # no forged second line
    assert len(line) < 400  # a 1 MB key cannot flood the log
    assert "3002" in line and "a\\nERROR forged line" in line and "more" in line


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"messages": [{"role": "user", "content": "\\ud800"}]}', "messages[0].content"),
        (
            b'{"messages": [{"role": "user", "content": "hi"}], "seed": 18446744073709551616}',
            "seed",
        ),
        (
            b'{"messages": [{"role": "user", "content": "hi"}], "model": '
            + b"[" * 5000
            + b"]" * 5000
            + b"}",
            None,
        ),
        (
            b'{"messages": [{"role": "user", "content": "hi"}], "model": '
            + b"[" * 70
            + b"]" * 70
            + b"}",
            "model",
        ),
        (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', None),
        (
            b'{"messages": [{"role": "user", "content": "hi"}], "frequencyPenalty": 5}',
            "frequency_penalty",
        ),
        (
            b'{"messages": [{"role": "user", "content": "hi"}], "presence_penalty": 1, '
            b'"presencePenalty": 5}',
            "presence_penalty",
        ),
        (
            b'{"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"\\u00b2": 1}}',
            "logit_bias",
        ),
    ],
)
def test_odd_input_is_a_400_naming_the_parameter(body: bytes, param: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_request(body)
    assert caught.value.param == param
