"""The audit's evidence says who produced it and with what: every JSON/CSV row carries the caller's ARN (from the
run's one sts:GetCallerIdentity), xray-guard's version and the approved key reference it was judged against; the
table says the same once, above it. Audits run over localaws with their own environment mapping."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import __version__, cli
from chalicelib.sessions import ClientFactory
from tests.conftest import APPROVED_ALIAS, CENTRAL, MEMBER, MEMBER_REGION, World

OTHER = "333333333333"
# The CSV columns of an audit row before the provenance columns were added (pinned: consumers read them by
# position), then the three added at the end.
EARLIER_COLUMNS = [
    "account", "region", "type", "key_id", "status", "spans_destination", "spans_status", "spans_key_id",
    "spans_verdict", "verdict", "outcome", "key_posture", "key_arn", "key_state", "key_deletion_date",
    "key_event_name", "key_posture_status", "key_problems", "before_type", "before_key_id", "before_status",
    "spans_reason", "spans_before_destination", "spans_before_status", "spans_before_log_group_exists",
    "spans_before_key_id", "spans_after_destination", "spans_after_status", "spans_after_log_group_exists",
    "spans_after_key_id", "spans_outcome", "spans_detail", "checked_at", "detail", "coverage",
]  # fmt: skip
PROVENANCE_COLUMNS = ["approved_key", "checked_by", "xray_guard_version"]  # cli.PROVENANCE_COLUMNS


def approved_everywhere(world: World, *regions: str) -> None:
    for account in (CENTRAL, MEMBER):
        for region in regions:
            world.create_key(account, region)
            world.put(account, region, Type="KMS", KeyId=APPROVED_ALIAS)


def audit(world: World, capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str) -> tuple[int, str]:
    world.aws.app.calls.clear()  # the set-up's own calls are not the audit's
    code = cli.main(["audit", *args], env=env)
    return code, capsys.readouterr().out


def test_every_json_row_says_who_checked_it_with_which_version_and_key(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    approved_everywhere(world, "us-east-1", MEMBER_REGION)

    code, out = audit(world, capsys, world.env(), "--accounts", f"{CENTRAL},{MEMBER}",
                      "--regions", f"us-east-1,{MEMBER_REGION}", "--json")  # fmt: skip

    assert code == cli.EXIT_COMPLIANT
    assert len(world.calls("GetCallerIdentity")) == 1  # the home account and the caller's ARN: one answer
    rows = json.loads(out)
    assert len(rows) == 4
    caller = world.client("sts").get_caller_identity()["Arn"]  # the central team's own identity
    assert {(r["checked_by"], r["xray_guard_version"], r["approved_key"]) for r in rows} == {
        (caller, __version__, APPROVED_ALIAS)
    }
    assert caller.startswith(f"arn:aws:sts::{CENTRAL}:") or caller.startswith(f"arn:aws:iam::{CENTRAL}:")


def test_an_audit_as_an_assumed_role_names_the_role_session(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    approved_everywhere(world, MEMBER_REGION)
    issued = world.client("sts").assume_role(RoleArn=f"arn:aws:iam::{CENTRAL}:role/Auditor", RoleSessionName="jane")
    creds = issued["Credentials"]
    env = world.env(AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
                    AWS_SESSION_TOKEN=creds["SessionToken"])  # fmt: skip

    code, out = audit(world, capsys, env, "--accounts", MEMBER, "--regions", MEMBER_REGION, "--format", "csv")

    assert code == cli.EXIT_COMPLIANT
    [row] = csv.DictReader(io.StringIO(out))
    # GetCallerIdentity names an assumed role's session as arn:aws:sts::<account>:assumed-role/<role>/<session>
    # (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html, its examples).
    assert row["checked_by"] == f"arn:aws:sts::{CENTRAL}:assumed-role/Auditor/jane"
    assert row["checked_by"] == issued["AssumedRoleUser"]["Arn"]
    assert row["xray_guard_version"] == __version__
    assert len(world.calls("GetCallerIdentity")) == 1


def test_the_csv_keeps_every_earlier_column_where_it_was_and_adds_provenance_last(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    approved_everywhere(world, MEMBER_REGION)

    code, out = audit(world, capsys, world.env(), "--accounts", MEMBER, "--regions", MEMBER_REGION, "--format", "csv")

    assert code == cli.EXIT_COMPLIANT
    assert csv.DictReader(io.StringIO(out)).fieldnames == [*EARLIER_COLUMNS, *PROVENANCE_COLUMNS]


def test_an_unreachable_accounts_row_carries_the_provenance_too(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    approved_everywhere(world, MEMBER_REGION)
    world.aws.set_faults(fail=[f"sts:AssumeRole@{OTHER}=AccessDenied"])  # an account that cannot be checked at all

    code, out = audit(world, capsys, world.env(), "--accounts", f"{OTHER},{MEMBER}", "--regions", MEMBER_REGION,
                      "--format", "csv")  # fmt: skip

    assert code == cli.EXIT_ERROR
    reader = csv.DictReader(io.StringIO(out))
    unreachable, checked = list(reader)
    assert reader.fieldnames is not None
    # The same header as any other audit's even when the error row (no stores, no key) comes first.
    assert reader.fieldnames == [*EARLIER_COLUMNS, *PROVENANCE_COLUMNS] == list(cli.CSV_COLUMNS)
    assert (unreachable["account"], unreachable["verdict"], checked["account"]) == (OTHER, "error", MEMBER)
    for row in (checked, unreachable):  # each row stands alone, the error row too
        assert row["checked_by"] == checked["checked_by"] != ""
        assert row["xray_guard_version"] == __version__
    assert (checked["approved_key"], unreachable["approved_key"]) == (APPROVED_ALIAS, "")  # nothing was judged
    assert len(world.calls("GetCallerIdentity")) == 1


def test_the_table_names_the_version_the_caller_the_time_and_the_key_once_above_it(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    approved_everywhere(world, MEMBER_REGION)
    before = datetime.now(UTC).replace(microsecond=0)

    code, out = audit(world, capsys, world.env(XRAY_GUARD_KMS_KEYS=f'{{"{MEMBER_REGION}": "{APPROVED_ALIAS}"}}'),
                      "--accounts", MEMBER, "--regions", MEMBER_REGION, "--key", "alias/other-default")  # fmt: skip

    after = datetime.now(UTC)
    assert code == cli.EXIT_COMPLIANT  # eu-west-1 is judged against its own key
    headline, blank, header, *_ = out.splitlines()
    caller = world.client("sts").get_caller_identity()["Arn"]
    prefix = f"xray-guard {__version__} audit by {caller} at "
    assert headline.startswith(prefix)
    when, keys = headline.removeprefix(prefix).split(", approved key ", 1)
    assert before <= datetime.fromisoformat(when) <= after
    assert keys == f"alias/other-default (per Region: {MEMBER_REGION}={APPROVED_ALIAS})"
    assert blank == ""
    assert header.startswith("ACCOUNT")
    assert "CHECKED_BY" not in header  # one line above the table, not two more wide columns


def test_the_provenance_cells_go_through_the_csv_escaping() -> None:
    """An ARN cannot start with a formula character; the cells still take the same escaping path as every other."""
    provenance = cli.Provenance("=HYPERLINK(1)", "2025-01-01T00:00:00+00:00", APPROVED_ALIAS, {}, version="+1")
    row: dict[str, Any] = {"account": MEMBER, "verdict": "compliant", "approved_key": "@x"}

    [cells] = list(csv.DictReader(io.StringIO(cli.render_csv([provenance.stamp(row)]))))

    provenance_cells = [cells[c] for c in PROVENANCE_COLUMNS]
    assert (cells["account"], cells["verdict"]) == (MEMBER, "compliant")
    assert provenance_cells == ["'@x", "'=HYPERLINK(1)", "'+1"]


def test_the_caller_arn_is_asked_once_and_a_given_home_account_stays(world: World) -> None:
    clients = ClientFactory(
        "XRayGuardMember", base=world.code_session(), members=world.code_member_session(), home_account=MEMBER
    )
    world.aws.app.calls.clear()

    arns = {clients.caller_arn(), clients.caller_arn()}

    assert arns == {world.client("sts").get_caller_identity()["Arn"]}
    assert clients.home_account() == MEMBER  # the Lambda context's account, not the identity's (CENTRAL)
    assert len(world.calls("GetCallerIdentity")) == 2  # the factory's one, then the check's own above
