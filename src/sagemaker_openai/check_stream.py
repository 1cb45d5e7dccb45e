"""Conformance rules for CONTRACT.md sections 4 (streaming) and 5 (errors)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .check import (
    BASE,
    CHOICE_KEYS,
    CHUNK_KEYS,
    PROMPT,
    Probe,
    _choice_chunks,
    _chunks,
    _clip,
    _usage_problems,
    rule,
)
from .exchange import Exchange

# -- section 4: the streaming response -----------------------------------------------------------


@rule("stream.content_type", "4")
def _content_type(probe: Probe) -> list[str]:
    exchange = probe.stream()
    if exchange.status != 200:
        found = [f"status {exchange.status}: {_clip(exchange.body)}"]
        if exchange.status == 400 and b'"param": "stream"' in exchange.body.replace(
            b'":"', b'": "'
        ):
            # what a `--target hf-dlc` endpoint answers: its toolkit (MMS) cannot stream
            found.append(
                "the container refuses to stream: the Hugging Face inference toolkit cannot "
                "stream; package with --target lmi or image for streaming clients"
            )
        return found
    ok = exchange.content_type.split(";")[0].strip() == "application/jsonlines"
    return [] if ok else [f"content type {exchange.content_type!r}, not application/jsonlines"]


def _error_param(body: bytes) -> Any:
    try:
        return json.loads(body)["error"]["param"]
    except (ValueError, KeyError, TypeError):
        return None


@rule("stream.one_object_per_part", "4")
def _one_object_per_part(probe: Probe) -> list[str]:
    exchange, found = probe.stream(), []
    for number, part in enumerate(exchange.parts, 1):
        lines = [line for line in part.split(b"\n") if line.strip()]
        complete = part.rstrip().endswith((b"}", b"[DONE]"))
        if len(lines) != 1 or not complete:
            found.append(
                f"part {number} of {len(exchange.parts)}: {len(lines)} lines, {_clip(part)}"
            )
    return found[:5]


@rule("stream.jsonl_framing", "4")
def _jsonl_framing(probe: Probe) -> list[str]:
    exchange, found = probe.stream(), []
    for number, part in enumerate(exchange.parts, 1):
        if not part.endswith(b"\n") or part.startswith((b"data:", b":", b"\n")) or b"\n\n" in part:
            found.append(f"part {number} is not '{{json}}\\n': {_clip(part)}")
        elif b"[DONE]" in part:
            found.append(f"part {number} carries [DONE]: {_clip(part)}")
    return found[:5]


def _chunk_rule(check: Any) -> Any:
    """A rule over the parsed chunks of the common stream."""

    def run(probe: Probe) -> list[str]:
        chunks, found = _chunks(probe.stream())
        return found or check(chunks)

    return run


@rule("stream.same_ids", "4")
@_chunk_rule
def _same_ids(chunks: list[dict[str, Any]]) -> list[str]:
    first = {k: chunks[0].get(k) for k in CHUNK_KEYS}
    found = [f"chunk 1 lacks {k}" for k in CHUNK_KEYS if k not in chunks[0]]
    for number, chunk in enumerate(chunks[1:], 2):
        differs = {k: chunk.get(k) for k in CHUNK_KEYS if chunk.get(k) != first[k]}
        if differs:
            found.append(f"chunk {number} has {differs}, chunk 1 has {first}")
    return found[:5]


@rule("stream.choices_last", "4")
@_chunk_rule
def _choices_last(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        f"chunk {number}: keys end with {list(chunk)[-1]!r}"
        for number, chunk in enumerate(chunks, 1)
        if list(chunk)[-1] != "choices"
    ][:5]


@rule("stream.first_chunk", "4")
@_chunk_rule
def _first_chunk(chunks: list[dict[str, Any]]) -> list[str]:
    delta = (chunks[0].get("choices") or [{}])[0].get("delta")
    return [] if delta == {"role": "assistant", "content": ""} else [f"first delta {delta!r}"]


@rule("stream.choice_keys", "4")
@_chunk_rule
def _choice_keys(chunks: list[dict[str, Any]]) -> list[str]:
    found, with_choices = [], _choice_chunks(chunks)
    for number, chunk in enumerate(with_choices, 1):
        for choice in chunk["choices"]:
            missing = [k for k in CHOICE_KEYS if k not in choice]
            if missing:
                found.append(f"choice chunk {number} lacks {missing}")
            if number < len(with_choices) and choice.get("finish_reason") is not None:
                found.append(f"choice chunk {number} of {len(with_choices)} sets finish_reason")
    return found[:5]


@rule("stream.final_chunk", "4")
@_chunk_rule
def _final_chunk(chunks: list[dict[str, Any]]) -> list[str]:
    final = _choice_chunks(chunks)[-1]["choices"][0]
    if final.get("delta") != {"content": ""} or final.get("finish_reason") not in (
        "stop",
        "length",
    ):
        return [f"final choice {_clip(json.dumps(final))}"]
    return []


@rule("stream.whole_characters", "4")
def _whole_characters(probe: Probe) -> list[str]:
    messages = [{"role": "user", "content": "Répète: héllo wörld 日本語 🙂🌊 ✓"}]
    exchange = probe.send({**BASE, "messages": messages, "max_tokens": 16, "stream": True}, True)
    chunks, found = _chunks(exchange)
    for number, part in enumerate(exchange.parts, 1):
        try:
            part.decode("utf-8")
        except UnicodeDecodeError as error:
            found.append(f"part {number} is not whole UTF-8 ({error.reason}): {part[:80]!r}")
    deltas = [c["choices"][0].get("delta", {}).get("content") or "" for c in _choice_chunks(chunks)]
    deltas = [d for d in deltas if d]
    if (
        deltas
        and chunks
        and _choice_chunks(chunks)[-1]["choices"][0].get("finish_reason") == "length"
    ):
        deltas[-1] = deltas[-1].rstrip("\ufffd")  # max_tokens may cut the last character short
    found += [f"delta with a replacement character: {d!r}" for d in deltas if "\ufffd" in d]
    return found[:5]


@rule("stream.usage_only_when_asked", "4")
def _no_usage(probe: Probe) -> list[str]:
    chunks, found = _chunks(probe.stream())
    return (
        found or [f"unrequested usage: {_clip(json.dumps(c))}" for c in chunks if "usage" in c][:1]
    )


@rule("stream.usage_when_asked", "4")
def _usage_when_asked(probe: Probe) -> list[str]:
    chunks, found = _chunks(probe.stream(stream_options={"include_usage": True}))
    if found:
        return found
    last = chunks[-1]
    if last.get("choices") != [] or len(_choice_chunks(chunks)) != len(chunks) - 1:
        return [f"last chunk is not the one usage chunk: {_clip(json.dumps(last))}"]
    problems = _usage_problems(last.get("usage"))
    if set(last.get("usage") or {}) != {"prompt_tokens", "completion_tokens", "total_tokens"}:
        problems.append(f"usage keys {sorted(last.get('usage') or {})}")
    return problems


@rule("stream.concurrent", "4")
def _concurrent(probe: Probe) -> list[str]:
    prompts = ["Name a colour.", "Name a fruit.", "Name an animal."]
    bodies = [
        json.dumps(
            {**BASE, "max_tokens": 4, "messages": [{"role": "user", "content": p}], "stream": True}
        ).encode()
        for p in prompts
    ]
    with ThreadPoolExecutor(len(bodies)) as pool:
        exchanges = list(pool.map(lambda body: probe.target.send(body, True), bodies))
    found, ids = [], set()
    for number, exchange in enumerate(exchanges, 1):
        chunks, errors = _chunks(exchange)
        found += [f"stream {number}: {e}" for e in errors]
        finals = [c for c in _choice_chunks(chunks) if c["choices"][0].get("finish_reason")]
        if chunks and len(finals) != 1:
            found.append(f"stream {number}: {len(finals)} final chunks")
        ids |= {c.get("id") for c in chunks}
    if not found and len(ids) != len(bodies):
        found.append(f"{len(bodies)} concurrent streams carried {len(ids)} distinct ids")
    return found


# -- section 5: errors ---------------------------------------------------------------------------


def _rejected(
    request: dict[str, Any] | bytes,
    param: str | None = None,
    status: int = 400,
    code: str | None = None,
    stream: bool = False,
) -> Any:
    def check(probe: Probe) -> list[str]:
        return _error_problems(probe.send(request, stream), status, param, code)

    return check


def _error_problems(
    exchange: Exchange, status: int, param: str | None, code: str | None
) -> list[str]:
    if exchange.sagemaker_error:  # SageMaker refused it before the container saw it
        ok = exchange.sagemaker_error == "ValidationError" and status == 413
        return (
            [] if ok else [f"SageMaker answered {exchange.sagemaker_error}: {_clip(exchange.body)}"]
        )
    found = [] if exchange.status == status else [f"status {exchange.status}, expected {status}"]
    try:
        error = json.loads(exchange.body)["error"]
    except (ValueError, KeyError, TypeError):
        return [*found, f"body is not {{'error': {{...}}}}: {_clip(exchange.body)}"]
    missing = [k for k in ("message", "type", "param", "code") if k not in error]
    if missing:
        found.append(f"error lacks {missing}: {_clip(json.dumps(error))}")
    if param is not None and not str(error.get("param") or "").startswith(param):
        found.append(f"param {error.get('param')!r}, expected {param!r}")
    if code is not None and error.get("code") != code:
        found.append(f"code {error.get('code')!r}, expected {code!r}")
    return found


def _with(**extra: Any) -> dict[str, Any]:
    return {**BASE, **extra}


rule("error.bad_json", "5")(_rejected(b'{"messages": [', None))
rule("error.missing_messages", "5")(_rejected({"max_tokens": 4}, "messages"))
rule("error.empty_messages", "5")(_rejected(_with(messages=[]), "messages"))
rule("error.messages_wrong_type", "5")(_rejected(_with(messages="hello"), "messages"))
rule("error.bad_role", "5")(
    _rejected(_with(messages=[{"role": "robot", "content": "hi"}]), "messages")
)
rule("error.unsupported_content_part", "5")(
    _rejected(
        _with(messages=[{"role": "user", "content": [{"type": "audio", "x": 1}]}]), "messages"
    )
)
rule("error.temperature_range", "5")(_rejected(_with(temperature=5), "temperature"))
rule("error.top_p_range", "5")(_rejected(_with(top_p=0), "top_p"))
rule("error.max_tokens_range", "5")(_rejected(_with(max_tokens=0), "max_tokens"))
rule("error.penalty_range", "5")(_rejected(_with(presence_penalty=3), "presence_penalty"))
rule("error.too_many_stops", "5")(_rejected(_with(stop=["a", "b", "c", "d", "e"]), "stop"))
rule("error.context_length", "5")(
    _rejected(_with(max_tokens=10_000_000), code="context_length_exceeded")
)
rule("error.stream_bad_input", "5")(
    _rejected(_with(temperature=-1, stream=True), "temperature", stream=True)
)
rule("error.too_large", "5")(
    _rejected(json.dumps({"messages": PROMPT, "pad": "x" * 6_300_000}).encode(), None, 413)
)
