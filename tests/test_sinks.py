"""Destinations: the ASFF document of each store (pure), then end to end over localaws — Security Hub CSPM in the
member account, EventBridge finding events on the central bus, retries that re-send only what failed, a Security
Hub that is not enabled, and the sweep."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain import (
    EncryptionState,
    EncryptionStatus,
    EncryptionType,
    Mode,
    Outcome,
    SinkName,
    SpansDestination,
    SpansState,
    Trigger,
    Verdict,
)
from chalicelib.errors import RemediationFailed, SinkFailed
from chalicelib.findings import Finding, SpansFinding
from chalicelib.sinks import DELIVERY_TTL_SECONDS, TableDeliveries
from chalicelib.sinks.eventbridge import DETAIL_TYPE, SOURCE
from chalicelib.sinks.securityhub import SecurityHubSink, asff, finding_id
from localaws.world import approved_key_policy, console_change
from tests.conftest import CENTRAL, MEMBER, MEMBER_REGION, World
from tests.test_hostile_input import captured_log

KEY = f"arn:aws:kms:{MEMBER_REGION}:{MEMBER}:key/11111111-2222-4333-8444-555555555555"
ALL = "sns,securityhub,eventbridge"


def _finding(**changes: Any) -> Finding:
    base = Finding(
        trigger=Trigger.EVENT, account=MEMBER, region=MEMBER_REGION, verdict=Verdict.DRIFT_NONE,
        reason="X-Ray uses the AWS-owned key (Type NONE)", outcome=Outcome.ALERTED, mode=Mode.ALERT,
        before=EncryptionState(EncryptionType.NONE, EncryptionStatus.ACTIVE), after=None,
        approved_key_ref="alias/xray-encryption", approved_key_arn=KEY, observed_at="2026-11-28T03:12:51+00:00",
        spans=SpansFinding(Verdict.COMPLIANT, "Transaction Search off", Outcome.COMPLIANT,
                           SpansState(SpansDestination.XRAY, "ACTIVE"), None),
    )  # fmt: skip
    return Finding(**{**base.__dict__, **changes})


@pytest.mark.parametrize("partition", ["aws", "aws-us-gov"])
def test_a_drift_is_a_failed_active_finding_with_provider_fields_only(partition: str) -> None:
    doc = asff(_finding(), "xray", partition=partition, now="2026-11-28T04:00:00Z", created_at="2026-11-28T03:12:51Z")
    assert doc is not None
    assert doc["Id"] == f"xray-guard/{MEMBER}/{MEMBER_REGION}/xray"
    assert doc["ProductArn"] == f"arn:{partition}:securityhub:{MEMBER_REGION}:{MEMBER}:product/{MEMBER}/default"
    assert (doc["Compliance"], doc["RecordState"]) == ({"Status": "FAILED"}, "ACTIVE")
    assert doc["FindingProviderFields"]["Severity"] == {"Label": "HIGH"}
    assert not {"Severity", "Types", "Workflow", "Note", "UserDefinedFields", "VerificationState"} & set(doc)
    assert "aws xray put-encryption-config" in doc["Remediation"]["Recommendation"]["Text"]
    assert (doc["CreatedAt"], doc["UpdatedAt"]) == ("2026-11-28T03:12:51Z", "2026-11-28T04:00:00Z")


def test_each_store_is_its_own_finding_and_errors_are_not_judged() -> None:
    finding = _finding(verdict=Verdict.COMPLIANT, outcome=Outcome.COMPLIANT)
    xray, spans = (asff(finding, s, partition="aws", now="n", created_at="c") for s in ("xray", "spans"))
    assert xray is not None
    assert spans is not None
    assert xray["Id"] != spans["Id"]
    assert (xray["Compliance"]["Status"], xray["RecordState"]) == ("PASSED", "ARCHIVED")
    assert xray["FindingProviderFields"]["Severity"] == {"Label": "INFORMATIONAL"}
    assert spans["Resources"][0]["Id"] == f"arn:aws:logs:{MEMBER_REGION}:{MEMBER}:log-group:aws/spans"
    errored = _finding(verdict=Verdict.ERROR, outcome=Outcome.ERROR, spans=None)
    assert asff(errored, "xray", partition="aws", now="n", created_at="c") is None
    assert asff(errored, "spans", partition="aws", now="n", created_at="c") is None


def test_a_reverted_drift_is_passed_and_archived() -> None:
    doc = asff(_finding(outcome=Outcome.REVERTED), "xray", partition="aws", now="n", created_at="c")
    assert doc is not None
    assert (doc["Compliance"]["Status"], doc["RecordState"]) == ("PASSED", "ARCHIVED")


# -- end to end ---------------------------------------------------------------------------------------------------


def _hub(world: World) -> Any:
    return world.client("securityhub", MEMBER, MEMBER_REGION)


def _findings(world: World) -> dict[str, dict[str, Any]]:
    return {f["Id"]: f for f in _hub(world).get_findings()["Findings"]}


def test_security_hub_finding_opens_in_the_member_account_then_archives_on_the_same_id(world: World) -> None:
    world.create_key()
    world.enable_security_hub()
    topic, inbox = world.alert_inbox()
    world.put(Type="NONE")

    world.responder(topic, XRAY_GUARD_MODE="alert", XRAY_GUARD_SINKS=ALL).on_event(console_change("1"))

    xray_id = finding_id(MEMBER, MEMBER_REGION, "xray")
    opened = _findings(world)[xray_id]
    assert (opened["Compliance"]["Status"], opened["RecordState"], opened["AwsAccountId"]) == (
        "FAILED",
        "ACTIVE",
        MEMBER,
    )
    assert len(world.alerts(inbox)) == 1  # SNS still alerts

    world.put(Type="KMS", KeyId="alias/xray-encryption")  # someone fixes it; the next check closes the finding
    world.responder(topic, XRAY_GUARD_MODE="alert", XRAY_GUARD_SINKS=ALL).on_event(console_change("2"))

    closed = _findings(world)[xray_id]
    assert (closed["Compliance"]["Status"], closed["RecordState"]) == ("PASSED", "ARCHIVED")
    assert closed["CreatedAt"] == opened["CreatedAt"]  # the same finding, first detected then
    assert world.alerts(inbox) == []  # compliance is news to Security Hub only


def test_eventbridge_finding_event_reaches_a_rule_on_the_central_bus(world: World) -> None:
    world.create_key()
    topic, _ = world.alert_inbox()
    events = world.client("events")
    sqs = world.client("sqs")
    queue = sqs.create_queue(QueueName="findings")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [SOURCE], "detail-type": [DETAIL_TYPE], "account": [CENTRAL]}  # as the README advises
    events.put_rule(Name="xray-guard-findings", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="xray-guard-findings", Targets=[{"Id": "q", "Arn": queue_arn}])
    world.put(Type="NONE")

    world.responder(topic, XRAY_GUARD_SINKS="eventbridge").on_event(console_change("1"))

    [message] = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    detail = json.loads(message["Body"])["detail"]
    assert (detail["schema"], detail["verdict"], detail["outcome"]) == (
        "xray-guard.finding/v1",
        "drift-none",
        "reverted",
    )


def test_a_retry_re_sends_only_the_destination_that_failed(world: World) -> None:
    world.create_key()
    world.enable_security_hub()
    topic, inbox = world.alert_inbox()
    world.put(Type="NONE")
    responder = world.responder(topic, XRAY_GUARD_MODE="alert", XRAY_GUARD_SINKS=ALL)
    world.aws.set_faults(fail=["securityhub:BatchImportFindings"])

    with pytest.raises(SinkFailed, match="securityhub"):
        responder.on_event(console_change("1"))
    assert len(world.alerts(inbox)) == 1  # SNS took it although Security Hub refused

    world.aws.set_faults(fail=[])
    responder.on_event(console_change("1"))  # Lambda's retry: the same event

    assert world.alerts(inbox) == []  # not alerted twice
    assert finding_id(MEMBER, MEMBER_REGION, "xray") in _findings(world)


def test_a_retry_that_reverts_after_a_failed_revert_tells_every_destination(world: World) -> None:
    """A retry that failed the same way sends nothing again; the retry that reverted (verified) is news for every
    destination: SNS says it was fixed, Security Hub's finding closes."""
    world.create_key()
    world.enable_security_hub()
    topic, inbox = world.alert_inbox()
    world.put(Type="NONE")
    responder = world.responder(topic, XRAY_GUARD_MODE="revert", XRAY_GUARD_SINKS="sns,securityhub")
    world.aws.set_faults(fail=["xray:PutEncryptionConfig"])
    xray_finding = finding_id(MEMBER, MEMBER_REGION, "xray")

    with pytest.raises(RemediationFailed):
        responder.on_event(console_change("1"))
    assert [alert["outcome"] for alert in world.alerts(inbox)] == ["revert-failed"]
    assert _findings(world)[xray_finding]["Compliance"]["Status"] == "FAILED"
    world.aws.app.calls.clear()

    with pytest.raises(RemediationFailed):
        responder.on_event(console_change("1"))  # Lambda's first retry: the same event, failing the same way
    assert world.alerts(inbox) == []  # not alerted twice
    assert "securityhub:BatchImportFindings" not in world.ops()

    world.aws.set_faults(fail=[])
    assert responder.on_event(console_change("1"))["outcome"] == "reverted"  # the second retry reverts

    assert [alert["outcome"] for alert in world.alerts(inbox)] == ["reverted"]
    closed = _findings(world)[xray_finding]
    assert (closed["Compliance"]["Status"], closed["RecordState"]) == ("PASSED", "ARCHIVED")


def test_a_retry_that_finds_its_own_fix_and_the_same_open_problem_sends_nothing_again(world: World) -> None:
    """The first attempt reverted X-Ray but could not fix the spans store (the key does not let CloudWatch Logs use
    it), so it failed; the retry finds X-Ray compliant and the spans store refused the same way: nothing new."""
    world.create_key(Policy=approved_key_policy(MEMBER, MEMBER_REGION, logs=False))
    world.client("xray", MEMBER, MEMBER_REGION).update_trace_segment_destination(Destination="CloudWatchLogs")
    world.enable_security_hub()
    topic, inbox = world.alert_inbox()
    world.put(Type="NONE")
    responder = world.responder(topic, XRAY_GUARD_MODE="revert", XRAY_GUARD_SINKS="sns,securityhub")

    with pytest.raises(RemediationFailed):
        responder.on_event(console_change("1"))
    assert len(world.alerts(inbox)) == 1
    world.aws.app.calls.clear()

    with pytest.raises(RemediationFailed):
        responder.on_event(console_change("1"))  # Lambda's retry

    assert world.alerts(inbox) == []
    assert "securityhub:BatchImportFindings" not in world.ops()


def test_which_destinations_took_an_event_is_one_query_and_forgotten_after_an_hour(world: World) -> None:
    ddb = world.client("dynamodb")
    now = [1_800_000_000.0]
    deliveries = TableDeliveries(lambda: ddb, world.create_central_table(), clock=lambda: now[0])
    deliveries.record("event-1", SinkName.SNS)
    now[0] += DELIVERY_TTL_SECONDS - 60
    deliveries.record("event-1", SinkName.SECURITY_HUB)
    deliveries.record("event-2", SinkName.EVENTBRIDGE)  # another event's record is not this one's
    world.aws.app.calls.clear()

    every = [SinkName.SNS, SinkName.SECURITY_HUB, SinkName.EVENTBRIDGE]
    assert deliveries.accepted("event-1", every) == {"sns", "securityhub"}
    assert deliveries.accepted("event-1", [SinkName.SECURITY_HUB]) == {"securityhub"}  # only the ones asked about
    now[0] += 60  # an hour after SNS took it: DynamoDB's TTL may not have deleted the item yet, it is ignored
    assert deliveries.accepted("event-1", every) == {"securityhub"}
    assert world.ops() == ["dynamodb:Query"] * 3  # one read per event, whatever the number of destinations


def test_security_hub_not_enabled_is_logged_never_a_failure(world: World) -> None:
    world.create_key()
    topic, inbox = world.alert_inbox()
    world.put(Type="NONE")

    with captured_log() as log:
        summary = world.responder(topic, XRAY_GUARD_MODE="alert", XRAY_GUARD_SINKS=ALL).on_event(console_change("1"))

    assert summary["outcome"] == "alerted"
    assert len(world.alerts(inbox)) == 1
    [line] = [json.loads(x) for x in log.getvalue().splitlines() if '"securityhub-not-enabled"' in x]
    assert (line["account"], line["region"]) == (MEMBER, MEMBER_REGION)
    assert "InvalidAccessException" in line["error"]


def test_the_sweep_imports_every_checked_region_and_the_digest_names_accounts_without_security_hub(
    world: World,
) -> None:
    world.create_key()
    world.create_key(account="333333333333", region=MEMBER_REGION)
    world.put(Type="NONE")
    world.enable_security_hub()  # 333333333333 has not enabled Security Hub CSPM

    # The sweep's SNS inbox gets the one digest, not one alert per region.
    digest = world.sweep(f"{MEMBER},333333333333", MEMBER_REGION, XRAY_GUARD_MODE="alert", XRAY_GUARD_SINKS=ALL).digest

    findings = _findings(world)
    assert findings[finding_id(MEMBER, MEMBER_REGION, "xray")]["Compliance"]["Status"] == "FAILED"
    assert findings[finding_id(MEMBER, MEMBER_REGION, "spans")]["Compliance"]["Status"] == "PASSED"
    assert digest["destination_notes"] == [f"Security Hub CSPM is not enabled in 333333333333 {MEMBER_REGION}"]


def test_two_checks_in_one_millisecond_still_update_the_finding(world: World) -> None:
    """Security Hub ignores a re-import whose UpdatedAt is not later than the stored one: the sink moves it on."""
    world.create_key()
    world.enable_security_hub()
    world.put(Type="NONE")
    stuck = "2026-11-28T03:00:00.000Z"
    sink = SecurityHubSink(lambda a, r: world.client("securityhub", a, r), lambda _region: "aws", lambda: stuck)
    sink.send(_finding())
    sink.send(_finding(verdict=Verdict.COMPLIANT, outcome=Outcome.COMPLIANT))

    closed = _findings(world)[finding_id(MEMBER, MEMBER_REGION, "xray")]
    assert (closed["Compliance"]["Status"], closed["RecordState"]) == ("PASSED", "ARCHIVED")
    assert closed["UpdatedAt"].startswith("2026-11-28T03:00:00.001")
