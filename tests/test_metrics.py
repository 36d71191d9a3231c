"""Metrics without code: the central template's metric filters count what the decision log lines say. The filters
are evaluated here by a small interpreter of the subset of the CloudWatch Logs JSON filter-pattern syntax they use
("Filter pattern syntax for metric filters", CloudWatch Logs user guide: `{ $.key = "value" }`, `&&`, a `*`
wildcard in a string value), against the lines a real drift and revert write."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import APPROVED_ALIAS, CENTRAL, MEMBER, World, load_event
from tests.test_hostile_input import captured_log
from tests.test_iam import allows, function_policy, handler_names

ROOT = Path(__file__).parents[1]
_TERM = re.compile(r'\(?\s*\$\.([A-Za-z_]+)\s*(=|!=)\s*"([^"]*)"\s*\)?')


def matches(pattern: str, line: dict[str, Any]) -> bool:
    body = pattern.strip()
    assert body.startswith("{"), pattern
    assert body.endswith("}"), pattern
    terms = [t.strip() for t in body[1:-1].split("&&")]
    for term in terms:
        found = _TERM.fullmatch(term)
        assert found, f"unsupported term {term!r}"
        key, op, value = found.groups()
        regex = "^" + ".*".join(re.escape(part) for part in value.split("*")) + "$"
        hit = isinstance(line.get(key), str) and re.match(regex, line[key]) is not None
        if hit != (op == "="):
            return False
    return True


def metric_filters() -> dict[str, str]:
    resources = json.loads((ROOT / "infra" / "central.json").read_text())["Resources"]
    return {
        r["Properties"]["MetricTransformations"][0]["MetricName"]: r["Properties"]["FilterPattern"]
        for r in resources.values()
        if r.get("Type") == "AWS::Logs::MetricFilter"
    }


def test_every_function_logs_to_the_filtered_group() -> None:
    resources = json.loads((ROOT / "infra" / "central.json").read_text())["Resources"]
    for function in ("OnXrayEncryptionChange", "ScheduledSweep", "SweepAccount", "SweepAccountFailed"):
        assert resources[function]["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": "DecisionLog"}
    assert {r["Properties"]["LogGroupName"]["Ref"] for r in resources.values()
            if r.get("Type") == "AWS::Logs::MetricFilter"} == {"DecisionLog"}  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("revert", {"Drifts": 1, "Reverts": 1}), ("alert", {"Drifts": 1})],
)
def test_filters_count_a_real_drift(world: World, mode: str, expected: dict[str, int]) -> None:
    world.create_key()
    world.put(Type="NONE")
    topic, _ = world.alert_inbox()
    with captured_log() as log:
        world.responder(topic, XRAY_GUARD_MODE=mode).on_event(load_event("console-change-to-none.json"))
    lines = [json.loads(line) for line in log.getvalue().splitlines()]

    counts = {name: sum(matches(p, line) for line in lines) for name, p in metric_filters().items()}

    assert {k: v for k, v in counts.items() if v} == expected


def test_filters_count_failures_and_suppressions() -> None:
    lines: list[dict[str, Any]] = [
        {"kind": "decision", "decision": "drift-none", "outcome": "revert-failed"},
        {"kind": "decision", "decision": "error", "outcome": "error"},
        {"kind": "alert-suppressed", "account": "222222222222"},
        {"kind": "decision", "decision": "compliant", "outcome": "compliant"},
        {"kind": "coverage", "account": "222222222222", "gaps": {}},
    ]
    counts = {name: sum(matches(p, line) for line in lines) for name, p in metric_filters().items()}
    assert counts == {
        "Drifts": 1, "Reverts": 0, "FailedReverts": 1, "SuppressedAlerts": 1, "Errors": 1, "CoverageGaps": 0
    }  # fmt: skip


def test_the_coverage_gap_filter_counts_each_gap_of_a_sweep_once_an_unreachable_account_included(world: World) -> None:
    covered = ("eu-west-1", "us-east-1")
    for region in covered:
        world.create_key(MEMBER, region)
        world.put(MEMBER, region, Type="KMS", KeyId=APPROVED_ALIAS)
    unreachable = "444444444444"
    world.aws.set_faults(fail=[f"sts:AssumeRole@{unreachable}=AccessDenied"])
    with captured_log() as log:
        # No forwarding rule and no trail: both regions of the member are gaps; the other account is one ("*").
        run = world.sweep(f"{MEMBER},{unreachable}", ",".join(covered), XRAY_GUARD_MODE="alert")
    lines = [json.loads(line) for line in log.getvalue().splitlines()]

    counts = {name: sum(matches(p, line) for line in lines) for name, p in metric_filters().items()}

    gaps = sorted((g["account"], g["region"]) for g in run.digest["coverage_gaps"])
    assert gaps == sorted([*((MEMBER, r) for r in covered), (unreachable, "*")])
    assert counts["CoverageGaps"] == len(gaps)
    assert counts["Drifts"] == 0


@pytest.mark.parametrize("function", handler_names())
def test_each_function_may_write_the_decision_log(function: str) -> None:
    group = f"arn:aws:logs:eu-west-1:{CENTRAL}:log-group:/xray-guard/xray-guard-prod"
    assert allows(function_policy(function), "logs:PutLogEvents", f"{group}:log-stream:2026/11/28/[$LATEST]abc")
    assert not allows(function_policy(function), "logs:PutLogEvents", f"{group.replace('/xray-guard/', '/other/')}:x")
