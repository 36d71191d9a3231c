"""Event coverage end to end over localaws: a region with the forwarding rule (its role in place) and a logging trail
is "events"; removing or disabling the rule, deleting its role or stopping the trail makes it "sweep-only: ...", which
the audit shows (and `--require-coverage` turns into exit 1) and the sweep digest names. Also: the organization trail
seen from a member, the central Region's own rule, a denied read, an account whose role cannot be assumed, and how
many reads an account costs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib import cli
from chalicelib.coverage_policy import FORWARDER_ROLE, FORWARDING_RULE
from chalicelib.errors import AwsCallError
from chalicelib.sweep import Sweeper, SweepStore
from localaws.world import HOME_REGION, RESPONDER, RESPONDER_ARN
from tests.conftest import APPROVED_ALIAS, CENTRAL, MEMBER, MEMBER_REGION, World

CENTRAL_REGION = HOME_REGION  # the session's region: the central bus's default
TRAIL = "member-trail"


# -- building a covered account (what StackSets A and B and the CloudTrail prerequisite create) -------------------


def covered_member(world: World, account: str = MEMBER, regions: tuple[str, ...] = (MEMBER_REGION,)) -> None:
    """A member account whose regions are compliant and covered by events."""
    role = world.create_forwarder_role(account)
    for region in regions:
        world.create_key(account, region)
        world.put(account, region, Type="KMS", KeyId=APPROVED_ALIAS)
        world.create_forwarding_rule(account, region, role)
    world.create_trail(account, TRAIL, IsMultiRegionTrail=True)


# -- the ways coverage breaks -----------------------------------------------------------------------------------------


def _remove_rule(world: World) -> None:
    events = world.client("events", MEMBER, MEMBER_REGION)
    events.remove_targets(Rule=FORWARDING_RULE, Ids=["xray-guard-central"])
    events.delete_rule(Name=FORWARDING_RULE)


def _disable_rule(world: World) -> None:
    world.client("events", MEMBER, MEMBER_REGION).disable_rule(Name=FORWARDING_RULE)


def _delete_role(world: World) -> None:
    world.client("iam", MEMBER, CENTRAL_REGION).delete_role(RoleName=FORWARDER_ROLE)


def _stop_trail(world: World) -> None:
    world.client("cloudtrail", MEMBER, CENTRAL_REGION).stop_logging(Name=TRAIL)


def _deny_trail_status(world: World) -> None:
    world.aws.set_faults(fail=[f"cloudtrail:GetTrailStatus@{MEMBER}"])


BREAKAGES: dict[str, tuple[Callable[[World], None], str]] = {
    "rule removed": (_remove_rule, "sweep-only: no forwarding rule"),
    "rule disabled": (_disable_rule, f"sweep-only: forwarding rule {FORWARDING_RULE} DISABLED"),
    "role deleted": (_delete_role, f"sweep-only: forwarding role {FORWARDER_ROLE} missing"),
    "trail stopped": (_stop_trail, f"sweep-only: trail {TRAIL} not logging"),
    "trail status denied": (_deny_trail_status, "unknown: GetTrailStatus denied"),
}


Audit = Callable[..., tuple[int, list[dict[str, Any]]]]


@pytest.fixture
def audit(capsys: pytest.CaptureFixture[str], world: World) -> Audit:
    """`python -m chalicelib.cli audit --json ARGS` in this environment (plus `env`), on the world's code sessions:
    exit code and rows."""

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, list[dict[str, Any]]]:
        code = cli.main(["audit", "--json", *args], env={**os.environ, **(env or {})}, sessions=world.audit_sessions())
        return code, json.loads(capsys.readouterr().out)

    return run


def member_coverage(audit: Audit, *extra: str) -> tuple[int, str]:
    code, rows = audit("--accounts", MEMBER, "--regions", MEMBER_REGION, *extra)
    [row] = rows
    return code, str(row["coverage"])


def test_a_rule_with_its_role_and_a_logging_trail_is_events(world: World, audit: Audit) -> None:
    covered_member(world)
    assert member_coverage(audit, "--require-coverage") == (cli.EXIT_COMPLIANT, "events")


@pytest.mark.parametrize("name", list(BREAKAGES))
def test_each_broken_part_makes_the_region_a_named_gap(world: World, audit: Audit, name: str) -> None:
    covered_member(world)
    breakage, expected = BREAKAGES[name]
    breakage(world)

    assert member_coverage(audit) == (cli.EXIT_COMPLIANT, expected)  # the encryption is still compliant
    assert member_coverage(audit, "--require-coverage") == (cli.EXIT_DRIFT, expected)
    digest = world.sweep(MEMBER, MEMBER_REGION).digest
    assert digest["coverage_gaps"] == [{"account": MEMBER, "region": MEMBER_REGION, "coverage": expected}]


def test_the_digest_names_only_the_regions_with_a_gap(world: World) -> None:
    covered_member(world, regions=(MEMBER_REGION, "us-west-2"))
    _disable_rule(world)  # in eu-west-1 only

    digest = world.sweep(MEMBER, f"{MEMBER_REGION},us-west-2").digest

    expected = f"sweep-only: forwarding rule {FORWARDING_RULE} DISABLED"
    assert digest["coverage_gaps"] == [{"account": MEMBER, "region": MEMBER_REGION, "coverage": expected}]
    assert digest["counts"] == {"compliant": 2}


def test_the_organization_trail_seen_from_a_member_covers_every_region_with_one_read_each(
    world: World, audit: Audit
) -> None:
    [member] = world.create_organization("m")
    world.create_trail(CENTRAL, "org-trail", IsOrganizationTrail=True, IsMultiRegionTrail=True)
    regions = ("us-east-1", "eu-west-1", "ap-southeast-2")
    role = world.create_forwarder_role(member)
    for region in regions:
        world.create_key(member, region)
        world.put(member, region, Type="KMS", KeyId=APPROVED_ALIAS)
        world.create_forwarding_rule(member, region, role)
    world.aws.app.calls.clear()

    code, rows = audit("--accounts", member, "--regions", ",".join(regions), "--require-coverage")

    assert (code, {r["region"]: r["coverage"] for r in rows}) == (cli.EXIT_COMPLIANT, dict.fromkeys(regions, "events"))
    reads = [c["operation"] for c in world.calls() if c["account"] == member and c["service"] in {"events",
             "cloudtrail", "iam"}]  # fmt: skip
    # Rules are regional; one multi-Region trail that records is proof for every Region; IAM is global.
    assert {op: reads.count(op) for op in set(reads)} == {
        "ListRuleNamesByTarget": 3, "DescribeRule": 3, "ListTargetsByRule": 3, "GetRole": 1,
        "DescribeTrails": 1, "GetTrailStatus": 1, "GetEventSelectors": 1,
    }  # fmt: skip


def test_single_region_trails_are_read_in_each_region_and_cover_only_their_own(world: World, audit: Audit) -> None:
    covered_member(world, regions=(MEMBER_REGION, "us-west-2"))
    world.client("cloudtrail", MEMBER, CENTRAL_REGION).delete_trail(Name=TRAIL)
    world.create_trail(MEMBER, "eu-only", MEMBER_REGION)

    code, rows = audit("--accounts", MEMBER, "--regions", f"{MEMBER_REGION},us-west-2")

    assert {r["region"]: r["coverage"] for r in rows} == {
        MEMBER_REGION: "events",
        "us-west-2": "sweep-only: no CloudTrail trail",
    }
    assert code == cli.EXIT_COMPLIANT


def test_the_central_region_needs_the_rule_that_targets_the_responder(world: World, audit: Audit) -> None:
    world.create_key(CENTRAL, CENTRAL_REGION)
    world.put(CENTRAL, CENTRAL_REGION, Type="KMS", KeyId=APPROVED_ALIAS)
    world.create_trail(CENTRAL, "central-trail", IsMultiRegionTrail=True)

    def coverage(**env: str) -> tuple[int, str]:
        code, [row] = audit("--accounts", CENTRAL, "--regions", CENTRAL_REGION, "--require-coverage", env=env)
        return code, str(row["coverage"])

    assert coverage() == (cli.EXIT_DRIFT, "unknown: XRAY_GUARD_RESPONDER_FUNCTION not set")
    assert coverage(XRAY_GUARD_RESPONDER_FUNCTION=RESPONDER) == (cli.EXIT_DRIFT, "sweep-only: no responder rule")
    world.create_responder_rule()
    assert coverage(XRAY_GUARD_RESPONDER_FUNCTION=RESPONDER) == (cli.EXIT_COMPLIANT, "events")
    assert coverage(XRAY_GUARD_RESPONDER_FUNCTION=RESPONDER_ARN) == (cli.EXIT_COMPLIANT, "events")
    # Run from elsewhere, the audit is told where the central bus is.
    other_bus = f"arn:aws:events:eu-west-1:{CENTRAL}:event-bus/default"
    elsewhere = coverage(XRAY_GUARD_RESPONDER_FUNCTION=RESPONDER, XRAY_GUARD_CENTRAL_BUS_ARN=other_bus)
    assert elsewhere == (cli.EXIT_DRIFT, "sweep-only: no forwarding rule")  # us-east-1 is now a forwarding region


def test_an_account_whose_role_cannot_be_assumed_is_an_error_at_once_with_unknown_coverage(
    world: World, audit: Audit
) -> None:
    world.aws.set_faults(fail=[f"sts:AssumeRole@{MEMBER}=AccessDenied"])

    code, rows = audit("--accounts", MEMBER, "--regions", MEMBER_REGION)
    assert (code, rows[0]["verdict"], rows[0]["coverage"]) == (cli.EXIT_ERROR, "error", "unknown: AssumeRole denied")

    digest = world.sweep(MEMBER, MEMBER_REGION).digest  # sweep_account returned: no retry was needed
    assert list(digest["failed_accounts"]) == [MEMBER]
    assert digest["coverage_gaps"] == [{"account": MEMBER, "region": "*", "coverage": "unknown: AssumeRole denied"}]
    assert len(world.calls("AssumeRole")) == 2  # once by the audit, once by the sweep: never retried


def test_any_other_failure_to_assume_the_role_still_uses_the_queue_retries(world: World) -> None:
    # STS models RegionDisabledException (403) for a Region where STS is not activated: not a denial of our role.
    world.aws.set_faults(fail=[f"sts:AssumeRole@{MEMBER}=RegionDisabledException"])
    topic, _inbox = world.alert_inbox()
    store = SweepStore(lambda: world.client("dynamodb"), world.create_central_table("t"))
    responder = world.responder(topic, XRAY_GUARD_ACCOUNTS=MEMBER, XRAY_GUARD_REGIONS=MEMBER_REGION)
    sweeper = Sweeper(responder, store, world.client("sqs"), "unused", new_id=lambda: "s")
    with pytest.raises(AwsCallError, match="RegionDisabledException"):
        sweeper.sweep_account(json.dumps({"sweep_id": "s", "account": MEMBER}))
