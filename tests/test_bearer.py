"""Bearer tokens for SageMaker's OpenAI-compatible route, made and verified with botocore.

The construction follows sagemaker-core 2.27.0 (PyPI), sagemaker/core/token_generator/
token_generator.py; a token made there verified here (checked by hand: byte-identical for the
same credentials and second)."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from botocore.credentials import Credentials

from sagemaker_openai.bearer import (
    PREFIX,
    TokenError,
    generate_token,
    openai_base_url,
    read_token,
    verify_token,
)

KEYS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token")


def _url(token: str) -> str:
    return base64.b64decode(token[len(PREFIX) :]).decode()


def test_token_is_the_sdks_shape() -> None:
    token = generate_token(KEYS, "us-west-2", 300)
    url = _url(token)
    assert token.startswith("sagemaker-api-key-")
    assert url.startswith("sagemaker.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=")
    assert "X-Amz-Credential=AKIDEXAMPLE%2F" in url and "%2Fus-west-2%2Fsagemaker%2F" in url
    assert "X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Security-Token=session-token" in url
    assert url.endswith("&Version=1")


def test_a_fresh_token_verifies_and_says_what_it_is() -> None:
    parsed = verify_token(generate_token(KEYS, "eu-west-1", 600), KEYS)
    assert (parsed.access_key, parsed.region, parsed.expires_s) == ("AKIDEXAMPLE", "eu-west-1", 600)
    assert dt.timedelta(0) < parsed.expires_at - dt.datetime.now(dt.timezone.utc)


def test_another_secret_does_not_verify() -> None:
    token = generate_token(KEYS, "us-east-1", 60)
    with pytest.raises(TokenError, match="signature does not match"):
        verify_token(token, Credentials("AKIDEXAMPLE", "another-secret"))


def test_a_changed_query_does_not_verify() -> None:
    url = _url(generate_token(KEYS, "us-east-1", 60)).replace(
        "X-Amz-Expires=60", "X-Amz-Expires=61"
    )
    with pytest.raises(TokenError, match="signature does not match"):
        verify_token(PREFIX + base64.b64encode(url.encode()).decode(), KEYS)


def test_an_expired_token_is_refused() -> None:
    token = generate_token(KEYS, "us-east-1", 60)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=61)
    with pytest.raises(TokenError, match="expired"):
        verify_token(token, KEYS, now=later)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("sk-not-sagemaker", "starts with"),
        (PREFIX + "!!!", "not base64"),
        (
            PREFIX + base64.b64encode(b"example.com/?Action=CallWithBearerToken").decode(),
            "pre-signed",
        ),
        (PREFIX + base64.b64encode(b"sagemaker.amazonaws.com/?Action=Other").decode(), "action"),
        (
            PREFIX
            + base64.b64encode(
                b"sagemaker.amazonaws.com/?Action=CallWithBearerToken&X-Amz-Algorithm=AWS4-HMAC-SHA256"
            ).decode(),
            "credential",
        ),
    ],
)
def test_malformed_tokens_say_what_is_wrong(token: str, reason: str) -> None:
    with pytest.raises(TokenError, match=reason):
        read_token(token)


def test_lifetime_is_bounded_like_the_sdk() -> None:
    with pytest.raises(ValueError):
        generate_token(KEYS, "us-east-1", 43201)
    with pytest.raises(ValueError):
        generate_token(KEYS, "us-east-1", 0)


def test_base_urls() -> None:
    runtime = "https://runtime.sagemaker.us-east-1.amazonaws.com"
    assert openai_base_url(runtime, "ep") == f"{runtime}/endpoints/ep/openai/v1"
    assert (
        openai_base_url(runtime + "/", "ep", "ic")
        == f"{runtime}/endpoints/ep/inference-components/ic/openai/v1"
    )
