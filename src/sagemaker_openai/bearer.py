"""SageMaker bearer tokens for the OpenAI-compatible route: made, read and verified.

A token is `sagemaker-api-key-` + base64 of a SigV4 pre-signed URL (host, no scheme) of the
`CallWithBearerToken` action, followed by `&Version=1`. This is the construction of
`sagemaker.core.token_generator` in sagemaker-core 2.27.0 (PyPI), done here with botocore
alone; verification recomputes the signature with botocore's own signer.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HOST = "sagemaker.amazonaws.com"
SERVICE = "sagemaker"
PREFIX = "sagemaker-api-key-"
VERSION_SUFFIX = "&Version=1"  # appended after signing, so not covered by the signature
MAX_EXPIRES_S = 12 * 3600  # the SDK refuses more than 12 hours
_TIMESTAMP = "%Y%m%dT%H%M%SZ"


class TokenError(ValueError):
    """A bearer token that is malformed, expired, or whose signature does not verify."""


@dataclass(frozen=True)
class BearerToken:
    """What a token says: who signed it, for which region, and until when."""

    access_key: str
    region: str
    signed_at: dt.datetime
    expires_s: int
    query: tuple[tuple[str, str], ...]  # the signed query, in its order, without the signature
    signature: str

    @property
    def expires_at(self) -> dt.datetime:
        return self.signed_at + dt.timedelta(seconds=self.expires_s)


def generate_token(credentials: Credentials, region: str, expires_s: int = MAX_EXPIRES_S) -> str:
    """A bearer token signed with `credentials`, valid for `expires_s` seconds."""
    if not 0 < expires_s <= MAX_EXPIRES_S:
        raise ValueError("a token's lifetime must be more than 0 s and at most 12 hours")
    request = AWSRequest(
        method="POST",
        url=f"https://{HOST}/",
        headers={"host": HOST},
        params={"Action": "CallWithBearerToken"},
    )
    signing: Any = credentials
    if hasattr(credentials, "get_frozen_credentials"):  # one coherent snapshot of the keys
        signing = credentials.get_frozen_credentials()
    SigV4QueryAuth(signing, SERVICE, region, expires=expires_s).add_auth(request)
    presigned = str(request.url).replace("https://", "") + VERSION_SUFFIX
    return PREFIX + base64.b64encode(presigned.encode()).decode()


def read_token(token: str) -> BearerToken:
    """Parse a token without verifying it; TokenError names what is wrong with its shape."""
    if not token.startswith(PREFIX):
        raise TokenError(f"a SageMaker bearer token starts with {PREFIX!r}")
    try:
        url = base64.b64decode(token[len(PREFIX) :], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise TokenError("the token after its prefix is not base64 of a URL") from None
    parts = urlsplit("https://" + url)
    if parts.netloc != HOST or parts.path != "/":
        raise TokenError(f"the token is not a pre-signed URL of https://{HOST}/")
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "Version"]
    params = dict(pairs)
    if params.get("Action") != "CallWithBearerToken":
        raise TokenError("the token does not sign the CallWithBearerToken action")
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise TokenError("the token is not signed with AWS4-HMAC-SHA256")
    try:
        access_key, _date, region, service, terminator = params["X-Amz-Credential"].split("/")
        signed_at = dt.datetime.strptime(params["X-Amz-Date"], _TIMESTAMP)
        expires_s = int(params["X-Amz-Expires"])
        signature = params["X-Amz-Signature"]
    except (KeyError, ValueError):
        raise TokenError("the token lacks a well-formed SigV4 credential, date or expiry") from None
    if service != SERVICE or terminator != "aws4_request":
        raise TokenError(f"the token is not signed for the {SERVICE} service")
    signed_query = tuple((k, v) for k, v in pairs if k != "X-Amz-Signature")
    return BearerToken(
        access_key,
        region,
        signed_at.replace(tzinfo=dt.timezone.utc),
        expires_s,
        signed_query,
        signature,
    )


def verify_token(
    token: str, credentials: Credentials, now: dt.datetime | None = None
) -> BearerToken:
    """Read the token and check its expiry and its signature against `credentials`."""
    parsed = read_token(token)
    now = now or dt.datetime.now(dt.timezone.utc)
    if now >= parsed.expires_at:
        raise TokenError(f"the token expired at {parsed.expires_at.isoformat()}")
    if parsed.access_key != credentials.access_key:
        raise TokenError("the token is signed by an access key this endpoint does not know")
    if not hmac.compare_digest(_signature(parsed, credentials), parsed.signature):
        raise TokenError("the token's signature does not match")
    return parsed


def _signature(parsed: BearerToken, credentials: Credentials) -> str:
    """botocore's SigV4 signature of the token's own query, at the token's own time."""
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in parsed.query)
    request = AWSRequest(method="POST", url=f"https://{HOST}/?{query}", headers={"host": HOST})
    request.context["timestamp"] = parsed.signed_at.strftime(_TIMESTAMP)
    auth = SigV4QueryAuth(credentials, SERVICE, parsed.region, expires=parsed.expires_s)
    canonical = auth.canonical_request(request)
    return auth.signature(auth.string_to_sign(request, canonical), request)


def openai_base_url(runtime_url: str, endpoint: str, component: str | None = None) -> str:
    """The `base_url` for OpenAI clients: the endpoint's (or component's) /openai/v1."""
    path = f"/endpoints/{endpoint}"
    if component:
        path += f"/inference-components/{component}"
    return runtime_url.rstrip("/") + path + "/openai/v1"
