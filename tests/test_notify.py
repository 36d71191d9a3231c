"""The alert: one finding rendered for Slack (Amazon Q Developer custom notification), email and machines."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import (
    Actor,
    EncryptionState,
    EncryptionStatus,
    EncryptionType,
    Mode,
    Outcome,
    Severity,
    SpansDestination,
    SpansState,
    Trigger,
    Verdict,
)
from chalicelib.events import parse_change
from chalicelib.findings import SCHEMA, Finding, KeyFinding, SpansFinding
from chalicelib.log import emit
from chalicelib.notify import MESSAGE_BUDGET, digest_message, finding_message, render_chatbot, render_email
from chalicelib.policy import UnusableKey
from chalicelib.storm import StormVerdict, SuppressedDrift
from chalicelib.text import safe_text
from tests.conftest import load_event
from tests.test_hostile_input import captured_log

KEY = "arn:aws:kms:eu-west-1:222222222222:key/11111111-2222-4333-8444-555555555555"


def _finding(**changes: object) -> Finding:
    change = parse_change(load_event("console-change-to-none.json"))
    base = Finding(
        trigger=Trigger.EVENT,
        account=change.account,
        region=change.region,
        verdict=Verdict.DRIFT_NONE,
        reason="X-Ray uses the AWS-owned key (Type NONE)",
        outcome=Outcome.REVERTED,
        mode=Mode.REVERT,
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
    {"outcome": Outcome.ALERTED, "mode": Mode.ALERT, "after": None},
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
        "Found:    X-Ray config NONE (AWS-owned key); X-Ray status ACTIVE",
        "Now:      X-Ray config KMS, the approved key; X-Ray status ACTIVE",
        f"Approved: alias/xray-encryption = {KEY}",
        "Verified: yes (re-read after the revert)",
        "To check by hand",
        "aws xray get-encryption-config --region eu-west-1",
    ]:
        assert expected in email
    assert "put-encryption-config" not in email  # already fixed: no redundant write suggested


def test_alert_only_email_offers_the_fix_and_says_nothing_changed() -> None:
    email = render_email(_finding(outcome=Outcome.ALERTED, mode=Mode.ALERT))
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
    bad = _finding(trigger=Trigger.SWEEP, actor=None, event_id=None, cloudtrail_event_id=None).to_json()
    results: dict[str, dict[str, Any]] = {
        "222222222222": {"counts": {"compliant": 16, "drift-none": 1}, "non_compliant": [bad], "error": None},
        "444444444444": {"counts": {}, "non_compliant": [], "error": "AccessDenied on sts:AssumeRole"},
    }
    message = digest_message("20261128T000000Z-abc", results)
    subject = "[CRITICAL] X-Ray sweep: 1/17 non-compliant, 1 reverted, 1 failed accounts, 0 coverage gaps"
    assert message.subject == subject
    email = message.message["email"]
    assert "1 of 17 regions found non-compliant, 1 reverted, 1 account(s) failed, 0 coverage gap(s)" in email
    assert "222222222222  eu-west-1        drift-none               reverted" in email
    assert "444444444444: AccessDenied on sts:AssumeRole" in email
    machine = json.loads(message.message["sqs"])
    assert machine["counts"] == {"compliant": 16, "drift-none": 1}
    assert machine["failed_accounts"] == {"444444444444": "AccessDenied on sts:AssumeRole"}


def _gap(account: str, region: str, coverage: str) -> dict[str, str]:
    return {"account": account, "region": region, "coverage": coverage}


def test_digest_names_every_coverage_gap_even_when_everything_is_compliant() -> None:
    no_rule = "sweep-only: no forwarding rule"
    results: dict[str, dict[str, Any]] = {
        "222222222222": {
            "counts": {"compliant": 3},
            "non_compliant": [],
            "error": None,
            "coverage_gaps": [_gap("222222222222", r, no_rule) for r in ("eu-west-1", "us-west-2")],
        },
        "333333333333": {
            "counts": {"compliant": 3},
            "non_compliant": [],
            "error": None,
            "coverage_gaps": [_gap("333333333333", "eu-west-1", "unknown: GetTrailStatus denied")],
        },
        "444444444444": {"counts": {"compliant": 3}, "non_compliant": [], "error": None, "coverage_gaps": []},
    }
    message = digest_message("s", results)

    # Nothing drifted, but a change there waits for the next sweep.
    assert message.subject == "[MEDIUM] X-Ray sweep: 0/9 non-compliant, 0 reverted, 0 failed accounts, 3 coverage gaps"
    email = message.message["email"]
    assert "Event coverage gaps in 3 region(s)" in email
    assert f"222222222222  {no_rule}  [eu-west-1, us-west-2]" in email  # one line per account and gap
    assert "333333333333  unknown: GetTrailStatus denied  [eu-west-1]" in email
    assert "444444444444" not in email
    machine = json.loads(message.message["sqs"])
    assert [(g["account"], g["region"]) for g in machine["coverage_gaps"]] == [
        ("222222222222", "eu-west-1"), ("222222222222", "us-west-2"), ("333333333333", "eu-west-1"),
    ]  # fmt: skip
    chat = json.loads(message.message["default"])["content"]["description"]
    assert chat.count("*Coverage gap:*") == 3


def test_digest_without_gaps_says_every_region_is_covered() -> None:
    results: dict[str, dict[str, Any]] = {
        "222222222222": {"counts": {"compliant": 2}, "non_compliant": [], "error": None, "coverage_gaps": []}
    }
    message = digest_message("s", results)
    assert message.subject.startswith("[LOW] ")
    assert "Event coverage: events from every checked region reach xray-guard." in message.message["email"]


def test_a_digest_of_gaps_everywhere_stays_under_the_sns_limit_and_counts_what_it_leaves_out() -> None:
    gap = "sweep-only: no forwarding rule; no CloudTrail trail"
    regions = [f"region-{n}" for n in range(17)]
    results = {
        f"{i:012d}": {
            "counts": {"compliant": 17},
            "non_compliant": [],
            "error": None,
            "coverage_gaps": [_gap(f"{i:012d}", r, gap) for r in regions],
        }
        for i in range(3000)
    }
    message = digest_message("big", results)
    assert len(json.dumps(message.message).encode()) < 256 * 1024
    machine = json.loads(message.message["sqs"])
    assert len(machine["coverage_gaps"]) + machine["coverage_gaps_omitted"] == 3000 * 17
    assert machine["coverage_gaps_omitted"] > 0
    assert "... and 2800 more (full list in the JSON rendering and the logs)" in message.message["email"]


def test_huge_digest_stays_under_the_sns_limit() -> None:
    row = _finding(trigger=Trigger.SWEEP).to_json()
    results = {
        f"{i:012d}": {"counts": {"drift-none": 17}, "non_compliant": [row] * 17, "error": None} for i in range(1000)
    }
    message = digest_message("big", results)
    total = len(json.dumps(message.message).encode())
    assert total < 256 * 1024
    assert json.loads(message.message["sqs"])["omitted"] > 0


# -- metadata.additionalContext: strings only -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"actor": None, "trigger": Trigger.SWEEP, "event_id": None, "cloudtrail_event_id": None, "event_time": None},
        {"outcome": Outcome.ERROR, "verdict": Verdict.ERROR, "after": None, "before": None},
    ],
)
def test_chatbot_additional_context_values_are_strings_never_null(changes: dict[str, object]) -> None:
    chatbot = json.loads(finding_message(_finding(**changes)).message["default"])

    context = chatbot["metadata"]["additionalContext"]
    assert context
    assert all(isinstance(value, str) and value for value in context.values()), context


# -- rendering safety: whatever an event field holds, no rendering for people carries it raw ------------------------

HOSTILE = (
    "\x1b[2J\x1b[31mALL CLEAR\x1b[0m\r\nAction:   Reverted and VERIFIED\u2028<!channel> "
    "<https://evil.example/|runbook> `rm -rf` *bold* \u202etxt.exe\u200b &amp;"
)


def _hostile_finding(text: str, **changes: object) -> Finding:
    actor = Actor(
        arn=f"arn:aws:sts::222222222222:assumed-role/Dev/{text}",
        type=text,
        principal_arn=f"arn:aws:iam::222222222222:role/{text}",
        session_name=text,
        user_agent=text,
        source_ip=text,
        invoked_by=text,
    )
    return _finding(
        actor=actor,
        event_id=text,
        cloudtrail_event_id=text,
        event_time=text,
        detail=text,
        outcome=Outcome.REVERT_FAILED,
        **changes,
    )


def _human_renderings(finding: Finding) -> dict[str, str]:
    message = finding_message(finding)
    chatbot = json.loads(message.message["default"])
    digest = digest_message("s-1", {"222222222222": {"counts": {"drift-none": 1}, "non_compliant": [finding.to_json()],
                                                     "error": finding.detail}})  # fmt: skip
    digest_chat = json.loads(digest.message["default"])
    return {
        "subject": message.subject,
        "email": message.message["email"],
        "chat description": chatbot["content"]["description"],
        "chat title": chatbot["content"]["title"],
        "chat next steps": "\n".join(chatbot["content"]["nextSteps"]),
        "chat context": "\n".join(chatbot["metadata"]["additionalContext"].values()),
        "digest email": digest.message["email"],
        "digest chat": digest_chat["content"]["description"],
    }


def _assert_inert(renderings: dict[str, str], benign: dict[str, str]) -> None:
    for name, text in renderings.items():
        lines = text.split("\n")
        assert len(lines) == len(benign[name].split("\n")), f"{name}: a value added or removed a line"
        for line in lines:
            assert line.isprintable(), f"{name}: {line!r}"


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(text=st.text(st.characters(exclude_categories=()), min_size=1, max_size=40))
def test_no_event_field_can_add_a_line_or_a_control_character_to_any_rendering(text: str) -> None:
    _assert_inert(_human_renderings(_hostile_finding(text)), _human_renderings(_hostile_finding("x")))


def test_chat_renderings_keep_event_fields_inside_inert_code_spans() -> None:
    renderings = _human_renderings(_hostile_finding(HOSTILE))
    _assert_inert(renderings, _human_renderings(_hostile_finding("x")))

    for name in ("chat description", "digest chat"):
        chat = renderings[name]
        assert "<!channel>" not in chat
        assert "<https://" not in chat
        assert "&lt;!channel&gt;" in chat
        assert chat.count("`") % 2 == 0, name  # every code span is closed: no field escaped its span
    assert "`ˋrm -rfˋ`" not in renderings["chat description"]
    assert "ˋrm -rfˋ" in renderings["chat description"]
    assert safe_text(HOSTILE) in renderings["email"]  # shown, escaped, for the reader to see what was sent


def test_odd_user_agent_event_end_to_end_through_every_rendering() -> None:
    change = parse_change(load_event("odd-user-agent.json"))
    finding = _finding(actor=change.actor, cloudtrail_event_id=change.cloudtrail_event_id, outcome=Outcome.ALERTED)

    email = render_email(finding)
    chatbot = render_chatbot(finding)

    assert "user agent: Boto3/1.35.70 md/Botocore#1.35.70" in email
    assert "\\x1b[2J\\x1b[31mALL CLEAR" in email
    assert "…[clipped]" in email
    assert "Action:   Reverted and VERIFIED" not in email.splitlines()  # the forged line stays inside its own
    assert all(line.isprintable() for line in email.splitlines())
    assert "type AssumedRoleV2" in email
    assert "`AssumedRoleV2`" in chatbot["content"]["description"]


def test_identity_center_user_appears_verbatim_in_every_rendering() -> None:
    change = parse_change(load_event("identity-center-console-change.json"))
    finding = _finding(actor=change.actor, cloudtrail_event_id=change.cloudtrail_event_id)
    user = (
        "identitycenter:arn:aws:identitystore::111111111111:identitystore/d-9067642ac7"
        "/user/544894e8-80c1-707f-60e3-3ba6510dfac1"
    )

    message = finding_message(finding)
    chatbot = json.loads(message.message["default"])

    assert f"Who:      {user}" in message.message["email"]
    assert f"*Who:* `{user}` (`IdentityCenterUser`, Console," in chatbot["content"]["description"]
    assert chatbot["metadata"]["additionalContext"]["actor"] == user
    machine = json.loads(message.message["sqs"])
    assert (machine["actor"]["arn"], machine["actor"]["principal_arn"]) == (user, user)
    line = _logged("decision", actor=finding.actor.arn if finding.actor else None)
    assert json.loads(line)["actor"] == user


def _logged(kind: str, **fields: Any) -> str:
    with captured_log() as log:
        emit(kind, **fields)
    [line] = log.getvalue().splitlines()
    return line


def test_log_lines_carry_no_hazard_even_after_a_viewer_decodes_them() -> None:
    record = {"actor": HOSTILE, "nested": {HOSTILE: [HOSTILE, 1, None]}, "surrogate": "\ud800"}

    line = _logged("decision", **record)

    assert line.isprintable()
    line.encode("utf-8")  # a lone surrogate would fail here, and in the Lambda log stream

    def strings(node: object) -> list[str]:
        if isinstance(node, dict):
            return [*node.keys(), *(s for v in node.values() for s in strings(v))]
        if isinstance(node, list):
            return [s for v in node for s in strings(v)]
        return [node] if isinstance(node, str) else []

    decoded = strings(json.loads(line))
    assert all(text.isprintable() for text in decoded)
    assert safe_text(HOSTILE) in decoded


def test_a_storm_summary_is_the_alert_s_rendering_not_part_of_the_finding() -> None:
    held = (SuppressedDrift("123456789012", "us-east-1", "ct-4", "drift-none"),)
    storm = StormVerdict(send=True, count=13, summarized=True, suppressed=held)
    finding = _finding()
    message = finding_message(finding, storm)
    where = f"{finding.account} {finding.region}"
    assert message.subject == f"[LOW] X-Ray encryption flapping (13 drifts this hour) in {where}"  # reverted
    email = message.message["email"]
    assert "Storm control: 13 drifts in this account/region this hour" in email
    assert "Held back since the last alert (CloudTrail eventID): ct-4 (drift-none)" in email
    assert "flapping (13 drifts this hour)" in json.loads(message.message["default"])["content"]["title"]
    machine = json.loads(message.message["sqs"])
    assert (machine["storm_count"], machine["storm_held"]) == (13, ["ct-4 (drift-none)"])
    assert (finding.to_json()["storm_count"], finding.to_json()["storm_held"]) == (0, [])  # other destinations
    plain = json.loads(finding_message(finding).message["sqs"])
    assert (plain["storm_count"], plain["storm_held"]) == (0, [])
    assert "Storm control" not in finding_message(finding).message["email"]


def _disabled_key_alert() -> Finding:
    """The demo's step 7: the approved key disabled while both stores use it (a KMS event's key alert leads)."""
    cloudwatch = SpansState(SpansDestination.CLOUDWATCH_LOGS, "ACTIVE", group_read=True, group_exists=True, key_arn=KEY)
    xray = EncryptionState(EncryptionType.KMS, EncryptionStatus.ACTIVE, KEY)
    unusable = f"approved key cannot be used: key state is Disabled (spans: {cloudwatch.describe()})"
    spans_unusable = UnusableKey("key state is Disabled", cloudwatch)
    return _finding(
        verdict=Verdict.KEY_UNUSABLE,
        reason=f"approved key cannot be used: key state is Disabled (X-Ray currently: {xray.describe()})",
        unusable=UnusableKey("key state is Disabled", xray),
        outcome=Outcome.ALERTED,
        before=xray,
        after=xray,
        detail="",
        spans=SpansFinding(
            Verdict.KEY_UNUSABLE, unusable, Outcome.ALERTED, cloudwatch, cloudwatch, unusable=spans_unusable
        ),
        key=KeyFinding(
            KEY,
            "Disabled",
            event_name="DisableKey",
            severity=Severity.CRITICAL,
            headline="X-Ray KMS key disabled",
            words=(
                f"{KEY} is Disabled: X-Ray stops storing trace data under it while it is unusable.",
                "X-Ray in this region uses this key.",
                "Spans in aws/spans under this key cannot be read while it is unusable.",
            ),
            undo=(f"aws kms enable-key --key-id {KEY} --region eu-west-1",),
        ),
    )


def test_a_disabled_key_email_says_whose_status_is_active_and_names_the_key_once() -> None:
    finding = _disabled_key_alert()
    message = finding_message(finding)
    email = message.message["email"]
    lines = email.splitlines()

    # X-Ray's Status is labelled as X-Ray's; the key's own state is on the Key: line.
    assert "Found:    X-Ray config KMS, the approved key; X-Ray status ACTIVE" in lines
    assert "Now:      unchanged" in lines
    assert "Key:      the approved key above: key state Disabled, after DisableKey" in lines
    assert not [line for line in lines if line.endswith(", ACTIVE")]
    # The ARN: the finding, the Approved: line and the two commands, nothing else.
    assert email.count(KEY) == 4
    assert f"aws kms enable-key --key-id {KEY} --region eu-west-1" in email
    # One line per store, not the key's problem again as the region's.
    assert [line for line in lines if "key state is Disabled" in line] == [
        "Spans:    approved key cannot be used: key state is Disabled (spans: destination CloudWatchLogs (ACTIVE), "
        "aws/spans on the approved key)"
    ]
    assert "Region:   key-unusable, alerted" in lines
    assert not [line for line in lines if line.strip().startswith("found:")]  # the Spans: line already says it
    assert len(message.subject) <= 99
    assert len(json.dumps(message.message)) <= MESSAGE_BUDGET


def test_a_disabled_key_chat_notification_says_the_finding_once() -> None:
    finding = _disabled_key_alert()

    description = render_chatbot(finding)["content"]["description"]

    sentence = "is Disabled: X-Ray stops storing trace data under it while it is unusable."
    assert description.count(sentence) == 1
    assert "*Found:* X-Ray config KMS, the approved key; X-Ray status ACTIVE" in description
    assert f"*Key:* `{KEY}` key state Disabled" in description
    assert description.count(KEY) == 2  # the bold finding and the Key: line (the commands are nextSteps)
    assert "X-Ray in this region uses this key." in description


XRAY_NONE = EncryptionState(EncryptionType.NONE, EncryptionStatus.ACTIVE)
SPANS_UNENCRYPTED = SpansState(SpansDestination.CLOUDWATCH_LOGS, "ACTIVE", group_read=True, group_exists=True)


def _unusable_in_both(xray_problem: str, spans_problem: str, **changes: object) -> Finding:
    """A region whose two stores each report the approved key unusable, as the pipeline builds it."""
    xray, spans = UnusableKey(xray_problem, XRAY_NONE), UnusableKey(spans_problem, SPANS_UNENCRYPTED)
    spans_part = SpansFinding(
        Verdict.KEY_UNUSABLE, spans.reason, Outcome.ALERTED, SPANS_UNENCRYPTED, SPANS_UNENCRYPTED, unusable=spans
    )
    fields: dict[str, object] = {
        "verdict": Verdict.KEY_UNUSABLE,
        "reason": xray.reason,
        "unusable": xray,
        "outcome": Outcome.ALERTED,
        "after": XRAY_NONE,
        "detail": "",
        "spans": spans_part,
    }
    return _finding(**(fields | changes))


def test_an_unusable_key_both_stores_report_is_one_fact_naming_the_problem_once() -> None:
    finding = _unusable_in_both("key state is Disabled", "key state is Disabled")

    assert finding.facts() == (
        "approved key cannot be used: key state is Disabled (X-Ray currently: NONE (AWS-owned key), ACTIVE; "
        "spans: destination CloudWatchLogs (ACTIVE), aws/spans without a KMS key)",
    )


def test_stores_reporting_different_problems_are_two_facts() -> None:
    finding = _unusable_in_both("key state is Disabled", "key state is PendingDeletion")

    assert finding.facts() == (
        "approved key cannot be used: key state is Disabled (X-Ray currently: NONE (AWS-owned key), ACTIVE)",
        "approved key cannot be used: key state is PendingDeletion "
        "(spans: destination CloudWatchLogs (ACTIVE), aws/spans without a KMS key)",
    )


def test_a_detail_line_is_the_first_fact_and_the_spans_reason_the_second() -> None:
    finding = _unusable_in_both("key state is Disabled", "key state is Disabled", detail="still UPDATING after 60s")

    assert finding.facts() == (
        "still UPDATING after 60s",
        "approved key cannot be used: key state is Disabled "
        "(spans: destination CloudWatchLogs (ACTIVE), aws/spans without a KMS key)",
    )


def test_facts_merge_on_the_findings_unusable_fields_not_on_the_wording_of_their_reasons() -> None:
    finding = _unusable_in_both("key state is Disabled", "key state is Disabled")
    assert finding.spans is not None
    worded_only = dataclasses.replace(finding, unusable=None, spans=dataclasses.replace(finding.spans, unusable=None))

    assert worded_only.facts() == (finding.reason, finding.spans.reason)


def test_the_spans_line_says_where_spans_were_found_when_the_unusable_key_was_judged_on_a_later_read() -> None:
    # An event that waited for X-Ray to create aws/spans: judged on the later read, so the first one is news.
    found = SpansState(SpansDestination.CLOUDWATCH_LOGS, "ACTIVE", group_read=True, group_exists=False)
    finding = _unusable_in_both("key state is Disabled", "key state is Disabled")
    assert finding.spans is not None
    waited = dataclasses.replace(finding, spans=dataclasses.replace(finding.spans, before=found))

    def after_spans(email: str) -> list[str]:
        lines = email.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("Spans:"))
        return lines[start + 1 : start + 3]

    assert after_spans(render_email(finding))[0] == "          key-unusable, alerted"
    assert after_spans(render_email(waited)) == [
        "          found: destination CloudWatchLogs (ACTIVE), aws/spans not created yet; key-unusable, alerted",
        "          now: destination CloudWatchLogs (ACTIVE), aws/spans without a KMS key",
    ]
