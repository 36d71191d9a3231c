"""AWS calls per event path, counted in localaws's call log, for a warm responder.

Warm: the responder already handled one compliant event, so it holds the member account's assumed-role
credentials and the approved key's ARN (no sts:AssumeRole, no classification DescribeKey). Each path is one
`Responder.on_event` of a real-shaped event from tests/events/; the calls logged during it are its calls (the
admin's own set-up calls fall outside). X-Ray turns ACTIVE at once here (updating 0 s), so a revert needs one
poll, which is also the verification read.

The drift path runs one simulated minute after the previous invocation (a stepped clock, no waiting), so the
pre-flight DescribeKey is due as in the floor; a second revert right after shows the 30 s pre-flight cache.
"""

from __future__ import annotations

import itertools
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

GET, DESCRIBE, PUT, PUBLISH = (
    "xray:GetEncryptionConfig",
    "kms:DescribeKey",
    "xray:PutEncryptionConfig",
    "sns:Publish",
)
SIMPLE_PATHS = (
    ("own echo", "own-echo.json", 0),
    ("failed call", "failed-call-access-denied.json", 0),
    ("compliant", COMPLIANT_EVENT, 1),
)
DRIFT_EVENT = "console-change-to-none.json"


def revert_polls(ops: Sequence[str]) -> int | None:
    """Number of polls if `ops` is the floor's shape Get, DescribeKey, Put, Get×N (N ≥ 1), Publish; else None."""
    if list(ops[:3]) != [GET, DESCRIBE, PUT] or not ops or ops[-1] != PUBLISH:
        return None
    polls = ops[3:-1]
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
        "own echo 0, failed call 0, compliant 1 (the re-read), drift → verified revert 4 + polls (Get, "
        "DescribeKey pre-flight, Put, Publish, plus N polls of which the last is the verification read).",
    )
    for label, event, floor in SIMPLE_PATHS:
        start = aws.call_count()
        summary = responder.on_event(load_event(event))
        ops = aws.calls_since(start)
        section.rows.append(
            Row(f"AWS calls: {label}", str(len(ops)), f"floor {floor}", "—", "= floor", len(ops) == floor)
        )
        section.details.append(f"- {label} (`{event}` → {summary['decision']}): {compact(ops)}")

    # The floor's revert (pre-flight due), then one right after it: context for the 30 s pre-flight cache.
    for label, gap, judged in (
        ("drift → verified revert", 60.0, True),
        ("revert < 30 s after the last (pre-flight cached)", 0.0, False),
    ):
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
                f"{len(ops)} = 4 + {polls} poll(s)" if polls is not None else str(len(ops)),
                "floor 4 + polls",
                "—",
                "= floor" if judged else "—",
                (polls is not None and outcome == "reverted") if judged else None,
            )
        )
    posture_rows(aws, responder, section)
    section.seconds = time.perf_counter() - started
    return section


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
