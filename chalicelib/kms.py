"""KMS adapters: describe a key (alias, id or ARN) as a domain KeyInfo; read (and, when allowed, fix) its posture.

Posture costs, per key: `GetKeyRotationStatus` (usable keys of origin AWS_KMS, on a multi-Region key's primary),
`ListKeyPolicies`, and one `GetKeyPolicy` per policy name (`default`, and `AWS_RAM` when the key is shared through
RAM); with XRAY_GUARD_FIX_KEY_ROTATION, `EnableKeyRotation` and one more `GetKeyRotationStatus` when rotation is
weak. Every call names the key by ARN and every policy call names the policy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain import Arn, KeyInfo, KeyPosture, MissingKey, PostureStatus, RotationStatus
from chalicelib.errors import AwsCallError
from chalicelib.keyposture import MAX_ROTATION_DAYS, Organization, PolicyUnreadable, judge, rotation_applies
from chalicelib.sessions import call_aws

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


class KeyDirectory:
    """Answers "which key is this, and can X-Ray use it?" through the KMS client it is given."""

    def __init__(self, client: KMSClient) -> None:
        self._client = client

    def describe(self, key_ref: str) -> KeyInfo | MissingKey:
        try:
            meta = call_aws("kms", "DescribeKey", lambda: self._client.describe_key(KeyId=key_ref))["KeyMetadata"]
        except AwsCallError as e:
            if e.code == "NotFoundException":
                return MissingKey(key_ref)
            raise
        return key_info(meta)


def key_info(meta: Any) -> KeyInfo:
    """DescribeKey's KeyMetadata as a KeyInfo (kms model, KeyMetadata: DeletionDate only while PendingDeletion,
    MultiRegionConfiguration only for multi-Region keys)."""
    deletion = meta.get("DeletionDate")
    primary = (meta.get("MultiRegionConfiguration") or {}).get("PrimaryKey") or {}
    return KeyInfo(
        arn=meta["Arn"],
        state=meta.get("KeyState", "Unavailable"),
        key_manager=meta.get("KeyManager", "CUSTOMER"),
        key_spec=meta.get("KeySpec", "SYMMETRIC_DEFAULT"),
        key_usage=meta.get("KeyUsage", "ENCRYPT_DECRYPT"),
        origin=meta.get("Origin", "AWS_KMS"),
        deletion_date=_iso(deletion) if isinstance(deletion, datetime) else None,
        primary_arn=primary.get("Arn") if primary.get("Arn") != meta["Arn"] else None,
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class KeyPostureReader:
    """Reads a key's rotation status and key policies with its owner's KMS client and judges them
    (chalicelib.keyposture). `kms_for(account, region)` gives the client for a key's owner and region; a policy may
    name the key's owner, `accounts` and, under an organization condition, `organization_id`."""

    def __init__(
        self, kms_for: Callable[[str, str], KMSClient], *, accounts: frozenset[str], organization_id: str | None
    ) -> None:
        self._kms_for = kms_for
        self._accounts = accounts
        self._organization_id = organization_id

    def read(
        self,
        key: KeyInfo,
        *,
        fix_rotation: bool = False,
        rotation: bool = True,
        policy: bool = True,
    ) -> KeyPosture:
        """The key's posture (only its rotation, or only its policies, when a KMS event changed just that);
        `unknown: <error>` when a read fails. Never raises for AWS errors."""
        try:
            rotation_key = key.primary_arn or key.arn  # a multi-Region key's rotation lives on its primary
            status = self._rotation(rotation_key) if rotation and rotation_applies(key.origin, key.usable) else None
            fixed = ""
            if fix_rotation and status is not None and _rotation_weak(status):
                status, fixed = self._fix_rotation(rotation_key)
            org = Organization(key.account, self._accounts, self._organization_id)
            return judge(self._policies(key.arn) if policy else {}, status, org, fixed=fixed)
        except AwsCallError as e:
            return KeyPosture(PostureStatus.UNKNOWN, error=f"{e.operation}: {e.code}")
        except PolicyUnreadable as e:
            return KeyPosture(PostureStatus.UNKNOWN, error=str(e))

    def _client(self, arn: str) -> KMSClient:
        where = Arn.of(arn)
        return self._kms_for(where.account, where.region)

    def _rotation(self, arn: str) -> RotationStatus:
        client = self._client(arn)
        answer = call_aws("kms", "GetKeyRotationStatus", lambda: client.get_key_rotation_status(KeyId=arn))
        return RotationStatus(bool(answer.get("KeyRotationEnabled")), answer.get("RotationPeriodInDays"))

    def _fix_rotation(self, arn: str) -> tuple[RotationStatus, str]:
        """Turn rotation on (every 365 days, the model's default), then verify by re-reading."""
        client = self._client(arn)
        try:
            call_aws(
                "kms",
                "EnableKeyRotation",
                lambda: client.enable_key_rotation(KeyId=arn, RotationPeriodInDays=MAX_ROTATION_DAYS),
            )
        except AwsCallError as e:
            return self._rotation(arn), f"could not turn key rotation on ({e.code})"
        after = self._rotation(arn)
        if _rotation_weak(after):
            return after, "turned key rotation on, but the re-read does not show it"
        return after, f"turned key rotation on (every {MAX_ROTATION_DAYS} days), verified by re-read"

    def _policies(self, arn: str) -> dict[str, str]:
        client = self._client(arn)
        names = call_aws("kms", "ListKeyPolicies", lambda: client.list_key_policies(KeyId=arn)).get("PolicyNames", [])
        policies: dict[str, str] = {}
        for name in names:
            policies[name] = self._policy(client, arn, name)
        return policies

    @staticmethod
    def _policy(client: KMSClient, arn: str, name: str) -> str:
        answer = call_aws("kms", "GetKeyPolicy", lambda: client.get_key_policy(KeyId=arn, PolicyName=name))
        return str(answer.get("Policy", ""))


def _rotation_weak(rotation: RotationStatus) -> bool:
    return not rotation.enabled or (rotation.period_days or 0) > MAX_ROTATION_DAYS


class PostureBook:
    """Each key's posture read at most once per book: one book per `sweep_account` invocation, per audit run and per
    scheduled sweep. Thread-safe (a sweep checks regions concurrently): a second region asking for the same key waits
    for the first read."""

    def __init__(
        self,
        reader: KeyPostureReader,
        *,
        fix_rotation: bool,
        foreign_keys: bool,
        left_to_others: frozenset[str] = frozenset(),
    ) -> None:
        self._reader = reader
        self._left_to_others = left_to_others  # key ARNs another reader covers (scheduled_sweep's central keys)
        self._fix_rotation = fix_rotation
        self.foreign_keys = foreign_keys  # read keys of another account than the checked one (audit, not sweep)
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[threading.Lock, list[KeyPosture]]] = {}

    def get(self, key: KeyInfo, checked_account: str) -> KeyPosture | None:
        """The key's posture, read once; None when this book leaves the key to another reader (a key of another
        account during a sweep: scheduled_sweep reads it with its owner's credentials)."""
        if key.arn in self._left_to_others or (key.account != checked_account and not self.foreign_keys):
            return None
        with self._lock:
            entry = self._keys.setdefault(key.arn, (threading.Lock(), []))
        key_lock, result = entry
        with key_lock:
            if not result:
                result.append(self._reader.read(key, fix_rotation=self._fix_rotation))
            return result[0]
