"""The second trace store, without AWS: its classification (table-driven), the shared event pattern (evaluated by
moto's EventBridge pattern engine), and the parsing of each event form."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain import KeyInfo, MissingKey, SpansDestination, SpansState, Verdict
from chalicelib.events import PATTERN, parse_change
from chalicelib.policy import classify_spans
from localaws import moto_bridge
from tests.conftest import load_event

APPROVED = "arn:aws:kms:eu-west-1:222222222222:key/11111111-2222-4333-8444-555555555555"
OTHER = "arn:aws:kms:eu-west-1:222222222222:key/99999999-2222-4333-8444-555555555555"
GOOD = KeyInfo(APPROVED, "Enabled", "CUSTOMER", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
CWL, XRAY = SpansDestination.CLOUDWATCH_LOGS, SpansDestination.XRAY


def _spans(
    destination: SpansDestination, *, read: bool = True, exists: bool = True, key: str | None = None
) -> SpansState:
    return SpansState(destination, "ACTIVE", group_read=read, group_exists=exists, key_arn=key)


@pytest.mark.parametrize(
    ("spans", "approved", "verdict", "fix_dormant"),
    [
        (_spans(CWL, key=APPROVED), GOOD, Verdict.COMPLIANT, False),
        (_spans(CWL, key=None), GOOD, Verdict.DRIFT_SPANS_UNENCRYPTED, False),
        (_spans(CWL, key=OTHER), GOOD, Verdict.DRIFT_SPANS_OTHER_KEY, False),
        (_spans(CWL, exists=False), GOOD, Verdict.COMPLIANT, False),  # not created yet
        (_spans(XRAY, read=False, exists=False), GOOD, Verdict.COMPLIANT, False),  # Transaction Search off
        (_spans(XRAY, key=None), GOOD, Verdict.COMPLIANT, True),  # dormant store without the key
        (_spans(XRAY, key=OTHER), GOOD, Verdict.COMPLIANT, True),
        (_spans(XRAY, key=APPROVED), GOOD, Verdict.COMPLIANT, False),
        (SpansState(SpansDestination.UNAVAILABLE, None), GOOD, Verdict.COMPLIANT, False),
        (SpansState(SpansDestination.UNAVAILABLE, None), MissingKey("alias/x"), Verdict.COMPLIANT, False),
        (_spans(CWL, key=None), MissingKey("alias/x"), Verdict.KEY_UNUSABLE, False),
    ],
)
def test_classify_spans(spans: SpansState, approved: KeyInfo | MissingKey, verdict: Verdict, fix_dormant: bool) -> None:
    assessment = classify_spans(spans, approved)
    assert (assessment.verdict, assessment.fix_dormant) == (verdict, fix_dormant)
    assert assessment.reason
    assert (assessment.unusable is not None) is (verdict is Verdict.KEY_UNUSABLE)


def _matches(event: dict[str, Any]) -> bool:
    return moto_bridge.event_pattern_matches(PATTERN, event)


SPANS_EVENTS = [
    "transaction-search-enabled.json",
    "spans-key-disassociated.json",
    "spans-key-associated-by-arn.json",
    "spans-log-group-deleted.json",
    "spans-log-group-created.json",
]


@pytest.mark.parametrize("fixture", ["console-change-to-none.json", *SPANS_EVENTS])
def test_each_event_form_matches_the_pattern_and_parses_as_a_spans_change(fixture: str) -> None:
    event = load_event(fixture)
    assert _matches(event)
    change = parse_change(event)
    assert change.about_spans is (fixture != "console-change-to-none.json")
    assert not change.about_other_log_group


def test_resource_identifier_with_a_trailing_star_names_aws_spans() -> None:
    event = load_event("spans-key-associated-by-arn.json")
    event["detail"]["requestParameters"]["resourceIdentifier"] += ":*"
    assert _matches(event)
    assert parse_change(event).log_group == "aws/spans"


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda d: d["requestParameters"].update(logGroupName="/app/orders"), "another log group"),
        (lambda d: d["requestParameters"].update(logGroupName="aws/spans-archive"), "a prefix is not the group"),
        (lambda d: d.update(eventName="PutRetentionPolicy"), "a call that does not change the key"),
        (lambda d: d.update(eventName="CreateExportTask"), "a call that does not change the key"),
    ],
)
def test_other_log_group_calls_do_not_match(mutate: Any, why: str) -> None:
    event = load_event("spans-key-disassociated.json")
    mutate(event["detail"])
    assert not _matches(event), why


def test_other_log_group_reaching_the_handler_is_recognised() -> None:
    event = load_event("other-log-group-key-disassociated.json")
    assert not _matches(event)
    assert parse_change(event).about_other_log_group
