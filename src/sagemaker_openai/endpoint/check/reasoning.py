"""Rules of the `reasoning` family (a thinking model's reasoning, under vLLM's two names), and
`response.cached_tokens`. Model-agnostic: a model that does not think passes the reasoning
rules on what it does send; a server without a prefix cache need not report cached tokens."""

from __future__ import annotations

import json
from typing import Any

from .probe import BASE, Probe, Rule, choice_chunks, chunks_of, clip, completion_of

NAMES = ("reasoning", "reasoning_content")  # vLLM's newer name and its older one
MARKERS = ("<think>", "</think>")
THINKING: dict[str, Any] = {
    **BASE,
    "messages": [{"role": "user", "content": "Think it over: what is 17 + 25?"}],
    "max_tokens": 32,
}
# A system prompt long enough to fill a few blocks of any prefix cache (vLLM's are 16 tokens on
# GPUs, up to 128 on CPUs), sent twice.
LONG_SYSTEM = " ".join(f"Rule {i}: answer briefly and politely." for i in range(80))
CACHING: dict[str, Any] = {
    **BASE,
    "messages": [{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": "Hi."}],
    "max_tokens": 4,
}


def _message_problems(message: dict[str, Any]) -> list[str]:
    found = []
    present = [n for n in NAMES if message.get(n) is not None]
    if len(present) == 2 and message["reasoning"] != message["reasoning_content"]:
        found.append(
            f"message.reasoning {clip(message['reasoning'])} differs from "
            f"reasoning_content {clip(message['reasoning_content'])}"
        )
    for name in present:
        if not isinstance(message[name], str):
            found.append(f"message.{name} is {type(message[name]).__name__}, not a string")
    return found


def _names_agree(probe: Probe) -> list[str]:
    completion, found = completion_of(probe.send(THINKING))
    if completion:
        found += _message_problems(completion["choices"][0]["message"])
    chunks, problems = chunks_of(probe.send({**THINKING, "stream": True}, stream=True))
    found += problems
    joined = {n: _joined(chunks, n) for n in NAMES}
    if (
        all(joined[n] is not None for n in NAMES)
        and joined["reasoning"] != joined["reasoning_content"]
    ):
        found.append(
            f"streamed reasoning {clip(joined['reasoning'] or '')} differs from "
            f"reasoning_content {clip(joined['reasoning_content'] or '')}"
        )
    return found


def _joined(chunks: list[dict[str, Any]], name: str) -> str | None:
    """The stream's deltas of `name` joined, or None where no delta carries it."""
    parts = [c["choices"][0]["delta"].get(name) for c in choice_chunks(chunks)]
    texts = [p for p in parts if isinstance(p, str)]
    return "".join(texts) if texts else None


def _not_in_content(probe: Probe) -> list[str]:
    completion, found = completion_of(probe.send(THINKING))
    contents = []
    if completion:
        contents.append(("message.content", completion["choices"][0]["message"].get("content")))
    chunks, problems = chunks_of(probe.send({**THINKING, "stream": True}, stream=True))
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in choice_chunks(chunks))
    contents.append(("streamed content", streamed))
    for where, text in contents:
        text = text or ""
        if text.lstrip().startswith(MARKERS[0]) or MARKERS[1] in text:
            found.append(f"{where} holds a thinking block: {clip(text)}")
    return found + problems


def _left_out(probe: Probe) -> list[str]:
    request = {**THINKING, "include_reasoning": False}
    completion, found = completion_of(probe.send(request))
    if completion:
        message = completion["choices"][0]["message"]
        found += [f"include_reasoning false, yet message.{n}" for n in NAMES if n in message]
    chunks, problems = chunks_of(probe.send({**request, "stream": True}, stream=True))
    carried = {n for c in choice_chunks(chunks) for n in NAMES if n in c["choices"][0]["delta"]}
    found += [f"include_reasoning false, yet deltas carry {n}" for n in sorted(carried)]
    return found + problems


def _request_fields(probe: Probe) -> list[str]:
    earlier = "17 + 25: 7 + 5 is 12, carry 1; 1 + 2 + 1 is 4."
    bodies = {
        "reasoning_effort low": {**THINKING, "reasoning_effort": "low"},
        **{
            f"an assistant turn with {name}": {
                **THINKING,
                "messages": [
                    *THINKING["messages"],
                    {"role": "assistant", "content": "42", name: earlier},
                    {"role": "user", "content": "And 18 + 25?"},
                ],
            }
            for name in NAMES
        },
    }
    found = []
    for what, body in bodies.items():
        _, problems = completion_of(probe.send(body))
        found += [f"{what}: {p}" for p in problems]
    return found


def _cached_tokens(probe: Probe) -> list[str]:
    found = []
    # the same prompt twice (max_tokens differs only so that the probe sends both)
    for attempt, limit in (("first", 4), ("second", 5)):
        completion, problems = completion_of(probe.send({**CACHING, "max_tokens": limit}))
        found += [f"{attempt}: {p}" for p in problems]
        if completion:
            found += _cached_problems(completion.get("usage"), attempt)
    request = {**CACHING, "stream": True, "stream_options": {"include_usage": True}}
    chunks, problems = chunks_of(probe.send(request, stream=True))
    usage = next((c.get("usage") for c in reversed(chunks) if c.get("usage")), None)
    return found + problems + _cached_problems(usage, "streamed usage")


def _cached_problems(usage: Any, where: str) -> list[str]:
    if not isinstance(usage, dict):
        return [f"{where}: usage {clip(json.dumps(usage))}"]
    details = usage.get("prompt_tokens_details")
    if details is None:
        return []  # no cache, or none hit: nothing to judge
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if not isinstance(cached, int) or isinstance(cached, bool):
        return [f"{where}: prompt_tokens_details {clip(json.dumps(details))}"]
    if not 0 <= cached <= usage.get("prompt_tokens", -1):
        return [f"{where}: cached_tokens {cached} outside 0..prompt_tokens ({usage})"]
    return []


RULES = (
    Rule("reasoning.names_agree", _names_agree),
    Rule("reasoning.not_in_content", _not_in_content),
    Rule("reasoning.left_out", _left_out),
    Rule("reasoning.request_fields", _request_fields),
    Rule("response.cached_tokens", _cached_tokens),
)
