"""Run the rules against a target and report one row per rule, with evidence."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..exchange import Target
from . import error, reasoning, request, response, stream, tools
from .probe import Probe, Rule

RULES: tuple[Rule, ...] = (
    *request.RULES,
    *response.RULES,
    *stream.RULES,
    *tools.RULES,
    *error.RULES,
    *reasoning.RULES,
)
DOCS = "docs/check.md"


@dataclass(frozen=True)
class Result:
    rule: str
    passed: bool
    evidence: list[str]
    seconds: float


def run_check(target: Target, only: Sequence[str] = ()) -> list[Result]:
    """Run the rules (those whose names start with one of `only`, if given) against the target,
    in order; an exception is that rule's failure."""
    probe, results = Probe(target), []
    for rule in RULES:
        if only and not rule.name.startswith(tuple(only)):
            continue
        started = time.perf_counter()
        try:
            evidence = rule.check(probe)
        except Exception as error:  # a crash of one rule is evidence, not the end of the report
            evidence = [f"{type(error).__name__}: {error}"]
        elapsed = round(time.perf_counter() - started, 2)
        results.append(Result(rule.name, not evidence, evidence, elapsed))
    return results


def format_report(results: list[Result], target: Target, as_json: bool) -> str:
    failed = sum(not r.passed for r in results)
    if as_json:
        rows = [asdict(r) for r in results]
        return json.dumps({"target": target.description, "failed": failed, "results": rows})
    lines = [f"conformance of {target.description} to the wire contract (rules: {DOCS})"]
    for r in results:
        lines.append(f"{'PASS' if r.passed else 'FAIL'}  {r.rule:<32} {r.seconds:5.1f} s")
        lines += [f"        {item}" for item in r.evidence]
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)
