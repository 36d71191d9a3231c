"""Parsing the EventBridge envelope and CloudTrail record: real-shaped fixtures, typed rejections."""

from __future__ import annotations

import copy

import pytest

from chalicelib.errors import EventRejected
from chalicelib.events import parse_change
from tests.conftest import EVENTS, load_event


@pytest.mark.parametrize(
    ("fixture", "account", "region", "channel", "principal"),
    [
        (
            "console-change-to-none.json",
            "222222222222",
            "eu-west-1",
            "Console",
            "arn:aws:iam::222222222222:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Developer_0123456789abcdef",
        ),
        (
            "cli-change-to-aws-managed.json",
            "222222222222",
            "eu-west-1",
            "AWS CLI",
            "arn:aws:iam::222222222222:user/ops-bob",
        ),
        (
            "iac-sets-approved-key.json",
            "222222222222",
            "eu-west-1",
            "Terraform",
            "arn:aws:iam::222222222222:role/terraform-apply",
        ),
        (
            "sdk-change-other-key.json",
            "222222222222",
            "eu-west-1",
            "SDK",
            "arn:aws:iam::222222222222:role/platform-deployer",
        ),
        (
            "cross-account-no-recipient.json",
            "333333333333",
            "ap-southeast-2",
            "Console",
            "arn:aws:iam::333333333333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_fedcba9876543210",
        ),
    ],
)
def test_real_shaped_events_parse(fixture: str, account: str, region: str, channel: str, principal: str) -> None:
    change = parse_change(load_event(fixture))
    assert (change.account, change.region) == (account, region)
    assert change.actor.channel == channel
    assert change.actor.principal_arn == principal
    assert change.cloudtrail_event_id.startswith("a1b2c3d4-")
    assert change.error_code is None


def test_failed_call_keeps_its_error_code() -> None:
    assert parse_change(load_event("failed-call-access-denied.json")).error_code == "AccessDenied"


def test_chalice_test_client_int_version_is_accepted() -> None:
    event = load_event("console-change-to-none.json")
    event["version"] = 0
    assert parse_change(event).event_id == event["id"]


def test_assumed_role_without_session_context_derives_the_role() -> None:
    event = load_event("sdk-change-other-key.json")
    del event["detail"]["userIdentity"]["sessionContext"]
    assert parse_change(event).actor.principal_arn == "arn:aws:iam::222222222222:role/platform-deployer"


def _mutate(path: list[str], value: object) -> dict[str, object]:
    event = copy.deepcopy(load_event("console-change-to-none.json"))
    target = event
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return event


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (["source"], "aws.s3", "source"),
        (["source"], "custom.forged", "source"),
        (["detail-type"], "Object Created", "detail-type"),
        (["detail", "eventName"], "GetEncryptionConfig", "eventName"),
        (["detail", "eventSource"], "kms.amazonaws.com", "eventSource"),
        (["account"], "12345", "account"),
        (["region"], "../../etc", "region"),
        (["detail", "userIdentity"], KeyError, "userIdentity"),
        (["detail"], KeyError, "detail"),
        (["detail"], "not an object", "detail"),
        (["detail", "userAgent"], "x" * 100_000, "userAgent"),
    ],
)
def test_rejections_are_typed_and_say_why(path: list[str], value: object, reason: str) -> None:
    with pytest.raises(EventRejected) as error:
        parse_change(_mutate(path, value))
    assert reason in error.value.reason


def test_non_object_event_is_rejected() -> None:
    with pytest.raises(EventRejected, match="not a JSON object"):
        parse_change([])  # type: ignore[arg-type]


def test_every_fixture_is_valid_json_with_a_unique_id() -> None:
    ids = [load_event(p.name)["id"] for p in EVENTS.glob("*.json")]
    assert len(ids) == len(set(ids)) >= 10
