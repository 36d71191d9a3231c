"""Real organizations, end to end over localaws: rotated aliases, keys of other accounts, an AWS-managed approved key,
informational calls that fail, and events from accounts outside an explicit scope."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.service import APPROVED_KEY_TTL_SECONDS, Responder
from chalicelib.sessions import ClientFactory
from localaws.world import console_change
from tests.conftest import APPROVED_ALIAS, MEMBER, MEMBER_REGION, World


def test_alias_re_pointed_to_a_new_key_is_followed_never_written_back(world: World) -> None:
    world.create_key()  # the key the alias points at first
    world.put(Type="KMS", KeyId=APPROVED_ALIAS)
    topic, inbox = world.alert_inbox()
    responder = world.responder(topic)
    assert responder.on_event(console_change("1"))["outcome"] == "compliant"  # warms the cache with the old key

    # Rotation by re-pointing the alias, then X-Ray put on the alias again (it stores the new key's ARN).
    new = world.create_key(alias=None)
    world.kms().update_alias(AliasName=APPROVED_ALIAS, TargetKeyId=new)
    world.put(Type="KMS", KeyId=APPROVED_ALIAS)
    world.aws.app.calls.clear()

    summary = responder.on_event(console_change("2"))

    assert (summary["decision"], summary["outcome"]) == ("compliant", "compliant")
    assert world.encryption()["KeyId"] == new
    assert world.calls("PutEncryptionConfig") == []
    assert world.alerts(inbox) == []


def test_after_a_re_point_the_previous_key_is_drift_and_reverted_to_the_new_one(world: World) -> None:
    old = world.create_key()
    world.put(Type="KMS", KeyId=APPROVED_ALIAS)
    topic, inbox = world.alert_inbox()
    responder = world.responder(topic)
    responder.on_event(console_change("1"))  # cache: alias -> old
    new = world.create_key(alias=None)
    world.kms().update_alias(AliasName=APPROVED_ALIAS, TargetKeyId=new)

    # The region still on the previous key (nobody re-put it). A cached description may confirm compliance for
    # its TTL (README: "up to 5 minutes"); after that the re-point is seen.
    world.time.sleep(APPROVED_KEY_TTL_SECONDS + 1)
    summary = responder.on_event(console_change("2"))
    assert (summary["decision"], summary["outcome"]) == ("drift-other-key", "reverted")
    assert world.encryption()["KeyId"] == new
    [alert] = world.alerts(inbox)
    assert alert["approved_key"]["arn"] == new
    assert alert["after"]["key_id"] == new

    world.put(Type="NONE")
    assert responder.on_event(console_change("3"))["outcome"] == "reverted"
    assert world.encryption()["KeyId"] == new  # never the retired key, even with a warm cache
    assert world.encryption()["KeyId"] != old


def test_drift_path_floor_with_a_warm_cache_is_one_fresh_describe(world: World) -> None:
    world.create_key()
    world.put(Type="KMS", KeyId=APPROVED_ALIAS)
    topic, _ = world.alert_inbox()
    responder = world.responder(topic)
    responder.on_event(console_change("1"))
    world.put(Type="NONE")
    world.aws.app.calls.clear()

    responder.on_event(console_change("2"))

    ops = world.ops()
    assert ops[:3] == ["xray:GetEncryptionConfig", "kms:DescribeKey", "xray:PutEncryptionConfig"]
    assert ops.count("kms:DescribeKey") == 1
    assert ops[-1] == "sns:Publish"


def test_key_of_another_account_is_drift_without_describing_it(world: World) -> None:
    approved = world.create_key()
    foreign = world.create_key(account="999999999999", region=MEMBER_REGION, alias=None)
    world.put(Type="KMS", KeyId=foreign)
    topic, inbox = world.alert_inbox()
    world.aws.app.calls.clear()

    summary = world.responder(topic).on_event(console_change("1"))

    assert (summary["decision"], summary["outcome"]) == ("drift-other-key", "reverted")
    assert world.encryption()["KeyId"] == approved
    assert world.ops().count("kms:DescribeKey") == 1  # the approved key only
    [alert] = world.alerts(inbox)
    assert "another account (999999999999)" in alert["reason"]


def test_central_approved_key_in_another_account_is_compliant(world: World) -> None:
    central = world.create_key(account="999999999999", region=MEMBER_REGION, alias=None)
    world.put(Type="KMS", KeyId=central)
    topic, inbox = world.alert_inbox()

    summary = world.responder(topic, XRAY_GUARD_KMS_KEY=central).on_event(console_change("1"))

    assert summary["outcome"] == "compliant"
    assert world.alerts(inbox) == []


class _DenyDescribeOf:
    """A KMS client that is denied DescribeKey of one key, as a member role without rights on it would be."""

    def __init__(self, real: Any, denied: str) -> None:
        self._real = real
        self._denied = denied

    def describe_key(self, **kwargs: Any) -> Any:
        if kwargs.get("KeyId") == self._denied:
            error = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}
            raise ClientError(error, "DescribeKey")  # type: ignore[arg-type]
        return self._real.describe_key(**kwargs)


class _Clients(ClientFactory):
    denied = ""

    def kms(self, account: str, region: str) -> Any:
        return _DenyDescribeOf(super().kms(account, region), self.denied)


def test_a_denied_informational_describe_never_blocks_the_revert(world: World) -> None:
    approved = world.create_key()
    other = world.create_key(alias="alias/team-scratch")
    world.put(Type="KMS", KeyId=other)
    topic, inbox = world.alert_inbox()
    base = world.responder(topic)
    clients = _Clients(base.settings.member_role, region="us-east-1", home_account=base.clients.home_account())
    clients.denied = other
    responder = Responder(base.settings, clients, sleep=world.time.sleep, clock=world.time.monotonic)

    summary = responder.on_event(console_change("1"))

    assert (summary["decision"], summary["outcome"]) == ("drift-other-key", "reverted")
    assert world.encryption()["KeyId"] == approved
    [alert] = world.alerts(inbox)
    assert "could not describe it: AccessDeniedException" in alert["reason"]


def test_an_aws_managed_approved_key_is_unusable_and_never_written(world: World) -> None:
    world.put(Type="KMS", KeyId="alias/aws/xray")  # X-Ray creates the AWS-managed key on first use
    managed = world.encryption()["KeyId"]
    world.put(Type="NONE")
    topic, inbox = world.alert_inbox()
    world.aws.app.calls.clear()

    summary = world.responder(topic, XRAY_GUARD_MODE="alert", XRAY_GUARD_KMS_KEY=managed).on_event(console_change("1"))

    assert summary["decision"] == "key-unusable"
    assert world.calls("PutEncryptionConfig") == []
    [alert] = world.alerts(inbox)
    assert "not customer-managed" in alert["reason"]


def test_event_from_an_account_outside_an_explicit_scope_costs_nothing(world: World) -> None:
    world.create_key()
    world.put(Type="NONE")
    topic, inbox = world.alert_inbox()
    responder = world.responder(topic, XRAY_GUARD_ACCOUNTS="333333333333,444444444444")
    world.aws.app.calls.clear()

    summary = responder.on_event(console_change("1"))

    assert summary["decision"] == "skipped-out-of-scope"
    assert world.calls() == []
    assert world.encryption(MEMBER, MEMBER_REGION)["Type"] == "NONE"
    assert world.alerts(inbox) == []
