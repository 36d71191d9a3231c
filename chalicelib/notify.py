"""The alert: one finding (or one sweep digest) rendered for Slack via Amazon Q Developer (AWS Chatbot),
for email, and for machines, published as one SNS message with MessageStructure=json.

SNS picks the `email` key for email subscribers, `sqs`/`lambda` for those protocols and `default` for the rest
(https), which is how Amazon Q Developer in chat applications subscribes
(https://docs.aws.amazon.com/sns/latest/dg/sns-send-custom-platform-specific-payloads-mobile-devices.html,
"MessageStructure" in https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
Custom notification format: https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html

Every value that reaches a person goes through chalicelib.text: email and digest lines through `safe_text`, chat
values through `chat_code` (event fields) or `chat_text` (xray-guard's own prose). The machine renderings
(`sqs`/`lambda`) keep values verbatim in JSON.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain import Actor, EncryptionState, Mode, Outcome, Severity, Verdict, worst_severity
from chalicelib.findings import Finding
from chalicelib.storm import SUMMARY_EVERY, WINDOW_SECONDS, StormRecap, StormVerdict
from chalicelib.text import chat_code, chat_text, clip, safe_text

if TYPE_CHECKING:
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
    (Outcome.ALERTED, Verdict.KEY_ALIAS_MISSING): "X-Ray approved KMS alias deleted",
    (Outcome.ALERTED, Verdict.DRIFT_SPANS_UNENCRYPTED): "X-Ray spans (aws/spans) not encrypted with a KMS key",
    (Outcome.ALERTED, Verdict.DRIFT_SPANS_OTHER_KEY): "X-Ray spans (aws/spans) use an unapproved KMS key",
}
_EMOJI = {
    Severity.CRITICAL: ":rotating_light:",
    Severity.HIGH: ":warning:",
    Severity.MEDIUM: ":warning:",
    Severity.LOW: ":white_check_mark:",
}


def headline(finding: Finding, storm: StormVerdict | None = None) -> str:
    if storm:
        return f"X-Ray encryption flapping ({storm.count} drifts this hour)"
    if finding.key_alert and finding.key and finding.key.headline:
        return finding.key.headline
    return _HEADLINES.get((finding.outcome, None)) or _HEADLINES.get(
        (finding.outcome, finding.verdict), f"X-Ray encryption {finding.verdict.value}"
    )


def subject(finding: Finding, storm: StormVerdict | None = None) -> str:
    where = f"in {finding.account} {finding.region}"
    return _ascii_subject(f"[{finding.severity.upper()}] {headline(finding, storm)} {where}")


def _ascii_subject(text: str) -> str:
    text = safe_text(text).encode("ascii", "replace").decode("ascii")
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


APPROVED = "the approved key"


def _named(text: str, finding: Finding) -> str:
    """`text` with the approved key's ARN said as "the approved key": the alert names the ARN once (its Approved:
    line, or its Key: line in chat) and in the commands, so the states around it read as what they are."""
    arn = finding.approved_key_arn
    return text.replace(arn, APPROVED) if arn else text


def _state(state: EncryptionState | None, finding: Finding) -> str:
    """X-Ray's EncryptionConfig, its Status labelled as X-Ray's: ACTIVE there says the setting has been applied, not
    that the key is usable (a key's own state is on the Key: line)."""
    if state is None:
        return "not read"
    if state.key_arn is None:
        kind = "NONE (AWS-owned key)"
    elif state.key_arn == finding.approved_key_arn:
        kind = f"KMS, {APPROVED}"
    else:
        kind = f"KMS {state.key_arn}"
    return f"X-Ray config {kind}; X-Ray status {state.status}"


def _now(finding: Finding) -> str:
    return "unchanged" if finding.after == finding.before else _state(finding.after, finding)


def fix_commands(finding: Finding) -> list[str]:
    """The exact CLI commands to fix or check by hand (run with credentials for the account)."""
    if finding.key_alert and finding.key and finding.key.arn:
        # The key owner's commands: xray-guard never runs them (a KMS event's alert).
        describe = f"aws kms describe-key --key-id {finding.key.arn} --region {finding.region}"
        return [*finding.key.undo, describe]
    key = finding.approved_key_arn or finding.approved_key_ref
    if finding.verdict in {Verdict.DRIFT_SPANS_UNENCRYPTED, Verdict.DRIFT_SPANS_OTHER_KEY}:
        check = f"aws logs describe-log-groups --log-group-name-prefix aws/spans --region {finding.region}"
        if finding.outcome is Outcome.REVERTED:
            return [check]
        return [
            f"aws logs associate-kms-key --log-group-name aws/spans --kms-key-id {key} --region {finding.region}",
            check,
        ]
    check = f"aws xray get-encryption-config --region {finding.region}"
    if finding.outcome is Outcome.REVERTED or finding.verdict is Verdict.KEY_UNUSABLE:
        return [check]  # already fixed, or nothing safe to put back: only look
    return [f"aws xray put-encryption-config --type KMS --key-id {key} --region {finding.region}", check]


def _fix_heading(finding: Finding) -> str:
    if finding.key_alert and finding.key and finding.key.undo:
        return "The key owner can undo it (credentials for the key's account; xray-guard never changes a key):"
    if finding.key_alert:
        return "To check by hand (credentials for the key's account):"
    if finding.outcome is Outcome.REVERTED:
        return "To check by hand (credentials for the account above):"
    if finding.verdict is Verdict.KEY_UNUSABLE:
        return "Repair or re-enable the approved key first; then check (credentials for the account above):"
    if finding.exempt_actor:
        return "Only if the change was NOT intended, restore the approved key (credentials for the account above):"
    return "To fix or check by hand (credentials for the account above):"


def _verified(finding: Finding) -> str:
    if finding.outcome is Outcome.REVERTED:
        return "yes (re-read after the revert)"
    if finding.outcome is Outcome.REVERT_FAILED:
        return "NO (the revert could not be verified)"
    return "n/a (xray-guard changed nothing)"


def _what_we_did(finding: Finding) -> str:
    spans_only = finding.spans is not None and finding.spans.outcome is Outcome.REVERTED
    spans_only &= finding.after == finding.before  # X-Ray's own setting was not touched
    if finding.outcome is Outcome.REVERTED and spans_only:
        return (
            "Associated the approved key with aws/spans and VERIFIED by re-read. It protects spans ingested from"
            " now on (CloudWatch Logs: up to 5 minutes); earlier spans stay as they were until they expire."
        )
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
    if finding.key_alert:
        why.append("xray-guard never re-enables a key, cancels a deletion or edits a key policy")
    elif finding.verdict is Verdict.KEY_ALIAS_MISSING:
        why.append("the approved alias is gone, so there is nothing to revert to")
    elif finding.verdict is Verdict.KEY_UNUSABLE:
        why.append("the approved key cannot be used, so there is nothing safe to revert to")
    elif finding.exempt_actor:
        why.append("the actor is an exempt (break-glass) principal")
    elif finding.mode is Mode.ALERT:
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


def _spans_lines(finding: Finding) -> list[str]:
    """The second store: where spans go and their key (both stores are judged; see README "Two trace stores")."""
    spans = finding.spans
    if spans is None:
        return ["Spans:    not checked"]
    reason = _named(spans.reason, finding)
    if spans.verdict is Verdict.COMPLIANT and spans.outcome is Outcome.COMPLIANT:
        return [f"Spans:    {reason} (compliant)"]
    before = _named(spans.before.describe(), finding) if spans.before else "not read"
    # An unusable key's reason already says where spans stood when judged.
    said = spans.unusable is not None and spans.unusable.state == spans.before
    found = "" if said else f"found: {before}; "
    lines = [f"Spans:    {reason}", f"          {found}{spans.verdict.value}, {spans.outcome.value}"]
    if spans.after is not None and spans.after != spans.before:
        lines.append(f"          now: {_named(spans.after.describe(), finding)}")
    if spans.detail:
        lines.append(f"          {spans.detail}")
    return lines


def _finding_line(finding: Finding) -> str:
    """What was found: the key's own words when a KMS event's alert leads, else the region's reason."""
    if finding.key_alert and finding.key and finding.key.words:
        return finding.key.words[0]
    return finding.reason


def _key_lines(finding: Finding) -> list[str]:
    """The approved key (or the key a KMS event is about): state, deletion date, posture, and the alert's words."""
    key = finding.key
    if key is None:
        return []
    state = f"key state {key.state}" if key.state else "not described"
    deletion = f", deletion on {key.deletion_date}" if key.deletion_date else ""
    which = f"{APPROVED} above" if key.arn and key.arn == finding.approved_key_arn else key.arn or "unknown"
    lines = [f"Key:      {which}: {state}{deletion}"]
    if key.event_name:
        lines[0] += f", after {key.event_name}"
    if key.posture is not None:
        lines.append(f"Posture:  {key.posture.render()}")
        if key.posture.fixed:
            lines.append(f"          {key.posture.fixed}")
    lines += [f"          {_named(words, finding)}" for words in key.words[1 if finding.key_alert else 0 :]]
    if finding.key_alert and finding.verdict is Verdict.KEY_UNUSABLE:
        # The key's words above say why it cannot be used; Found and Spans say where each store stands.
        lines.append(f"Region:   {finding.verdict.value}, {finding.outcome.value}")
    elif finding.key_alert:
        lines.append(f"Region:   {_named(finding.reason, finding)} ({finding.verdict.value})")
    return lines


def _text_block(lines: list[str]) -> str:
    """Plain-text lines, each made one inert line: a value cannot add a line, recolour or reorder one."""
    return "".join(safe_text(line) + "\n" for line in lines)


def render_email(finding: Finding, storm: StormVerdict | None = None) -> str:
    lines = [
        f"{headline(finding, storm)} — severity {finding.severity.upper()}",
        "",
        f"Finding:  {_finding_line(finding)}",
        f"Where:    account {finding.account}, region {finding.region}",
        *_actor_lines(finding),
        f"Changed:  {finding.event_time or 'not reported by an event'} (CloudTrail eventTime)",
        f"Checked:  {finding.observed_at} (xray-guard re-read the live setting)",
        f"Found:    {_state(finding.before, finding)}",
        f"Now:      {_now(finding)}",
        *_spans_lines(finding),
        f"Approved: {finding.approved_key_ref}"
        + (f" = {finding.approved_key_arn}" if finding.approved_key_arn else ""),
        *_key_lines(finding),
        f"Action:   {_what_we_did(finding)}",
        f"Verified: {_verified(finding)}",
        "",
        _fix_heading(finding),
        *(f"  {cmd}" for cmd in fix_commands(finding)),
        "",
        f"CloudTrail event: {finding.cloudtrail_event_id or 'n/a'}   EventBridge event: {finding.event_id or 'n/a'}",
        f"Mode: {finding.mode}   Trigger: {finding.trigger}   Verdict: {finding.verdict.value}",
    ]
    if finding.exempt_actor:
        lines.append("The actor matched XRAY_GUARD_EXEMPT_PRINCIPALS: confirm the change was intended.")
    if storm:
        lines.append(
            f"Storm control: {storm.count} drifts in this account/region this hour. Each is still handled;"
            f" individual alerts are collapsed into one summary every {SUMMARY_EVERY} drifts."
            " Find who keeps changing it."
        )
    if storm and storm.suppressed:
        lines.append("Held back since the last alert (CloudTrail eventID): " + ", ".join(_held(storm)))
    return _text_block(lines)


def _held(storm: StormVerdict | None) -> list[str]:
    return [f"{d.event_id} ({d.verdict})" for d in storm.suppressed] if storm else []


def _chat_who(actor: Actor | None) -> str:
    if actor is None:
        return "—"
    ip = chat_code(actor.source_ip) if actor.source_ip else "IP unknown"
    return f"{chat_code(actor.arn)} ({chat_code(actor.type)}, {actor.channel}, {ip})"


def _chat_key(finding: Finding) -> list[str]:
    key = finding.key
    if key is None:
        return []
    posture = f", posture {chat_text(key.posture.render())}" if key.posture else ""
    state = f"key state {key.state}" if key.state else "not described"
    lines = [f"*Key:* {chat_code(key.arn or 'unknown')} {chat_text(state)}{posture}"]
    # The first words are the notification's bold finding line when the key's alert leads: not twice.
    return lines + [chat_text(_named(words, finding)) for words in key.words[1 if finding.key_alert else 0 :]]


def _additional_context(finding: Finding) -> dict[str, str]:
    """Amazon Q Developer's metadata.additionalContext: a map of strings, so never a null value."""
    actor = finding.actor
    return {
        "actor": safe_text(actor.arn) if actor else f"none (found by the {finding.trigger})",
        "account": finding.account,
        "region": finding.region,
        "verdict": finding.verdict.value,
        "outcome": finding.outcome.value,
        "cloudTrailEventId": safe_text(finding.cloudtrail_event_id or "n/a"),
    }


def render_chatbot(finding: Finding, storm: StormVerdict | None = None) -> dict[str, Any]:
    changed = chat_code(finding.event_time) if finding.event_time else "not reported by an event"
    title = headline(finding, storm)
    description = "\n".join(
        [
            f"*{chat_text(_finding_line(finding))}*",
            f"*Where:* account {chat_code(finding.account)}, region {chat_code(finding.region)}",
            f"*Who:* {_chat_who(finding.actor)}",
            f"*Changed:* {changed}  *Checked:* {chat_text(finding.observed_at)}",
            f"*Found:* {chat_text(_state(finding.before, finding))}",
            f"*Now:* {chat_text(_now(finding))}",
            f"*Spans:* {chat_text(_named(finding.spans.reason, finding) if finding.spans else 'not checked')}",
            *_chat_key(finding),
            f"*xray-guard:* {chat_text(_what_we_did(finding))}",
            f"*CloudTrail event:* {chat_code(finding.cloudtrail_event_id or 'n/a')}",
        ]
    )
    return _chat_notification(
        safe_text(finding.event_id or f"{finding.account}-{finding.region}-{finding.observed_at}"),
        f"{_EMOJI.get(finding.severity, '')} [{finding.severity.upper()}] {title}".strip(),
        description,
        [finding.severity, finding.verdict.value, finding.outcome.value, finding.account],
        {
            "threadId": f"xray-guard-{finding.account}-{finding.region}",
            "summary": subject(finding, storm),
            "eventType": "XRayEncryptionDrift",
            "additionalContext": _additional_context(finding),
        },
        next_steps=[chat_code(cmd) for cmd in fix_commands(finding)],
    )


def _chat_notification(
    notification_id: str,
    title: str,
    description: str,
    keywords: list[str],
    metadata: dict[str, Any],
    *,
    next_steps: list[str] | None = None,
) -> dict[str, Any]:
    """An Amazon Q Developer custom notification (the `default` rendering; see the module docstring's link)."""
    content: dict[str, Any] = {"textType": "client-markdown", "title": title, "description": description}
    if next_steps is not None:
        content["nextSteps"] = next_steps
    content["keywords"] = keywords
    return {"version": "1.0", "source": "custom", "id": notification_id, "content": content, "metadata": metadata}


def attributes(severity: str, account: str, region: str, outcome: str) -> dict[str, MessageAttributeValueTypeDef]:
    values = {"severity": severity, "account": account, "region": region, "outcome": outcome}
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


@dataclass(frozen=True)
class Message:
    """One SNS Publish request: subject, the per-protocol JSON message, and filterable attributes."""

    subject: str
    message: dict[str, str]
    attributes: dict[str, MessageAttributeValueTypeDef]


ACTOR_FIELD_LIMIT = 256  # characters of one actor field in an alert that would not fit the budget otherwise


def finding_message(finding: Finding, storm: StormVerdict | None = None) -> Message:
    """The alert for one finding; `storm` when storm control lets it through as a summary of this hour's drifts."""
    message = _finding_message(finding, storm)
    if len(json.dumps(message.message)) > MESSAGE_BUDGET and finding.actor is not None:
        # The parser admits fields of 2048 characters; rendered four times and escaped they can pass 256 KiB.
        message = _finding_message(dataclasses.replace(finding, actor=_clipped(finding.actor)), storm)
    return message


def _clipped(actor: Actor) -> Actor:
    limit = ACTOR_FIELD_LIMIT
    return dataclasses.replace(
        actor,
        arn=clip(actor.arn, limit),
        principal_arn=clip(actor.principal_arn, limit),
        session_name=actor.session_name and clip(actor.session_name, limit),
        user_agent=clip(actor.user_agent, limit),
        source_ip=actor.source_ip and clip(actor.source_ip, limit),
        invoked_by=actor.invoked_by and clip(actor.invoked_by, limit),
    )


def _finding_message(finding: Finding, storm: StormVerdict | None) -> Message:
    # The alert's machine rendering is finding/v1 plus what storm control adds to this one message.
    machine = json.dumps({**finding.to_json(), "storm_count": storm.count if storm else 0, "storm_held": _held(storm)})
    return _message(
        subject(finding, storm),
        render_chatbot(finding, storm),
        render_email(finding, storm),
        machine,
        attributes(finding.severity, finding.account, finding.region, finding.outcome.value),
    )


def _message(
    subject: str,
    chatbot: dict[str, Any],
    email: str,
    machine: str,
    message_attributes: dict[str, MessageAttributeValueTypeDef],
) -> Message:
    """The four renderings SNS picks from by protocol (see the module docstring); sqs and lambda get the JSON."""
    return Message(
        subject=subject,
        message={"default": json.dumps(chatbot), "email": email, "sqs": machine, "lambda": machine},
        attributes=message_attributes,
    )


def digest_message(
    sweep_id: str,
    results: Mapping[str, Mapping[str, Any]],
    central_keys: Mapping[str, Mapping[str, Any]] | None = None,
) -> Message:
    """One message for a whole sweep: counts, a table of the account/region pairs that were not compliant, every
    event coverage gap (a region only the sweep would notice a change in; a gap is never left out), and the approved
    keys whose posture is not ok (each account's own keys, and the central keys scheduled_sweep read).

    `results` maps account → {"counts": {verdict: n}, "non_compliant": [finding JSON], "error": str | None,
    "coverage_gaps": [{"account", "region", "coverage"}], "key_posture": [key rows], "notes": [str]};
    `central_keys` maps a configured key ARN → {"state", "posture", "severity", "fixed"}.
    """
    central = dict(central_keys or {})
    counts: dict[str, int] = {}
    for result in results.values():
        for verdict, n in result["counts"].items():
            counts[verdict] = counts.get(verdict, 0) + n
    failed_accounts = {a: str(r["error"]) for a, r in results.items() if r.get("error")}
    bad = sorted(
        (row for r in results.values() for row in r["non_compliant"]), key=lambda row: (row["account"], row["region"])
    )
    gaps = sorted(
        (gap for r in results.values() for gap in r.get("coverage_gaps", [])),
        key=lambda gap: (gap["account"], gap["region"]),
    )
    checks = sum(counts.values())
    reverted = sum(row["outcome"] == Outcome.REVERTED.value for row in bad)
    failed = sum(row["outcome"] in {Outcome.REVERT_FAILED.value, Outcome.ERROR.value} for row in bad)
    worst = Severity.CRITICAL if failed or failed_accounts else (Severity.HIGH if len(bad) > reverted else Severity.LOW)
    if gaps and worst is Severity.LOW:
        worst = Severity.MEDIUM  # nothing is wrong yet, but a change there would wait for the next sweep
    keys = sorted(
        (row for r in results.values() for row in r.get("key_posture", [])),
        key=lambda row: (row["account"], row["key"]),
    )
    severities = [row.get("severity") for row in keys] + [c.get("severity") for c in central.values()]
    worst = worst_severity(worst, *severities) or worst
    title = (
        f"X-Ray sweep: {len(bad)} of {checks} regions found non-compliant, {reverted} reverted, "
        f"{len(failed_accounts)} account(s) failed, {len(gaps)} coverage gap(s)"
    )
    # The same counts, short enough for an SNS subject (less than 100 characters).
    short = (
        f"X-Ray sweep: {len(bad)}/{checks} non-compliant, {reverted} reverted, {len(failed_accounts)} failed "
        f"accounts, {len(gaps)} coverage gaps"
    )
    count_text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
    header = f"{'ACCOUNT':<14}{'REGION':<17}{'VERDICT':<25}{'OUTCOME':<15}DETAIL"
    rows = [
        f"{r['account']:<14}{r['region']:<17}{r['verdict']:<25}{r['outcome']:<15}{r['detail'] or r['reason']}"
        for r in bad
    ]
    shown = rows[:DIGEST_ROWS_IN_TEXT]
    email = [
        title,
        "",
        f"Sweep {sweep_id}: {len(results)} account(s), {checks} region check(s).",
        f"Counts: {count_text}",
        "",
        header if bad else "Every checked region is compliant.",
        *shown,
    ]
    if len(rows) > len(shown):
        email.append(f"... and {len(rows) - len(shown)} more (full list in the JSON rendering and the logs)")
    if failed_accounts:
        email += ["", "Accounts that could not be checked:"]
        email += [f"  {account}: {why}" for account, why in sorted(failed_accounts.items())]
    notes = sorted({note for r in results.values() for note in r.get("notes", [])})
    if notes:
        email += ["", "Destinations (XRAY_GUARD_SINKS) that did not take every finding:"]
        email += [f"  {note}" for note in notes[:DIGEST_ROWS_IN_TEXT]]
    email += _coverage_lines(gaps)
    email += _key_posture_lines(keys, central)
    email_text = _text_block(email)
    machine: dict[str, Any] = {
        "schema": "xray-guard.sweep-digest/v1",
        "sweep_id": sweep_id,
        "accounts": len(results),
        "checks": checks,
        "counts": counts,
        "reverted": reverted,
        "failed_accounts": failed_accounts,
        "destination_notes": notes,
        "non_compliant": bad,
        "key_posture": keys,
        "central_keys": central,
        "omitted": 0,
        "coverage_gaps": gaps,
        "coverage_gaps_omitted": 0,
    }
    _fit(machine, "non_compliant", "omitted")
    _fit(machine, "coverage_gaps", "coverage_gaps_omitted")
    chatbot = _digest_chatbot(
        sweep_id, title, worst=worst, count_text=count_text, bad=bad, failed_accounts=failed_accounts, gaps=gaps,
        keys=keys, central=central,
    )  # fmt: skip
    return _message(
        _ascii_subject(f"[{worst.upper()}] {short}"),
        chatbot,
        email_text[: MESSAGE_BUDGET // 2],
        json.dumps(machine),
        attributes(worst, "multiple", "multiple", "sweep-digest"),
    )


def _fit(machine: dict[str, Any], field: str, omitted: str) -> None:
    """Halve a list in the machine rendering until the message fits SNS's budget, counting what was left out."""
    while len(json.dumps(machine)) > MESSAGE_BUDGET // 2 and machine[field]:
        keep = len(machine[field]) // 2
        machine[omitted] += len(machine[field]) - keep
        machine[field] = machine[field][:keep]


def _digest_chatbot(
    sweep_id: str,
    title: str,
    *,
    worst: Severity,
    count_text: str,
    bad: list[Mapping[str, Any]],
    failed_accounts: Mapping[str, str],
    gaps: list[Mapping[str, str]],
    keys: list[Mapping[str, Any]],
    central: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """The digest as an Amazon Q Developer custom notification: the first rows of each section."""
    lines = [f"*Counts:* {chat_text(count_text)}"]
    lines += [
        f"{chat_code(r['account'])} {chat_code(r['region'])} {chat_text(r['verdict'])} -> {chat_text(r['outcome'])}"
        for r in bad[:20]
    ]
    if len(bad) > 20:
        lines.append(f"... and {len(bad) - 20} more (see the email or JSON rendering)")
    lines += [f"*Account failed:* {chat_code(a)} {chat_code(why)}" for a, why in sorted(failed_accounts.items())[:10]]
    lines += [
        f"*Coverage gap:* {chat_code(g['account'])} {chat_code(g['region'])} {chat_text(g['coverage'])}"
        for g in gaps[:10]
    ]
    if len(gaps) > 10:
        lines.append(f"... and {len(gaps) - 10} more coverage gaps (see the email or JSON rendering)")
    lines += [f"*Key:* {chat_code(row['key'])} {chat_text(row['posture'])}" for row in keys[:10]]
    lines += [f"*Central key:* {chat_code(arn)} {chat_text(c['posture'])}" for arn, c in sorted(central.items())[:10]]
    return _chat_notification(
        sweep_id,
        f"{_EMOJI.get(worst, '')} {chat_text(title)}",
        "\n".join(lines),
        [worst, "sweep"],
        {"threadId": f"xray-guard-sweep-{sweep_id}", "summary": title[:SUBJECT_LIMIT]},
    )


def _coverage_lines(gaps: list[Mapping[str, str]]) -> list[str]:
    """The digest's coverage section: every gap, the regions of an account that share one gap on one line (before a
    rollout every region of an account has the same gap); the full list is also in the JSON and the logs."""
    if not gaps:
        return ["", "Event coverage: events from every checked region reach xray-guard."]
    grouped: dict[tuple[str, str], list[str]] = {}
    for gap in gaps:
        grouped.setdefault((gap["account"], gap["coverage"]), []).append(gap["region"])
    rows = [f"{account:<14}{coverage}  [{', '.join(regions)}]" for (account, coverage), regions in grouped.items()]
    lines = [
        "",
        f"Event coverage gaps in {len(gaps)} region(s): a change there reaches xray-guard only at the next sweep",
        f"{'ACCOUNT':<14}COVERAGE  [REGIONS]",
        *rows[:DIGEST_ROWS_IN_TEXT],
    ]
    if len(rows) > DIGEST_ROWS_IN_TEXT:
        lines.append(f"... and {len(rows) - DIGEST_ROWS_IN_TEXT} more (full list in the JSON rendering and the logs)")
    return lines


def _key_posture_lines(keys: list[Mapping[str, Any]], central: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The digest's key posture section: each account's approved keys that are not ok (or whose rotation xray-guard
    turned on), then the central keys (read once by scheduled_sweep)."""
    lines: list[str] = []
    if keys:
        lines += ["", 'Approved keys whose posture is not ok (read once per key; README, "The key guard"):']
        for row in keys:
            lines.append(f"  {row['account']} {row['region']} {row['key']}: {row['posture']}")
            if row.get("fixed"):
                lines.append(f"    {row['fixed']}")
    shown = {arn: c for arn, c in sorted(central.items()) if c.get("posture") != "ok" or c.get("fixed")}
    if shown:
        lines += ["", "Central keys (read by scheduled_sweep with the owner's credentials; every account/region using "
                  "such a key is affected):"]  # fmt: skip
        for arn, c in shown.items():
            lines.append(f"  {arn} ({c.get('state') or 'not described'}): {c['posture']}")
            if c.get("fixed"):
                lines.append(f"    {c['fixed']}")
    return lines


def storm_recap_message(recap: StormRecap) -> Message:
    """The scheduled recap of one closed hour: every drift whose alert storm control held back, by name."""
    start = datetime.fromtimestamp(recap.window * WINDOW_SECONDS, UTC).strftime("%Y-%m-%dT%H:%MZ")
    pairs = sorted({(d.account, d.region) for d in recap.drifts})
    title = f"X-Ray drift storm recap: {len(recap.drifts)} alert(s) held back in {len(pairs)} region(s), hour {start}"
    rows = [f"{d.account:<14}{d.region:<17}{d.verdict:<19}{d.event_id}" for d in recap.drifts]
    email = [
        title,
        "",
        "Storm control collapsed these drift alerts into summaries. Each drift was still checked (and reverted in",
        "revert mode); in alert mode each may still be in place: check the region, and find who keeps changing it.",
        "",
        f"{'ACCOUNT':<14}{'REGION':<17}{'VERDICT':<19}CLOUDTRAIL EVENT",
        *rows[:DIGEST_ROWS_IN_TEXT],
    ]
    if len(rows) > DIGEST_ROWS_IN_TEXT:
        email.append(f"... and {len(rows) - DIGEST_ROWS_IN_TEXT} more (full list in the JSON rendering)")
    machine = json.dumps(
        {
            "schema": "xray-guard.storm-recap/v1",
            "hour_start": start,
            "held_back": [dataclasses.asdict(d) for d in recap.drifts],
        }
    )
    lines = [
        f"{chat_code(a)} {chat_code(r)}: {sum((d.account, d.region) == (a, r) for d in recap.drifts)} held back"
        for a, r in pairs
    ]
    chatbot = _chat_notification(
        f"storm-recap-{recap.window}",
        f"{_EMOJI[Severity.HIGH]} [HIGH] {title}",
        "\n".join(lines[:20]),
        [Severity.HIGH.value, "storm-recap"],
        {"threadId": f"xray-guard-storm-{recap.window}", "summary": title[:SUBJECT_LIMIT]},
    )
    return _message(
        _ascii_subject(f"[HIGH] {title}"),
        chatbot,
        _text_block(email)[: MESSAGE_BUDGET // 2],
        machine,
        attributes(Severity.HIGH, "multiple", "multiple", "storm-recap"),
    )
