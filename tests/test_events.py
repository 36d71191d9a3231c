"""Parsing the EventBridge envelope and CloudTrail record: real-shaped fixtures, typed rejections only for what the
check needs, and informational fields clipped or unknown, never a reason to skip."""

from __future__ import annotations

import ast
import copy
import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from chalicelib import events
from chalicelib.domain import Actor, Mode, Outcome, Trigger, Verdict
from chalicelib.errors import EventRejected
from chalicelib.events import MAX_FIELD, parse_change
from chalicelib.findings import Finding
from chalicelib.notify import render_email
from chalicelib.policy import is_exempt
from chalicelib.settings import Settings
from chalicelib.text import CLIP_MARK
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
    assert change.cloudtrail_event_id is not None
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
        (["detail", "eventName"], KeyError, "eventName"),
        (["detail", "eventSource"], 17, "eventSource"),
        (["account"], "12345", "account"),
        (["account"], KeyError, "account"),
        (["region"], "../../etc", "region"),
        (["region"], None, "region"),
        (["detail"], KeyError, "detail"),
        (["detail"], "not an object", "detail"),
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


# -- informational fields: clipped or unknown, never a rejection ------------------------------------------------------

IDENTITY_CENTER_USER = (
    "identitycenter:arn:aws:identitystore::111111111111:identitystore/d-9067642ac7"
    "/user/544894e8-80c1-707f-60e3-3ba6510dfac1"
)


def test_identity_center_user_is_named_verbatim_by_store_and_user_id() -> None:
    """CloudTrail's userIdentity for a request made on behalf of an IAM Identity Center user has no ARN, only
    onBehalfOf.userId and onBehalfOf.identityStoreArn (CloudTrail userIdentity element, examples)."""
    change = parse_change(load_event("identity-center-console-change.json"))

    assert change.actor.arn == IDENTITY_CENTER_USER
    assert change.actor.principal_arn == IDENTITY_CENTER_USER
    assert change.actor.type == "IdentityCenterUser"
    assert change.actor.session_name is None
    assert change.actor.channel == "Console"


@pytest.mark.parametrize(
    ("pattern", "exempt"),
    [
        ("identitycenter:arn:aws:identitystore::111111111111:identitystore/d-9067642ac7/user/*", True),
        (IDENTITY_CENTER_USER, True),
        ("identitycenter:*/user/544894e8-80c1-707f-60e3-3ba6510dfac1", True),
        ("identitycenter:arn:aws:identitystore::111111111111:identitystore/d-0000000000/user/*", False),
        ("arn:aws:iam::*:role/*", False),
    ],
)
def test_identity_center_users_are_matched_for_exemptions(pattern: str, exempt: bool) -> None:
    settings = Settings.from_env(
        {"XRAY_GUARD_KMS_KEY": "alias/xray-encryption", "XRAY_GUARD_EXEMPT_PRINCIPALS": pattern}, required=()
    )
    actor = parse_change(load_event("identity-center-console-change.json")).actor

    assert is_exempt(actor, settings.exempt_principals) is exempt


def test_an_identity_enhanced_role_session_stays_the_role_that_acted() -> None:
    """With an ARN, onBehalfOf only says for whom: the role's permissions made the change, and exemptions match it."""
    event = load_event("console-change-to-none.json")
    event["detail"]["userIdentity"]["onBehalfOf"] = load_event("identity-center-console-change.json")["detail"][
        "userIdentity"
    ]["onBehalfOf"]

    actor = parse_change(event).actor

    assert actor.arn.startswith("arn:aws:sts::222222222222:assumed-role/")
    assert actor.principal_arn.endswith(
        ":role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Developer_0123456789abcdef"
    )


def test_an_attacker_chosen_user_agent_is_clipped_and_kept_verbatim_up_to_the_bound() -> None:
    event = load_event("odd-user-agent.json")
    sent = event["detail"]["userAgent"]

    actor = parse_change(event).actor

    assert len(sent) > MAX_FIELD
    assert actor.user_agent == sent[:MAX_FIELD] + CLIP_MARK
    assert actor.type == "AssumedRoleV2"  # not a documented type: accepted as given
    assert actor.principal_arn == "arn:aws:iam::222222222222:role/platform-deployer"  # no sessionContext: derived


UNKNOWN_ACTOR = {"arn": "unknown", "type": "unknown", "principal_arn": "unknown", "session_name": None}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["detail", "userIdentity"], KeyError, UNKNOWN_ACTOR),
        (["detail", "userIdentity"], None, UNKNOWN_ACTOR),
        (["detail", "userIdentity"], "root", UNKNOWN_ACTOR),
        (["detail", "userIdentity"], {}, UNKNOWN_ACTOR),
        (["detail", "userIdentity", "type"], KeyError, {"type": "unknown"}),
        (["detail", "userIdentity", "type"], "X" * 500, {"type": "X" * 64 + CLIP_MARK}),
        (["detail", "userIdentity", "type"], ["AssumedRole"], {"type": "unknown"}),
        (["detail", "userIdentity", "arn"], KeyError, {"arn": "unknown", "principal_arn": "unknown"}),
        (["detail", "userIdentity", "arn"], 42, {"arn": "unknown"}),
        (["detail", "userIdentity", "sessionContext"], KeyError, {"session_name": "jane.doe@example.com"}),
        (["detail", "userIdentity", "sessionContext"], "odd", {"session_name": "jane.doe@example.com"}),
        (
            ["detail", "userIdentity", "sessionContext", "sessionIssuer"],
            [1, 2],
            {"session_name": "jane.doe@example.com"},
        ),
        (["detail", "userAgent"], KeyError, {"user_agent": "", "channel": "Console"}),
        (["detail", "userAgent"], {"a": 1}, {"user_agent": ""}),
        (["detail", "userAgent"], "x" * 100_000, {"user_agent": "x" * MAX_FIELD + CLIP_MARK}),
        (["detail", "sourceIPAddress"], "y" * 5000, {"source_ip": "y" * MAX_FIELD + CLIP_MARK}),
        (["detail", "sourceIPAddress"], None, {"source_ip": None}),
        (["detail", "sessionCredentialFromConsole"], "definitely" * 10, {"from_console": False}),
    ],
)
def test_informational_fields_are_clipped_or_unknown_never_rejected(
    path: list[str], value: object, expected: dict[str, object]
) -> None:
    change = parse_change(_mutate(path, value))

    assert (change.account, change.region) == ("222222222222", "eu-west-1")
    for name, want in expected.items():
        assert getattr(change.actor, name) == want, name


@pytest.mark.parametrize(
    ("path", "value", "attribute", "expected"),
    [
        (["detail", "eventID"], KeyError, "cloudtrail_event_id", None),
        (["detail", "eventID"], 7, "cloudtrail_event_id", None),
        (["detail", "eventID"], "e" * 300, "cloudtrail_event_id", "e" * 128 + CLIP_MARK),
        (["id"], KeyError, "event_id", None),
        (["detail", "eventTime"], KeyError, "event_time", None),
        (["version"], KeyError, "account", "222222222222"),
        (["time"], {"not": "a time"}, "account", "222222222222"),
        (["detail", "requestParameters"], "NONE", "account", "222222222222"),
        (["detail", "requestParameters", "type"], "N" * 100_000, "account", "222222222222"),  # never read
        (["detail", "errorCode"], "", "error_code", None),
        (["detail", "errorCode"], ["AccessDenied"], "error_code", None),
        (["detail", "errorCode"], "E" * 4000, "error_code", "E" * MAX_FIELD + CLIP_MARK),
    ],
)
def test_ids_times_and_parameters_are_informational(
    path: list[str], value: object, attribute: str, expected: object
) -> None:
    change = parse_change(_mutate(path, value))

    assert getattr(change, attribute) == expected


@pytest.mark.parametrize(
    "on_behalf_of",
    [
        {"userId": "544894e8-80c1-707f-60e3-3ba6510dfac1"},
        {"identityStoreArn": "arn:aws:identitystore::111111111111:identitystore/d-9067642ac7"},
        {"userId": "", "identityStoreArn": "arn:aws:identitystore::111111111111:identitystore/d-9067642ac7"},
        "user",
    ],
)
def test_an_incomplete_identity_center_user_is_unknown(on_behalf_of: object) -> None:
    event = load_event("identity-center-console-change.json")
    event["detail"]["userIdentity"]["onBehalfOf"] = on_behalf_of

    actor = parse_change(event).actor

    assert (actor.arn, actor.principal_arn, actor.type) == ("unknown", "unknown", "IdentityCenterUser")


# -- every identity type CloudTrail documents, with and without onBehalfOf / inScopeOf ---------------------------------

IDENTITY_TYPES = (
    "Root", "IAMUser", "AssumedRole", "Role", "FederatedUser", "Directory", "AWSAccount", "AWSService",
    "IdentityCenterUser", "Unknown",
)  # fmt: skip
ARNS = (
    None,
    "arn:aws:iam::222222222222:root",
    "arn:aws:iam::222222222222:user/ops-bob",
    "arn:aws:sts::222222222222:assumed-role/Admin/alice",
    "arn:aws:sts::222222222222:federated-user/bob",
    "arn:aws-cn:sts::222222222222:assumed-role/XRayGuardMember/xray-guard",
)


@st.composite
def user_identities(draw: st.DrawFn) -> dict[str, Any]:
    identity: dict[str, Any] = {"type": draw(st.sampled_from(IDENTITY_TYPES)), "accountId": "222222222222"}
    arn = draw(st.sampled_from(ARNS))
    if arn is not None:
        identity["arn"] = arn
    if draw(st.booleans()):
        identity["onBehalfOf"] = {
            "userId": draw(st.uuids()).hex,
            "identityStoreArn": f"arn:aws:identitystore::111111111111:identitystore/d-{draw(st.integers(0, 10**9))}",
        }
    if draw(st.booleans()):  # CloudTrail's inScopeOf: the resource a service acted for
        identity["inScopeOf"] = {
            "sourceArn": "arn:aws:lambda:eu-west-1:222222222222:function:deployer",
            "sourceAccount": "222222222222",
            "issuerType": "AWS::Lambda::Function",
            "credentialsIssuedTo": "arn:aws:iam::222222222222:role/deployer",
        }
    if draw(st.booleans()):
        identity["invokedBy"] = draw(st.sampled_from(["cloudformation.amazonaws.com", "AWS Internal"]))
    if draw(st.booleans()):
        identity["sessionContext"] = {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::222222222222:role/Admin"}}
    return identity


def expected_actor(identity: dict[str, Any]) -> str:
    if "arn" in identity:
        return str(identity["arn"])
    behalf = identity.get("onBehalfOf")
    if behalf:
        return f"identitycenter:{behalf['identityStoreArn']}/user/{behalf['userId']}"
    if "invokedBy" in identity:
        return f"service:{identity['invokedBy']}"
    return "unknown"


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(identity=user_identities())
def test_every_documented_identity_is_accepted_named_and_matchable(identity: dict[str, Any]) -> None:
    event = load_event("console-change-to-none.json")
    event["detail"]["userIdentity"] = identity

    actor = parse_change(event).actor

    assert actor.arn == expected_actor(identity)
    assert actor.type == identity["type"]
    assert is_exempt(actor, [actor.arn])  # whatever the actor is called, that name can exempt it
    email = render_email(_finding_for(actor))
    assert f"Who:      {actor.arn}" in email


def _finding_for(actor: Actor) -> Finding:
    return Finding(
        trigger=Trigger.EVENT, account="222222222222", region="eu-west-1", verdict=Verdict.DRIFT_NONE, reason="r",
        outcome=Outcome.ALERTED, mode=Mode.ALERT, before=None, after=None, approved_key_ref="alias/x",
        approved_key_arn=None, observed_at="2026-11-28T03:12:51+00:00", actor=actor,
    )  # fmt: skip


def test_every_field_parsed_from_an_event_is_read_by_the_code() -> None:
    """Issue 10: no unread event fields (each one is validated, clipped and kept for nothing). By attribute name,
    so a name two models share counts as read for both: `type` is read for the identity, not for a session issuer
    or a resource, which therefore have none."""
    read: set[str] = set()
    for path in (Path(__file__).parents[1] / "chalicelib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                read.add(node.attr)
    unread: dict[str, set[str]] = {}
    for name, model in vars(events).items():
        if not inspect.isclass(model) or model.__module__ != events.__name__:
            continue
        if issubclass(model, BaseModel):
            fields = set(model.model_fields)
        elif dataclasses.is_dataclass(model):
            fields = {f.name for f in dataclasses.fields(model)}
        else:
            continue
        if fields - read:
            unread[name] = fields - read
    assert unread == {}
