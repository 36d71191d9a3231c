"""Reliability over localaws: injected faults, a shuffled burst of mixed events, and a fight with a flapping admin.

The invariant everywhere: an alert or kept record says "reverted" only when the emulator itself holds the approved
key ACTIVE, and a drift that was not fixed ends with a failure record and a failed invocation (so Lambda retries).
The test reads and flips X-Ray's state in the emulator directly (``world.aws.app.xray``): those reads and flips are
neither throttled nor in the call log, so every call in the log is the responder's own.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
import pytest

from chalicelib.errors import RemediationFailed
from chalicelib.service import Responder
from chalicelib.sessions import ClientFactory
from chalicelib.settings import Settings
from chalicelib.storm import StormControl, TableStorm
from tests.conftest import APPROVED_ALIAS, CENTRAL, MEMBER, MEMBER_REGION, World, load_event

LAMBDA_ASYNC_ATTEMPTS = 3  # the first delivery plus Lambda's two asynchronous retries
FAILURE_OUTCOMES = {"revert-failed", "error"}


# -- the emulator's truth, read and written without going through the API -----------------------------------------


def live(world: World, account: str = MEMBER, region: str = MEMBER_REGION) -> dict[str, str]:
    return world.aws.app.xray.get(account, region)


def approved_active(key_arn: str) -> dict[str, str]:
    return {"Type": "KMS", "KeyId": key_arn, "Status": "ACTIVE"}


def flip_to_none(world: World, account: str = MEMBER, region: str = MEMBER_REGION) -> None:
    """What an admin does in the console; takes effect at once (the fixture's updating_seconds is 0)."""
    world.aws.app.xray.put(account, region, {"Type": "NONE"}, 0.0)


def successful_puts(world: World) -> list[dict[str, str]]:
    """PutEncryptionConfig calls that reached X-Ray (a throttled or failed attempt changed nothing)."""
    return [c for c in world.calls("PutEncryptionConfig") if "fault" not in c]


# -- real-shaped events, retargeted ----------------------------------------------------------------------------------


def retarget(fixture: str, account: str, region: str, serial: str, key_arn: str | None = None) -> dict[str, Any]:
    """A fixture moved to another account/region (envelope, identity ARNs, host header), with unique ids."""
    text = json.dumps(load_event(fixture)).replace(MEMBER, account).replace(MEMBER_REGION, region)
    event: dict[str, Any] = json.loads(text)
    event["id"] = f"6f1d0b4e-{serial}"
    event["detail"]["eventID"] = f"a1b2c3d4-{serial}"
    if key_arn is not None:
        event["detail"]["requestParameters"]["keyId"] = key_arn
        event["detail"]["responseElements"]["encryptionConfig"]["keyId"] = key_arn
    return event


def human_change(account: str, region: str, serial: str) -> dict[str, Any]:
    return retarget("console-change-to-none.json", account, region, serial)


def failed_call(account: str, region: str, serial: str) -> dict[str, Any]:
    return retarget("failed-call-access-denied.json", account, region, serial)


def own_echo(account: str, region: str, serial: str, key_arn: str) -> dict[str, Any]:
    return retarget("own-echo.json", account, region, serial, key_arn)


def build_responder(
    world: World,
    topic: str,
    *,
    session: botocore.session.Session | None = None,
    storm: StormControl | None = None,
    **env: str,
) -> Responder:
    """As World.responder builds it, with the base session (a default one: its members session is another) and the
    storm control passed in."""
    values = {"XRAY_GUARD_KMS_KEY": APPROVED_ALIAS, "XRAY_GUARD_TOPIC_ARN": topic, "XRAY_GUARD_MODE": "revert"}
    values.update(env)
    settings = Settings.from_env(values)
    members = botocore.session.get_session() if session is not None else None
    clients = ClientFactory(
        settings.member_role, base=session, members=members, region="us-east-1", home_account=CENTRAL
    )
    return Responder(settings, clients, sleep=world.time.sleep, clock=world.time.monotonic, storm=storm)


def kept_records(queue_url: str) -> list[dict[str, Any]]:
    """Findings of undeliverable alerts, as the responder kept them in its failure queue."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    kept: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            kept.append(json.loads(m["Body"])["finding"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return kept


# -- 1. one drift under each fault ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    inject: Callable[[World, str], None]  # (world, approved key ARN)
    ends: str  # "reverted" or "failed"
    env: dict[str, str] = field(default_factory=dict)
    alert_delivered: bool = True


def _faults(**kwargs: Any) -> Callable[[World, str], None]:
    def inject(world: World, _key: str) -> None:
        world.aws.set_faults(**kwargs)

    return inject


def _key_id(key_arn: str) -> str:
    return key_arn.rsplit("/", 1)[-1]  # moto finds keys to disable or delete by key id only


def _disable(world: World, key: str) -> None:
    world.kms().disable_key(KeyId=_key_id(key))


def _schedule_deletion(world: World, key: str) -> None:
    world.kms().schedule_key_deletion(KeyId=_key_id(key), PendingWindowInDays=7)


FAULTS = {
    "throttling-30pct": Fault(_faults(throttle_rate=0.3), ends="reverted"),
    "sns-publish-fails": Fault(_faults(fail=["sns:Publish"]), ends="reverted", alert_delivered=False),
    "assume-role-denied": Fault(_faults(fail=[f"sts:AssumeRole@{MEMBER}=AccessDenied"]), ends="failed"),
    "approved-key-disabled": Fault(_disable, ends="failed"),
    "approved-key-pending-deletion": Fault(_schedule_deletion, ends="failed"),
    "stuck-updating": Fault(_faults(updating_seconds=3600), ends="failed", env={"XRAY_GUARD_ACTIVATION_TIMEOUT": "20"}),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_drift_under_a_fault_ends_reverted_and_verified_or_failed_loudly(world: World, name: str) -> None:
    fault = FAULTS[name]
    key = world.create_key()
    world.put(Type="NONE")
    topic, inbox = world.alert_inbox()
    failures = world.client("sqs").create_queue(QueueName="xray-guard-failures")["QueueUrl"]
    fault.inject(world, key)
    responder = world.responder(topic, XRAY_GUARD_FAILURE_QUEUE_URL=failures, **fault.env)
    world.aws.app.calls.clear()

    raised: RemediationFailed | None = None
    try:
        responder.on_event(load_event("console-change-to-none.json"))
    except RemediationFailed as e:
        raised = e
    calls = world.calls()
    alerts, kept = world.alerts(inbox), kept_records(failures)
    state = live(world)

    records = alerts + kept
    assert records, "every drift leaves an alert or a kept record"
    for record in records:
        if record["outcome"] == "reverted" or record["verified"]:
            assert state == approved_active(key), f"{record['outcome']} reported while X-Ray holds {state}"
    if fault.ends == "reverted":
        assert state == approved_active(key)
        [record] = records
        assert (record["outcome"], record["verified"]) == ("reverted", True)
        assert record["after"] == {"type": "KMS", "key_id": key, "status": "ACTIVE"}
        assert (alerts == [record]) is fault.alert_delivered
        if fault.alert_delivered:
            assert raised is None
        else:  # reverted, but nobody was told: the invocation must fail so the alert is retried
            assert raised is not None
            assert "alert not delivered" in str(raised)
    else:
        assert raised is not None, "an unfixed drift must fail the invocation"
        assert state != approved_active(key)
        assert any(r["outcome"] in FAILURE_OUTCOMES or r["verdict"] == "key-unusable" for r in records)
        assert all(r["outcome"] != "reverted" for r in records)
    if name == "throttling-30pct":
        assert any(c.get("fault") == "throttled" for c in calls), "the fault did not fire: the test proves nothing"
    if name.startswith("approved-key"):
        assert [c for c in calls if c["operation"] == "PutEncryptionConfig"] == []  # never write a dead key


# -- 2. a shuffled burst of mixed events across accounts and regions -----------------------------------------------

BURST_ACCOUNTS = (MEMBER, "333333333333", "444444444444")
BURST_REGIONS = ("eu-west-1", "us-west-2")
HUMAN_CHANGES_PER_TARGET, FAILED_CALLS_PER_TARGET, ECHOES_PER_TARGET, DUPLICATES = 3, 1, 2, 6


def test_burst_of_mixed_duplicated_shuffled_events_under_throttling(world: World) -> None:
    rng = random.Random(20261128)  # noqa: S311 - a reproducible shuffle, not security
    targets = [(a, r) for a in BURST_ACCOUNTS for r in BURST_REGIONS]
    keys = {}
    for account, region in targets:
        keys[account, region] = world.create_key(account, region)
        world.put(account, region, Type="KMS", KeyId=APPROVED_ALIAS)
    topic, inbox = world.alert_inbox()
    responder = world.responder(topic)

    kinds: dict[str, str] = {}
    events: list[dict[str, Any]] = []
    for t, (account, region) in enumerate(targets):
        made = [("human", human_change(account, region, f"{t}-h{i}")) for i in range(HUMAN_CHANGES_PER_TARGET)]
        made += [("failed", failed_call(account, region, f"{t}-f{i}")) for i in range(FAILED_CALLS_PER_TARGET)]
        made += [
            ("echo", own_echo(account, region, f"{t}-e{i}", keys[account, region])) for i in range(ECHOES_PER_TARGET)
        ]
        for kind, event in made:
            kinds[event["id"]] = kind
            events.append(event)
    deliveries = events + rng.sample(events, DUPLICATES)  # at-least-once delivery: some arrive twice
    rng.shuffle(deliveries)
    assert len(deliveries) == 42
    world.aws.set_faults(throttle_rate=0.2)
    world.aws.app.calls.clear()

    acted_on: set[str] = set()
    human_flips = drifted_checks = responder_puts = failed_invocations = throttled = 0
    for event in deliveries:
        kind, target = kinds[event["id"]], (event["account"], event["region"])
        if kind == "human" and event["id"] not in acted_on:
            acted_on.add(event["id"])
            flip_to_none(world, *target)  # the human change this event reports
            human_flips += 1
        for _attempt in range(LAMBDA_ASYNC_ATTEMPTS):
            drifted = live(world, *target) != approved_active(keys[target])
            world.aws.app.calls.clear()
            try:
                summary: dict[str, Any] | None = responder.on_event(event)
            except RemediationFailed:
                summary = None
            calls = world.calls()
            throttled += sum(c.get("fault") == "throttled" for c in calls)
            puts = len(successful_puts(world))
            responder_puts += puts
            drifted_checks += drifted
            if kind != "human":
                assert calls == [], f"a {kind} event must cost zero AWS calls"
            assert puts <= int(drifted), f"{event['id']}: {puts} put(s) with drift={drifted}"
            if summary is not None:
                if drifted:
                    assert (summary["outcome"], puts) == ("reverted", 1)
                    assert live(world, *target) == approved_active(keys[target])
                break
            failed_invocations += 1

    assert throttled > 0, "the fault did not fire: the test proves nothing"
    for account, region in targets:
        assert live(world, account, region) == approved_active(keys[account, region])
    # No write beyond what was needed: exactly one Put per human flip, none for anything else.
    assert human_flips == len(targets) * HUMAN_CHANGES_PER_TARGET
    assert responder_puts == human_flips
    assert responder_puts <= drifted_checks
    reverted = [a for a in world.alerts(inbox) if a["outcome"] == "reverted"]
    assert len(reverted) == human_flips  # storm control stays quiet at three flips per target
    assert all(a["verified"] for a in reverted)


# -- 3. a fight: someone keeps flipping one region back ---------------------------------------------------------------

FLIPS = 30


def test_a_fight_is_reverted_every_time_with_bounded_alerts_and_no_self_loop(world: World) -> None:
    key = world.create_key()
    world.put(Type="KMS", KeyId=APPROVED_ALIAS)
    topic, inbox = world.alert_inbox()
    storm = TableStorm(lambda: world.client("dynamodb"), world.create_central_table(), clock=world.time.monotonic)
    responder = build_responder(world, topic, storm=storm)

    for flip in range(FLIPS):
        flip_to_none(world)
        world.aws.app.calls.clear()
        summary = responder.on_event(human_change(MEMBER, MEMBER_REGION, f"fight-{flip}"))
        assert (summary["decision"], summary["outcome"]) == ("drift-none", "reverted")
        assert live(world) == approved_active(key), f"flip {flip} not reverted"
        assert len(successful_puts(world)) == 1

        world.aws.app.calls.clear()
        echo = responder.on_event(own_echo(MEMBER, MEMBER_REGION, f"echo-{flip}", key))
        assert echo["decision"] == "skipped-own-echo"
        assert world.calls() == [], "the responder's own write must not trigger it again"

    alerts = world.alerts(inbox)
    assert len(alerts) <= 3 + 1 + FLIPS // 10
    assert sum(a["storm_count"] == 0 for a in alerts) == 3  # the first three, one by one
    assert any(a["storm_count"] > 3 for a in alerts), "no storm summary was sent"
    assert all((a["outcome"], a["verified"]) == ("reverted", True) for a in alerts)

    # The hour closes; the scheduled sweep's recap names every drift whose alert was held back, once.
    alerted = {a["cloudtrail_event_id"] for a in alerts}
    world.time.sleep(3600)
    assert responder.recap_storms() == 1
    assert responder.recap_storms() == 0
    [recap] = world.alerts(inbox)
    held = {d["event_id"] for d in recap["held_back"]}
    assert held == {f"a1b2c3d4-fight-{n}" for n in range(FLIPS)} - alerted
    assert all((d["account"], d["region"]) == (MEMBER, MEMBER_REGION) for d in recap["held_back"])
