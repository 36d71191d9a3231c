"""Key posture in the sweep and the audit (issue 11, section 2), over localaws: read once per key per sweep_account
invocation and per audit run, a key of another account with its owner's credentials (scheduled_sweep, audit), rows
and digest carry it, the exit code changes only with --require-key-posture, rotation is turned on only where allowed.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from chalicelib import cli
from chalicelib.domain import KeyInfo
from chalicelib.keyguard import posture_reader
from chalicelib.kms import KeyDirectory
from localaws.world import key_policy, xray_statement
from tests.conftest import APPROVED_ALIAS, CENTRAL, MEMBER, MEMBER_REGION, World

OTHER = "333333333333"
REGIONS = ("eu-west-1", "us-east-1")


def _calls(world: World, operation: str) -> list[dict[str, str]]:
    return [c for c in world.calls(operation) if c["service"] == "kms"]


def _member_keys(world: World, *, rotating: set[str]) -> dict[str, str]:
    """The approved key in each of REGIONS of MEMBER, X-Ray on it; rotation on in `rotating` regions."""
    keys = {}
    for region in REGIONS:
        keys[region] = world.create_key(MEMBER, region)
        world.put(MEMBER, region, Type="KMS", KeyId=APPROVED_ALIAS)
        if region in rotating:
            world.kms(MEMBER, region).enable_key_rotation(KeyId=keys[region])
    return keys


def audit(world: World, capsys: pytest.CaptureFixture[str], *args: str, **env: str) -> tuple[int, list[dict[str, Any]]]:
    argv = ["audit", "--accounts", MEMBER, "--regions", ",".join(REGIONS), "--json", *args]
    code = cli.main(argv, env={**os.environ, **env}, sessions=world.audit_sessions())
    return code, json.loads(capsys.readouterr().out)


def _postures(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {row["region"]: row["key_posture"] for row in rows}


def test_the_responders_posture_reader_counts_its_accounts_and_its_organization_as_inside(world: World) -> None:
    topic, _inbox = world.alert_inbox()
    org_id, outsider = "o-abc123def4", "999988887777"
    responder = world.responder(topic, XRAY_GUARD_ACCOUNTS=f"{MEMBER},{OTHER}", XRAY_GUARD_ORGANIZATION_ID=org_id)
    reader = posture_reader(responder)

    def policy_posture(account: str, **condition: Any) -> str:
        grant = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:Decrypt",
                 "Resource": "*", **({"Condition": condition} if condition else {})}  # fmt: skip
        policy = key_policy(MEMBER, xray_statement(), grant)
        arn = world.create_key(MEMBER, MEMBER_REGION, alias=None, Policy=policy)
        key = KeyDirectory(world.kms(MEMBER, MEMBER_REGION)).describe(arn)
        assert isinstance(key, KeyInfo)
        return reader.read(key, rotation=False).render()

    assert policy_posture(OTHER) == "ok"  # an account of XRAY_GUARD_ACCOUNTS
    assert policy_posture(CENTRAL) == "ok"  # xray-guard's own
    assert policy_posture(outsider).startswith(f"weak: statement #3 lets arn:aws:iam::{outsider}:root")
    assert policy_posture(outsider, StringEquals={"aws:PrincipalOrgID": org_id}) == "ok"  # XRAY_GUARD_ORGANIZATION_ID
    assert policy_posture(outsider, StringEquals={"aws:PrincipalOrgID": "o-someoneelse"}).startswith("weak")


# -- the audit ----------------------------------------------------------------------------------------------------


def test_audit_rows_carry_the_posture_which_changes_the_exit_code_only_when_required(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = _member_keys(world, rotating={"us-east-1"})

    code, rows = audit(world, capsys)

    assert code == cli.EXIT_COMPLIANT
    assert _postures(rows) == {"eu-west-1": "weak: automatic key rotation is off", "us-east-1": "ok"}
    weak = next(r for r in rows if r["region"] == "eu-west-1")
    assert weak["key"] == {"arn": keys["eu-west-1"], "state": "Enabled", "deletion_date": None, "event_name": None,
                           "posture": "weak: automatic key rotation is off", "posture_status": "weak",
                           "problems": ["automatic key rotation is off"]}  # fmt: skip
    assert audit(world, capsys, "--require-key-posture")[0] == cli.EXIT_DRIFT
    cli.main(
        ["audit", "--accounts", MEMBER, "--regions", "eu-west-1"], env=dict(os.environ), sessions=world.audit_sessions()
    )
    table = capsys.readouterr().out
    assert "KEY_POSTURE" in table
    assert "weak: automatic key rotation is off" in table
    assert "1 approved key(s) with a weak or unknown posture (KEY_POSTURE)." in table


def test_an_unreadable_posture_is_unknown_and_exit_2_only_when_required(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    _member_keys(world, rotating=set(REGIONS))
    world.aws.set_faults(fail=[f"kms:GetKeyPolicy@{MEMBER}=AccessDeniedException"])

    code, rows = audit(world, capsys)

    assert code == cli.EXIT_COMPLIANT
    assert set(_postures(rows).values()) == {"unknown: GetKeyPolicy: AccessDeniedException"}
    assert audit(world, capsys, "--require-key-posture")[0] == cli.EXIT_ERROR


def test_each_key_is_read_once_per_audit_run_with_its_owners_credentials(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    central = world.create_key(CENTRAL, MEMBER_REGION, alias=None)
    for account in (MEMBER, OTHER):
        world.put(account, MEMBER_REGION, Type="KMS", KeyId=central)
    world.aws.app.calls.clear()

    argv = ["audit", "--accounts", f"{MEMBER},{OTHER}", "--regions", MEMBER_REGION, "--key", central, "--json"]
    code = cli.main(argv, env=dict(os.environ), sessions=world.audit_sessions())

    rows = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_COMPLIANT
    assert {r["key_posture"] for r in rows} == {"weak: automatic key rotation is off"}
    for operation in ("ListKeyPolicies", "GetKeyPolicy", "GetKeyRotationStatus"):
        assert [c["account"] for c in _calls(world, operation)] == [CENTRAL], operation


def test_audit_fix_turns_rotation_on_only_with_the_variable_and_verifies_it(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = _member_keys(world, rotating=set())
    world.aws.app.calls.clear()

    audit(world, capsys, "--fix", "--yes")
    assert _calls(world, "EnableKeyRotation") == []
    assert audit(world, capsys)[0] == cli.EXIT_COMPLIANT  # still weak, only reported
    assert audit(world, capsys, "--require-key-posture")[0] == cli.EXIT_DRIFT

    code, rows = audit(world, capsys, "--fix", "--yes", XRAY_GUARD_FIX_KEY_ROTATION="true")

    assert code == cli.EXIT_COMPLIANT
    assert _postures(rows) == {"eu-west-1": "ok", "us-east-1": "ok"}
    assert len(_calls(world, "EnableKeyRotation")) == 2
    for region, key in keys.items():
        status = world.kms(MEMBER, region).get_key_rotation_status(KeyId=key)
        assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 365)
    assert audit(world, capsys, "--require-key-posture")[0] == cli.EXIT_COMPLIANT


def test_a_multi_region_replicas_rotation_is_read_on_its_primary(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    kms = world.kms(MEMBER, "eu-west-1")
    primary = kms.create_key(MultiRegion=True)["KeyMetadata"]
    kms.enable_key_rotation(KeyId=primary["Arn"])
    replica = kms.replicate_key(KeyId=primary["KeyId"], ReplicaRegion="us-east-1")["ReplicaKeyMetadata"]["Arn"]
    world.put(MEMBER, "us-east-1", Type="KMS", KeyId=replica)
    world.aws.app.calls.clear()

    code = cli.main(["audit", "--accounts", MEMBER, "--regions", "us-east-1", "--key", replica, "--json"],
                    env=dict(os.environ), sessions=world.audit_sessions())  # fmt: skip

    [row] = json.loads(capsys.readouterr().out)
    assert (code, row["key_posture"]) == (cli.EXIT_COMPLIANT, "ok")
    assert [c["region"] for c in _calls(world, "GetKeyRotationStatus")] == ["eu-west-1"]
    assert [c["region"] for c in _calls(world, "GetKeyPolicy")] == ["us-east-1"]


# -- the sweep ----------------------------------------------------------------------------------------------------


def sweep(world: World, accounts: str, **env: str) -> dict[str, Any]:
    """A sweep in alert mode over REGIONS: the digest (machine rendering)."""
    return world.sweep(accounts, ",".join(REGIONS), XRAY_GUARD_MODE="alert", **env).digest


def test_sweep_reads_each_key_once_per_account_and_the_digest_lists_the_weak_ones(world: World) -> None:
    keys = _member_keys(world, rotating={"us-east-1"})
    world.aws.app.calls.clear()

    digest = sweep(world, MEMBER)

    assert digest["key_posture"] == [{"account": MEMBER, "region": "eu-west-1", "key": keys["eu-west-1"],
                                      "posture": "weak: automatic key rotation is off", "severity": "medium",
                                      "fixed": ""}]  # fmt: skip
    for operation in ("GetKeyRotationStatus", "ListKeyPolicies", "GetKeyPolicy"):
        assert sorted(c["region"] for c in _calls(world, operation)) == sorted(REGIONS), operation
    assert _calls(world, "EnableKeyRotation") == []
    [message] = world.published()
    assert "Approved keys whose posture is not ok" in message["email"]
    assert f"{MEMBER} eu-west-1 {keys['eu-west-1']}: weak: automatic key rotation is off" in message["email"]
    assert message["subject"].startswith("[MEDIUM] X-Ray sweep: 0/2 non-compliant")


def test_sweep_turns_rotation_on_when_allowed_and_says_so(world: World) -> None:
    keys = _member_keys(world, rotating=set())

    digest = sweep(world, MEMBER, XRAY_GUARD_FIX_KEY_ROTATION="true")

    assert {row["posture"] for row in digest["key_posture"]} == {"ok"}
    assert {row["fixed"] for row in digest["key_posture"]} == {
        "turned key rotation on (every 365 days), verified by re-read"
    }
    for region, key in keys.items():
        assert world.kms(MEMBER, region).get_key_rotation_status(KeyId=key)["KeyRotationEnabled"] is True


def test_scheduled_sweep_reads_a_central_key_once_with_its_owners_credentials(world: World) -> None:
    central = world.create_key(MEMBER, MEMBER_REGION, alias=None)  # owned by MEMBER, used by OTHER too
    for account in (MEMBER, OTHER):
        for region in REGIONS:
            world.put(account, region, Type="KMS", KeyId=central)
    world.aws.app.calls.clear()

    digest = sweep(world, f"{MEMBER},{OTHER}", XRAY_GUARD_KMS_KEY=central)

    assert digest["central_keys"] == {central: {"state": "Enabled", "posture": "weak: automatic key rotation is off",
                                                "severity": "medium", "fixed": ""}}  # fmt: skip
    # Read by scheduled_sweep as the key's owner (XRayGuardMember in MEMBER); sweep_account leaves it alone.
    assert [c["account"] for c in _calls(world, "GetKeyPolicy")] == [MEMBER]
    assert digest["key_posture"] == []
    email = world.published()[0]["email"]
    assert "every account/region using such a key is affected" in email
    assert f"{central} (Enabled): weak: automatic key rotation is off" in email
