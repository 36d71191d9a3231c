"""localaws's CloudTrail reads as AWS shows them: a trail created without selectors answers AWS's default selector,
and an organization trail is a shadow trail in the organization's member accounts (DescribeTrails, GetTrailStatus and
GetEventSelectors by ARN), never in other accounts, and never by name (localaws/cloudtrail.py cites the model)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localaws import LocalAWS, admin_session
from localaws.cloudtrail import DEFAULT_EVENT_SELECTORS
from tests.conftest import CENTRAL

if TYPE_CHECKING:
    from mypy_boto3_cloudtrail.type_defs import AdvancedEventSelectorTypeDef, EventSelectorTypeDef, TrailTypeDef

HOME = "us-east-1"
OTHER = "eu-west-1"


def session(account: str, region: str) -> boto3.Session:
    return boto3.Session(region_name=region) if account == CENTRAL else admin_session(account, region)


def create_trail(account: str, region: str, name: str, **options: Any) -> str:
    """A trail with its bucket (CreateTrail needs an existing bucket), logging."""
    bucket = f"trail-{account}-{name}".lower()
    session(account, region).client("s3").create_bucket(Bucket=bucket)
    cloudtrail = session(account, region).client("cloudtrail")
    arn: str = cloudtrail.create_trail(Name=name, S3BucketName=bucket, **options)["TrailARN"]
    cloudtrail.start_logging(Name=name)
    return arn


def organization_member() -> str:
    """A member account of an organization the central account manages."""
    org = boto3.client("organizations", region_name=HOME)
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(AccountName="member", Email="member@example.com")["CreateAccountStatus"]
    return str(status["AccountId"])


def trails_seen(account: str, region: str, **params: Any) -> list[TrailTypeDef]:
    trails: list[TrailTypeDef] = session(account, region).client("cloudtrail").describe_trails(**params)["trailList"]
    return trails


def code_of(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_a_trail_created_without_selectors_answers_the_default_selector(aws: LocalAWS) -> None:
    arn = create_trail(CENTRAL, HOME, "fresh")
    answer = boto3.client("cloudtrail", region_name=HOME).get_event_selectors(TrailName="fresh")
    assert answer["TrailARN"] == arn
    assert answer["EventSelectors"] == list(DEFAULT_EVENT_SELECTORS)
    assert "AdvancedEventSelectors" not in answer
    [described] = trails_seen(CENTRAL, HOME)
    assert described["HasCustomEventSelectors"] is False


def test_selectors_that_were_put_are_answered_as_put(aws: LocalAWS) -> None:
    create_trail(CENTRAL, HOME, "custom")
    cloudtrail = boto3.client("cloudtrail", region_name=HOME)
    write_only: list[EventSelectorTypeDef] = [
        {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True, "DataResources": []}
    ]
    cloudtrail.put_event_selectors(TrailName="custom", EventSelectors=write_only)
    assert cloudtrail.get_event_selectors(TrailName="custom")["EventSelectors"] == write_only
    advanced: list[AdvancedEventSelectorTypeDef] = [
        {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
    ]
    cloudtrail.put_event_selectors(TrailName="custom", AdvancedEventSelectors=advanced)
    answer = cloudtrail.get_event_selectors(TrailName="custom")
    assert (answer["AdvancedEventSelectors"], "EventSelectors" in answer) == (advanced, False)
    assert trails_seen(CENTRAL, HOME)[0]["HasCustomEventSelectors"] is True


def test_an_organization_trail_is_a_shadow_trail_in_member_accounts(aws: LocalAWS) -> None:
    member = organization_member()
    arn = create_trail(CENTRAL, HOME, "org-trail", IsOrganizationTrail=True, IsMultiRegionTrail=True)

    for region in (HOME, OTHER):
        [seen] = trails_seen(member, region)
        assert (seen["TrailARN"], seen["HomeRegion"], seen["IsOrganizationTrail"]) == (arn, HOME, True)
    cloudtrail = session(member, OTHER).client("cloudtrail")
    assert cloudtrail.get_trail_status(Name=arn)["IsLogging"] is True
    assert cloudtrail.get_event_selectors(TrailName=arn)["EventSelectors"] == list(DEFAULT_EVENT_SELECTORS)
    with pytest.raises(ClientError) as by_name:  # "you must provide the full ARN of that trail, and not just the name"
        cloudtrail.get_trail_status(Name="org-trail")
    assert code_of(by_name) == "TrailNotFoundException"
    assert trails_seen(member, OTHER, includeShadowTrails=False) == []


def test_an_organization_trail_follows_its_own_logging_state(aws: LocalAWS) -> None:
    member = organization_member()
    arn = create_trail(CENTRAL, HOME, "org-trail", IsOrganizationTrail=True, IsMultiRegionTrail=True)
    boto3.client("cloudtrail", region_name=HOME).stop_logging(Name="org-trail")
    assert session(member, OTHER).client("cloudtrail").get_trail_status(Name=arn)["IsLogging"] is False


def test_an_organization_trail_is_not_shown_outside_the_organization_nor_a_plain_trail_to_members(
    aws: LocalAWS,
) -> None:
    member = organization_member()
    org_arn = create_trail(CENTRAL, HOME, "org-trail", IsOrganizationTrail=True, IsMultiRegionTrail=True)
    create_trail(CENTRAL, HOME, "central-only", IsMultiRegionTrail=True)
    outsider = "333333333333"

    assert trails_seen(outsider, HOME) == []
    with pytest.raises(ClientError) as error:
        session(outsider, HOME).client("cloudtrail").get_trail_status(Name=org_arn)
    assert code_of(error) == "TrailNotFoundException"
    assert [t["Name"] for t in trails_seen(member, HOME)] == ["org-trail"]


def test_shadow_trails_of_the_own_account(aws: LocalAWS) -> None:
    multi = create_trail(CENTRAL, HOME, "everywhere", IsMultiRegionTrail=True)
    single = create_trail(CENTRAL, HOME, "home-only")

    assert {t["TrailARN"] for t in trails_seen(CENTRAL, HOME)} == {multi, single}
    assert [t["TrailARN"] for t in trails_seen(CENTRAL, OTHER)] == [multi]
    elsewhere = boto3.client("cloudtrail", region_name=OTHER)
    assert elsewhere.get_trail_status(Name=multi)["IsLogging"] is True  # a shadow trail, by ARN
    with pytest.raises(ClientError) as by_name:
        elsewhere.get_trail_status(Name="everywhere")  # "To get the status of a shadow trail ... specify its ARN"
    assert code_of(by_name) == "TrailNotFoundException"
    with pytest.raises(ClientError) as single_elsewhere:
        elsewhere.get_event_selectors(TrailName=single)
    assert code_of(single_elsewhere) == "TrailNotFoundException"


def test_a_single_region_organization_trail_shows_in_its_home_region_only(aws: LocalAWS) -> None:
    member = organization_member()
    arn = create_trail(CENTRAL, HOME, "org-home", IsOrganizationTrail=True)
    assert [t["TrailARN"] for t in trails_seen(member, HOME)] == [arn]
    assert trails_seen(member, OTHER) == []
