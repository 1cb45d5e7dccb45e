"""Rules of the `response` family: the non-streaming chat.completion object."""

from __future__ import annotations

import json

from .probe import BASE, Probe, Rule, clip, completion_of, usage_problems

TOP_LEVEL = (("created", int), ("model", str), ("choices", list), ("usage", dict))


def _shape(probe: Probe) -> list[str]:
    exchange = probe.send(BASE)
    completion, found = completion_of(exchange)
    if not completion:
        return found
    if not exchange.content_type.startswith("application/json"):
        found.append(f"content type {exchange.content_type!r}")
    if not str(completion.get("id", "")).startswith("chatcmpl-"):
        found.append(f"id {completion.get('id')!r}")
    if completion.get("object") != "chat.completion":
        found.append(f"object {completion.get('object')!r}")
    for key, kind in TOP_LEVEL:
        if not isinstance(completion.get(key), kind):
            found.append(f"{key} is {completion.get(key)!r}, not a {kind.__name__}")
    if "system_fingerprint" not in completion:
        found.append("no system_fingerprint key")
    for choice in completion.get("choices") or []:
        missing = [k for k in ("index", "message", "logprobs", "finish_reason") if k not in choice]
        message = choice.get("message") or {}
        if missing:
            found.append(f"choice lacks {missing}")
        if message.get("role") != "assistant" or not isinstance(message.get("content"), str):
            found.append(f"message {clip(json.dumps(message))}")
        if choice.get("finish_reason") not in ("stop", "length", "tool_calls"):
            found.append(f"finish_reason {choice.get('finish_reason')!r}")
    return found


def _usage(probe: Probe) -> list[str]:
    completion, found = completion_of(probe.send(BASE))
    if not completion:
        return found
    return usage_problems(completion.get("usage"))


def _n_choices(probe: Probe) -> list[str]:
    """n=2: choices 0 and 1, each a whole message with its finish_reason; usage counts both."""
    completion, found = completion_of(probe.send({**BASE, "n": 2, "temperature": 1.0, "seed": 7}))
    if not completion:
        return found
    choices = completion.get("choices") or []
    if [c.get("index") for c in choices] != [0, 1]:
        return [f"choice indices {[c.get('index') for c in choices]}, not [0, 1]"]
    for choice in choices:
        message = choice.get("message") or {}
        if message.get("role") != "assistant" or not isinstance(message.get("content"), str):
            found.append(f"choice {choice['index']}: message {clip(json.dumps(message))}")
        if choice.get("finish_reason") not in ("stop", "length"):
            found.append(f"choice {choice['index']}: finish_reason {choice.get('finish_reason')!r}")
    used = (completion.get("usage") or {}).get("completion_tokens")
    if isinstance(used, int) and used < len(choices):
        found.append(f"completion_tokens {used} does not count both choices")
    return found


RULES = (
    Rule("response.shape", _shape),
    Rule("response.usage", _usage),
    Rule("response.n_choices", _n_choices),
)
