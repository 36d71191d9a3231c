"""The alert: one finding rendered for Slack (Amazon Q Developer custom notification), email and machines."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from chalicelib.domain import EncryptionState, EncryptionStatus, EncryptionType, Outcome, Verdict
from chalicelib.events import parse_change
from chalicelib.findings import SCHEMA, Finding
from chalicelib.notify import digest_message, finding_message, render_email
from tests.conftest import load_event

KEY = "arn:aws:kms:eu-west-1:222222222222:key/11111111-2222-4333-8444-555555555555"


def _finding(**changes: object) -> Finding:
    change = parse_change(load_event("console-change-to-none.json"))
    base = Finding(
        trigger="event",
        account=change.account,
        region=change.region,
        verdict=Verdict.DRIFT_NONE,
        reason="X-Ray uses the AWS-owned key (Type NONE)",
        outcome=Outcome.REVERTED,
        mode="revert",
        before=EncryptionState(EncryptionType.NONE, EncryptionStatus.ACTIVE),
        after=EncryptionState(EncryptionType.KMS, EncryptionStatus.ACTIVE, KEY),
        approved_key_ref="alias/xray-encryption",
        approved_key_arn=KEY,
        observed_at="2026-11-28T03:12:51+00:00",
        detail="verified by re-read",
        actor=change.actor,
        event_id=change.event_id,
        cloudtrail_event_id=change.cloudtrail_event_id,
        event_time=change.event_time,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


OUTCOMES = [
    {"outcome": Outcome.REVERTED},
    {"outcome": Outcome.ALERTED, "mode": "alert", "after": None},
    {"outcome": Outcome.REVERT_FAILED, "detail": "xray:PutEncryptionConfig failed: ThrottledException"},
    {"outcome": Outcome.ALERTED, "verdict": Verdict.KEY_UNUSABLE, "reason": "approved key cannot be used"},
    {"outcome": Outcome.ALERTED, "exempt_actor": True},
]


@pytest.mark.parametrize("changes", OUTCOMES)
def test_every_rendering_names_the_event_and_the_actor(changes: dict[str, object]) -> None:
    finding = _finding(**changes)
    message = finding_message(finding)
    assert set(message.message) == {"default", "email", "sqs", "lambda"}
    for rendering in message.message.values():
        assert "a1b2c3d4-0001-4e5f-8a9b-0c1d2e3f4a5b" in rendering
        assert "assumed-role/AWSReservedSSO_Developer_0123456789abcdef/jane.doe@example.com" in rendering


@pytest.mark.parametrize("changes", OUTCOMES)
def test_subject_is_short_ascii_and_informative(changes: dict[str, object]) -> None:
    subject = finding_message(_finding(**changes)).subject
    assert len(subject) <= 100
    assert subject.isascii()
    assert "222222222222" in subject
    assert "eu-west-1" in subject


def test_chatbot_custom_notification_shape() -> None:
    chatbot = json.loads(finding_message(_finding()).message["default"])
    assert chatbot["version"] == "1.0"
    assert chatbot["source"] == "custom"
    assert chatbot["content"]["textType"] == "client-markdown"
    assert chatbot["content"]["title"]
    assert "222222222222" in chatbot["content"]["description"]
    assert chatbot["content"]["title"].startswith(":white_check_mark: [LOW] ")
    assert any("aws xray get-encryption-config" in step for step in chatbot["content"]["nextSteps"])


def test_email_reads_at_3am() -> None:
    email = render_email(_finding())
    for expected in [
        "account 222222222222, region eu-west-1",
        "via Console",
        "source IP 203.0.113.10",
        "Changed:  2026-11-28T03:12:45Z (CloudTrail eventTime)",
        "Found:    NONE (AWS-owned key), ACTIVE",
        f"Now:      KMS {KEY}, ACTIVE",
        "Verified: yes (re-read after the revert)",
        "To check by hand",
        "aws xray get-encryption-config --region eu-west-1",
    ]:
        assert expected in email
    assert "put-encryption-config" not in email  # already fixed: no redundant write suggested


def test_alert_only_email_offers_the_fix_and_says_nothing_changed() -> None:
    email = render_email(_finding(outcome=Outcome.ALERTED, mode="alert"))
    assert "Verified: n/a (xray-guard changed nothing)" in email
    assert f"aws xray put-encryption-config --type KMS --key-id {KEY} --region eu-west-1" in email


def test_break_glass_email_does_not_tell_on_call_to_undo_the_incident_response() -> None:
    email = render_email(_finding(outcome=Outcome.ALERTED, exempt_actor=True))
    assert "Only if the change was NOT intended" in email


def test_failed_revert_never_reads_as_verified() -> None:
    email = render_email(_finding(outcome=Outcome.REVERT_FAILED, detail="still UPDATING after 120s"))
    assert "Verified: NO (the revert could not be verified)" in email
    assert "could NOT verify" in email
    assert "put-encryption-config --type KMS" in email


def test_machine_rendering_is_versioned_and_attributes_filterable() -> None:
    message = finding_message(_finding())
    machine = json.loads(message.message["sqs"])
    assert machine["schema"] == SCHEMA
    assert (machine["verdict"], machine["outcome"], machine["verified"]) == ("drift-none", "reverted", True)
    assert {k: v["StringValue"] for k, v in message.attributes.items()} == {
        "severity": "low",
        "account": "222222222222",
        "region": "eu-west-1",
        "outcome": "reverted",
    }


def test_digest_counts_table_and_failed_accounts() -> None:
    bad = _finding(trigger="sweep", actor=None, event_id=None, cloudtrail_event_id=None).to_json()
    results: dict[str, dict[str, Any]] = {
        "222222222222": {"counts": {"compliant": 16, "drift-none": 1}, "non_compliant": [bad], "error": None},
        "444444444444": {"counts": {}, "non_compliant": [], "error": "AccessDenied on sts:AssumeRole"},
    }
    message = digest_message("20261128T000000Z-abc", results)
    assert len(message.subject) <= 100
    assert "1 of 17 regions found non-compliant, 1 reverted, 1 account(s) failed" in message.subject
    email = message.message["email"]
    assert "222222222222  eu-west-1        drift-none         reverted" in email
    assert "444444444444: AccessDenied on sts:AssumeRole" in email
    machine = json.loads(message.message["sqs"])
    assert machine["counts"] == {"compliant": 16, "drift-none": 1}
    assert machine["failed_accounts"] == {"444444444444": "AccessDenied on sts:AssumeRole"}


def test_huge_digest_stays_under_the_sns_limit() -> None:
    row = _finding(trigger="sweep").to_json()
    results = {
        f"{i:012d}": {"counts": {"drift-none": 17}, "non_compliant": [row] * 17, "error": None} for i in range(1000)
    }
    message = digest_message("big", results)
    total = len(json.dumps(message.message).encode())
    assert total < 256 * 1024
    assert json.loads(message.message["sqs"])["omitted"] > 0
