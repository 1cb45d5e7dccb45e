"""Rules of the `error` family: bad input gets OpenAI's error object with the right status."""

from __future__ import annotations

import json
from typing import Any

from ..exchange import Exchange
from .probe import BASE, PROMPT, Check, Probe, Rule, clip, error_of

ERROR_KEYS = ("message", "type", "param", "code")
TOO_LARGE = json.dumps({"messages": PROMPT, "pad": "x" * 6_300_000}).encode()  # over 6 MiB


def rejected(
    request: dict[str, Any] | bytes,
    param: str | None = None,
    status: int = 400,
    code: str | None = None,
    stream: bool = False,
) -> Check:
    """The request gets `status` and an error object naming `param` (and `code`)."""

    def check(probe: Probe) -> list[str]:
        return _error_problems(probe.send(request, stream), status, param, code)

    return check


def _error_problems(
    exchange: Exchange, status: int, param: str | None, code: str | None
) -> list[str]:
    if exchange.sagemaker_error:  # SageMaker refused it before the container saw it
        ok = exchange.sagemaker_error == "ValidationError" and status == 413
        answered = f"SageMaker answered {exchange.sagemaker_error}: {clip(exchange.body)}"
        return [] if ok else [answered]
    found = [] if exchange.status == status else [f"status {exchange.status}, expected {status}"]
    error = error_of(exchange)
    if error is None:
        return [*found, f"body is not {{'error': {{...}}}}: {clip(exchange.body)}"]
    missing = [k for k in ERROR_KEYS if k not in error]
    if missing:
        found.append(f"error lacks {missing}: {clip(json.dumps(error))}")
    if param is not None and not str(error.get("param") or "").startswith(param):
        found.append(f"param {error.get('param')!r}, expected {param!r}")
    if code is not None and error.get("code") != code:
        found.append(f"code {error.get('code')!r}, expected {code!r}")
    return found


def _with(**extra: Any) -> dict[str, Any]:
    return {**BASE, **extra}


RULES = (
    Rule("error.bad_json", rejected(b'{"messages": [', None)),
    Rule("error.missing_messages", rejected({"max_tokens": 4}, "messages")),
    Rule("error.empty_messages", rejected(_with(messages=[]), "messages")),
    Rule("error.messages_wrong_type", rejected(_with(messages="hello"), "messages")),
    Rule(
        "error.bad_role",
        rejected(_with(messages=[{"role": "robot", "content": "hi"}]), "messages"),
    ),
    Rule(
        "error.unsupported_content_part",
        rejected(
            _with(messages=[{"role": "user", "content": [{"type": "audio", "x": 1}]}]), "messages"
        ),
    ),
    Rule("error.temperature_range", rejected(_with(temperature=5), "temperature")),
    Rule("error.top_p_range", rejected(_with(top_p=0), "top_p")),
    Rule("error.max_tokens_range", rejected(_with(max_tokens=0), "max_tokens")),
    Rule("error.penalty_range", rejected(_with(presence_penalty=3), "presence_penalty")),
    Rule("error.too_many_stops", rejected(_with(stop=["a", "b", "c", "d", "e"]), "stop")),
    Rule(
        "error.context_length",
        rejected(_with(max_tokens=10_000_000), code="context_length_exceeded"),
    ),
    Rule(
        "error.stream_bad_input",
        rejected(_with(temperature=-1, stream=True), "temperature", stream=True),
    ),
    Rule("error.too_large", rejected(TOO_LARGE, None, 413)),
)
