"""The organization's accounts as Organizations ListAccounts answers them: `State` decides (the organizations model
retires `Account.Status` on September 9, 2026), `Status` only when an answer has no `State`. botocore's Stubber
plays the answers (shapes checked against the service model), so no AWS is needed."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from chalicelib.errors import AwsCallError
from chalicelib.organization import OrganizationAccounts


def _account(account_id: str, **fields: str) -> dict[str, Any]:
    return {"Id": account_id, "Arn": f"arn:aws:organizations::111111111111:account/o-abc/{account_id}", **fields}


def _organizations() -> Any:
    return botocore.session.get_session().create_client(
        "organizations", region_name="us-east-1", aws_access_key_id="offline", aws_secret_access_key="offline"
    )


def test_only_active_accounts_are_covered_by_their_state_then_their_status_over_every_page() -> None:
    org = _organizations()
    with Stubber(org) as stub:
        first = [
            _account("111111111111", State="ACTIVE"),  # after the retirement: State only
            _account("222222222222", State="SUSPENDED", Status="ACTIVE"),  # State decides
            _account("333333333333", State="PENDING_CLOSURE"),
        ]
        second = [
            _account("444444444444", Status="ACTIVE"),  # before State existed
            _account("555555555555", State="PENDING_ACTIVATION"),
            _account("666666666666", State="CLOSED"),
        ]
        stub.add_response("list_accounts", {"Accounts": first, "NextToken": "page-2"}, {})
        stub.add_response("list_accounts", {"Accounts": second}, {"NextToken": "page-2"})
        assert OrganizationAccounts(org).active() == ["111111111111", "444444444444"]
        stub.assert_no_pending_responses()


def test_a_refused_listing_is_an_aws_call_error_naming_the_operation() -> None:
    org = _organizations()
    with Stubber(org) as stub:
        stub.add_client_error("list_accounts", "AWSOrganizationsNotInUseException", "not in an organization")
        with pytest.raises(AwsCallError) as error:
            OrganizationAccounts(org).active()
    assert (error.value.operation, error.value.code) == ("ListAccounts", "AWSOrganizationsNotInUseException")
