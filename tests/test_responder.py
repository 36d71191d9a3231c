"""End to end over localaws: a real-shaped CloudTrail event → re-read → decision → verified revert or alert."""

from __future__ import annotations

import pytest

from chalicelib.errors import RemediationFailed
from tests.conftest import APPROVED_ALIAS, CENTRAL, MEMBER, MEMBER_REGION, World, load_event


def test_console_change_to_none_is_reverted_verified_and_alerted(world: World) -> None:
    key = world.create_key()
    world.put(Type="NONE")
    topic, inbox = world.alert_inbox()
    world.aws.app.calls.clear()

    summary = world.responder(topic).on_event(load_event("console-change-to-none.json"))
    ops = world.ops()

    assert summary["decision"] == "drift-none"
    assert summary["outcome"] == "reverted"
    assert world.encryption() == {"Type": "KMS", "KeyId": key, "Status": "ACTIVE"}
    [alert] = world.alerts(inbox)
    assert alert["outcome"] == "reverted"
    assert alert["verified"] is True
    assert alert["before"] == {"type": "NONE", "key_id": None, "status": "ACTIVE"}
    assert alert["after"] == {"type": "KMS", "key_id": key, "status": "ACTIVE"}
    assert alert["cloudtrail_event_id"] == "a1b2c3d4-0001-4e5f-8a9b-0c1d2e3f4a5b"
    assert alert["actor"]["principal_arn"].endswith(
        ":role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Developer_0123456789abcdef"
    )
    assert ops.count("xray:PutEncryptionConfig") == 1
    # Floor: Get, DescribeKey, Put, poll(s), Publish (+ the one AssumeRole into the member account).
    assert ops[0] == "sts:AssumeRole"
    assert ops[1:4] == ["xray:GetEncryptionConfig", "kms:DescribeKey", "xray:PutEncryptionConfig"]
    assert ops[-1] == "sns:Publish"


def test_duplicate_delivery_after_a_revert_is_silent_and_costs_one_read(world: World) -> None:
    world.create_key()
    world.put(Type="NONE")
    topic, inbox = world.alert_inbox()
    responder = world.responder(topic)
    responder.on_event(load_event("console-change-to-none.json"))
    world.alerts(inbox)
    world.aws.app.calls.clear()

    summary = responder.on_event(load_event("console-change-to-none.json"))
    ops = world.ops()

    assert summary["outcome"] == "compliant"
    assert world.alerts(inbox) == []
    # Warm: credentials and the key ARN are cached; both stores are read (Transaction Search off: no log group read).
    assert ops == ["xray:GetEncryptionConfig", "xray:GetTraceSegmentDestination"]


def test_alert_mode_reports_and_changes_nothing(world: World) -> None:
    world.create_key()
    world.put(Type="NONE")
    topic, inbox = world.alert_inbox()
    world.aws.app.calls.clear()

    summary = world.responder(topic, XRAY_GUARD_MODE="alert").on_event(load_event("console-change-to-none.json"))

    assert summary["outcome"] == "alerted"
    assert world.encryption()["Type"] == "NONE"
    assert world.calls("PutEncryptionConfig") == []
    [alert] = world.alerts(inbox)
    assert (alert["verdict"], alert["severity"], alert["mode"]) == ("drift-none", "high", "alert")


def test_break_glass_principal_is_alerted_never_reverted(world: World) -> None:
    world.create_key()
    world.put(Type="NONE")
    topic, inbox = world.alert_inbox()
    responder = world.responder(topic, XRAY_GUARD_EXEMPT_PRINCIPALS="arn:aws:iam::*:role/SecurityBreakGlass")
    world.aws.app.calls.clear()

    summary = responder.on_event(load_event("break-glass-change-to-none.json"))

    assert summary["outcome"] == "alerted"
    assert world.calls("PutEncryptionConfig") == []
    [alert] = world.alerts(inbox)
    assert alert["exempt_actor"] is True
    assert alert["actor"]["arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/SecurityBreakGlass/incident-4711"


@pytest.mark.parametrize("fixture", ["failed-call-access-denied.json", "own-echo.json"])
def test_failed_calls_and_own_echo_cost_zero_aws_calls(world: World, fixture: str) -> None:
    topic, _ = world.alert_inbox()
    responder = world.responder(topic)
    world.aws.app.calls.clear()

    summary = responder.on_event(load_event(fixture))

    assert summary["decision"] in {"skipped-failed-call", "skipped-own-echo"}
    assert world.calls() == []


@pytest.mark.parametrize("fixture", ["other-service.json", "malformed.json"])
def test_foreign_or_malformed_events_are_rejected_with_a_reason_and_no_call(world: World, fixture: str) -> None:
    topic, _ = world.alert_inbox()
    responder = world.responder(topic)
    world.aws.app.calls.clear()

    summary = responder.on_event(load_event(fixture))

    assert summary["decision"] == "rejected"
    assert summary["reason"]
    assert world.calls() == []


def test_aws_managed_key_is_drift_when_a_cmk_is_required(world: World) -> None:
    key = world.create_key()
    world.put(Type="KMS", KeyId="alias/aws/xray")
    topic, inbox = world.alert_inbox()

    summary = world.responder(topic).on_event(load_event("cli-change-to-aws-managed.json"))

    assert (summary["decision"], summary["outcome"]) == ("drift-aws-managed", "reverted")
    assert world.encryption()["KeyId"] == key
    [alert] = world.alerts(inbox)
    assert alert["actor"]["user_agent"].startswith("aws-cli/2")


def test_aws_managed_key_is_accepted_when_cmk_not_required(world: World) -> None:
    world.create_key()
    world.put(Type="KMS", KeyId="alias/aws/xray")
    topic, inbox = world.alert_inbox()

    summary = world.responder(topic, XRAY_GUARD_REQUIRE_CMK="false").on_event(
        load_event("cli-change-to-aws-managed.json")
    )

    assert summary["outcome"] == "compliant"
    assert world.alerts(inbox) == []


def test_other_customer_key_is_reverted(world: World) -> None:
    approved = world.create_key()
    world.create_key(alias="alias/team-scratch")
    world.put(Type="KMS", KeyId="alias/team-scratch")
    topic, _ = world.alert_inbox()

    summary = world.responder(topic).on_event(load_event("sdk-change-other-key.json"))

    assert (summary["decision"], summary["outcome"]) == ("drift-other-key", "reverted")
    assert world.encryption()["KeyId"] == approved


def test_change_to_the_approved_key_is_compliant_and_silent(world: World) -> None:
    world.create_key()
    world.put(Type="KMS", KeyId=APPROVED_ALIAS)
    topic, inbox = world.alert_inbox()

    summary = world.responder(topic).on_event(load_event("iac-sets-approved-key.json"))

    assert summary["outcome"] == "compliant"
    assert world.alerts(inbox) == []
    assert world.calls("PutEncryptionConfig")[1:] == []  # only the test's own put


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("disable", "Disabled"),
        ("schedule-deletion", "PendingDeletion"),
        ("missing", "does not exist"),
    ],
)
def test_unusable_approved_key_is_critical_and_never_written(world: World, damage: str, reason: str) -> None:
    if damage == "missing":
        world.create_key(alias="alias/something-else")
    else:
        key = world.create_key().split("/")[-1]
        if damage == "disable":
            world.kms().disable_key(KeyId=key)
        else:
            world.kms().schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    world.put(Type="NONE")
    topic, inbox = world.alert_inbox()
    world.aws.app.calls.clear()

    with pytest.raises(RemediationFailed):
        world.responder(topic).on_event(load_event("console-change-to-none.json"))

    assert world.calls("PutEncryptionConfig") == []
    [alert] = world.alerts(inbox)
    assert (alert["verdict"], alert["severity"]) == ("key-unusable", "critical")
    assert reason in alert["reason"]


def test_asymmetric_approved_key_is_unusable(world: World) -> None:
    world.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    world.put(Type="NONE")
    topic, inbox = world.alert_inbox()

    summary = world.responder(topic, XRAY_GUARD_MODE="alert").on_event(load_event("console-change-to-none.json"))

    assert summary["decision"] == "key-unusable"
    [alert] = world.alerts(inbox)
    assert "symmetric" in alert["reason"]


def test_rejected_put_is_alerted_as_failed_and_fails_the_invocation(world: World) -> None:
    world.create_key()
    world.put(Type="NONE")
    topic, inbox = world.alert_inbox()
    world.aws.set_faults(fail=["xray:PutEncryptionConfig"])

    with pytest.raises(RemediationFailed, match="revert-failed"):
        world.responder(topic).on_event(load_event("console-change-to-none.json"))

    [alert] = world.alerts(inbox)
    assert (alert["outcome"], alert["verified"], alert["severity"]) == ("revert-failed", False, "critical")
    world.aws.set_faults(fail=[])
    assert world.encryption()["Type"] == "NONE"


def test_stuck_updating_is_never_reported_as_reverted(world: World) -> None:
    world.create_key()
    world.put(Type="NONE")
    topic, inbox = world.alert_inbox()
    world.aws.set_faults(updating_seconds=3600)

    with pytest.raises(RemediationFailed):
        world.responder(topic, XRAY_GUARD_ACTIVATION_TIMEOUT="30").on_event(load_event("console-change-to-none.json"))

    [alert] = world.alerts(inbox)
    assert alert["outcome"] == "revert-failed"
    assert "UPDATING" in alert["detail"]
    assert sum(world.time.sleeps) == pytest.approx(30)  # bounded by the timeout, on the injected clock


def test_updating_toward_the_approved_key_waits_then_judges(world: World) -> None:
    world.create_key()
    world.aws.set_faults(updating_seconds=3600)
    world.put(Type="KMS", KeyId=APPROVED_ALIAS)
    topic, inbox = world.alert_inbox()

    with pytest.raises(RemediationFailed, match="UPDATING"):
        world.responder(topic, XRAY_GUARD_ACTIVATION_TIMEOUT="10").on_event(load_event("iac-sets-approved-key.json"))

    assert world.calls("PutEncryptionConfig")[1:] == []
    [alert] = world.alerts(inbox)
    assert alert["verdict"] == "error"


def test_undeliverable_alert_is_kept_in_the_failure_queue_and_fails_the_invocation(world: World) -> None:
    world.create_key()
    world.put(Type="NONE")
    topic, _ = world.alert_inbox()
    sqs = world.client("sqs")
    failures = sqs.create_queue(QueueName="xray-guard-failures")["QueueUrl"]
    world.aws.set_faults(fail=["sns:Publish"])

    with pytest.raises(RemediationFailed, match="alert not delivered"):
        world.responder(topic, XRAY_GUARD_FAILURE_QUEUE_URL=failures).on_event(
            load_event("console-change-to-none.json")
        )

    [kept] = sqs.receive_message(QueueUrl=failures)["Messages"]
    assert '"outcome": "reverted"' in kept["Body"]


def test_member_role_that_cannot_be_assumed_is_an_error_alert(world: World) -> None:
    topic, inbox = world.alert_inbox()
    world.aws.set_faults(fail=[f"sts:AssumeRole@{MEMBER}=AccessDenied"])

    with pytest.raises(RemediationFailed, match="error"):
        world.responder(topic).on_event(load_event("console-change-to-none.json"))

    [alert] = world.alerts(inbox)
    assert alert["verdict"] == "error"
    assert "AccessDenied" in alert["detail"]


def test_envelope_account_and_region_are_authoritative_without_recipient(world: World) -> None:
    key = world.create_key(account="333333333333", region="ap-southeast-2")
    world.put(account="333333333333", region="ap-southeast-2", Type="NONE")
    topic, _ = world.alert_inbox()

    summary = world.responder(topic).on_event(load_event("cross-account-no-recipient.json"))

    assert (summary["account"], summary["region"], summary["outcome"]) == ("333333333333", "ap-southeast-2", "reverted")
    assert world.encryption("333333333333", "ap-southeast-2")["KeyId"] == key
    assert world.encryption(MEMBER, MEMBER_REGION)["Type"] == "NONE"  # nothing else touched


def test_per_region_key_override(world: World) -> None:
    world.create_key()
    regional = world.create_key(alias="alias/xray-eu")
    world.put(Type="NONE")
    topic, _ = world.alert_inbox()

    world.responder(topic, XRAY_GUARD_KMS_KEYS='{"eu-west-1": "alias/xray-eu"}').on_event(
        load_event("console-change-to-none.json")
    )

    assert world.encryption()["KeyId"] == regional


def test_home_account_changes_need_no_assume_role(world: World) -> None:
    key = world.create_key(account=CENTRAL, region="us-east-1")
    world.put(account=CENTRAL, region="us-east-1", Type="NONE")
    topic, _ = world.alert_inbox()
    event = load_event("console-change-to-none.json")
    event["account"], event["region"] = CENTRAL, "us-east-1"
    world.aws.app.calls.clear()

    world.responder(topic).on_event(event)

    assert world.calls("AssumeRole") == []
    assert world.encryption(CENTRAL, "us-east-1")["KeyId"] == key
