"""localaws's Regions of an account, driven with real boto3 clients: the default Regions enabled, the opt-in Regions
disabled until the account enables them, through account:ListRegions / GetRegionOptStatus / EnableRegion /
DisableRegion and ec2:DescribeRegions, and only the Regions of the caller's partition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from localaws.protocol import partition_of
from localaws.regions import DEFAULT_REGIONS, partition_regions
from tests.conftest import CENTRAL, MEMBER, World
from tests.helpers import NO_RETRIES, UNCHECKED, error_of

if TYPE_CHECKING:
    from mypy_boto3_account import AccountClient
    from mypy_boto3_ec2 import EC2Client

OPT_IN = "af-south-1"


def account_client(world: World, account: str = MEMBER, *, checked: bool = True) -> AccountClient:
    client: AccountClient = world.client("account", account, config=NO_RETRIES if checked else UNCHECKED)
    return client


def ec2_client(world: World, account: str = MEMBER, region: str = "us-east-1") -> EC2Client:
    client: EC2Client = world.client("ec2", account, region, config=NO_RETRIES)
    return client


def names(regions: list[Any]) -> list[str]:
    return [str(region["RegionName"]) for region in regions]


def validation_reason(call: Any) -> tuple[str, str, int]:
    """(code, reason member, HTTP status) of the ClientError the call raises."""
    with pytest.raises(ClientError) as raised:
        call()
    response = raised.value.response
    return response["Error"]["Code"], str(response.get("reason")), response["ResponseMetadata"]["HTTPStatusCode"]


def test_the_aws_partition_has_17_default_regions_and_opt_in_regions() -> None:
    everything = partition_regions("aws")
    assert set(DEFAULT_REGIONS) < set(everything)
    assert len(DEFAULT_REGIONS) == 17
    assert OPT_IN in everything


def test_list_regions_reports_default_regions_enabled_and_opt_in_regions_disabled(world: World) -> None:
    account = account_client(world)

    everything = account.list_regions()["Regions"]
    pages = list(account.get_paginator("list_regions").paginate(PaginationConfig={"PageSize": 10}))
    by_status = {
        status: names(account.list_regions(RegionOptStatusContains=[status])["Regions"])
        for status in ("ENABLED", "ENABLED_BY_DEFAULT", "DISABLED")
    }

    assert names(everything) == list(partition_regions("aws"))
    assert [region for page in pages for region in page["Regions"]] == everything
    assert len(pages) > 1
    assert by_status["ENABLED"] == []
    assert by_status["ENABLED_BY_DEFAULT"] == sorted(DEFAULT_REGIONS)
    assert by_status["DISABLED"] == sorted(set(partition_regions("aws")) - set(DEFAULT_REGIONS))


def test_enable_region_opts_only_that_account_in_until_it_disables_the_region(world: World) -> None:
    member, central = account_client(world), account_client(world, CENTRAL)

    member.enable_region(RegionName=OPT_IN)
    enabled = names(member.list_regions(RegionOptStatusContains=["ENABLED"])["Regions"])
    status = member.get_region_opt_status(RegionName=OPT_IN)["RegionOptStatus"]
    elsewhere = central.get_region_opt_status(RegionName=OPT_IN)["RegionOptStatus"]
    member.enable_region(RegionName=OPT_IN)  # again: nothing changes
    member.disable_region(RegionName=OPT_IN)

    assert (enabled, status, elsewhere) == ([OPT_IN], "ENABLED", "DISABLED")
    assert member.get_region_opt_status(RegionName=OPT_IN)["RegionOptStatus"] == "DISABLED"
    assert member.get_region_opt_status(RegionName="eu-west-1")["RegionOptStatus"] == "ENABLED_BY_DEFAULT"


def test_a_reset_forgets_the_regions_accounts_enabled(world: World) -> None:
    world.enable_region(MEMBER, OPT_IN)
    world.reset()
    assert account_client(world).get_region_opt_status(RegionName=OPT_IN)["RegionOptStatus"] == "DISABLED"


@pytest.mark.parametrize("operation", ["enable_region", "disable_region"])
def test_default_regions_cannot_be_enabled_or_disabled(world: World, operation: str) -> None:
    call = getattr(account_client(world), operation)
    assert validation_reason(lambda: call(RegionName="us-east-1")) == (
        "ValidationException",
        "invalidRegionOptTarget",
        400,
    )


@pytest.mark.parametrize("region", ["xx-nowhere-1", "cn-north-1", "us-gov-west-1"])
@pytest.mark.parametrize("operation", ["enable_region", "disable_region", "get_region_opt_status"])
def test_regions_outside_the_callers_partition_are_invalid(world: World, operation: str, region: str) -> None:
    call = getattr(account_client(world), operation)
    assert validation_reason(lambda: call(RegionName=region)) == ("ValidationException", "fieldValidationFailed", 400)


@pytest.mark.parametrize(
    "arguments",
    [
        {"MaxResults": 51},
        {"MaxResults": 0},
        {"NextToken": "not-a-token"},
        {"NextToken": "999"},
        {"RegionOptStatusContains": ["OPTED_IN"]},
        {"AccountId": "12345"},
    ],
)
def test_list_regions_rejects_bad_arguments(world: World, arguments: dict[str, Any]) -> None:
    account = account_client(world, checked=False)
    code, _message, status = error_of(lambda: account.list_regions(**arguments))
    assert (code, status) == ("ValidationException", 400)


def test_the_management_account_reads_and_sets_a_members_regions_and_no_one_else_does(world: World) -> None:
    (member,) = world.create_organization("member")
    management = account_client(world, CENTRAL)

    management.enable_region(AccountId=member, RegionName=OPT_IN)

    assert account_client(world, member).get_region_opt_status(RegionName=OPT_IN)["RegionOptStatus"] == "ENABLED"
    assert management.get_region_opt_status(RegionName=OPT_IN)["RegionOptStatus"] == "DISABLED"
    listed = management.list_regions(AccountId=member, RegionOptStatusContains=["ENABLED"])["Regions"]
    assert names(listed) == [OPT_IN]
    refused = error_of(lambda: account_client(world, member).list_regions(AccountId=CENTRAL))
    assert (refused[0], refused[2]) == ("AccessDeniedException", 403)


def test_describe_regions_lists_the_enabled_regions_and_with_all_regions_the_disabled_ones(world: World) -> None:
    ec2 = ec2_client(world)

    before = ec2.describe_regions()["Regions"]
    every = ec2.describe_regions(AllRegions=True)["Regions"]
    world.enable_region(MEMBER, OPT_IN)
    after = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions()["Regions"]}

    assert sorted(names(before)) == sorted(DEFAULT_REGIONS)
    assert {r["OptInStatus"] for r in before} == {"opt-in-not-required"}
    assert all(r["Endpoint"] == f"ec2.{r['RegionName']}.amazonaws.com" for r in every)
    # Only partition aws: no aws-cn or aws-us-gov Region, as moto would list.
    assert sorted(names(every)) == list(partition_regions("aws"))
    assert {r["RegionName"]: r["OptInStatus"] for r in every}[OPT_IN] == "not-opted-in"
    assert after == {**dict.fromkeys(DEFAULT_REGIONS, "opt-in-not-required"), OPT_IN: "opted-in"}


def test_describe_regions_names_any_region_of_the_partition_and_filters(world: World) -> None:
    ec2 = ec2_client(world)

    named = ec2.describe_regions(RegionNames=["ap-east-1", "us-east-1"])["Regions"]
    not_opted = ec2.describe_regions(AllRegions=True, Filters=[{"Name": "opt-in-status", "Values": ["not-opted-in"]}])
    both = ec2.describe_regions(
        AllRegions=True,
        Filters=[
            {"Name": "region-name", "Values": ["eu-west-1", "eu-south-1", "me-south-1"]},
            {"Name": "endpoint", "Values": ["ec2.eu-west-1.amazonaws.com", "ec2.me-south-1.amazonaws.com"]},
        ],
    )
    hidden = ec2.describe_regions(Filters=[{"Name": "opt-in-status", "Values": ["not-opted-in"]}])

    assert {r["RegionName"]: r["OptInStatus"] for r in named} == {
        "ap-east-1": "not-opted-in",
        "us-east-1": "opt-in-not-required",
    }
    assert sorted(names(not_opted["Regions"])) == sorted(set(partition_regions("aws")) - set(DEFAULT_REGIONS))
    assert sorted(names(both["Regions"])) == ["eu-west-1", "me-south-1"]
    assert hidden["Regions"] == []  # without AllRegions the disabled Regions are not there to filter


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"RegionNames": ["xx-nowhere-1"]}, ("InvalidParameterValue", "Invalid region: [xx-nowhere-1]", 400)),
        ({"RegionNames": ["cn-north-1"]}, ("InvalidParameterValue", "Invalid region: [cn-north-1]", 400)),
        ({"Filters": [{"Name": "zone-name", "Values": ["x"]}]},
         ("InvalidParameterValue", "The filter 'zone-name' is invalid", 400)),
        ({"DryRun": True}, ("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412)),
    ],
)  # fmt: skip
def test_describe_regions_errors(world: World, arguments: dict[str, Any], expected: tuple[str, str, int]) -> None:
    ec2 = ec2_client(world)
    assert error_of(lambda: ec2.describe_regions(**arguments)) == expected


def test_an_account_of_another_partition_sees_that_partitions_regions(world: World) -> None:
    regions = ec2_client(world, CENTRAL, "cn-north-1").describe_regions(AllRegions=True)["Regions"]
    assert {r["RegionName"]: (r["Endpoint"], r["OptInStatus"]) for r in regions} == {
        name: (f"ec2.{name}.amazonaws.com.cn", "opt-in-not-required") for name in partition_regions("aws-cn")
    }


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("eu-west-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),  # listed by botocore's endpoints.json, not a prefix rule
        ("ap-future-9", "aws"),  # not listed yet: the partition's regionRegex
        ("cn-future-9", "aws-cn"),
    ],
)
def test_partition_of_is_botocores(region: str, partition: str) -> None:
    assert partition_of(region) == partition
