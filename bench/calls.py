"""AWS calls per event path, counted in localaws's call log, for a warm responder.

Warm: the responder already handled one compliant event, so it holds the member account's assumed-role
credentials and the approved key's ARN (no sts:AssumeRole, no classification DescribeKey). Each path is one
`Responder.on_event` of a real-shaped event from tests/events/; the calls logged during it are its calls (the
admin's own set-up calls fall outside). X-Ray turns ACTIVE at once here (updating 0 s), so a revert needs one
poll, which is also the verification read.

Both trace stores are read on every path (README "Two trace stores, one key"): X-Ray's config, then the trace
segment destination, and the `aws/spans` log group when spans go there. Drift is only called on a freshly
described approved key (README "Limits"): the drift paths include one DescribeKey even with a warm cache.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence

from bench.aws import (
    APPROVED_ALIAS,
    COMPLIANT_EVENT,
    MEMBER,
    MEMBER_REGION,
    LocalAWSProcess,
    SteppedClock,
    load_event,
    warm_responder,
)
from bench.report import Row, Section
from chalicelib.domain import KeyInfo
from chalicelib.keyguard import posture_book
from chalicelib.kms import KeyDirectory
from chalicelib.service import Responder
from chalicelib.spans import logs_key_statement

GET, DESCRIBE, PUT, PUBLISH, DESTINATION = (
    "xray:GetEncryptionConfig",
    "kms:DescribeKey",
    "xray:PutEncryptionConfig",
    "sns:Publish",
    "xray:GetTraceSegmentDestination",
)
GROUPS, ASSOCIATE = "logs:DescribeLogGroups", "logs:AssociateKmsKey"
SIMPLE_PATHS = (
    ("own echo", "own-echo.json", 0),
    ("failed call", "failed-call-access-denied.json", 0),
    ("compliant (Transaction Search off)", COMPLIANT_EVENT, 2),
)
DRIFT_EVENT = "console-change-to-none.json"


def revert_polls(ops: Sequence[str]) -> int | None:
    """Number of polls if `ops` is the floor's shape Get, DescribeKey, Put, Get×N (N ≥ 1), GetTraceSegment-
    Destination, Publish; else None."""
    if list(ops[:3]) != [GET, DESCRIBE, PUT] or list(ops[-2:]) != [DESTINATION, PUBLISH]:
        return None
    polls = ops[3:-2]
    return len(polls) if polls and all(op == GET for op in polls) else None


def compact(ops: Sequence[str]) -> str:
    """`a, b, c ×3, d`: the sequence with runs collapsed."""
    parts = []
    for op, run_ in itertools.groupby(ops):
        count = len(list(run_))
        parts.append(f"{op} ×{count}" if count > 1 else op)
    return ", ".join(parts) or "(none)"


def run(aws: LocalAWSProcess) -> Section:
    started = time.perf_counter()
    clock = SteppedClock()
    responder = warm_responder(aws, clock)
    section = Section(
        "AWS calls per path (warm)",
        "Counted in localaws's call log around one `Responder.on_event` per path; the responder is warm "
        "(assumed-role credentials and approved key ARN cached by a previous compliant invocation), built as "
        "`chalicelib.runtime.build` builds it, in revert mode. X-Ray turns ACTIVE at once (updating 0 s). Floor: "
        "own echo 0, failed call 0, compliant 2 (X-Ray's config and the trace segment destination), with "
        "Transaction Search on 3 (+ DescribeLogGroups), drift → verified revert 5 + polls (Get, DescribeKey "
        "afresh, Put, destination read, Publish, plus N polls of which the last is the verification read), spans "
        "drift → verified association 7 (Get, destination, DescribeLogGroups, DescribeKey afresh, AssociateKmsKey, "
        "DescribeLogGroups to verify, Publish).",
    )
    for label, event, floor in SIMPLE_PATHS:
        start = aws.call_count()
        summary = responder.on_event(load_event(event))
        ops = aws.calls_since(start)
        section.rows.append(
            Row(f"AWS calls: {label}", str(len(ops)), f"floor {floor}", "—", "= floor", len(ops) == floor)
        )
        section.details.append(f"- {label} (`{event}` → {summary['decision']}): {compact(ops)}")

    # Two reverts in a row: the second one describes the approved key afresh too (never from the cache).
    for label, gap in (("drift → verified revert", 60.0), ("a second revert right after (key described afresh)", 0.0)):
        aws.world.put(MEMBER, MEMBER_REGION, Type="NONE")
        clock.advance(gap)
        start = aws.call_count()
        summary = responder.on_event(load_event(DRIFT_EVENT))
        ops = aws.calls_since(start)
        polls = revert_polls(ops)
        outcome = str(summary.get("outcome"))
        section.details.append(f"- {label} (`{DRIFT_EVENT}` → {summary['decision']}, {outcome}): {compact(ops)}")
        section.rows.append(
            Row(
                f"AWS calls: {label}",
                f"{len(ops)} = 5 + {polls} poll(s)" if polls is not None else str(len(ops)),
                "floor 5 + polls",
                "—",
                "= floor",
                polls is not None and outcome == "reverted",
            )
        )
    spans_rows(aws, responder, section)
    posture_rows(aws, responder, section)
    section.seconds = time.perf_counter() - started
    return section


SPANS_COMPLIANT = [GET, DESTINATION, GROUPS]
SPANS_REVERT = [GET, DESTINATION, GROUPS, DESCRIBE, ASSOCIATE, GROUPS, PUBLISH]


def spans_rows(aws: LocalAWSProcess, responder: Responder, section: Section) -> None:
    """The second store: Transaction Search on with aws/spans on the approved key, then the key taken off it."""
    world = aws.world
    kms = world.kms(MEMBER, MEMBER_REGION)
    root = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:root"}, "Action": "kms:*", "Resource": "*"}
    logs_statement = logs_key_statement("aws", MEMBER_REGION, MEMBER, "amazonaws.com")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [root, logs_statement]})
    key_id = kms.describe_key(KeyId=APPROVED_ALIAS)["KeyMetadata"]["KeyId"]
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)  # CloudWatch Logs may use it for aws/spans
    world.client("xray", MEMBER, MEMBER_REGION).update_trace_segment_destination(Destination="CloudWatchLogs")
    logs = world.client("logs", MEMBER, MEMBER_REGION)
    for label, event, floor, before in (
        ("spans drift (aws/spans without a key) → verified association", "spans-key-disassociated.json",
         SPANS_REVERT, lambda: logs.disassociate_kms_key(logGroupName="aws/spans")),
        ("compliant (Transaction Search on)", "transaction-search-enabled.json", SPANS_COMPLIANT, lambda: None),
    ):  # fmt: skip
        before()
        start = aws.call_count()
        summary = responder.on_event(load_event(event))
        ops = aws.calls_since(start)
        section.details.append(
            f"- {label} (`{event}` → {summary['decision']}, {summary.get('outcome')}): {compact(ops)}"
        )
        section.rows.append(
            Row(f"AWS calls: {label}", str(len(ops)), f"floor {len(floor)}", "—", "= floor", ops == floor)
        )


# What key posture adds (README "The key guard"): per key, once per sweep_account invocation / audit run / scheduled
# sweep; the same key again in that book costs nothing; turning rotation on costs the write and its verification.
POSTURE_FLOOR = ["kms:GetKeyRotationStatus", "kms:ListKeyPolicies", "kms:GetKeyPolicy"]
FIX_FLOOR = ["kms:GetKeyRotationStatus", "kms:EnableKeyRotation", "kms:GetKeyRotationStatus", "kms:ListKeyPolicies",
             "kms:GetKeyPolicy"]  # fmt: skip


def posture_rows(aws: LocalAWSProcess, responder: Responder, section: Section) -> None:
    key = KeyDirectory(responder.clients.kms(MEMBER, MEMBER_REGION)).describe(APPROVED_ALIAS)
    assert isinstance(key, KeyInfo)
    for label, fix, floor in (
        ("key posture, first read of a key (rotation off: reported)", False, POSTURE_FLOOR),
        ("key posture, with XRAY_GUARD_FIX_KEY_ROTATION (rotation turned on, verified)", True, FIX_FLOOR),
    ):
        book = posture_book(responder, fix_rotation=fix, foreign_keys=False)
        start = aws.call_count()
        posture = book.get(key, MEMBER)
        ops = aws.calls_since(start)
        again = aws.call_count()
        book.get(key, MEMBER)  # another region with the same key, same book
        repeat = aws.calls_since(again)
        shown = posture.render() if posture else "not read"
        section.details.append(f"- {label}: {compact(ops)} → {shown}; the same key again in that book: {len(repeat)}")
        section.rows.append(
            Row(
                f"AWS calls: {label}",
                f"{len(ops)} (+{len(repeat)} again)",
                f"floor {len(floor)} (+0 again)",
                "—",
                "= floor",
                ops == floor and not repeat,
            )
        )
