"""The KMS key lifecycle, rotation and policy operations that moto 5.2.5 gets wrong, served from moto's own keys.

What moto 5.2.5 does and AWS does not (each covered by tests/test_localaws_kms.py):

- ``DisableKey``, ``EnableKey``, ``ScheduleKeyDeletion``, ``CancelKeyDeletion`` raise KeyError (HTTP 500) for a key
  ARN; the KMS model's ``KeyId`` of each is "the key ID or key ARN". moto also ignores key states (it re-enables a
  key pending deletion) and answers ``KeyId`` as given where the model says "The Amazon Resource Name (key ARN)".
- ``GetKeyPolicy`` / ``PutKeyPolicy`` without ``PolicyName`` answer NotFoundException; the model says "If no policy
  name is specified, the default value is default."
- ``GetKeyRotationStatus`` answers only ``KeyRotationEnabled``, ``true`` even while the key is pending deletion;
  the model: "While a KMS key is pending deletion, its key rotation status is false", and the response carries
  ``RotationPeriodInDays`` ("The default value is 365 days").
- ``EnableKeyRotation`` accepts keys with ``Origin EXTERNAL`` and ignores ``RotationPeriodInDays``; the model:
  "You cannot enable automatic rotation of ... KMS keys with imported key material" (``UnsupportedOperationException``).
- ``CreateKey`` without ``KeyUsage`` leaves it out of ``KeyMetadata``; the model: "The default value is
  ENCRYPT_DECRYPT" (``create_key_defaults``).

Errors and messages for key states follow the key state table of the KMS developer guide
(https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html, "Table details": e.g.
``KMSInvalidStateException: <key ARN> is pending deletion.``). Operations moto serves correctly stay with moto.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from localaws import moto_bridge
from localaws.moto_bridge import KeyLocation, KmsKey
from localaws.protocol import AwsRequest, error_response, error_status, json_response, partition_of

OPERATIONS = frozenset(
    {
        "DisableKey",
        "EnableKey",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "GetKeyPolicy",
        "PutKeyPolicy",
        "GetKeyRotationStatus",
        "EnableKeyRotation",
        "DisableKeyRotation",
    }
)

_DAY = 86400.0
# ScheduleKeyDeletionRequest.PendingWindowInDays: "If you include a value, it must be between 7 and 30, inclusive.
# If you do not include a value, it defaults to 30."
_PENDING_WINDOW_DAYS = (7, 30)
_DEFAULT_PENDING_WINDOW_DAYS = 30
# RotationPeriodInDaysType: min 90, max 2560; "If no value is specified, the default value is 365 days."
_ROTATION_PERIOD_DAYS = (90, 2560)
_DEFAULT_ROTATION_PERIOD_DAYS = 365


class KmsError(Exception):
    """An error KMS answers; the HTTP status comes from the kms model (400 for all of these)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class _Rotation:
    period_days: int
    enabled_at: float


def create_key_defaults(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """CreateKey parameters with ``KeyUsage ENCRYPT_DECRYPT`` added where AWS defaults it and moto does not
    (a symmetric encryption key: "This parameter is optional when you are creating a symmetric encryption KMS key;
    otherwise, it is required", CreateKeyRequest.KeyUsage); None when nothing is to be added."""
    spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    if params.get("KeyUsage") is not None or spec != "SYMMETRIC_DEFAULT":
        return None
    return {**params, "KeyUsage": "ENCRYPT_DECRYPT"}


class KeyLifecycle:
    """Serves ``OPERATIONS``. Key states, rotation flags and policies live on moto's keys, so moto's DescribeKey,
    ListKeyPolicies and the rest see every change; only the rotation period and start are kept here."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._rotations: dict[str, _Rotation] = {}
        self._lock = threading.Lock()

    def handle(self, request: AwsRequest, account: str) -> Response:
        handlers: dict[str, Callable[[AwsRequest, str], dict[str, Any]]] = {
            "DisableKey": self._disable_key,
            "EnableKey": self._enable_key,
            "ScheduleKeyDeletion": self._schedule_key_deletion,
            "CancelKeyDeletion": self._cancel_key_deletion,
            "GetKeyPolicy": self._get_key_policy,
            "PutKeyPolicy": self._put_key_policy,
            "GetKeyRotationStatus": self._get_key_rotation_status,
            "EnableKeyRotation": self._enable_key_rotation,
            "DisableKeyRotation": self._disable_key_rotation,
        }
        try:
            with self._lock:
                answer = handlers[request.operation](request, account)
        except KmsError as error:
            return error_response(request, error.code, str(error), error_status("kms", error.code))
        return json_response(answer)

    def reset(self) -> None:
        with self._lock:
            self._rotations.clear()

    def _disable_key(self, request: AwsRequest, account: str) -> dict[str, Any]:
        key = _manageable(_key(request, account))
        moto_bridge.set_key_state(key.arn, "Disabled")
        return {}

    def _enable_key(self, request: AwsRequest, account: str) -> dict[str, Any]:
        key = _manageable(_key(request, account))
        moto_bridge.set_key_state(key.arn, "Enabled")
        return {}

    def _schedule_key_deletion(self, request: AwsRequest, account: str) -> dict[str, Any]:
        key = _key(request, account)
        # Assumption: the model's own range is 1-365, so refusing 1-6 and 31-365 is service logic; answered the
        # way KMS answers constraint violations.
        days = _days(request, "PendingWindowInDays", _DEFAULT_PENDING_WINDOW_DAYS, _PENDING_WINDOW_DAYS)
        if key.key_state == "PendingDeletion":
            raise KmsError("KMSInvalidStateException", f"{key.arn} is pending deletion.")
        deletion_date = self._now() + days * _DAY
        moto_bridge.set_key_state(key.arn, "PendingDeletion", deletion_date)
        return {
            "KeyId": key.arn,
            "DeletionDate": deletion_date,
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": days,
        }

    def _cancel_key_deletion(self, request: AwsRequest, account: str) -> dict[str, Any]:
        key = _key(request, account)
        if key.key_state != "PendingDeletion":
            raise KmsError("KMSInvalidStateException", f"{key.arn} is not pending deletion.")
        # "When this operation succeeds, the key state of the KMS key is Disabled." (CancelKeyDeletion)
        moto_bridge.set_key_state(key.arn, "Disabled")
        return {"KeyId": key.arn}

    def _get_key_policy(self, request: AwsRequest, account: str) -> dict[str, Any]:
        key = _key(request, account)
        name = _policy_name(request)
        if name == "AWS_RAM":
            # "If the KMS key doesn't have an AWS_RAM key policy, GetKeyPolicy returns a NotFoundException" (no key
            # is shared through RAM here).
            raise KmsError("NotFoundException", f"{key.arn} has no AWS_RAM key policy")
        return {"Policy": key.policy, "PolicyName": name}

    def _put_key_policy(self, request: AwsRequest, account: str) -> dict[str, Any]:
        key = _key(request, account)
        name = _policy_name(request)
        if name == "AWS_RAM":
            # PutKeyPolicy documentation, quoted.
            raise KmsError("ValidationException", "The AWS_RAM policy can only be managed by the RAM service.")
        policy = request.params.get("Policy")
        try:
            document = json.loads(policy) if isinstance(policy, str) else None
        except ValueError:
            document = None
        if not isinstance(document, dict) or "Statement" not in document:
            # Modelled error; AWS's message is not documented. The lockout safety check is not emulated.
            raise KmsError("MalformedPolicyDocumentException", "The new key policy is not a JSON policy document")
        moto_bridge.set_key_policy(key.arn, str(policy))
        return {}

    def _get_key_rotation_status(self, request: AwsRequest, account: str) -> dict[str, Any]:
        # "Cross-account use: Yes ... specify the key ARN in the value of the KeyId parameter."
        key = _key(request, account, cross_account=True)
        _require_own_key_material(key)
        # Assumption: KeyId is answered as the key ARN, as ScheduleKeyDeletion and CancelKeyDeletion do.
        if key.key_manager == "AWS":
            # "The key rotation status for Amazon Web Services managed KMS keys is always true", every year.
            return {"KeyId": key.arn, "KeyRotationEnabled": True, "RotationPeriodInDays": _DEFAULT_ROTATION_PERIOD_DAYS}
        if key.key_state == "PendingDeletion":
            # "While a KMS key is pending deletion, its key rotation status is false ... If you cancel the deletion,
            # the original key rotation status returns to true." (the flag on moto's key is left as it was)
            return {"KeyId": key.arn, "KeyRotationEnabled": False}
        if not key.rotation_enabled:
            # Assumption: no period or next date while rotation is off.
            return {"KeyId": key.arn, "KeyRotationEnabled": False}
        rotation = self._rotations.get(key.arn)
        answer: dict[str, Any] = {
            "KeyId": key.arn,
            "KeyRotationEnabled": True,
            "RotationPeriodInDays": rotation.period_days if rotation else _DEFAULT_ROTATION_PERIOD_DAYS,
        }
        if rotation is not None:
            answer["NextRotationDate"] = rotation.enabled_at + rotation.period_days * _DAY
        return answer

    def _enable_key_rotation(self, request: AwsRequest, account: str) -> dict[str, Any]:
        key = _rotatable(_key(request, account))
        period = _days(request, "RotationPeriodInDays", _DEFAULT_ROTATION_PERIOD_DAYS, _ROTATION_PERIOD_DAYS)
        previous = self._rotations.get(key.arn) if key.rotation_enabled else None
        # A new period for a key already rotating keeps its schedule's start (assumption).
        self._rotations[key.arn] = _Rotation(period, previous.enabled_at if previous else self._now())
        moto_bridge.set_key_rotation(key.arn, True)
        return {}

    def _disable_key_rotation(self, request: AwsRequest, account: str) -> dict[str, Any]:
        key = _rotatable(_key(request, account))
        self._rotations.pop(key.arn, None)
        moto_bridge.set_key_rotation(key.arn, False)
        return {}


def _key(request: AwsRequest, account: str, *, cross_account: bool = False) -> KmsKey:
    """The key a ``KeyId`` names: "Specify the key ID or key ARN of the KMS key" (all of ``OPERATIONS``), in the
    caller's account and region unless the operation allows cross-account use."""
    ref = request.params.get("KeyId")
    if not isinstance(ref, str) or not ref:
        raise KmsError(
            "ValidationException",
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null",
        )
    if ref.startswith("alias/") or ":alias/" in ref:
        # Aliases are not accepted here; moto 5.2.5's wording ("Invalid keyId ...") is kept (assumption).
        raise KmsError("NotFoundException", f"Invalid keyId {ref}")
    location = KeyLocation.parse(ref, account, request.region)
    display = (
        ref
        if ref.startswith("arn:")
        else f"arn:{partition_of(request.region)}:kms:{request.region}:{account}:key/{ref}"
    )
    foreign = (location.account, location.region) != (account, request.region)
    key = None if foreign and not cross_account else moto_bridge.find_kms_key(location)
    if key is None:
        # "Cross-account use: No" operations see only the caller's keys (assumption: another account's key ARN
        # is answered as not found, as moto does).
        raise KmsError("NotFoundException", f"Key '{display}' does not exist")
    return key


def _manageable(key: KmsKey) -> KmsKey:
    """DisableKey and EnableKey work on Enabled and Disabled keys only (key state table, notes [3] and [5])."""
    if key.key_state == "PendingDeletion":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is pending deletion.")
    if key.key_state == "PendingImport":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is pending import.")
    if key.key_state not in ("Enabled", "Disabled"):
        raise KmsError("KMSInvalidStateException", f"{key.arn} is {key.key_state}.")
    return key


def _require_own_key_material(key: KmsKey) -> None:
    """Rotation is for keys whose material KMS made: key state table notes [6] ("<key ARN> origin is EXTERNAL which
    is not valid for this operation.") and [7] (imported key material or a custom key store:
    UnsupportedOperationException), for Get/Enable/DisableKeyRotation alike."""
    if key.origin != "AWS_KMS":
        raise KmsError(
            "UnsupportedOperationException", f"{key.arn} origin is {key.origin} which is not valid for this operation."
        )


def _rotatable(key: KmsKey) -> KmsKey:
    """Enable/DisableKeyRotation: the key's kind first (a disabled EXTERNAL key is unsupported, not disabled: table
    note "[1] or [7]"), then its state."""
    _require_own_key_material(key)
    if key.key_spec != "SYMMETRIC_DEFAULT":
        # "Automatic key rotation is supported only on symmetric encryption KMS keys." Message ours.
        raise KmsError(
            "UnsupportedOperationException",
            f"{key.arn} has KeySpec {key.key_spec}; automatic rotation is supported only on symmetric encryption keys.",
        )
    if key.key_manager == "AWS":
        # "You cannot enable or disable automatic rotation of Amazon Web Services managed KMS keys." Assumption:
        # answered as UnsupportedOperationException, message ours.
        raise KmsError(
            "UnsupportedOperationException", f"{key.arn} is an AWS managed key; its rotation is not configurable."
        )
    if key.key_state == "Disabled":
        raise KmsError("DisabledException", f"{key.arn} is disabled.")
    if key.key_state == "PendingDeletion":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is pending deletion.")
    if key.key_state != "Enabled":
        raise KmsError("KMSInvalidStateException", f"{key.arn} is {key.key_state}.")
    return key


def _days(request: AwsRequest, name: str, default: int, bounds: tuple[int, int]) -> int:
    """A number of days within bounds; else ValidationException in the wording KMS uses for constraint violations
    ("1 validation error detected: Value ... at '...' failed to satisfy constraint: ...")."""
    value = request.params.get(name, default)
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        wire_name = name[0].lower() + name[1:]
        raise KmsError(
            "ValidationException",
            f"1 validation error detected: Value '{value}' at '{wire_name}' failed to satisfy constraint: "
            f"Member must have value between {low} and {high}",
        )
    return value


def _policy_name(request: AwsRequest) -> str:
    """``PolicyName``, ``default`` when absent ("If no policy name is specified, the default value is default.");
    names other than default and AWS_RAM do not exist (moto's NotFoundException wording, assumption)."""
    name = request.params.get("PolicyName")
    if name is None:
        return "default"
    if name not in ("default", "AWS_RAM"):
        raise KmsError("NotFoundException", "No such policy exists")
    return str(name)
