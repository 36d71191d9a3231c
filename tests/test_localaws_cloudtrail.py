"""localaws's CloudTrail reads as AWS shows them: a trail created without selectors answers AWS's default selector,
and an organization trail is a shadow trail in the organization's member accounts (DescribeTrails, GetTrailStatus and
GetEventSelectors by ARN), never in other accounts, and never by name (localaws/cloudtrail.py cites the model)."""

from __future__ import annotations

from typing import Any

from localaws.cloudtrail import DEFAULT_EVENT_SELECTORS
from tests.conftest import CENTRAL, World
from tests.helpers import error_of

HOME = "us-east-1"
OTHER = "eu-west-1"


def cloudtrail(world: World, account: str = CENTRAL, region: str = HOME) -> Any:
    return world.client("cloudtrail", account, region)


def trails_seen(world: World, account: str, region: str, **params: Any) -> list[dict[str, Any]]:
    trails: list[dict[str, Any]] = cloudtrail(world, account, region).describe_trails(**params)["trailList"]
    return trails


def test_a_trail_created_without_selectors_answers_the_default_selector(world: World) -> None:
    arn = world.create_trail(CENTRAL, "fresh")
    answer = cloudtrail(world).get_event_selectors(TrailName="fresh")
    assert answer["TrailARN"] == arn
    assert answer["EventSelectors"] == list(DEFAULT_EVENT_SELECTORS)
    assert "AdvancedEventSelectors" not in answer
    [described] = trails_seen(world, CENTRAL, HOME)
    assert described["HasCustomEventSelectors"] is False


def test_selectors_that_were_put_are_answered_as_put(world: World) -> None:
    world.create_trail(CENTRAL, "custom")
    central = cloudtrail(world)
    write_only = [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True, "DataResources": []}]
    central.put_event_selectors(TrailName="custom", EventSelectors=write_only)
    assert central.get_event_selectors(TrailName="custom")["EventSelectors"] == write_only
    advanced = [{"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}]
    central.put_event_selectors(TrailName="custom", AdvancedEventSelectors=advanced)
    answer = central.get_event_selectors(TrailName="custom")
    assert (answer["AdvancedEventSelectors"], "EventSelectors" in answer) == (advanced, False)
    assert trails_seen(world, CENTRAL, HOME)[0]["HasCustomEventSelectors"] is True


def test_an_organization_trail_is_a_shadow_trail_in_member_accounts(world: World) -> None:
    [member] = world.create_organization("member")
    arn = world.create_trail(CENTRAL, "org-trail", IsOrganizationTrail=True, IsMultiRegionTrail=True)

    for region in (HOME, OTHER):
        [seen] = trails_seen(world, member, region)
        assert (seen["TrailARN"], seen["HomeRegion"], seen["IsOrganizationTrail"]) == (arn, HOME, True)
    seen_from_member = cloudtrail(world, member, OTHER)
    assert seen_from_member.get_trail_status(Name=arn)["IsLogging"] is True
    assert seen_from_member.get_event_selectors(TrailName=arn)["EventSelectors"] == list(DEFAULT_EVENT_SELECTORS)
    # "you must provide the full ARN of that trail, and not just the name"
    assert error_of(lambda: seen_from_member.get_trail_status(Name="org-trail"))[0] == "TrailNotFoundException"
    assert trails_seen(world, member, OTHER, includeShadowTrails=False) == []


def test_an_organization_trail_follows_its_own_logging_state(world: World) -> None:
    [member] = world.create_organization("member")
    arn = world.create_trail(CENTRAL, "org-trail", IsOrganizationTrail=True, IsMultiRegionTrail=True)
    cloudtrail(world).stop_logging(Name="org-trail")
    assert cloudtrail(world, member, OTHER).get_trail_status(Name=arn)["IsLogging"] is False


def test_an_organization_trail_is_not_shown_outside_the_organization_nor_a_plain_trail_to_members(
    world: World,
) -> None:
    [member] = world.create_organization("member")
    org_arn = world.create_trail(CENTRAL, "org-trail", IsOrganizationTrail=True, IsMultiRegionTrail=True)
    world.create_trail(CENTRAL, "central-only", IsMultiRegionTrail=True)
    outsider = "333333333333"

    assert trails_seen(world, outsider, HOME) == []
    outside = cloudtrail(world, outsider)
    assert error_of(lambda: outside.get_trail_status(Name=org_arn))[0] == "TrailNotFoundException"
    assert [t["Name"] for t in trails_seen(world, member, HOME)] == ["org-trail"]


def test_shadow_trails_of_the_own_account(world: World) -> None:
    multi = world.create_trail(CENTRAL, "everywhere", IsMultiRegionTrail=True)
    single = world.create_trail(CENTRAL, "home-only")

    assert {t["TrailARN"] for t in trails_seen(world, CENTRAL, HOME)} == {multi, single}
    assert [t["TrailARN"] for t in trails_seen(world, CENTRAL, OTHER)] == [multi]
    elsewhere = cloudtrail(world, CENTRAL, OTHER)
    assert elsewhere.get_trail_status(Name=multi)["IsLogging"] is True  # a shadow trail, by ARN
    # "To get the status of a shadow trail ... specify its ARN"
    assert error_of(lambda: elsewhere.get_trail_status(Name="everywhere"))[0] == "TrailNotFoundException"
    assert error_of(lambda: elsewhere.get_event_selectors(TrailName=single))[0] == "TrailNotFoundException"


def test_a_single_region_organization_trail_shows_in_its_home_region_only(world: World) -> None:
    [member] = world.create_organization("member")
    arn = world.create_trail(CENTRAL, "org-home", IsOrganizationTrail=True)
    assert [t["TrailARN"] for t in trails_seen(world, member, HOME)] == [arn]
    assert trails_seen(world, member, OTHER) == []
