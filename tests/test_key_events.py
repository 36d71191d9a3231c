"""KMS events (issue 11, section 1): the pattern (moto's EventBridge engine), the parser, and end to end over localaws:
which key, other keys, a fresh description and the 2 s re-read, the severities and words, aliases, exempt actors, a
key of another account. xray-guard never writes to KMS, and a KMS-triggered check never fails the invocation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.errors import RemediationFailed
from chalicelib.events import PATTERN, parse_change
from chalicelib.service import Responder
from chalicelib.sessions import ClientFactory
from chalicelib.settings import Settings
from localaws import moto_bridge
from localaws.world import approved_key_policy, policy_document, xray_statement
from tests.conftest import APPROVED_ALIAS, CENTRAL, MEMBER, MEMBER_REGION, World, load_event

EXAMPLE_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"  # the KMS developer guide's, in every fixture
KMS_FIXTURES = {
    "kms-disable-key.json": "DisableKey",
    "kms-disable-key-by-id.json": "DisableKey",
    "kms-enable-key.json": "EnableKey",
    "kms-schedule-key-deletion.json": "ScheduleKeyDeletion",
    "kms-cancel-key-deletion.json": "CancelKeyDeletion",
    "kms-delete-imported-key-material.json": "DeleteImportedKeyMaterial",
    "kms-put-key-policy.json": "PutKeyPolicy",
    "kms-disable-key-rotation.json": "DisableKeyRotation",
    "kms-create-alias.json": "CreateAlias",
    "kms-update-alias.json": "UpdateAlias",
    "kms-delete-alias.json": "DeleteAlias",
    "kms-key-material-expired.json": "KMS Imported Key Material Expiration",
}
NEVER_MATCH = [
    "kms-decrypt.json",
    "kms-generate-data-key.json",
    "kms-create-grant.json",
    "kms-retire-grant.json",
    "kms-get-key-policy.json",
]
WRITES_TO_KMS = {
    "EnableKey",
    "DisableKey",
    "CancelKeyDeletion",
    "ScheduleKeyDeletion",
    "PutKeyPolicy",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "CreateAlias",
    "UpdateAlias",
    "DeleteAlias",
    "CreateGrant",
}


def _matches(event: dict[str, Any]) -> bool:
    return moto_bridge.event_pattern_matches(PATTERN, event)


# -- the pattern and the parser -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "name"), sorted(KMS_FIXTURES.items()))
def test_each_kms_event_matches_the_pattern_and_names_its_key(fixture: str, name: str) -> None:
    event = load_event(fixture)
    assert _matches(event)
    change = parse_change(event)
    assert (change.event_name, change.about_key, change.about_spans) == (name, True, False)
    expected = EXAMPLE_KEY_ID if fixture == "kms-disable-key-by-id.json" else f"key/{EXAMPLE_KEY_ID}"
    assert change.key_ref is not None
    assert change.key_ref.endswith(expected)
    if "alias" in fixture:
        assert change.alias_name == APPROVED_ALIAS
    else:
        assert change.alias_name is None


@pytest.mark.parametrize("fixture", NEVER_MATCH)
def test_calls_aws_services_make_constantly_never_match(fixture: str) -> None:
    event = load_event(fixture)
    assert event["detail"]["eventSource"] == "kms.amazonaws.com"
    assert not _matches(event)


def test_the_key_comes_from_resources_then_response_then_request() -> None:
    event = load_event("kms-disable-key.json")
    resource_arn = "arn:aws:kms:eu-west-1:222222222222:key/00000000-0000-4000-8000-000000000001"
    event["detail"]["resources"] = [{"ARN": resource_arn}]
    assert parse_change(event).key_ref == resource_arn
    del event["detail"]["resources"]
    assert parse_change(event).key_ref == event["detail"]["responseElements"]["keyId"]
    event["detail"]["responseElements"] = None
    assert parse_change(event).key_ref == EXAMPLE_KEY_ID
    event["detail"]["resources"] = "not a list"  # informational: unknown, never a rejection
    assert parse_change(event).key_ref == EXAMPLE_KEY_ID


def test_an_alias_call_names_the_key_not_the_alias_from_resources() -> None:
    change = parse_change(load_event("kms-update-alias.json"))
    assert change.key_ref == f"arn:aws:kms:eu-west-1:222222222222:key/{EXAMPLE_KEY_ID}"
    assert change.alias_name == APPROVED_ALIAS  # its new target is read from KMS when the check runs


def test_key_material_expiration_has_kms_itself_as_actor() -> None:
    change = parse_change(load_event("kms-key-material-expired.json"))
    assert change.actor.arn == "service:kms.amazonaws.com"
    assert change.actor.channel == "AWS service"
    assert change.cloudtrail_event_id is None


# -- end to end over localaws ----------------------------------------------------------------------------------


def kms_event(fixture: str, key_arn: str, serial: str = "1", **detail: Any) -> dict[str, Any]:
    """A fixture about `key_arn` (its id and ARN replace the guide's example key), with its own ids."""
    key_id = key_arn.rsplit("/", 1)[-1]
    text = json.dumps(load_event(fixture))
    text = text.replace(f"arn:aws:kms:eu-west-1:222222222222:key/{EXAMPLE_KEY_ID}", key_arn)
    event: dict[str, Any] = json.loads(text.replace(EXAMPLE_KEY_ID, key_id))
    event["id"] = f"{event['id'][:-4]}{serial:>04}"
    if "eventID" in event["detail"]:
        event["detail"]["eventID"] = f"{event['detail']['eventID'][:-4]}{serial:>04}"
    event["detail"].update(detail)
    return event


def _kms_writes(world: World) -> list[str]:
    return [c["operation"] for c in world.calls() if c["service"] == "kms" and c["operation"] in WRITES_TO_KMS]


def _setup(world: World, **env: str) -> tuple[str, Responder, str]:
    """The approved key, X-Ray on it, an alert inbox and a responder in revert mode; returns (key, responder, inbox)."""
    key = world.create_key()
    world.put(Type="KMS", KeyId=APPROVED_ALIAS)
    topic, inbox = world.alert_inbox()
    return key, world.responder(topic, **env), inbox


def test_approved_key_disabled_is_critical_in_the_same_invocation_and_never_fails_it(world: World) -> None:
    key, responder, inbox = _setup(world)
    world.kms().disable_key(KeyId=key)
    world.aws.app.calls.clear()

    summary = responder.on_event(kms_event("kms-disable-key.json", key))  # revert mode: still no exception

    assert (summary["decision"], summary["severity"]) == ("key-unusable", "critical")
    [alert] = world.alerts(inbox)
    assert alert["severity"] == "critical"
    assert alert["key"] == {"arn": key, "state": "Disabled", "deletion_date": None, "event_name": "DisableKey",
                            "posture": None, "posture_status": None, "problems": []}  # fmt: skip
    assert _kms_writes(world) == []
    assert world.calls("PutEncryptionConfig") == []


def test_the_alert_says_what_it_means_who_did_it_and_how_to_undo_it(world: World) -> None:
    key, responder, _inbox = _setup(world)
    world.kms().disable_key(KeyId=key)

    responder.on_event(kms_event("kms-disable-key.json", key))

    [message] = world.published()
    email = message["email"]
    assert message["subject"].startswith("[CRITICAL] X-Ray KMS key disabled in 222222222222 eu-west-1")
    assert "X-Ray stops storing trace data" in email
    assert "sam.keyadmin@example.com" in email  # who
    assert f"aws kms enable-key --key-id {key} --region eu-west-1" in email
    assert "xray-guard never re-enables a key, cancels a deletion or edits a key policy" in email


def test_a_disable_shortly_after_a_compliant_check_still_alerts_the_cache_is_not_asked(world: World) -> None:
    key, responder, inbox = _setup(world)
    assert responder.on_event(load_event("console-change-to-none.json"))["outcome"] == "compliant"  # warm cache
    world.kms().disable_key(KeyId=key)
    world.aws.app.calls.clear()

    responder.on_event(kms_event("kms-disable-key.json", key))

    assert "kms:DescribeKey" in world.ops()
    [alert] = world.alerts(inbox)
    assert (alert["verdict"], alert["severity"]) == ("key-unusable", "critical")
    # The fresh description now serves the next event too: a PutEncryptionConfig within the TTL sees it disabled
    # (and, as before issue 11, an X-Ray event in revert mode fails on an unusable key, so Lambda retries it).
    with pytest.raises(RemediationFailed, match="key state is Disabled"):
        responder.on_event(load_event("console-change-to-none.json"))


def test_still_enabled_after_a_disable_is_re_read_after_2_s_then_alerted_high_quoting_the_event(world: World) -> None:
    key, responder, _inbox = _setup(world)  # KMS has not caught up: the key still reads Enabled
    world.aws.app.calls.clear()
    event = kms_event("kms-disable-key.json", key)

    summary = responder.on_event(event)

    assert world.time.sleeps == [2.0]
    assert world.ops().count("kms:DescribeKey") == 2  # the approved alias (that key), then again after 2 s
    [message] = world.published()
    alert = json.loads(message["sqs"])
    assert (summary["decision"], alert["severity"], alert["key"]["state"]) == ("compliant", "high", "Enabled")
    email = message["email"]
    assert f"KMS still reports {key} Enabled 2 s after DisableKey by {event['detail']['userIdentity']['arn']}" in email
    assert event["detail"]["eventID"] in email


def test_a_disable_visible_only_after_the_re_read_is_critical(world: World) -> None:
    key = world.create_key()
    world.put(Type="KMS", KeyId=APPROVED_ALIAS)
    topic, inbox = world.alert_inbox()
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # KMS catches up while xray-guard waits
        slept.append(seconds)
        world.kms().disable_key(KeyId=key)

    settings = Settings.from_env({"XRAY_GUARD_KMS_KEY": APPROVED_ALIAS, "XRAY_GUARD_TOPIC_ARN": topic})
    responder = Responder(settings, ClientFactory(settings.member_role, region="us-east-1", home_account=CENTRAL),
                          sleep=sleep, clock=world.time.monotonic)  # fmt: skip

    responder.on_event(kms_event("kms-disable-key.json", key))

    assert slept == [2.0]
    [alert] = world.alerts(inbox)
    assert (alert["severity"], alert["key"]["state"]) == ("critical", "Disabled")


def test_scheduled_deletion_names_the_date_after_which_everything_is_unrecoverable(world: World) -> None:
    key, responder, _inbox = _setup(world)
    world.kms().schedule_key_deletion(KeyId=key, PendingWindowInDays=7)

    responder.on_event(kms_event("kms-schedule-key-deletion.json", key))

    [message] = world.published()
    key_part = json.loads(message["sqs"])["key"]
    assert key_part["state"] == "PendingDeletion"
    assert key_part["deletion_date"]
    email = message["email"]
    assert f"scheduled for deletion on {key_part['deletion_date']}; after it, the key and all trace data under it " \
           "are unrecoverable" in email  # fmt: skip
    assert f"aws kms cancel-key-deletion --key-id {key} --region eu-west-1" in email
    assert message["subject"].startswith("[CRITICAL] X-Ray KMS key scheduled for deletion")


def test_cancelled_deletion_leaves_the_key_disabled_critical_then_enable_key_is_the_all_clear(world: World) -> None:
    key, responder, inbox = _setup(world)
    world.kms().schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    world.kms().cancel_key_deletion(KeyId=key)

    responder.on_event(kms_event("kms-cancel-key-deletion.json", key, "1"))
    [cancelled] = world.alerts(inbox)
    assert (cancelled["severity"], cancelled["key"]["state"]) == ("critical", "Disabled")

    world.kms().enable_key(KeyId=key)
    summary = responder.on_event(kms_event("kms-enable-key.json", key, "2"))
    [clear] = world.alerts(inbox)
    assert (summary["outcome"], clear["severity"], clear["verdict"]) == ("compliant", "info", "compliant")
    assert clear["key"]["state"] == "Enabled"


def test_spans_under_the_key_cannot_be_read_while_it_is_unusable(world: World) -> None:
    key = world.create_key(Policy=approved_key_policy(MEMBER, MEMBER_REGION))
    world.put(Type="KMS", KeyId=APPROVED_ALIAS)
    topic, _inbox = world.alert_inbox()
    responder = world.responder(topic)
    xray = world.client("xray", MEMBER, MEMBER_REGION)
    xray.update_trace_segment_destination(Destination="CloudWatchLogs")
    world.client("logs", MEMBER, MEMBER_REGION).associate_kms_key(logGroupName="aws/spans", kmsKeyId=key)
    world.kms().disable_key(KeyId=key)

    responder.on_event(kms_event("kms-disable-key.json", key))

    email = world.published()[0]["email"].lower()
    assert "spans in aws/spans under this key cannot be read while it is unusable" in email


def test_a_policy_that_lets_anyone_decrypt_is_critical(world: World) -> None:
    key, responder, inbox = _setup(world)
    event = kms_event("kms-put-key-policy.json", key)
    world.kms().put_key_policy(KeyId=key, PolicyName="default", Policy=event["detail"]["requestParameters"]["policy"])
    world.aws.app.calls.clear()

    responder.on_event(event)

    [alert] = world.alerts(inbox)
    assert alert["severity"] == "critical"
    assert alert["key"]["posture"].startswith("weak: statement 'Everyone' lets anyone (\"*\") call kms:Decrypt")
    assert _kms_writes(world) == []


def test_a_policy_without_the_root_statement_is_high(world: World) -> None:
    key, responder, inbox = _setup(world)
    world.kms().put_key_policy(
        KeyId=key, PolicyName="default", Policy=policy_document(xray_statement())
    )  # X-Ray's only

    responder.on_event(kms_event("kms-put-key-policy.json", key))

    [alert] = world.alerts(inbox)
    assert alert["severity"] == "high"
    assert alert["key"]["problems"] == ["no account-root statement; IAM policies no longer apply"]


def test_a_policy_that_stays_good_sends_nothing(world: World) -> None:
    key, responder, inbox = _setup(world)
    world.aws.app.calls.clear()
    responder.on_event(kms_event("kms-put-key-policy.json", key))  # the key keeps moto's default policy
    assert world.alerts(inbox) == []
    assert {"kms:ListKeyPolicies", "kms:GetKeyPolicy"} <= set(world.ops())
    assert "kms:GetKeyRotationStatus" not in world.ops()  # an event reads only what it changed


def test_rotation_turned_off_is_medium(world: World) -> None:
    key, responder, inbox = _setup(world)
    world.aws.app.calls.clear()

    responder.on_event(kms_event("kms-disable-key-rotation.json", key))  # moto's keys start without rotation

    [alert] = world.alerts(inbox)
    assert (alert["severity"], alert["key"]["posture"]) == ("medium", "weak: automatic key rotation is off")
    assert "kms:ListKeyPolicies" not in world.ops()
    assert _kms_writes(world) == []  # events never turn rotation on


def test_imported_key_material_gone_is_critical(world: World) -> None:
    key, _responder, inbox = _setup(world)
    topic = world.alert_inbox()[0]
    # What the expiration does to a key with imported material ("the key state changes to PendingImport", KMS
    # developer guide, importing key material); localaws does not run that clock, so the test sets the state.
    moto_bridge.set_key_state(key, "PendingImport")

    world.responder(topic).on_event(kms_event("kms-key-material-expired.json", key))

    [alert] = world.alerts(inbox)
    assert (alert["severity"], alert["key"]["state"]) == ("critical", "PendingImport")
    assert alert["actor"]["arn"] == "service:kms.amazonaws.com"


def test_another_key_costs_one_read_of_the_stores_then_nothing(world: World) -> None:
    _key, responder, inbox = _setup(world)
    other = world.create_key(alias=None)
    world.kms().disable_key(KeyId=other)
    world.aws.app.calls.clear()

    summary = responder.on_event(kms_event("kms-disable-key.json", other))

    assert summary["decision"] == "skipped-other-key"
    assert [op for op in world.ops() if not op.startswith("sts:")] == [
        "kms:DescribeKey",  # the approved alias, afresh: which key it is now
        "xray:GetEncryptionConfig",
        "xray:GetTraceSegmentDestination",
    ]
    assert world.alerts(inbox) == []


def test_an_alias_event_of_another_alias_costs_nothing(world: World) -> None:
    key, responder, _inbox = _setup(world)
    world.aws.app.calls.clear()
    event = kms_event("kms-create-alias.json", key)
    event["detail"]["requestParameters"]["aliasName"] = "alias/payments"
    assert responder.on_event(event)["decision"] == "skipped-other-key"
    assert world.ops() == []


def test_another_key_that_x_ray_still_uses_is_handled_like_the_approved_key(world: World) -> None:
    old, responder, inbox = _setup(world)
    new = world.create_key(alias=None)
    world.kms().update_alias(AliasName=APPROVED_ALIAS, TargetKeyId=new)  # rotated; X-Ray still on the old key
    world.kms().disable_key(KeyId=old)

    summary = responder.on_event(kms_event("kms-disable-key.json", old))

    [alert] = world.alerts(inbox)
    assert (alert["severity"], alert["key"]["arn"]) == ("critical", old)
    assert (summary["decision"], summary["outcome"]) == ("drift-other-key", "reverted")  # onto the approved key
    assert world.encryption()["KeyId"] == new


def test_a_deleted_approved_alias_is_high_and_never_says_x_ray_stops(world: World) -> None:
    key, responder, inbox = _setup(world)
    world.kms().delete_alias(AliasName=APPROVED_ALIAS)
    world.aws.app.calls.clear()

    summary = responder.on_event(kms_event("kms-delete-alias.json", key))

    [alert] = world.alerts(inbox)
    assert (summary["decision"], alert["severity"]) == ("key-alias-missing", "high")
    assert alert["reason"] == (
        f"approved alias {APPROVED_ALIAS} was deleted: X-Ray still uses {key} (it stores the ARN); reverts and "
        "posture are suspended here until the alias exists"
    )
    assert "stops storing" not in json.dumps(alert)
    assert world.calls("PutEncryptionConfig") == []


def _rotating_key(world: World) -> str:
    arn = world.create_key(alias=None)
    world.kms().enable_key_rotation(KeyId=arn)
    return arn


def test_a_re_pointed_alias_is_followed_when_the_new_key_passes(world: World) -> None:
    old, responder, inbox = _setup(world)
    new = _rotating_key(world)
    world.kms().update_alias(AliasName=APPROVED_ALIAS, TargetKeyId=new)

    summary = responder.on_event(kms_event("kms-update-alias.json", new))

    assert (summary["decision"], summary["outcome"]) == ("drift-other-key", "reverted")
    assert world.encryption()["KeyId"] == new != old
    [alert] = world.alerts(inbox)
    assert alert["key"]["arn"] == new


@pytest.mark.parametrize(
    ("prepare", "fails"),
    [
        (lambda _world, _arn: None, "automatic key rotation is off"),
        (lambda world, arn: world.kms().disable_key(KeyId=arn), "key state is Disabled"),
    ],
)
def test_a_re_pointed_alias_to_a_failing_key_is_critical_and_nothing_is_written(
    world: World, prepare: Callable[[World, str], None], fails: str
) -> None:
    old, responder, inbox = _setup(world)
    new = world.create_key(alias=None)
    prepare(world, new)
    world.kms().update_alias(AliasName=APPROVED_ALIAS, TargetKeyId=new)
    world.aws.app.calls.clear()

    responder.on_event(kms_event("kms-update-alias.json", new))

    [alert] = world.alerts(inbox)
    assert alert["severity"] == "critical"
    assert alert["reason"] == f"{APPROVED_ALIAS} now points to {new}, which fails: {fails}; X-Ray left on {old}"
    assert world.calls("PutEncryptionConfig") == []
    assert world.encryption()["KeyId"] == old


def test_an_exempt_actor_is_alerted_and_a_re_pointed_alias_is_not_followed_by_a_write(world: World) -> None:
    pattern = "arn:aws:iam::222222222222:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_KeyAdmin_*"
    old, responder, inbox = _setup(world, XRAY_GUARD_EXEMPT_PRINCIPALS=pattern)
    world.kms().disable_key(KeyId=old)
    responder.on_event(kms_event("kms-disable-key.json", old, "1"))
    [disabled] = world.alerts(inbox)
    assert (disabled["severity"], disabled["exempt_actor"]) == ("critical", True)

    world.kms().enable_key(KeyId=old)
    new = _rotating_key(world)
    world.kms().update_alias(AliasName=APPROVED_ALIAS, TargetKeyId=new)
    summary = responder.on_event(kms_event("kms-update-alias.json", new, "2"))
    assert (summary["decision"], summary["outcome"]) == ("drift-other-key", "alerted")
    assert world.encryption()["KeyId"] == old


def test_a_failed_kms_call_is_skipped(world: World) -> None:
    key, responder, _inbox = _setup(world)
    world.aws.app.calls.clear()
    summary = responder.on_event(kms_event("kms-disable-key.json", key, errorCode="AccessDenied"))
    assert summary["decision"] == "skipped-failed-call"
    assert world.ops() == []


def test_a_record_naming_only_the_key_id_is_about_that_key_of_the_events_account(world: World) -> None:
    key, responder, inbox = _setup(world)
    world.kms().disable_key(KeyId=key)
    responder.on_event(kms_event("kms-disable-key-by-id.json", key))
    [alert] = world.alerts(inbox)
    assert alert["key"]["arn"] == key


def test_a_central_key_says_every_account_using_it_is_affected(world: World) -> None:
    central = world.create_key(account=CENTRAL, region=MEMBER_REGION, alias=None)
    world.put(Type="KMS", KeyId=central)
    world.kms(CENTRAL, MEMBER_REGION).disable_key(KeyId=central)
    topic, _inbox = world.alert_inbox()
    responder = world.responder(topic, XRAY_GUARD_KMS_KEY=central)
    event = kms_event("kms-disable-key.json", central)
    event["account"] = event["detail"]["recipientAccountId"] = CENTRAL

    responder.on_event(event)

    assert "Every account/region using this key is affected." in world.published()[0]["email"]


def test_a_central_keys_owner_need_not_be_in_an_explicit_account_list(world: World) -> None:
    central = world.create_key(account=CENTRAL, region=MEMBER_REGION, alias=None)
    world.kms(CENTRAL, MEMBER_REGION).disable_key(KeyId=central)
    topic, inbox = world.alert_inbox()
    responder = world.responder(topic, XRAY_GUARD_KMS_KEY=central, XRAY_GUARD_ACCOUNTS=MEMBER)
    event = kms_event("kms-disable-key.json", central)
    event["account"] = event["detail"]["recipientAccountId"] = CENTRAL

    assert responder.on_event(event)["severity"] == "critical"
    other = kms_event("kms-disable-key.json", world.create_key(account=CENTRAL, region=MEMBER_REGION, alias=None))
    other["account"] = CENTRAL
    assert responder.on_event(other)["decision"] == "skipped-out-of-scope"
    assert len(world.alerts(inbox)) == 1
