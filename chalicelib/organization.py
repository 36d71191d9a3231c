"""Adapters for what the sweep and the audit ask about the organization: its active accounts (Organizations) and an
account's enabled Regions (Account Management, else EC2). Errors are AwsCallError, as from every adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.errors import AwsCallError
from chalicelib.log import emit
from chalicelib.sessions import call_aws, paginate

if TYPE_CHECKING:
    from mypy_boto3_account import AccountClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_organizations import OrganizationsClient

# Opt-in Regions the account has enabled, and the Regions every account has (account model, RegionOptStatus).
ENABLED = ["ENABLED", "ENABLED_BY_DEFAULT"]


class OrganizationAccounts:
    def __init__(self, client: OrganizationsClient) -> None:
        self._org = client

    def active(self) -> list[str]:
        """Every ACTIVE account (a PENDING_ACTIVATION, SUSPENDED, PENDING_CLOSURE or CLOSED one can be neither read
        nor fixed), all pages. An account's `State` decides; its `Status` only when no `State` is given: the
        organizations model retires `Account.Status` on September 9, 2026 in favour of `State`."""
        pages = paginate(self._org, "organizations", "ListAccounts", "list_accounts")
        return [a["Id"] for page in pages for a in page["Accounts"] if a.get("State", a.get("Status")) == "ACTIVE"]


class EnabledRegions:
    """One account's enabled Regions. account:ListRegions answers with opt-in status; if it is refused (an older
    member role, or an SCP), ec2:DescribeRegions without AllRegions lists "Regions that are enabled for your account"
    (ec2 model, DescribeRegionsRequest.AllRegions)."""

    def __init__(self, account: str, management: Callable[[], AccountClient], ec2: Callable[[], EC2Client]) -> None:
        self._account = account
        self._management = management
        self._ec2 = ec2

    def names(self) -> list[str]:
        try:
            pages = paginate(
                self._management(), "account", "ListRegions", "list_regions", RegionOptStatusContains=ENABLED
            )
            return sorted(r["RegionName"] for page in pages for r in page.get("Regions", []))
        except AwsCallError as e:
            emit("regions-fallback", account=self._account, error=str(e))
        page = call_aws("ec2", "DescribeRegions", self._ec2().describe_regions)
        return sorted(r["RegionName"] for r in page["Regions"])
