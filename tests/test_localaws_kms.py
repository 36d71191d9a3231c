"""localaws's KMS key lifecycle, rotation and policy operations, where moto 5.2.5 differs from the KMS model:
real boto3 clients against the session's localaws (tests/conftest.py)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from localaws import LocalAWS, admin_session
from localaws.world import policy_document, root_statement
from tests.helpers import NO_RETRIES, error_of

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

ACCOUNT = "123456789012"  # the session's default credentials act here
OTHER_ACCOUNT = "222222222222"
REGION = "us-east-1"
DAY = 86400.0


@functools.cache  # one client per region for the whole session: the endpoint and credentials never change
def kms(region: str = REGION) -> KMSClient:
    return boto3.client("kms", region_name=region, config=NO_RETRIES)


def new_key(client: KMSClient | None = None, **kwargs: Any) -> tuple[str, str]:
    """(key id, key ARN) of a new key."""
    metadata = (client or kms()).create_key(**kwargs)["KeyMetadata"]
    return metadata["KeyId"], metadata["Arn"]


def described(key: str, client: KMSClient | None = None) -> dict[str, Any]:
    return dict((client or kms()).describe_key(KeyId=key)["KeyMetadata"])


def key_ref(form: str, key_id: str, key_arn: str) -> str:
    return {"key_id": key_id, "key_arn": key_arn}[form]


# --- DisableKey, EnableKey, ScheduleKeyDeletion, CancelKeyDeletion: key id or key ARN --------------------------


@pytest.mark.parametrize("form", ["key_id", "key_arn"])
def test_disable_then_enable_accept_key_id_and_key_arn(aws: LocalAWS, form: str) -> None:
    key_id, key_arn = new_key()
    client = kms()

    client.disable_key(KeyId=key_ref(form, key_id, key_arn))
    disabled = described(key_id)
    client.enable_key(KeyId=key_ref(form, key_id, key_arn))
    enabled = described(key_id)

    assert (disabled["KeyState"], disabled["Enabled"]) == ("Disabled", False)
    assert (enabled["KeyState"], enabled["Enabled"]) == ("Enabled", True)


@pytest.mark.parametrize("form", ["key_id", "key_arn"])
def test_schedule_and_cancel_deletion_accept_key_id_and_key_arn(aws: LocalAWS, form: str) -> None:
    key_id, key_arn = new_key()
    client = kms()

    before = time.time()
    scheduled = client.schedule_key_deletion(KeyId=key_ref(form, key_id, key_arn), PendingWindowInDays=7)
    pending = described(key_id)
    cancelled = client.cancel_key_deletion(KeyId=key_ref(form, key_id, key_arn))
    after_cancel = described(key_id)

    deletion = scheduled["DeletionDate"].timestamp()
    # ScheduleKeyDeletionResponse: KeyId is "The Amazon Resource Name (key ARN)", plus KeyState and the window.
    assert scheduled["KeyId"] == key_arn
    assert (scheduled["KeyState"], scheduled["PendingWindowInDays"]) == ("PendingDeletion", 7)
    assert before + 7 * DAY - 5 <= deletion <= time.time() + 7 * DAY + 5
    assert (pending["KeyState"], pending["Enabled"]) == ("PendingDeletion", False)
    assert pending["DeletionDate"].timestamp() == pytest.approx(deletion, abs=0.01)
    # CancelKeyDeletion: the key ARN back, and "the key state of the KMS key is Disabled".
    assert cancelled["KeyId"] == key_arn
    assert after_cancel["KeyState"] == "Disabled"
    assert "DeletionDate" not in after_cancel


def test_schedule_key_deletion_defaults_to_thirty_days(aws: LocalAWS) -> None:
    key_id, _ = new_key()

    scheduled = kms().schedule_key_deletion(KeyId=key_id)

    assert scheduled["PendingWindowInDays"] == 30
    assert scheduled["DeletionDate"].timestamp() == pytest.approx(time.time() + 30 * DAY, abs=30)


def schedule(client: KMSClient, key: str) -> object:
    return client.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)


@pytest.mark.parametrize(
    ("prepare", "act", "code", "message"),
    [
        (None, lambda c, k: c.cancel_key_deletion(KeyId=k), "KMSInvalidStateException", "is not pending deletion."),
        (schedule, schedule, "KMSInvalidStateException", "is pending deletion."),
        (schedule, lambda c, k: c.disable_key(KeyId=k), "KMSInvalidStateException", "is pending deletion."),
        (schedule, lambda c, k: c.enable_key(KeyId=k), "KMSInvalidStateException", "is pending deletion."),
        (None, lambda c, k: c.schedule_key_deletion(KeyId=k, PendingWindowInDays=5), "ValidationException", "5"),
        (None, lambda c, k: c.schedule_key_deletion(KeyId=k, PendingWindowInDays=31), "ValidationException", "31"),
    ],
    ids=["cancel-not-pending", "schedule-twice", "disable-pending", "enable-pending", "window-5", "window-31"],
)
def test_lifecycle_operations_refuse_incompatible_key_states(
    aws: LocalAWS,
    prepare: Callable[[KMSClient, str], object] | None,
    act: Callable[[KMSClient, str], object],
    code: str,
    message: str,
) -> None:
    _, key_arn = new_key()
    client = kms()
    if prepare is not None:
        prepare(client, key_arn)
    state_before = described(key_arn)["KeyState"]

    got_code, got_message, status = error_of(lambda: act(client, key_arn))

    assert (got_code, status) == (code, 400)
    assert message in got_message
    assert described(key_arn)["KeyState"] == state_before


def other_region_key_arn() -> str:
    return new_key(kms("eu-west-1"))[1]


def other_account_key_arn() -> str:
    return new_key(admin_session(OTHER_ACCOUNT, REGION).client("kms"))[1]


@pytest.mark.parametrize(
    ("make_ref", "message"),
    [
        (lambda: "alias/xray-encryption", "Invalid keyId alias/xray-encryption"),
        (lambda: f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/xray-encryption", "Invalid keyId"),
        (lambda: "1234abcd-12ab-34cd-56ef-1234567890ab", "does not exist"),
        (other_region_key_arn, "does not exist"),
        (other_account_key_arn, "does not exist"),
    ],
    ids=["alias", "alias-arn", "unknown-id", "other-region-arn", "other-account-arn"],
)
@pytest.mark.parametrize("operation", ["disable_key", "enable_key", "schedule_key_deletion", "cancel_key_deletion"])
def test_lifecycle_operations_answer_not_found_for_keys_they_cannot_name(
    aws: LocalAWS, make_ref: Callable[[], str], message: str, operation: str
) -> None:
    key_id, _ = new_key()
    kms().create_alias(AliasName="alias/xray-encryption", TargetKeyId=key_id)
    ref = make_ref()

    code, got_message, status = error_of(lambda: getattr(kms(), operation)(KeyId=ref))

    assert (code, status) == ("NotFoundException", 400)
    assert message in got_message
    assert described(key_id)["KeyState"] == "Enabled"


# --- GetKeyPolicy / PutKeyPolicy -----------------------------------------------------------------------------


def root_policy(sid: str) -> str:
    """A policy of the account root only, under the statement id `sid`."""
    return policy_document({**root_statement(ACCOUNT), "Sid": sid})


@pytest.mark.parametrize("form", ["key_id", "key_arn"])
def test_key_policy_without_policy_name_means_default(aws: LocalAWS, form: str) -> None:
    key_id, key_arn = new_key()
    client = kms()

    first = client.get_key_policy(KeyId=key_ref(form, key_id, key_arn))
    client.put_key_policy(KeyId=key_ref(form, key_id, key_arn), Policy=root_policy("Replaced"))
    second = client.get_key_policy(KeyId=key_ref(form, key_id, key_arn))
    named = client.get_key_policy(KeyId=key_id, PolicyName="default")

    assert first["PolicyName"] == "default"
    assert json.loads(first["Policy"])["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert json.loads(second["Policy"])["Statement"][0]["Sid"] == "Replaced"
    assert named["Policy"] == second["Policy"]
    assert client.list_key_policies(KeyId=key_arn)["PolicyNames"] == ["default"]


@pytest.mark.parametrize(
    ("act", "code", "message"),
    [
        (lambda c, k: c.get_key_policy(KeyId=k, PolicyName="AWS_RAM"), "NotFoundException", "AWS_RAM"),
        (lambda c, k: c.get_key_policy(KeyId=k, PolicyName="other"), "NotFoundException", "No such policy"),
        (
            lambda c, k: c.put_key_policy(KeyId=k, PolicyName="AWS_RAM", Policy=root_policy("x")),
            "ValidationException",
            "The AWS_RAM policy can only be managed by the RAM service.",
        ),
        (lambda c, k: c.put_key_policy(KeyId=k, Policy="not json"), "MalformedPolicyDocumentException", "JSON"),
        (lambda c, k: c.put_key_policy(KeyId=k, Policy="{}"), "MalformedPolicyDocumentException", "JSON"),
    ],
    ids=["get-aws-ram", "get-other-name", "put-aws-ram", "put-not-json", "put-no-statement"],
)
def test_key_policy_errors(aws: LocalAWS, act: Callable[[KMSClient, str], object], code: str, message: str) -> None:
    key_id, _ = new_key()
    client = kms()
    policy_before = client.get_key_policy(KeyId=key_id)["Policy"]

    got_code, got_message, status = error_of(lambda: act(client, key_id))

    assert (got_code, status) == (code, 400)
    assert message in got_message
    assert client.get_key_policy(KeyId=key_id)["Policy"] == policy_before


# --- Rotation ------------------------------------------------------------------------------------------------


def test_rotation_status_reports_period_and_is_false_while_pending_deletion(aws: LocalAWS) -> None:
    key_id, key_arn = new_key()
    client = kms()

    off = client.get_key_rotation_status(KeyId=key_id)
    started = time.time()
    client.enable_key_rotation(KeyId=key_arn)
    on = client.get_key_rotation_status(KeyId=key_arn)
    client.schedule_key_deletion(KeyId=key_arn, PendingWindowInDays=7)
    pending = client.get_key_rotation_status(KeyId=key_id)
    client.cancel_key_deletion(KeyId=key_id)
    # "The key rotation status does not change when you disable a KMS key" and "If you cancel the deletion, the
    # original key rotation status returns to true" (GetKeyRotationStatus documentation).
    after_cancel = client.get_key_rotation_status(KeyId=key_id)

    assert (off["KeyRotationEnabled"], "RotationPeriodInDays" in off) == (False, False)
    assert (on["KeyRotationEnabled"], on["RotationPeriodInDays"], on["KeyId"]) == (True, 365, key_arn)
    assert on["NextRotationDate"].timestamp() == pytest.approx(started + 365 * DAY, abs=30)
    assert pending["KeyRotationEnabled"] is False
    assert "RotationPeriodInDays" not in pending
    assert described(key_id)["KeyState"] == "Disabled"
    assert (after_cancel["KeyRotationEnabled"], after_cancel["RotationPeriodInDays"]) == (True, 365)


def test_enable_rotation_with_a_period_and_disable_it(aws: LocalAWS) -> None:
    key_id, _ = new_key()
    client = kms()

    client.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    custom = client.get_key_rotation_status(KeyId=key_id)
    client.disable_key_rotation(KeyId=key_id)
    disabled = client.get_key_rotation_status(KeyId=key_id)

    assert (custom["KeyRotationEnabled"], custom["RotationPeriodInDays"]) == (True, 180)
    assert custom["NextRotationDate"].timestamp() == pytest.approx(time.time() + 180 * DAY, abs=30)
    assert disabled["KeyRotationEnabled"] is False
    assert "RotationPeriodInDays" not in disabled


def test_aws_managed_key_always_rotates_and_cannot_be_changed(aws: LocalAWS) -> None:
    client = kms()
    managed_arn = described("alias/aws/xray")["Arn"]

    status = client.get_key_rotation_status(KeyId=managed_arn)
    code, _, _ = error_of(lambda: client.enable_key_rotation(KeyId=managed_arn))

    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 365)
    assert code == "UnsupportedOperationException"


def test_rotation_status_of_a_key_in_another_account_by_key_arn(aws: LocalAWS) -> None:
    owner = admin_session(OTHER_ACCOUNT, REGION).client("kms")
    key_id, key_arn = new_key(owner)
    owner.enable_key_rotation(KeyId=key_id)

    # GetKeyRotationStatus: "Cross-account use: Yes ... specify the key ARN".
    status = kms().get_key_rotation_status(KeyId=key_arn)

    assert (status["KeyRotationEnabled"], status["KeyId"]) == (True, key_arn)


def external_key(client: KMSClient) -> str:
    return new_key(client, Origin="EXTERNAL")[1]


def disabled_key(client: KMSClient) -> str:
    key_id, key_arn = new_key(client)
    client.disable_key(KeyId=key_id)
    return key_arn


def pending_deletion_key(client: KMSClient) -> str:
    key_id, key_arn = new_key(client)
    client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    return key_arn


def disabled_external_key(client: KMSClient) -> str:
    key_arn = external_key(client)
    client.disable_key(KeyId=key_arn)
    return key_arn


def asymmetric_key(client: KMSClient) -> str:
    return new_key(client, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")[1]


@pytest.mark.parametrize(
    ("make_key", "code", "message"),
    [
        (external_key, "UnsupportedOperationException", "origin is EXTERNAL which is not valid for this operation."),
        (disabled_external_key, "UnsupportedOperationException", "origin is EXTERNAL"),
        (disabled_key, "DisabledException", "is disabled."),
        (pending_deletion_key, "KMSInvalidStateException", "is pending deletion."),
        (asymmetric_key, "UnsupportedOperationException", "symmetric encryption keys"),
    ],
    ids=["external", "disabled-external", "disabled", "pending-deletion", "asymmetric"],
)
@pytest.mark.parametrize("operation", ["enable_key_rotation", "disable_key_rotation"])
def test_rotation_changes_are_refused_for_keys_that_cannot_rotate(
    aws: LocalAWS, make_key: Callable[[KMSClient], str], code: str, message: str, operation: str
) -> None:
    client = kms()
    key_arn = make_key(client)

    got_code, got_message, status = error_of(lambda: getattr(client, operation)(KeyId=key_arn))

    assert (got_code, status) == (code, 400)
    assert message in got_message


def test_rotation_status_of_an_external_key_is_unsupported(aws: LocalAWS) -> None:
    key_arn = external_key(kms())

    code, message, _ = error_of(lambda: kms().get_key_rotation_status(KeyId=key_arn))

    assert code == "UnsupportedOperationException"
    assert "origin is EXTERNAL" in message


def test_rotation_period_outside_the_model_range_is_refused(aws: LocalAWS) -> None:
    key_id, _ = new_key()

    # 2560 is RotationPeriodInDaysType's max; botocore checks only the min (90) itself.
    code, message, _ = error_of(lambda: kms().enable_key_rotation(KeyId=key_id, RotationPeriodInDays=3000))

    assert code == "ValidationException"
    assert "3000" in message
    assert kms().get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


# --- DescribeKey as moto answers it --------------------------------------------------------------------------


def test_describe_key_reports_manager_spec_usage_and_deletion_date(aws: LocalAWS) -> None:
    key_id, _ = new_key()
    rsa_id, _ = new_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    client = kms()

    customer = described(key_id)
    rsa = described(rsa_id)
    managed = described("alias/aws/xray")
    client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    pending = described(key_id)

    # CreateKeyRequest.KeyUsage: "The default value is ENCRYPT_DECRYPT" (moto 5.2.5 leaves it out).
    assert (customer["KeyManager"], customer["KeySpec"], customer["KeyUsage"]) == (
        "CUSTOMER",
        "SYMMETRIC_DEFAULT",
        "ENCRYPT_DECRYPT",
    )
    assert "DeletionDate" not in customer
    assert (rsa["KeySpec"], rsa["KeyUsage"]) == ("RSA_2048", "SIGN_VERIFY")
    assert (managed["KeyManager"], managed["KeyUsage"]) == ("AWS", "ENCRYPT_DECRYPT")
    assert pending["DeletionDate"].timestamp() == pytest.approx(time.time() + 7 * DAY, abs=30)


def test_key_operations_are_in_the_call_log(aws: LocalAWS) -> None:
    key_id, _ = new_key()
    client = kms()
    client.disable_key(KeyId=key_id)
    client.get_key_policy(KeyId=key_id)
    client.get_key_rotation_status(KeyId=key_id)

    calls = [(c["service"], c["operation"], c["account"], c["region"]) for c in aws.calls()]

    assert calls == [
        ("kms", operation, ACCOUNT, REGION)
        for operation in ("CreateKey", "DisableKey", "GetKeyPolicy", "GetKeyRotationStatus")
    ]
