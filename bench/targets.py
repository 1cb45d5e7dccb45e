"""The benchmark's targets (targets.json), checked against one run's record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGETS = Path(__file__).with_name("targets.json")
BOUNDS = {"at_least": ">=", "at_most": "<=", "above": ">"}


def load_targets(path: Path = TARGETS) -> list[dict[str, Any]]:
    targets = json.loads(path.read_text())["targets"]
    if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
        raise ValueError(f"{path}: 'targets' must be a list of objects")
    for target in targets:
        if sum(key in target for key in BOUNDS) != 1:
            raise ValueError(f"{path}: target {target.get('name')!r} needs one of {list(BOUNDS)}")
    return targets


def check_targets(record: dict[str, Any], targets: list[dict[str, Any]]) -> list[str]:
    """One line per target that applies to this run and has its figures (others are left out)."""
    lines = []
    for target in targets:
        if not _applies(target, record):
            continue
        for level in target.get("levels", [None]):
            line = _check(target, level, record["systems"])
            if line:
                lines.append(line)
    return lines


def _applies(target: dict[str, Any], record: dict[str, Any]) -> bool:
    kind = record.get("device", {}).get("kind", "cpu")  # results before devices were all CPU
    if kind not in target.get("devices", [kind]):
        return False
    flags = record.get("machine", {}).get("cpu", {}).get("flags")
    lacks = target.get("cpu_lacks")
    # flags unrecorded: cannot tell, so no verdict
    return not (lacks and (flags is None or any(f in flags for f in lacks)))


def _check(target: dict[str, Any], level: int | None, systems: dict[str, Any]) -> str | None:
    ((bound, factor),) = ((k, target[k]) for k in BOUNDS if k in target)
    value = _metric(systems, target["system"], level, target["metric"])
    of = target.get("of")
    reference, theirs = None, None
    if of is not None:  # (system, level, metric): the target's own where `of` names none
        theirs = (of.get("system", target["system"]), of.get("level", level),
                  of.get("metric", target["metric"]))  # fmt: skip
        reference = _metric(systems, *theirs)
    if value is None or (of is not None and not reference):
        return None
    limit = factor * reference if reference else factor
    ok = {"at_least": value >= limit, "at_most": value <= limit, "above": value > limit}[bound]
    where = f"c={level} " if level is not None else ""
    versus = (
        f"{value:g} vs {reference:g} ({value / reference:.2f}x, " if reference else f"{value:g} ("
    )
    line = (
        f"- {where}{target['name']}: {versus}target {BOUNDS[bound]} {factor:g}"
        f"{'x' if reference else ''}) {'met' if ok else 'MISSED'}"
    )
    if theirs is not None and level is not None:
        line += _per_pass(systems, (target["system"], level, target["metric"]), theirs)
    return line


Figure = tuple[str, int | None, str]  # (system, level, metric)


def _per_pass(systems: dict[str, Any], mine: Figure, theirs: Figure) -> str:
    """The ratio pass by pass, where both sides were measured in the same passes: with the
    systems measured in turn (--interleave), each pass's two figures are minutes apart."""
    passes = [systems.get(key, {}).get("passes") for key, _, _ in (mine, theirs)]
    if not passes[0] or not passes[1] or len(passes[0]) != len(passes[1]):
        return ""
    ratios = []
    for p, q in zip(*passes, strict=True):
        a, b = _figure(p, *mine[1:]), _figure(q, *theirs[1:])
        ratios.append(f"{a / b:.2f}" if a is not None and b else "-")
    return f" (per pass: {' / '.join(ratios)})"


def _metric(systems: dict[str, Any], key: str, level: int | None, name: str) -> float | None:
    """A level's figure, or (level None) the system's own: `gpu.util_max_pct`."""
    return _figure(systems.get(key, {}), level, name)


def _figure(node: Any, level: int | None, name: str) -> float | None:
    """A figure of one result (a system's, or one of its passes')."""
    if level is not None:
        node = node.get("levels", {}).get(str(level), {})
    for part in name.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, (int, float)) and not isinstance(node, bool) else None
