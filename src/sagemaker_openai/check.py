"""The conformance check: one row per rule of CONTRACT.md sections 2 to 5, with evidence."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .exchange import Exchange, Target

PROMPT = [{"role": "user", "content": "Write one short sentence about the sea."}]
BASE: dict[str, Any] = {"messages": PROMPT, "max_tokens": 8, "temperature": 0}
CHUNK_KEYS = ("id", "created", "model", "system_fingerprint")
CHOICE_KEYS = ("index", "delta", "logprobs", "finish_reason")


@dataclass(frozen=True)
class Result:
    rule: str
    section: str
    passed: bool
    evidence: list[str]
    seconds: float


class Probe:
    """Sends requests to the target, keeping the common ones to share between rules."""

    def __init__(self, target: Target):
        self.target = target
        self._cache: dict[str, Exchange] = {}

    def send(self, request: dict[str, Any] | bytes, stream: bool = False) -> Exchange:
        body = request if isinstance(request, bytes) else json.dumps(request).encode()
        key = f"{stream}:{body!r}"
        if key not in self._cache:
            self._cache[key] = self.target.send(body, stream)
        return self._cache[key]

    def stream(self, **extra: Any) -> Exchange:
        return self.send({**BASE, **extra, "stream": True}, stream=True)


Rule = Callable[[Probe], list[str]]  # evidence of failure; empty means the rule holds
RULES: list[tuple[str, str, Rule]] = []


def rule(name: str, section: str) -> Callable[[Rule], Rule]:
    def register(check: Rule) -> Rule:
        RULES.append((name, section, check))
        return check

    return register


def run_check(target: Target, only: Sequence[str] = ()) -> list[Result]:
    """Run the rules (those whose names start with one of `only`, if given) against the target,
    in order; an exception is that rule's failure."""
    probe, results = Probe(target), []
    for name, section, check in RULES:
        if only and not name.startswith(tuple(only)):
            continue
        started = time.perf_counter()
        try:
            evidence = check(probe)
        except Exception as error:  # a crash of one rule is evidence, not the end of the report
            evidence = [f"{type(error).__name__}: {error}"]
        elapsed = round(time.perf_counter() - started, 2)
        results.append(Result(name, section, not evidence, evidence, elapsed))
    return results


def format_report(results: list[Result], target: Target, as_json: bool) -> str:
    failed = sum(not r.passed for r in results)
    if as_json:
        rows = [asdict(r) for r in results]
        return json.dumps({"target": target.description, "failed": failed, "results": rows})
    lines = [f"conformance of {target.description} to CONTRACT.md"]
    for r in results:
        lines.append(
            f"{'PASS' if r.passed else 'FAIL'}  §{r.section}  {r.rule:<32} {r.seconds:5.1f} s"
        )
        lines += [f"        {item}" for item in r.evidence]
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)


# -- helpers ------------------------------------------------------------------------------------


def _completion(exchange: Exchange) -> tuple[dict[str, Any] | None, list[str]]:
    if exchange.status != 200:
        return None, [f"status {exchange.status}: {_clip(exchange.body)}"]
    try:
        return json.loads(exchange.body), []
    except ValueError:
        return None, [f"body is not JSON: {_clip(exchange.body)}"]


def _chunks(exchange: Exchange) -> tuple[list[dict[str, Any]], list[str]]:
    """Chunk objects, read leniently (any framing), so chunk rules judge content alone."""
    if exchange.status != 200:
        return [], [f"status {exchange.status}: {_clip(exchange.body)}"]
    found = [exchange.stream_error] if exchange.stream_error else []
    chunks = []
    for line in exchange.body.split(b"\n"):
        text = line.decode("utf-8", "replace").strip().removeprefix("data:").strip()
        if text and text != "[DONE]" and not text.startswith(":"):
            try:
                chunks.append(json.loads(text))
            except ValueError:
                found.append(f"not JSON: {_clip(line)}")
    return chunks, found or ([] if chunks else ["no chunks"])


def _clip(data: bytes | str, size: int = 160) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return repr(text if len(text) <= size else text[:size] + "...")


def _content(completion: dict[str, Any]) -> str:
    return str(completion["choices"][0]["message"]["content"] or "")


def _choice_chunks(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in chunks if c.get("choices")]


# -- section 2: the request ---------------------------------------------------------------------


def _accepted(request: dict[str, Any]) -> Rule:
    def check(probe: Probe) -> list[str]:
        completion, found = _completion(probe.send(request))
        if completion and completion.get("object") != "chat.completion":
            found.append(f"object is {completion.get('object')!r}")
        return found

    return check


SHORT = {**BASE, "max_tokens": 2}  # acceptance needs no long answer
rule("request.minimal", "2")(_accepted({"messages": PROMPT, "max_tokens": 2}))
rule("request.any_model_name", "2")(_accepted({**SHORT, "model": "not-a-served-name-7"}))
rule("request.content_parts", "2")(
    _accepted(
        {**SHORT, "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}
    )
)
rule("request.unknown_keys_ignored", "2")(
    _accepted({**SHORT, "sagemaker_base_url": "http://x", "aws_region_name": "us-east-1"})
)
rule("request.developer_role", "2")(
    _accepted({**SHORT, "messages": [{"role": "developer", "content": "Be brief."}, *PROMPT]})
)


@rule("request.max_tokens", "2")
def _max_tokens(probe: Probe) -> list[str]:
    found = []
    for extra, limit in (
        ({"max_tokens": 3}, 3),
        ({"max_tokens": 6, "max_completion_tokens": 2}, 2),
    ):
        completion, errors = _completion(probe.send({**BASE, **extra}))
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


@rule("request.stop", "2")
def _stop(probe: Probe) -> list[str]:
    completion, found = _completion(probe.send({**BASE, "max_tokens": 12}))
    if not completion:
        return found
    words = [w for w in _content(completion).split() if len(w) >= 3]
    if len(words) < 2:
        return [f"no word to stop on in {_clip(_content(completion))}"]
    stop = words[1]
    for value in (stop, [stop, "unlikely-stop-XYZ"]):
        stopped, errors = _completion(probe.send({**BASE, "max_tokens": 12, "stop": value}))
        if not stopped:
            return errors
        text, finish = _content(stopped), stopped["choices"][0].get("finish_reason")
        if stop in text or finish != "stop":
            found.append(f"stop={value!r}: content {_clip(text)}, finish_reason {finish!r}")
    return found


@rule("request.unicode", "2")
def _unicode(probe: Probe) -> list[str]:
    messages = [{"role": "user", "content": "Répète: héllo wörld 日本語 🙂🌊 ✓"}]
    completion, found = _completion(probe.send({**BASE, "messages": messages}))
    if completion:
        text = _content(completion)
        if completion["choices"][0].get("finish_reason") == "length":
            text = text.rstrip("\ufffd")  # max_tokens may cut the last character short
        if "\ufffd" in text:
            found.append(f"replacement character in content {_clip(_content(completion))}")
    return found


# -- section 3: the non-streaming response -------------------------------------------------------


@rule("response.shape", "3")
def _shape(probe: Probe) -> list[str]:
    exchange = probe.send(BASE)
    completion, found = _completion(exchange)
    if not completion:
        return found
    if not exchange.content_type.startswith("application/json"):
        found.append(f"content type {exchange.content_type!r}")
    if not str(completion.get("id", "")).startswith("chatcmpl-"):
        found.append(f"id {completion.get('id')!r}")
    if completion.get("object") != "chat.completion":
        found.append(f"object {completion.get('object')!r}")
    for key, kind in (("created", int), ("model", str), ("choices", list), ("usage", dict)):
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
            found.append(f"message {_clip(json.dumps(message))}")
        if choice.get("finish_reason") not in ("stop", "length", "tool_calls"):
            found.append(f"finish_reason {choice.get('finish_reason')!r}")
    return found


@rule("response.usage", "3")
def _usage(probe: Probe) -> list[str]:
    completion, found = _completion(probe.send(BASE))
    if not completion:
        return found
    return _usage_problems(completion.get("usage"))


def _usage_problems(usage: Any) -> list[str]:
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    if not isinstance(usage, dict) or not all(isinstance(usage.get(k), int) for k in keys):
        return [f"usage {usage!r}"]
    if usage["total_tokens"] != usage["prompt_tokens"] + usage["completion_tokens"]:
        return [f"total_tokens is not the sum: {usage}"]
    if usage["prompt_tokens"] < 1 or usage["completion_tokens"] < 1:
        return [f"counts are not real: {usage}"]
    return []


from . import check_stream as _check_stream  # noqa: E402,F401  (registers sections 4 and 5)
