"""The organization sweep and the audit command over localaws with an emulated organization.

Three member accounts plus the management (central) account, three regions: a never-configured region, an
AWS-managed key, a wrong CMK and compliant regions are each found with the right verdict; revert mode fixes
exactly the drifted ones; a member account whose role cannot be assumed is reported, never skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib import cli
from chalicelib.errors import AwsCallError, SinkFailed
from chalicelib.sweep import Recorded, Sweeper, SweepStore, enabled_regions
from localaws.regions import DEFAULT_REGIONS
from tests.conftest import APPROVED_ALIAS, CENTRAL, MEMBER, World
from tests.helpers import NO_RETRIES

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


@dataclass
class Org:
    drifting: str  # us-east-1 never configured, eu-west-1 AWS-managed key, ap-southeast-2 compliant
    wrong_key: str  # eu-west-1 on another CMK, the rest compliant
    locked: str  # member role cannot be assumed
    keys: dict[tuple[str, str], str]


def build_org(world: World) -> Org:
    drifting, wrong_key, locked = world.create_organization("drifting", "wrong-key", "locked")
    keys = {}
    for account in (CENTRAL, drifting, wrong_key, locked):
        for region in REGIONS:
            keys[account, region] = world.create_key(account, region)
            if not (account == drifting and region in {"us-east-1", "eu-west-1"}):
                world.put(account, region, Type="KMS", KeyId=APPROVED_ALIAS)
    world.put(drifting, "eu-west-1", Type="KMS", KeyId="alias/aws/xray")
    world.create_key(wrong_key, "eu-west-1", alias="alias/other")
    world.put(wrong_key, "eu-west-1", Type="KMS", KeyId="alias/other")
    world.aws.set_faults(fail=[f"sts:AssumeRole@{locked}=AccessDenied"])
    return Org(drifting, wrong_key, locked, keys)


EXPECTED = {
    ("drifting", "us-east-1"): "drift-none",
    ("drifting", "eu-west-1"): "drift-aws-managed",
    ("drifting", "ap-southeast-2"): "compliant",
    ("wrong_key", "eu-west-1"): "drift-other-key",
    ("wrong_key", "us-east-1"): "compliant",
}


def run_sweep(world: World, mode: str) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The whole organization swept in `mode`: the digest, and every PutEncryptionConfig the sweep made."""
    run = world.sweep_redelivered("org", ",".join(REGIONS), XRAY_GUARD_MODE=mode)
    assert run.messages == run.started["accounts"] == 4
    return run.digest, world.calls("PutEncryptionConfig")


def _by_place(org: Org, rows: list[dict[str, Any]]) -> dict[tuple[str, str], object]:
    names = {org.drifting: "drifting", org.wrong_key: "wrong_key", org.locked: "locked", CENTRAL: "central"}
    return {(names[str(r["account"])], str(r["region"])): r["verdict"] for r in rows}


def test_sweep_in_alert_mode_finds_every_drift_in_one_digest(world: World) -> None:
    org = build_org(world)
    world.aws.app.calls.clear()

    digest, puts = run_sweep(world, "alert")

    assert puts == []
    assert digest["schema"] == "xray-guard.sweep-digest/v1"
    assert digest["accounts"] == 4
    assert digest["counts"] == {"compliant": 6, "drift-none": 1, "drift-aws-managed": 1, "drift-other-key": 1}
    assert list(digest["failed_accounts"]) == [org.locked]
    found = _by_place(org, digest["non_compliant"])
    assert found == {place: verdict for place, verdict in EXPECTED.items() if verdict != "compliant"}


def test_sweep_in_revert_mode_fixes_exactly_the_drifted_regions(world: World) -> None:
    org = build_org(world)
    world.aws.app.calls.clear()

    digest, puts = run_sweep(world, "revert")

    assert len(puts) == 3
    assert digest["reverted"] == 3
    for region in ("us-east-1", "eu-west-1"):
        assert world.encryption(org.drifting, region)["KeyId"] == org.keys[org.drifting, region]
    assert world.encryption(org.wrong_key, "eu-west-1")["KeyId"] == org.keys[org.wrong_key, "eu-west-1"]


def test_duplicate_sweep_message_is_counted_once(world: World) -> None:
    build_org(world)
    world.aws.set_faults(fail=[])
    _topic, inbox = world.alert_inbox()
    store = SweepStore(lambda: world.client("dynamodb"), world.create_central_table("t"))
    store.begin("s", 2)
    result: dict[str, Any] = {"counts": {}, "non_compliant": [], "error": None}
    assert store.record("s", "111111111111", result) == Recorded(new=True, last=False)
    assert store.record("s", "111111111111", result) == Recorded(new=False, last=False)  # SQS delivered it again
    assert store.record("s", "222222222222", result) == Recorded(new=True, last=True)
    assert store.claim_digest("s") is True
    assert store.record("s", "222222222222", result) == Recorded(new=False, last=True)  # the last one again
    assert store.claim_digest("s") is False  # its digest was sent: no second one
    assert world.alerts(inbox) == []


def test_an_account_stored_but_not_counted_is_counted_by_the_redelivery_which_sends_the_digest(world: World) -> None:
    # No SDK retries: the injected throttling stands for one that outlasted them (the SDK's retries are not what
    # this test is about); SQS's redelivery is.
    ddb = world.client("dynamodb", config=NO_RETRIES)
    store = SweepStore(lambda: ddb, world.create_central_table("t"))
    store.begin("s", 2)
    result: dict[str, Any] = {"counts": {}, "non_compliant": [], "error": None}
    assert store.record("s", "111111111111", result) == Recorded(new=True, last=False)
    world.aws.set_faults(fail=["dynamodb:UpdateItem=ProvisionedThroughputExceededException"])
    with pytest.raises(AwsCallError):
        store.record("s", "222222222222", result)  # the result is stored, the count failed
    world.aws.set_faults(fail=[])
    assert store.record("s", "222222222222", result) == Recorded(new=False, last=True)  # SQS's next delivery
    assert store.claim_digest("s") is True
    store.release_digest("s")  # the digest could not be published
    assert store.claim_digest("s") is True  # so the next delivery sends it


def test_a_digest_sns_refused_is_sent_by_the_next_delivery_of_the_last_account_and_only_once(world: World) -> None:
    topic, inbox = world.alert_inbox()
    sqs = world.client("sqs")
    queue = sqs.create_queue(QueueName="xray-guard-sweep")["QueueUrl"]
    responder = world.responder(topic, XRAY_GUARD_ACCOUNTS=MEMBER, XRAY_GUARD_REGIONS="eu-west-1")
    store = SweepStore(lambda: world.client("dynamodb"), world.create_central_table())
    sweeper = Sweeper(responder, store, sqs, queue, new_id=lambda: "sweep-1")
    sweeper.start()
    [message] = sqs.receive_message(QueueUrl=queue)["Messages"]
    world.aws.set_faults(fail=["sns:Publish"])
    with pytest.raises(SinkFailed):
        sweeper.sweep_account(message["Body"])  # the account is recorded, its digest refused
    world.aws.set_faults(fail=[])
    sweeper.sweep_account(message["Body"])  # SQS's next delivery
    [digest] = world.alerts(inbox)
    assert digest["sweep_id"] == "sweep-1"
    sweeper.sweep_account(message["Body"])  # a duplicate delivery after success
    assert world.alerts(inbox) == []  # no second digest (alerts() takes what arrived since it last looked)


def test_audit_json_reports_every_pair_and_exits_2_on_an_unreachable_account(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    org = build_org(world)
    world.aws.app.calls.clear()

    argv = ["audit", "--accounts", "org", "--regions", ",".join(REGIONS), "--json"]
    code = cli.main(argv, env=dict(os.environ), sessions=world.audit_sessions())

    rows = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_ERROR
    found = _by_place(org, rows)
    for place, verdict in EXPECTED.items():
        assert found[place] == verdict
    assert found["locked", "*"] == "error"
    assert {"account", "region", "type", "key_id", "status", "verdict"} <= set(rows[0])
    assert world.calls("PutEncryptionConfig") == []  # an audit without --fix only reads


def test_audit_exit_codes_and_fix(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    org = build_org(world)
    world.aws.set_faults(fail=[])
    accounts = f"{org.drifting},{org.wrong_key}"
    args = ["audit", "--accounts", accounts, "--regions", ",".join(REGIONS)]

    assert cli.main([*args, "--fix"], env=dict(os.environ)) == cli.EXIT_ERROR  # refuses without --yes
    assert "refusing" in capsys.readouterr().err
    assert cli.main(args, env=dict(os.environ)) == cli.EXIT_DRIFT
    table = capsys.readouterr().out
    assert "drift-aws-managed" in table
    assert "ACCOUNT" in table
    world.aws.app.calls.clear()
    assert cli.main([*args, "--fix", "--yes"], env=dict(os.environ)) == cli.EXIT_COMPLIANT
    assert len(world.calls("PutEncryptionConfig")) == 3
    capsys.readouterr()
    assert cli.main(args, env=dict(os.environ)) == cli.EXIT_COMPLIANT


def test_enabled_regions_come_from_account_list_regions(world: World) -> None:
    topic, _ = world.alert_inbox()
    regions = enabled_regions(world.responder(topic), "222222222222")
    assert regions == sorted(DEFAULT_REGIONS)  # a new account has no opt-in Region enabled
    assert world.calls("ListRegions")
    assert not world.calls("DescribeRegions")


def test_enabled_regions_fall_back_to_ec2_when_list_regions_is_refused(world: World) -> None:
    topic, _ = world.alert_inbox()
    world.aws.set_faults(fail=["account:ListRegions@222222222222=AccessDeniedException"])
    regions = enabled_regions(world.responder(topic), "222222222222")
    assert regions == sorted(DEFAULT_REGIONS)
    assert world.calls("ListRegions")
    assert world.calls("DescribeRegions")
