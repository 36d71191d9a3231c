"""The second trace store end to end over localaws: Transaction Search's `aws/spans` log group kept on the approved
key through every event form, in alert and revert mode, with a key CloudWatch Logs may not use, in a region without
Transaction Search, and in the audit."""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

import pytest

from chalicelib.cli import main
from chalicelib.errors import RemediationFailed
from localaws.world import approved_key_policy
from tests.conftest import MEMBER, MEMBER_REGION, World, load_event


def logs(world: World) -> Any:
    return world.client("logs", MEMBER, MEMBER_REGION)


def spans_key(world: World) -> str | None:
    groups = logs(world).describe_log_groups(logGroupNamePrefix="aws/spans")["logGroups"]
    [group] = [g for g in groups if g["logGroupName"] == "aws/spans"]
    key: str | None = group.get("kmsKeyId")
    return key


def transaction_search_on(world: World) -> None:
    world.client("xray", MEMBER, MEMBER_REGION).update_trace_segment_destination(Destination="CloudWatchLogs")


def approved_key_and_xray_on_it(world: World, *, logs_allowed: bool = True) -> str:
    key = world.create_key(Policy=approved_key_policy(MEMBER, MEMBER_REGION, logs=logs_allowed))
    world.put(Type="KMS", KeyId=key)
    return key


def test_transaction_search_on_with_unencrypted_spans_is_reverted_and_verified(world: World) -> None:
    key = approved_key_and_xray_on_it(world)
    transaction_search_on(world)
    assert spans_key(world) is None
    topic, inbox = world.alert_inbox()
    world.aws.app.calls.clear()

    summary = world.responder(topic).on_event(load_event("transaction-search-enabled.json"))

    assert (summary["decision"], summary["outcome"]) == ("drift-spans-unencrypted", "reverted")
    assert spans_key(world) == key
    assert world.encryption()["KeyId"] == key  # X-Ray's own setting untouched
    [alert] = world.alerts(inbox)
    assert alert["spans"]["verdict"] == "drift-spans-unencrypted"
    assert alert["spans"]["outcome"] == "reverted"
    assert alert["spans"]["after"]["key_id"] == key
    assert "ingested from now on" in alert["spans"]["detail"]
    ops = world.ops()
    assert ops.count("logs:AssociateKmsKey") == 1
    assert "xray:UpdateTraceSegmentDestination" not in ops  # never changes the tracing choice


def test_alert_mode_reports_spans_drift_and_changes_nothing(world: World) -> None:
    approved_key_and_xray_on_it(world)
    transaction_search_on(world)
    topic, inbox = world.alert_inbox()

    summary = world.responder(topic, XRAY_GUARD_MODE="alert").on_event(load_event("spans-key-disassociated.json"))

    assert (summary["decision"], summary["outcome"]) == ("drift-spans-unencrypted", "alerted")
    assert spans_key(world) is None
    [alert] = world.alerts(inbox)
    assert alert["severity"] == "high"


@pytest.mark.parametrize(
    "fixture",
    ["spans-key-disassociated.json", "spans-key-associated-by-arn.json", "spans-log-group-created.json"],
)
def test_every_logs_event_form_re_reads_both_stores(world: World, fixture: str) -> None:
    key = approved_key_and_xray_on_it(world)
    transaction_search_on(world)
    other = world.create_key(alias="alias/team", Policy=approved_key_policy(MEMBER, MEMBER_REGION))
    logs(world).associate_kms_key(logGroupName="aws/spans", kmsKeyId=other)
    topic, _ = world.alert_inbox()

    summary = world.responder(topic).on_event(load_event(fixture))

    assert (summary["decision"], summary["outcome"]) == ("drift-spans-other-key", "reverted")
    assert spans_key(world) == key


def test_event_about_another_log_group_costs_nothing(world: World) -> None:
    topic, _ = world.alert_inbox()
    responder = world.responder(topic)
    world.aws.app.calls.clear()

    summary = responder.on_event(load_event("other-log-group-key-disassociated.json"))

    assert summary["decision"] == "skipped-other-log-group"
    assert world.calls() == []


def test_key_cloudwatch_logs_may_not_use_is_critical_with_the_statement_to_add(world: World) -> None:
    approved_key_and_xray_on_it(world, logs_allowed=False)
    transaction_search_on(world)
    topic, inbox = world.alert_inbox()

    with pytest.raises(RemediationFailed):
        world.responder(topic).on_event(load_event("transaction-search-enabled.json"))

    assert spans_key(world) is None
    [alert] = world.alerts(inbox)
    assert (alert["verdict"], alert["severity"]) == ("key-unusable", "critical")
    assert "AllowCloudWatchLogsForSpans" in alert["detail"]
    assert any(code in alert["detail"] for code in ("InvalidParameterException", "AccessDeniedException"))


def test_deleted_aws_spans_is_waited_for_then_left_to_the_sweep(world: World) -> None:
    approved_key_and_xray_on_it(world)
    transaction_search_on(world)
    logs(world).delete_log_group(logGroupName="aws/spans")
    topic, inbox = world.alert_inbox()

    summary = world.responder(topic, XRAY_GUARD_ACTIVATION_TIMEOUT="10").on_event(
        load_event("spans-log-group-deleted.json")
    )

    assert summary["outcome"] == "compliant"
    assert world.alerts(inbox) == []
    assert sum(world.time.sleeps) == pytest.approx(10)  # bounded by the activation timeout, on the fake clock


def test_region_without_transaction_search_is_compliant_never_error(world: World) -> None:
    approved_key_and_xray_on_it(world)
    world.aws.set_faults(no_transaction_search=[MEMBER_REGION])
    topic, inbox = world.alert_inbox()

    summary = world.responder(topic).on_event(load_event("console-change-to-none.json"))

    assert summary["outcome"] == "compliant"
    assert world.alerts(inbox) == []


def _audit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    env = {**os.environ, "XRAY_GUARD_KMS_KEY": "alias/xray-encryption"}
    code = main(["audit", "--accounts", MEMBER, "--regions", MEMBER_REGION, "--json", *args], env=env)
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return code, rows


def test_audit_shows_both_stores_and_fix_associates_a_dormant_store(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    key = approved_key_and_xray_on_it(world)
    transaction_search_on(world)
    world.client("xray", MEMBER, MEMBER_REGION).update_trace_segment_destination(Destination="XRay")

    code, [row] = _audit(capsys)
    assert code == 0  # a dormant store is compliant, with that detail
    assert (row["spans_destination"], row["spans_key_id"], row["spans_verdict"]) == ("XRay", None, "compliant")
    assert "dormant" in row["detail"]

    code, [row] = _audit(capsys, "--fix", "--yes")
    assert code == 0
    assert row["spans"]["outcome"] == "reverted"
    assert spans_key(world) == key


def test_a_report_only_audit_says_reported_for_both_stores_and_each_fact_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    transaction_search_on(world)  # and no approved key at all: both stores report the same missing key

    code, [row] = _audit(capsys)
    assert code == 1
    assert (row["verdict"], row["spans_verdict"]) == ("key-unusable", "key-unusable")
    assert (row["outcome"], row["spans"]["outcome"]) == ("reported", "reported")  # the audit never alerts
    assert row["detail"].count("key alias/xray-encryption does not exist") == 1
    assert "X-Ray currently: NONE (AWS-owned key), ACTIVE" in row["detail"]
    assert "spans: destination CloudWatchLogs (ACTIVE), aws/spans without a KMS key" in row["detail"]

    env = {**os.environ, "XRAY_GUARD_KMS_KEY": "alias/xray-encryption"}
    main(["audit", "--accounts", MEMBER, "--regions", MEMBER_REGION, "--format", "csv"], env=env)
    [line] = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert (line["outcome"], line["spans_outcome"]) == ("reported", "reported")
    assert line["detail"] == row["detail"]


def test_an_audit_row_of_spans_drift_states_the_spans_reason_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    approved_key_and_xray_on_it(world)
    transaction_search_on(world)

    code, [row] = _audit(capsys)
    assert code == 1
    assert (row["verdict"], row["outcome"], row["spans"]["outcome"]) == ("drift-spans-unencrypted",) + ("reported",) * 2
    assert row["detail"] == "spans in aws/spans have no KMS key (CloudWatch Logs default)"
