"""New Regions: the sweep, without XRAY_GUARD_REGIONS, checks the Regions the account has enabled, and so an opt-in
Region from the sweep after the account enables it (X-Ray there starts unconfigured: drift-none, with the approved
key deployed there). Both ways of asking
(account:ListRegions, and ec2:DescribeRegions when that is refused) give the same Regions."""

from __future__ import annotations

from chalicelib.sweep import enabled_regions
from localaws.regions import DEFAULT_REGIONS
from tests.conftest import APPROVED_ALIAS, MEMBER, World

OPT_IN = "af-south-1"
ALL_ENABLED = ""  # XRAY_GUARD_REGIONS empty: every Region the account has enabled


def compliant_in_default_regions(world: World) -> None:
    """Set up (not observed): the member's approved key in every default Region, X-Ray on it."""
    for region in DEFAULT_REGIONS:
        world.create_key(MEMBER, region)
        world.put(MEMBER, region, Type="KMS", KeyId=APPROVED_ALIAS)


def checked_regions(world: World) -> list[str]:
    """The Regions whose X-Ray encryption was read in the member account since the call log was cleared."""
    return sorted(c["region"] for c in world.calls("GetEncryptionConfig") if c["account"] == MEMBER)


def test_the_sweep_covers_an_opt_in_region_from_the_sweep_after_the_account_enables_it(world: World) -> None:
    compliant_in_default_regions(world)
    world.aws.app.calls.clear()

    before = world.sweep(MEMBER, ALL_ENABLED, XRAY_GUARD_MODE="alert").digest
    checked_before = checked_regions(world)
    world.enable_region(MEMBER, OPT_IN)
    world.create_key(MEMBER, OPT_IN)  # the member template's approved key reaches the new Region; X-Ray is untouched
    world.aws.app.calls.clear()
    after = world.sweep(MEMBER, ALL_ENABLED, XRAY_GUARD_MODE="alert").digest
    checked_after = checked_regions(world)

    assert checked_before == sorted(DEFAULT_REGIONS)
    assert (before["counts"], before["non_compliant"]) == ({"compliant": 17}, [])
    assert checked_after == sorted([*DEFAULT_REGIONS, OPT_IN])
    assert after["counts"] == {"compliant": 17, "drift-none": 1}
    assert [(r["account"], r["region"], r["verdict"]) for r in after["non_compliant"]] == [
        (MEMBER, OPT_IN, "drift-none")
    ]


def test_ec2_describe_regions_gives_the_sweep_the_same_regions_as_list_regions(world: World) -> None:
    topic, _ = world.alert_inbox()
    responder = world.responder(topic)
    world.enable_region(MEMBER, OPT_IN)

    listed = enabled_regions(responder, MEMBER)
    world.aws.set_faults(fail=[f"account:ListRegions@{MEMBER}=AccessDeniedException"])
    described = enabled_regions(responder, MEMBER)

    assert listed == described == sorted([*DEFAULT_REGIONS, OPT_IN])
    assert [c["account"] for c in world.calls("DescribeRegions")] == [MEMBER]  # the fallback asked EC2, once
