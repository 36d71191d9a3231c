"""The coverage judgement, pure and table-driven: event selectors, which trail covers which region (multi-Region, home
Region, an organization trail seen from a member as a shadow trail), the rule (state, pattern, role), reads that were
denied, and the one string that comes out."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.coverage_policy import (
    EVENTS,
    FORWARDER_ROLE,
    FORWARDING_RULE,
    RegionTrails,
    RoleState,
    Rule,
    RuleReading,
    Selectors,
    Trail,
    Unread,
    covers,
    is_gap,
    judge,
    records_management_writes,
    same_pattern,
    unreachable,
)
from chalicelib.events import PATTERN

MEMBER = "222222222222"
MANAGEMENT = "111111111111"
ROLE_ARN = f"arn:aws:iam::{MEMBER}:role/{FORWARDER_ROLE}"


def _field(field: str, **operators: list[str]) -> dict[str, Any]:
    return {"Field": field, **operators}


def _advanced(*fields: dict[str, Any]) -> Selectors:
    return Selectors(advanced=({"Name": "s", "FieldSelectors": list(fields)},))


MANAGEMENT_EVENTS = _field("eventCategory", Equals=["Management"])
SELECTORS: dict[str, tuple[Selectors, bool]] = {
    "none: AWS's default, all management events": (Selectors(), True),
    "basic All": (Selectors(basic=({"ReadWriteType": "All", "IncludeManagementEvents": True},)), True),
    "basic WriteOnly": (Selectors(basic=({"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True},)), True),
    "basic with the defaults left out": (Selectors(basic=({"DataResources": []},)), True),
    "basic ReadOnly": (Selectors(basic=({"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True},)), False),
    "basic data events only": (Selectors(basic=({"ReadWriteType": "All", "IncludeManagementEvents": False},)), False),
    # KMS management events carry the key guard's events (README "The key guard"): leaving them out is a gap.
    "basic excluding kms only": (
        Selectors(basic=({"IncludeManagementEvents": True, "ExcludeManagementEventSources": ["kms.amazonaws.com"]},)),
        False,
    ),
    "basic: one data selector, one management write selector": (
        Selectors(
            basic=(
                {"ReadWriteType": "All", "IncludeManagementEvents": False, "DataResources": [{"Type": "x"}]},
                {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True},
            )
        ),
        True,
    ),
    "advanced Management": (_advanced(MANAGEMENT_EVENTS), True),
    "advanced Management, readOnly false": (_advanced(MANAGEMENT_EVENTS, _field("readOnly", Equals=["false"])), True),
    "advanced Management, readOnly true": (_advanced(MANAGEMENT_EVENTS, _field("readOnly", Equals=["true"])), False),
    "advanced Data only": (_advanced(_field("eventCategory", Equals=["Data"])), False),
    "advanced without eventCategory": (_advanced(_field("readOnly", Equals=["false"])), False),
    "advanced excluding kms": (
        _advanced(MANAGEMENT_EVENTS, _field("eventSource", NotEquals=["kms.amazonaws.com"])),
        False,
    ),
    "advanced excluding xray": (
        _advanced(MANAGEMENT_EVENTS, _field("eventSource", NotEquals=["xray.amazonaws.com"])),
        False,
    ),
    "advanced on another field (proves nothing)": (
        _advanced(MANAGEMENT_EVENTS, _field("eventName", Equals=["PutEncryptionConfig"])),
        False,
    ),
}


@pytest.mark.parametrize("name", list(SELECTORS))
def test_which_selectors_record_management_write_events(name: str) -> None:
    selectors, records = SELECTORS[name]
    assert records_management_writes(selectors) is records


def _trail(**changes: Any) -> Trail:
    values: dict[str, Any] = {
        "arn": f"arn:aws:cloudtrail:us-east-1:{MEMBER}:trail/main",
        "name": "main",
        "home_region": "us-east-1",
        "multi_region": True,
        "logging": True,
    }
    return Trail(**{**values, **changes})


ORG_TRAIL = _trail(arn=f"arn:aws:cloudtrail:us-east-1:{MANAGEMENT}:trail/org", name="org", organization=True)


@pytest.mark.parametrize(
    ("trail", "region", "covered"),
    [
        (_trail(), "eu-west-1", True),
        (_trail(multi_region=False), "us-east-1", True),
        (_trail(multi_region=False), "eu-west-1", False),
        (ORG_TRAIL, "ap-southeast-2", True),  # the organization's trail, a shadow trail in the member
    ],
)
def test_which_regions_a_trail_covers(trail: Trail, region: str, covered: bool) -> None:
    assert covers(trail, region) is covered


def _rule(**changes: Any) -> Rule:
    values: dict[str, Any] = {
        "name": FORWARDING_RULE,
        "state": "ENABLED",
        "pattern": json.dumps(PATTERN),
        "role_arn": ROLE_ARN,
        "role": RoleState.EXISTS,
    }
    return Rule(**{**values, **changes})


FORWARDING = RuleReading(forwarding=True, rules=(_rule(),))
LOGGING = RegionTrails((_trail(),))
CASES: dict[str, tuple[RuleReading, RegionTrails, str]] = {
    "rule and a logging multi-region trail": (FORWARDING, LOGGING, EVENTS),
    "the organization trail seen from the member": (FORWARDING, RegionTrails((ORG_TRAIL,)), EVENTS),
    "a rule in the central region (no role needed)": (
        RuleReading(forwarding=False, rules=(_rule(name="xray-guard-prod-OnXray", role_arn=None, role=None),)),
        LOGGING,
        EVENTS,
    ),
    "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS": (
        RuleReading(True, (_rule(state="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"),)),
        LOGGING,
        EVENTS,
    ),
    "no rule": (RuleReading(True), LOGGING, "sweep-only: no forwarding rule"),
    "no responder rule": (RuleReading(False), LOGGING, "sweep-only: no responder rule"),
    "rule disabled": (
        RuleReading(True, (_rule(state="DISABLED"),)),
        LOGGING,
        f"sweep-only: forwarding rule {FORWARDING_RULE} DISABLED",
    ),
    "another pattern": (
        RuleReading(True, (_rule(pattern=json.dumps({"source": ["aws.xray"]})),)),
        LOGGING,
        f"sweep-only: forwarding rule {FORWARDING_RULE} has another event pattern",
    ),
    "no role on the target": (
        RuleReading(True, (_rule(role_arn=None, role=None),)),
        LOGGING,
        f"sweep-only: forwarding rule {FORWARDING_RULE} has no target role",
    ),
    "role deleted": (
        RuleReading(True, (_rule(role=RoleState.MISSING),)),
        LOGGING,
        f"sweep-only: forwarding role {FORWARDER_ROLE} missing",
    ),
    "one good rule among bad ones": (
        RuleReading(True, (_rule(name="a-disabled", state="DISABLED"), _rule())),
        LOGGING,
        EVENTS,
    ),
    "the StackSet's rule is reported on a tie": (
        RuleReading(True, (_rule(name="aaa", state="DISABLED"), _rule(state="DISABLED"))),
        LOGGING,
        f"sweep-only: forwarding rule {FORWARDING_RULE} DISABLED",
    ),
    "no trail": (FORWARDING, RegionTrails(), "sweep-only: no CloudTrail trail"),
    "trail stopped": (FORWARDING, RegionTrails((_trail(logging=False),)), "sweep-only: trail main not logging"),
    "single-region trail of another region": (
        FORWARDING,
        RegionTrails((_trail(multi_region=False, home_region="us-west-2"),)),
        "sweep-only: no CloudTrail trail",
    ),
    "trail logging reads only": (
        FORWARDING,
        RegionTrails((_trail(selectors=Selectors(basic=({"ReadWriteType": "ReadOnly"},))),)),
        "sweep-only: trail main records no management write events",
    ),
    "one logging trail among stopped ones": (
        FORWARDING,
        RegionTrails((_trail(name="old", arn="arn:old", logging=False), _trail())),
        EVENTS,
    ),
    "both missing": (RuleReading(True), RegionTrails(), "sweep-only: no forwarding rule; no CloudTrail trail"),
    "rule list denied": (
        RuleReading(True, unread=Unread.from_error("ListRuleNamesByTarget", "AccessDeniedException")),
        LOGGING,
        "unknown: ListRuleNamesByTarget denied",
    ),
    "role read denied": (
        RuleReading(True, (_rule(role=Unread.from_error("GetRole", "AccessDenied")),)),
        LOGGING,
        "unknown: GetRole denied",
    ),
    "a disabled rule's role need not be read": (
        RuleReading(True, (_rule(state="DISABLED", role=Unread.from_error("GetRole", "AccessDenied")),)),
        LOGGING,
        f"sweep-only: forwarding rule {FORWARDING_RULE} DISABLED",
    ),
    "trail status denied": (
        FORWARDING,
        RegionTrails((_trail(logging=Unread.from_error("GetTrailStatus", "AccessDeniedException")),)),
        "unknown: GetTrailStatus denied",
    ),
    "selectors throttled": (
        FORWARDING,
        RegionTrails((_trail(selectors=Unread.from_error("GetEventSelectors", "ThrottlingException")),)),
        "unknown: GetEventSelectors failed (ThrottlingException)",
    ),
    "a definite gap with an unknown": (
        RuleReading(True),
        RegionTrails(unread=Unread.from_error("DescribeTrails", "AccessDeniedException")),
        "sweep-only: no forwarding rule; DescribeTrails denied",
    ),
    "the responder function not configured": (
        RuleReading(False, unread=Unread("XRAY_GUARD_RESPONDER_FUNCTION not set")),
        LOGGING,
        "unknown: XRAY_GUARD_RESPONDER_FUNCTION not set",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_coverage_of_a_region(name: str) -> None:
    rules, trails, expected = CASES[name]
    coverage = judge("eu-west-1", rules, trails, PATTERN)
    assert coverage == expected
    assert is_gap(coverage) is (expected != EVENTS)
    assert coverage == EVENTS or coverage.startswith(("sweep-only: ", "unknown: "))


def test_patterns_compare_as_json_in_any_order() -> None:
    shuffled = dict(reversed(list(copy.deepcopy(PATTERN).items())))
    shuffled["$or"].reverse()
    names = shuffled["$or"][-1]["detail"]["eventName"]
    names.reverse()
    assert json.dumps(shuffled) != json.dumps(PATTERN)
    assert same_pattern(json.dumps(shuffled), PATTERN)
    fewer = {**PATTERN, "$or": PATTERN["$or"][:1]}
    assert not same_pattern(json.dumps(fewer), PATTERN)
    assert not same_pattern("{not json", PATTERN)
    assert not same_pattern(None, PATTERN)


def test_an_account_that_could_not_be_checked_has_unknown_coverage() -> None:
    assert unreachable("AssumeRole", "AccessDenied") == "unknown: AssumeRole denied"
    assert unreachable("ListRegions", "Throttling") == "unknown: ListRegions failed (Throttling)"
    assert is_gap(unreachable("AssumeRole", "AccessDenied"))
    assert not is_gap(None)
