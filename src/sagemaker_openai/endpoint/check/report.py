"""Run the rules against a target and report one row per rule, with evidence."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from types import ModuleType

from ..exchange import Target, Unreachable
from . import error, models, reasoning, request, response, stream, tools
from .probe import Probe, Rule

# The rule families, in the order they run. A family is a module of this package with a
# RULES tuple and a table in docs/check.md; a new family plugs in here (and in the docs).
FAMILIES: tuple[ModuleType, ...] = (request, response, stream, tools, models, error, reasoning)
RULES: tuple[Rule, ...] = tuple(rule for family in FAMILIES for rule in family.RULES)
DOCS = "docs/check.md"


@dataclass(frozen=True)
class Result:
    rule: str
    passed: bool
    evidence: list[str]
    seconds: float
    skipped: bool = False  # the target cannot be sent the rule's requests (evidence says why)


def run_check(target: Target, only: Sequence[str] = ()) -> list[Result]:
    """Run the rules (those whose names start with one of `only`, if given) against the target,
    in order; an exception is that rule's failure."""
    probe, results = Probe(target), []
    for rule in RULES:
        if only and not rule.name.startswith(tuple(only)):
            continue
        started = time.perf_counter()
        skipped = False
        try:
            evidence = rule.check(probe)
        except Unreachable as reason:  # not a failure of the server: nothing was asked of it
            evidence, skipped = [str(reason)], True
        except Exception as error:  # a crash of one rule is evidence, not the end of the report
            evidence = [f"{type(error).__name__}: {error}"]
        elapsed = round(time.perf_counter() - started, 2)
        results.append(Result(rule.name, skipped or not evidence, evidence, elapsed, skipped))
    return results


def format_report(results: list[Result], target: Target, as_json: bool) -> str:
    failed = sum(not r.passed for r in results)
    skipped = sum(r.skipped for r in results)
    if as_json:
        rows = [asdict(r) for r in results]
        return json.dumps({"target": target.description, "failed": failed, "results": rows})
    lines = [f"conformance of {target.description} to the wire contract (rules: {DOCS})"]
    for r in results:
        mark = "SKIP" if r.skipped else "PASS" if r.passed else "FAIL"
        lines.append(f"{mark}  {r.rule:<32} {r.seconds:5.1f} s")
        lines += [f"        {item}" for item in r.evidence]
    passed = len(results) - failed - skipped
    lines.append(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return "\n".join(lines)
