"""Rules of the `request` family: what a server must accept, and honour, in a request."""

from __future__ import annotations

import json
from typing import Any

from .probe import BASE, PROMPT, Check, Probe, Rule, clip, completion_of, content_of

SHORT = {**BASE, "max_tokens": 2}  # acceptance needs no long answer
UNICODE = [{"role": "user", "content": "Répète: héllo wörld 日本語 🙂🌊 ✓"}]


def accepted(request: dict[str, Any]) -> Check:
    """The request gets a chat.completion."""

    def check(probe: Probe) -> list[str]:
        completion, found = completion_of(probe.send(request))
        if completion and completion.get("object") != "chat.completion":
            found.append(f"object is {completion.get('object')!r}")
        return found

    return check


def _max_tokens(probe: Probe) -> list[str]:
    found = []
    for extra, limit in (
        ({"max_tokens": 3}, 3),
        ({"max_tokens": 6, "max_completion_tokens": 2}, 2),
    ):
        completion, errors = completion_of(probe.send({**BASE, **extra}))
        if not completion:
            return errors
        used = completion.get("usage", {}).get("completion_tokens")
        finish = completion["choices"][0].get("finish_reason")
        if not isinstance(used, int) or used > limit:
            found.append(f"{extra}: completion_tokens {used}, limit {limit}")
        elif used == limit and finish != "length":
            found.append(
                f"{extra}: {used} tokens used up the limit but finish_reason is {finish!r}"
            )
    return found


def _stop(probe: Probe) -> list[str]:
    completion, found = completion_of(probe.send({**BASE, "max_tokens": 12}))
    if not completion:
        return found
    words = [w for w in content_of(completion).split() if len(w) >= 3]
    if len(words) < 2:
        return [f"no word to stop on in {clip(content_of(completion))}"]
    stop = words[1]
    for value in (stop, [stop, "unlikely-stop-XYZ"]):
        stopped, errors = completion_of(probe.send({**BASE, "max_tokens": 12, "stop": value}))
        if not stopped:
            return errors
        text, finish = content_of(stopped), stopped["choices"][0].get("finish_reason")
        if stop in text or finish != "stop":
            found.append(f"stop={value!r}: content {clip(text)}, finish_reason {finish!r}")
    return found


def _unicode(probe: Probe) -> list[str]:
    completion, found = completion_of(probe.send({**BASE, "messages": UNICODE}))
    if completion:
        text = content_of(completion)
        if completion["choices"][0].get("finish_reason") == "length":
            text = text.rstrip("\ufffd")  # max_tokens may cut the last character short
        if "\ufffd" in text:
            found.append(f"replacement character in content {clip(content_of(completion))}")
    return found


def _seed(probe: Probe) -> list[str]:
    """The same seeded request, alone, with its prompt computed the same way, gives the same
    sampled text (the README's promise): sent three times in turn, the first only warms any
    prefix cache, so the second and third are computed alike on any server."""
    request = json.dumps({**BASE, "max_tokens": 16, "temperature": 1.0, "seed": 1234}).encode()
    texts = []
    for _ in range(3):
        completion, found = completion_of(probe.target.send(request, False))
        if not completion:
            return found
        texts.append(content_of(completion))
    if texts[1] != texts[2]:
        return [f"seed 1234 gave {clip(texts[1])}, then {clip(texts[2])}"]
    return []


RULES = (
    Rule("request.minimal", accepted({"messages": PROMPT, "max_tokens": 2})),
    Rule("request.any_model_name", accepted({**SHORT, "model": "not-a-served-name-7"})),
    Rule(
        "request.content_parts",
        accepted(
            {**SHORT, "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}
        ),
    ),
    Rule(
        "request.unknown_keys_ignored",
        accepted({**SHORT, "sagemaker_base_url": "http://x", "aws_region_name": "us-east-1"}),
    ),
    Rule(
        "request.developer_role",
        accepted({**SHORT, "messages": [{"role": "developer", "content": "Be brief."}, *PROMPT]}),
    ),
    Rule("request.max_tokens", _max_tokens),
    Rule("request.stop", _stop),
    Rule("request.unicode", _unicode),
    Rule("request.seed", _seed),
)
