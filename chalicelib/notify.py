"""The alert: one finding (or one sweep digest) rendered for Slack via Amazon Q Developer (AWS Chatbot),
for email, and for machines, published as one SNS message with MessageStructure=json.

SNS picks the `email` key for email subscribers, `sqs`/`lambda` for those protocols and `default` for the rest
(https), which is how Amazon Q Developer in chat applications subscribes
(https://docs.aws.amazon.com/sns/latest/dg/sns-send-custom-platform-specific-payloads-mobile-devices.html,
"MessageStructure" in https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
Custom notification format: https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.domain import EncryptionState, Outcome, Verdict
from chalicelib.findings import Finding
from chalicelib.sessions import call_aws

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import MessageAttributeValueTypeDef

SUBJECT_LIMIT = 99  # SNS Publish: Subject is ASCII, no line breaks, "less than 100 characters" (API_Publish)
MESSAGE_BUDGET = 200_000  # SNS caps a message at 256 KiB; leave room for the JSON envelope of four renderings
DIGEST_ROWS_IN_TEXT = 200

_HEADLINES = {
    (Outcome.REVERTED, None): "X-Ray encryption drift reverted",
    (Outcome.REVERT_FAILED, None): "X-Ray encryption revert FAILED",
    (Outcome.ERROR, None): "X-Ray encryption check failed",
    (Outcome.ALERTED, Verdict.DRIFT_NONE): "X-Ray encryption set to AWS-owned key (NONE)",
    (Outcome.ALERTED, Verdict.DRIFT_AWS_MANAGED): "X-Ray uses the AWS-managed key",
    (Outcome.ALERTED, Verdict.DRIFT_OTHER_KEY): "X-Ray uses an unapproved KMS key",
    (Outcome.ALERTED, Verdict.KEY_UNUSABLE): "X-Ray approved KMS key is unusable",
}
_EMOJI = {
    "critical": ":rotating_light:",
    "high": ":warning:",
    "medium": ":warning:",
    "low": ":white_check_mark:",
}


def headline(finding: Finding) -> str:
    return _HEADLINES.get((finding.outcome, None)) or _HEADLINES.get(
        (finding.outcome, finding.verdict), f"X-Ray encryption {finding.verdict.value}"
    )


def subject(finding: Finding) -> str:
    return _ascii_subject(f"[{finding.severity.upper()}] {headline(finding)} in {finding.account} {finding.region}")


def _ascii_subject(text: str) -> str:
    text = text.encode("ascii", "replace").decode("ascii").replace("\n", " ")
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def _state(state: EncryptionState | None) -> str:
    return "not read" if state is None else state.describe()


def fix_commands(finding: Finding) -> list[str]:
    """The exact CLI commands to fix or check by hand (run with credentials for the account)."""
    key = finding.approved_key_arn or finding.approved_key_ref
    region = finding.region
    return [
        f"aws xray put-encryption-config --type KMS --key-id {key} --region {region}",
        f"aws xray get-encryption-config --region {region}",
    ]


def _what_we_did(finding: Finding) -> str:
    if finding.outcome is Outcome.REVERTED:
        return (
            "Reverted to the approved key and VERIFIED: X-Ray re-read reports Type KMS, Status ACTIVE, "
            "KeyId = approved key ARN."
        )
    if finding.outcome is Outcome.REVERT_FAILED:
        return f"Tried to revert and could NOT verify it ({finding.detail}). The setting may still be wrong."
    if finding.outcome is Outcome.ERROR:
        return f"Could not read the live setting ({finding.detail})."
    why = []
    if finding.verdict is Verdict.KEY_UNUSABLE:
        why.append("the approved key cannot be used, so there is nothing safe to revert to")
    elif finding.exempt_actor:
        why.append("the actor is an exempt (break-glass) principal")
    elif finding.mode == "alert":
        why.append("xray-guard runs in alert mode")
    return "Alert only, nothing changed" + (f": {', '.join(why)}." if why else ".")


def _actor_lines(finding: Finding) -> list[str]:
    actor = finding.actor
    if actor is None:
        return [f"Who:      nobody reported (found by the {finding.trigger}, not by an event)"]
    return [
        f"Who:      {actor.arn}",
        f"          type {actor.type}, via {actor.channel}, source IP {actor.source_ip or 'unknown'}",
        f"          user agent: {actor.user_agent or 'unknown'}",
    ]


def render_email(finding: Finding) -> str:
    lines = [
        f"{headline(finding)} — severity {finding.severity.upper()}",
        "",
        f"What:     {finding.reason}",
        f"Where:    account {finding.account}, region {finding.region}",
        *_actor_lines(finding),
        f"When:     {finding.event_time or finding.observed_at} (checked {finding.observed_at})",
        f"Before:   {_state(finding.before)}",
        f"After:    {_state(finding.after)}",
        f"Approved: {finding.approved_key_ref}"
        + (f" = {finding.approved_key_arn}" if finding.approved_key_arn else ""),
        f"Action:   {_what_we_did(finding)}",
        f"Verified: {'yes' if finding.verified else 'no'}",
        "",
        "To fix or check by hand (credentials for the account above):",
        *(f"  {cmd}" for cmd in fix_commands(finding)),
        "",
        f"CloudTrail event: {finding.cloudtrail_event_id or 'n/a'}   EventBridge event: {finding.event_id or 'n/a'}",
        f"Mode: {finding.mode}   Trigger: {finding.trigger}   Verdict: {finding.verdict.value}",
    ]
    if finding.exempt_actor:
        lines.append("The actor matched XRAY_GUARD_EXEMPT_PRINCIPALS: confirm the change was intended.")
    return "\n".join(lines) + "\n"


def render_chatbot(finding: Finding) -> dict[str, Any]:
    actor = finding.actor
    who = f"`{actor.arn}` ({actor.type}, {actor.channel}, {actor.source_ip or 'IP unknown'})" if actor else "—"
    description = "\n".join(
        [
            f"*{finding.reason}*",
            f"*Where:* account `{finding.account}`, region `{finding.region}`",
            f"*Who:* {who}",
            f"*Before:* {_state(finding.before)}",
            f"*After:* {_state(finding.after)}",
            f"*xray-guard:* {_what_we_did(finding)}",
            f"*CloudTrail event:* `{finding.cloudtrail_event_id or 'n/a'}`",
        ]
    )
    return {
        "version": "1.0",
        "source": "custom",
        "id": finding.event_id or f"{finding.account}-{finding.region}-{finding.observed_at}",
        "content": {
            "textType": "client-markdown",
            "title": f"{_EMOJI.get(finding.severity, '')} {headline(finding)}".strip(),
            "description": description,
            "nextSteps": [f"`{cmd}`" for cmd in fix_commands(finding)],
            "keywords": [finding.severity, finding.verdict.value, finding.outcome.value, finding.account],
        },
        "metadata": {
            "threadId": f"xray-guard-{finding.account}-{finding.region}",
            "summary": subject(finding),
            "eventType": "XRayEncryptionDrift",
            "additionalContext": {"actor": actor.arn if actor else None},
        },
    }


def attributes(severity: str, account: str, region: str, outcome: str) -> dict[str, MessageAttributeValueTypeDef]:
    values = {"severity": severity, "account": account, "region": region, "outcome": outcome}
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


@dataclass(frozen=True)
class Message:
    """One SNS Publish request: subject, the per-protocol JSON message, and filterable attributes."""

    subject: str
    message: dict[str, str]
    attributes: dict[str, MessageAttributeValueTypeDef]


def finding_message(finding: Finding) -> Message:
    machine = json.dumps(finding.to_json())
    return Message(
        subject=subject(finding),
        message={
            "default": json.dumps(render_chatbot(finding)),
            "email": render_email(finding),
            "sqs": machine,
            "lambda": machine,
        },
        attributes=attributes(finding.severity, finding.account, finding.region, finding.outcome.value),
    )


def digest_message(sweep_id: str, findings: Sequence[Finding], failed_accounts: dict[str, str]) -> Message:
    """One message for a whole sweep: counts and a table of the account/region pairs that were not compliant."""
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.verdict.value] = counts.get(f.verdict.value, 0) + 1
    bad = sorted((f for f in findings if f.verdict is not Verdict.COMPLIANT), key=lambda f: (f.account, f.region))
    reverted = sum(f.outcome is Outcome.REVERTED for f in bad)
    failed = sum(f.outcome in {Outcome.REVERT_FAILED, Outcome.ERROR} for f in bad)
    accounts = {f.account for f in findings} | set(failed_accounts)
    worst = "critical" if failed or failed_accounts else ("high" if len(bad) > reverted else "low")
    title = (
        f"X-Ray encryption sweep: {len(bad)} non-compliant of {len(findings)} regions, "
        f"{reverted} reverted, {len(failed_accounts)} account(s) failed"
    )
    header = f"{'ACCOUNT':<14}{'REGION':<17}{'VERDICT':<19}{'OUTCOME':<15}DETAIL"
    rows = [
        f"{f.account:<14}{f.region:<17}{f.verdict.value:<19}{f.outcome.value:<15}{f.detail or f.reason}" for f in bad
    ]
    shown = rows[:DIGEST_ROWS_IN_TEXT]
    email = [
        title,
        "",
        f"Sweep {sweep_id}: {len(accounts)} account(s), {len(findings)} region check(s).",
        "Counts: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"),
        "",
        header if bad else "Every checked region is compliant.",
        *shown,
    ]
    if len(rows) > len(shown):
        email.append(f"... and {len(rows) - len(shown)} more (full list in the JSON rendering and the logs)")
    if failed_accounts:
        email += [
            "",
            "Accounts that could not be checked (retried, then kept in the sweep dead-letter queue):",
        ]
        email += [f"  {account}: {why}" for account, why in sorted(failed_accounts.items())]
    machine_rows = [f.to_json() for f in bad]
    machine: dict[str, Any] = {
        "schema": "xray-guard.sweep-digest/v1",
        "sweep_id": sweep_id,
        "accounts": len(accounts),
        "checks": len(findings),
        "counts": counts,
        "reverted": reverted,
        "failed_accounts": failed_accounts,
        "non_compliant": machine_rows,
        "omitted": 0,
    }
    while len(json.dumps(machine)) > MESSAGE_BUDGET // 2 and machine["non_compliant"]:
        keep = len(machine["non_compliant"]) // 2
        machine["omitted"] += len(machine["non_compliant"]) - keep
        machine["non_compliant"] = machine["non_compliant"][:keep]
    chatbot = {
        "version": "1.0",
        "source": "custom",
        "id": sweep_id,
        "content": {
            "textType": "client-markdown",
            "title": f"{_EMOJI.get(worst, '')} {title}",
            "description": "\n".join(
                ["*Counts:* " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none")]
                + [f"`{f.account}` `{f.region}` {f.verdict.value} → {f.outcome.value}" for f in bad[:20]]
                + ([f"… and {len(bad) - 20} more (see email/JSON)"] if len(bad) > 20 else [])
                + [f"*Account failed:* `{a}` {why}" for a, why in sorted(failed_accounts.items())[:10]]
            ),
            "keywords": [worst, "sweep"],
        },
        "metadata": {"threadId": f"xray-guard-sweep-{sweep_id}", "summary": title[:SUBJECT_LIMIT]},
    }
    text = "\n".join(email) + "\n"
    return Message(
        subject=_ascii_subject(f"[{worst.upper()}] {title}"),
        message={
            "default": json.dumps(chatbot),
            "email": text[: MESSAGE_BUDGET // 2],
            "sqs": json.dumps(machine),
            "lambda": json.dumps(machine),
        },
        attributes=attributes(worst, "multiple", "multiple", "sweep-digest"),
    )


class SnsNotifier:
    """Publishes messages to the alert topic through the SNS client it is given."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, message: Message) -> str:
        response = call_aws(
            "sns",
            "Publish",
            lambda: self._client.publish(
                TopicArn=self._topic_arn,
                Subject=message.subject,
                MessageStructure="json",
                Message=json.dumps(message.message),
                MessageAttributes=message.attributes,
            ),
        )
        return str(response["MessageId"])
