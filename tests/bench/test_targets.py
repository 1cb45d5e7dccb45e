"""Targets come from bench/targets.json and are checked against a run's record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.systems import SYSTEMS
from bench.targets import check_targets, load_targets

RESULTS = Path(__file__).parents[2] / "bench" / "results"


def _record(kind: str = "cpu", flags: list[str] | None = None, **systems: dict) -> dict:
    machine = {"cpus": 2, "cpu": {"model": "x", "flags": flags}} if flags is not None else {}
    return {"device": {"kind": kind}, "machine": machine, "systems": systems}


def _levels(**figures: dict) -> dict:
    return {"levels": {level.removeprefix("c"): m for level, m in figures.items()}}


def test_every_target_names_a_known_system_and_one_bound() -> None:
    keys = {s.key for s in SYSTEMS}
    for target in load_targets():
        assert target["system"] in keys
        assert target.get("of", {}).get("system", target["system"]) in keys


def test_a_bound_with_one_operator_only(tmp_path: Path) -> None:
    bad = {"targets": [{"name": "t", "system": "x", "metric": "m", "at_least": 1, "at_most": 2}]}
    (tmp_path / "t.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="needs one of"):
        load_targets(tmp_path / "t.json")


def test_relative_and_absolute_targets_met_and_missed() -> None:
    targets = [
        {"name": "vs serve", "system": "a", "levels": [16], "metric": "tps", "at_least": 1.0,
         "of": {"system": "b"}},
        {"name": "floor", "system": "a", "levels": [16], "metric": "tps", "at_least": 150},
        {"name": "gpu busy", "system": "a", "metric": "gpu.util_max_pct", "above": 0,
         "devices": ["cuda"]},
    ]  # fmt: skip
    record = _record(a=_levels(c16={"tps": 120.0}), b=_levels(c16={"tps": 100.0}))
    assert check_targets(record, targets) == [
        "- c=16 vs serve: 120 vs 100 (1.20x, target >= 1x) met",
        "- c=16 floor: 120 (target >= 150) MISSED",
    ]  # the cuda-only target does not apply to a cpu run
    gpu = _record("cuda", a={**_levels(c16={"tps": 1.0}), "gpu": {"util_max_pct": 0.0}})
    assert check_targets(gpu, targets[2:]) == ["- gpu busy: 0 (target > 0) MISSED"]


def test_the_ratio_pass_by_pass_beside_the_verdict() -> None:
    """With passes, the line shows each pass's own ratio; the verdict stays the medians'."""
    target = {"name": "vs serve", "system": "a", "levels": [16], "metric": "tps",
              "at_least": 1.03, "of": {"system": "b"}}  # fmt: skip
    a = {**_levels(c16={"tps": 110.0}), "passes": [_levels(c16={"tps": v}) for v in (110, 99, 120)]}
    b = {**_levels(c16={"tps": 100.0}), "passes": [_levels(c16={"tps": v}) for v in (100, 100, 0)]}
    assert check_targets(_record(a=a, b=b), [target]) == [
        "- c=16 vs serve: 110 vs 100 (1.10x, target >= 1.03x) met (per pass: 1.10 / 0.99 / -)"
    ]
    one = _levels(c16={"tps": 100.0})  # measured once: no passes to show
    assert check_targets(_record(a=a, b=one), [target])[0].endswith(") met")


def test_cpu_flag_condition_and_missing_figures() -> None:
    target = {"name": "t", "system": "a", "levels": [16, 64], "metric": "tps", "at_least": 1.5,
              "of": {"system": "b"}, "cpu_lacks": ["avx512_bf16", "amx"]}  # fmt: skip
    systems = {"a": _levels(c16={"tps": 90.0}), "b": _levels(c16={"tps": 31.0})}
    lines = check_targets(_record(flags=["avx2"], **systems), [target])
    assert lines == ["- c=16 t: 90 vs 31 (2.90x, target >= 1.5x) met"]  # c=64 has no figures
    assert check_targets(_record(flags=["avx2", "amx"], **systems), [target]) == []
    assert check_targets(_record(**systems), [target]) == []  # flags not recorded: no verdict


def test_the_recorded_cpu_run_gets_the_verdicts_it_had() -> None:
    record = json.loads((RESULTS / "2026-11-24T11-59-25-cpu.json").read_text())
    lines = check_targets(record, load_targets())
    assert "- c=16 tok/s vs vllm serve: 241.4 vs 232.3 (1.04x, target >= 1.03x) met" in lines
    assert "- c=64 tok/s vs vllm serve: 291.7 vs 297.4 (0.98x, target >= 1.03x) MISSED" in lines
    assert "- c=16 transformers engine tok/s (2-core machine): 14.4 (target >= 150) MISSED" in lines
