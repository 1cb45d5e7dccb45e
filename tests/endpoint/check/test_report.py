"""`check` passes our container directly and through the emulator, and names exactly the rules
that another server's framing breaks."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from local_sagemaker import emulator_for, reframing_proxy, serve_app

from sagemaker_openai.cli import main
from sagemaker_openai.endpoint.check.report import RULES, run_check
from sagemaker_openai.endpoint.client import EndpointClient
from sagemaker_openai.endpoint.exchange import ContainerTarget, EndpointTarget

DOCS = Path(__file__).parents[3] / "docs" / "check.md"


def _failed(results) -> dict[str, list[str]]:
    return {r.rule: r.evidence for r in results if not r.passed}


def test_every_contract_section_has_rules() -> None:
    families = {rule.family for rule in RULES}  # one per section of the contract it checks
    assert {"request", "response", "stream", "tools", "models", "error", "reasoning"} <= families
    assert len({rule.name for rule in RULES}) == len(RULES) >= 30


def test_docs_describe_exactly_the_rules_the_check_runs() -> None:
    documented = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", DOCS.read_text(), re.MULTILINE)
    assert documented == [rule.name for rule in RULES]  # same names, in the report's order


def test_check_passes_our_container_by_url(demo_server) -> None:
    results = run_check(ContainerTarget(demo_server.url))
    assert _failed(results) == {}
    assert not any(r.skipped for r in results)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vllm is not installed")
def test_check_passes_our_container_on_the_vllm_engine(serve_demo) -> None:
    """`make serve`'s engine (eager: it starts in half the time, and answers the same)."""
    results = run_check(ContainerTarget(serve_demo("vllm", "--enforce-eager").url))
    assert _failed(results) == {}
    assert not any(r.skipped for r in results)


def test_check_passes_our_endpoint_through_the_emulator(demo_server) -> None:
    with emulator_for(demo_server.url, endpoint_names=("chat",)) as url:
        results = run_check(EndpointTarget(EndpointClient("chat", endpoint_url=url)))
    assert _failed(results) == {}


def test_check_names_exactly_what_an_sse_server_breaks(demo_server) -> None:
    with serve_app(reframing_proxy(demo_server.url, "sse")) as url:
        failed = _failed(run_check(ContainerTarget(url)))
    assert set(failed) == {"stream.content_type", "stream.jsonl_framing"}
    assert "text/event-stream" in failed["stream.content_type"][0]
    assert "data: " in failed["stream.jsonl_framing"][0]


def test_check_names_exactly_what_merged_writes_break(demo_server, capsys) -> None:
    with serve_app(reframing_proxy(demo_server.url, "merge")) as url:
        code = main(["check", "--url", url, "--json", "--rule", "stream."])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    failed = {row["rule"]: row["evidence"] for row in report["results"] if not row["passed"]}
    assert set(failed) == {"stream.one_object_per_part"}
    assert "2 lines" in failed["stream.one_object_per_part"][0]
    assert all(row["rule"].startswith("stream.") for row in report["results"])


def test_check_wants_exactly_one_target(capsys) -> None:
    assert main(["check"]) == 2
    with pytest.raises(ValueError, match="http://host:port"):
        ContainerTarget("https://example.com")
