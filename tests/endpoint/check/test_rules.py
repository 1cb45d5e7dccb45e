"""Each rule added for issue 21 holds against a right server and fails against one that breaks
it in the way the rule names (a stand-in server, tests/endpoint/check/standin.py)."""

from __future__ import annotations

import pytest
from standin import FAULTS, StandIn

from sagemaker_openai.endpoint.check.report import RULES, format_report, run_check
from sagemaker_openai.endpoint.exchange import ContainerTarget, EndpointTarget, OpenAIRouteTarget

BROKEN_BY = {  # rule -> the faults that must fail it
    "request.seed": ["seed_ignored"],
    "response.usage": ["cached_over_prompt", "total_not_sum"],
    "response.n_choices": ["n_ignored"],
    "stream.created_constant": ["created_per_chunk"],
    "stream.usage_when_asked": ["cached_over_prompt", "total_not_sum"],
    "stream.n_choices": ["n_ignored"],
    "tools.later_deltas": ["heads_repeated"],
    "tools.parallel_calls": ["parallel_ignored", "indices_skip"],
    "tools.schema_features": ["union_refused", "schema_ignored"],
    "tools.tool_choice_null": ["null_tool_choice_refused"],
    "models.list": ["models_unlisted"],
    "models.retrieve": ["no_retrieve", "models_unlisted"],
}
CASES = [(rule, fault) for rule, faults in BROKEN_BY.items() for fault in faults]


def _result(target: object, rule: str):
    [result] = [r for r in run_check(target, [rule]) if r.rule == rule]  # type: ignore[arg-type]
    return result


def test_every_fault_is_used_and_every_rule_exists() -> None:
    assert {f for faults in BROKEN_BY.values() for f in faults} == set(FAULTS)
    assert set(BROKEN_BY) <= {rule.name for rule in RULES}


@pytest.mark.parametrize("rule", sorted(BROKEN_BY))
def test_the_rule_holds_against_a_right_server(rule: str) -> None:
    result = _result(StandIn(), rule)
    assert result.passed and not result.skipped, result.evidence


@pytest.mark.parametrize(("rule", "fault"), CASES)
def test_the_rule_fails_against_the_fault_it_names(rule: str, fault: str) -> None:
    result = _result(StandIn(fault), rule)
    assert not result.passed and result.evidence, f"{rule} passed a server with {FAULTS[fault]}"


def test_model_routes_are_skipped_where_sagemaker_cannot_reach_them() -> None:
    from sagemaker_openai.endpoint.client import EndpointClient

    endpoint = EndpointTarget(EndpointClient("chat", endpoint_url="http://127.0.0.1:9"))
    route = OpenAIRouteTarget("http://127.0.0.1:9/openai/v1", "token")
    for target in (endpoint, route):
        results = run_check(target, ["models."])
        assert [r.rule for r in results] == ["models.list", "models.retrieve"]
        assert all(r.skipped and r.passed for r in results)  # skipped, not failed
        assert "SKIP  models.list" in format_report(results, target, as_json=False)
    assert isinstance(route, ContainerTarget)  # yet its POSTs still go out (stream rules)
