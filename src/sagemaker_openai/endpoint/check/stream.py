"""Rules of the `stream` family: framing and content of a streamed answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...streaming import MEDIA_TYPES
from .probe import (
    BASE,
    Check,
    Probe,
    Rule,
    choice_chunks,
    chunks_of,
    clip,
    error_of,
    usage_problems,
)

CHUNK_KEYS = ("id", "created", "model", "system_fingerprint")
CHOICE_KEYS = ("index", "delta", "logprobs", "finish_reason")
UNICODE = [{"role": "user", "content": "Répète: héllo wörld 日本語 🙂🌊 ✓"}]
CANNOT_STREAM = (
    "the container refuses to stream: the Hugging Face inference toolkit cannot "
    "stream; package with --target lmi or image for streaming clients"
)


def _content_type(probe: Probe) -> list[str]:
    exchange = probe.stream()
    if exchange.status != 200:
        found = [f"status {exchange.status}: {clip(exchange.body)}"]
        error = error_of(exchange)
        if exchange.status == 400 and error is not None and error.get("param") == "stream":
            found.append(CANNOT_STREAM)  # what a `--target hf-dlc` endpoint answers
        return found
    wanted = MEDIA_TYPES[probe.target.framing]
    ok = exchange.content_type.split(";")[0].strip() == wanted
    return [] if ok else [f"content type {exchange.content_type!r}, not {wanted}"]


def _one_object_per_part(probe: Probe) -> list[str]:
    exchange, found = probe.stream(), []
    for number, part in enumerate(exchange.parts, 1):
        lines = [line for line in part.split(b"\n") if line.strip()]
        complete = part.rstrip().endswith((b"}", b"[DONE]"))
        if len(lines) != 1 or not complete:
            found.append(
                f"part {number} of {len(exchange.parts)}: {len(lines)} lines, {clip(part)}"
            )
    return found[:5]


def _jsonl_framing(probe: Probe) -> list[str]:
    """`{json}\\n` per part; on the OpenAI route, SSE's `data: {json}\\n\\n` then [DONE]."""
    exchange, found = probe.stream(), []
    if probe.target.framing == "sse":
        return _sse_framing(exchange.parts)
    for number, part in enumerate(exchange.parts, 1):
        if not part.endswith(b"\n") or part.startswith((b"data:", b":", b"\n")) or b"\n\n" in part:
            found.append(f"part {number} is not '{{json}}\\n': {clip(part)}")
        elif b"[DONE]" in part:
            found.append(f"part {number} carries [DONE]: {clip(part)}")
    return found[:5]


def _sse_framing(parts: tuple[bytes, ...]) -> list[str]:
    found = []
    for number, part in enumerate(parts, 1):
        if not (part.startswith(b"data: ") and part.endswith(b"\n\n")) or part.count(b"\n") != 2:
            found.append(f"part {number} is not 'data: {{json}}\\n\\n': {clip(part)}")
    if parts and parts[-1] != b"data: [DONE]\n\n":
        found.append(f"the stream does not end with data: [DONE]: {clip(parts[-1])}")
    return found[:5]


def over_chunks(judge: Callable[[list[dict[str, Any]]], list[str]]) -> Check:
    """A check that judges the parsed chunks of the common stream."""

    def check(probe: Probe) -> list[str]:
        chunks, found = chunks_of(probe.stream())
        return found or judge(chunks)

    return check


def _same_ids(chunks: list[dict[str, Any]]) -> list[str]:
    first = {k: chunks[0].get(k) for k in CHUNK_KEYS}
    found = [f"chunk 1 lacks {k}" for k in CHUNK_KEYS if k not in chunks[0]]
    for number, chunk in enumerate(chunks[1:], 2):
        differs = {k: chunk.get(k) for k in CHUNK_KEYS if chunk.get(k) != first[k]}
        if differs:
            found.append(f"chunk {number} has {differs}, chunk 1 has {first}")
    return found[:5]


def _choices_last(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        f"chunk {number}: keys end with {list(chunk)[-1]!r}"
        for number, chunk in enumerate(chunks, 1)
        if list(chunk)[-1] != "choices"
    ][:5]


def _first_chunk(chunks: list[dict[str, Any]]) -> list[str]:
    delta = (chunks[0].get("choices") or [{}])[0].get("delta")
    return [] if delta == {"role": "assistant", "content": ""} else [f"first delta {delta!r}"]


def _choice_keys(chunks: list[dict[str, Any]]) -> list[str]:
    found, with_choices = [], choice_chunks(chunks)
    for number, chunk in enumerate(with_choices, 1):
        for choice in chunk["choices"]:
            missing = [k for k in CHOICE_KEYS if k not in choice]
            if missing:
                found.append(f"choice chunk {number} lacks {missing}")
            if number < len(with_choices) and choice.get("finish_reason") is not None:
                found.append(f"choice chunk {number} of {len(with_choices)} sets finish_reason")
    return found[:5]


def _final_chunk(chunks: list[dict[str, Any]]) -> list[str]:
    final = choice_chunks(chunks)[-1]["choices"][0]
    if final.get("delta") != {"content": ""} or final.get("finish_reason") not in (
        "stop",
        "length",
    ):
        return [f"final choice {clip(json.dumps(final))}"]
    return []


def _whole_characters(probe: Probe) -> list[str]:
    exchange = probe.send({**BASE, "messages": UNICODE, "max_tokens": 16, "stream": True}, True)
    chunks, found = chunks_of(exchange)
    for number, part in enumerate(exchange.parts, 1):
        try:
            part.decode("utf-8")
        except UnicodeDecodeError as error:
            found.append(f"part {number} is not whole UTF-8 ({error.reason}): {part[:80]!r}")
    deltas = [c["choices"][0].get("delta", {}).get("content") or "" for c in choice_chunks(chunks)]
    deltas = [d for d in deltas if d]
    if (
        deltas
        and chunks
        and choice_chunks(chunks)[-1]["choices"][0].get("finish_reason") == "length"
    ):
        deltas[-1] = deltas[-1].rstrip("\ufffd")  # max_tokens may cut the last character short
    found += [f"delta with a replacement character: {d!r}" for d in deltas if "\ufffd" in d]
    return found[:5]


def _no_usage(probe: Probe) -> list[str]:
    chunks, found = chunks_of(probe.stream())
    return (
        found or [f"unrequested usage: {clip(json.dumps(c))}" for c in chunks if "usage" in c][:1]
    )


def _usage_when_asked(probe: Probe) -> list[str]:
    chunks, found = chunks_of(probe.stream(stream_options={"include_usage": True}))
    if found:
        return found
    last = chunks[-1]
    if last.get("choices") != [] or len(choice_chunks(chunks)) != len(chunks) - 1:
        return [f"last chunk is not the one usage chunk: {clip(json.dumps(last))}"]
    problems = usage_problems(last.get("usage"))
    # prompt_tokens_details: only where a prefix cache served part of the prompt
    keys = set(last.get("usage") or {}) - {"prompt_tokens_details"}
    if keys != {"prompt_tokens", "completion_tokens", "total_tokens"}:
        problems.append(f"usage keys {sorted(last.get('usage') or {})}")
    return problems


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
        chunks, errors = chunks_of(exchange)
        found += [f"stream {number}: {e}" for e in errors]
        finals = [c for c in choice_chunks(chunks) if c["choices"][0].get("finish_reason")]
        if chunks and len(finals) != 1:
            found.append(f"stream {number}: {len(finals)} final chunks")
        ids |= {c.get("id") for c in chunks}
    if not found and len(ids) != len(bodies):
        found.append(f"{len(bodies)} concurrent streams carried {len(ids)} distinct ids")
    return found


RULES = (
    Rule("stream.content_type", _content_type),
    Rule("stream.one_object_per_part", _one_object_per_part),
    Rule("stream.jsonl_framing", _jsonl_framing),  # sse framing on the OpenAI route
    Rule("stream.same_ids", over_chunks(_same_ids)),
    Rule("stream.choices_last", over_chunks(_choices_last)),
    Rule("stream.first_chunk", over_chunks(_first_chunk)),
    Rule("stream.choice_keys", over_chunks(_choice_keys)),
    Rule("stream.final_chunk", over_chunks(_final_chunk)),
    Rule("stream.whole_characters", _whole_characters),
    Rule("stream.usage_only_when_asked", _no_usage),
    Rule("stream.usage_when_asked", _usage_when_asked),
    Rule("stream.concurrent", _concurrent),
)
