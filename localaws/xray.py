"""X-Ray encryption configuration (``GetEncryptionConfig`` / ``PutEncryptionConfig``), which moto lacks.

Wire contract, from botocore data/xray/2016-04-12/service-2.json (protocol rest-json):
``GetEncryptionConfig`` is ``POST /EncryptionConfig``, ``PutEncryptionConfig`` ``POST /PutEncryptionConfig``;
both answer ``{"EncryptionConfig": EncryptionConfig}`` and model the errors ``InvalidRequestException`` and
``ThrottledException``. State is kept per (account, region): the request has no account or region parameter,
so the setting belongs to the caller's account at the endpoint's region ("X-Ray encryption is configured per
region", shared/reference/xray-kms-guide.txt).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from werkzeug.wrappers import Response

from localaws.moto_bridge import KeyLocation, KmsKey
from localaws.protocol import AwsRequest, error_response, json_response

OPERATIONS = frozenset({"GetEncryptionConfig", "PutEncryptionConfig"})

KeyFinder = Callable[[KeyLocation], KmsKey | None]


V = TypeVar("V")


class InvalidRequestError(Exception):
    """Answered as X-Ray's ``InvalidRequestException`` (HTTP 400: the shape has no ``error.httpStatusCode``,
    and "The request is missing required parameters or has invalid parameters" is a client error)."""


@dataclass(frozen=True)
class Setting(Generic[V]):
    """A value X-Ray was given, and when (on the monotonic clock) it takes effect."""

    value: V
    active_at: float


class RegionalSettings(Generic[V]):
    """One X-Ray setting of every (account, region): the requests name no account or region, so a setting belongs
    to the caller's account at the endpoint's region. Whether it is in effect yet is worked out on read from a
    monotonic clock, so a change stays pending for ``updating_seconds`` without any background work."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._settings: dict[tuple[str, str], Setting[V]] = {}
        self._lock = threading.Lock()

    def put(self, account: str, region: str, value: V, updating_seconds: float) -> Setting[V]:
        setting = Setting(value, self._clock() + updating_seconds)
        with self._lock:
            self._settings[(account, region)] = setting
        return setting

    def get(self, account: str, region: str) -> Setting[V] | None:
        with self._lock:
            return self._settings.get((account, region))

    def active(self, setting: Setting[V]) -> bool:
        return self._clock() >= setting.active_at

    def reset(self) -> None:
        with self._lock:
            self._settings.clear()


@dataclass(frozen=True)
class _Encryption:
    type: str
    key_arn: str | None


class XRayEncryption:
    """The encryption config of every (account, region); a Put stays ``UPDATING`` for ``updating_seconds``."""

    def __init__(self, find_key: KeyFinder, clock: Callable[[], float] = time.monotonic) -> None:
        self._find_key = find_key
        self._settings: RegionalSettings[_Encryption] = RegionalSettings(clock)

    def handle(self, request: AwsRequest, account: str, updating_seconds: float) -> Response:
        try:
            if request.operation == "PutEncryptionConfig":
                config = self.put(account, request.region, request.params, updating_seconds)
            else:
                config = self.get(account, request.region)
        except InvalidRequestError as error:
            return error_response(request, "InvalidRequestException", str(error), 400)
        return json_response({"EncryptionConfig": config})

    def get(self, account: str, region: str) -> dict[str, str]:
        setting = self._settings.get(account, region)
        if setting is None:
            # Never configured: default encryption (an AWS owned key), no KeyId
            # (https://docs.aws.amazon.com/xray/latest/api/API_EncryptionConfig.html: "Set to NONE for default
            # encryption"; KeyId is "The ID of the KMS key used for encryption, if applicable").
            return {"Type": "NONE", "Status": "ACTIVE"}
        return self._render(setting)

    def put(self, account: str, region: str, params: Mapping[str, Any], updating_seconds: float) -> dict[str, str]:
        encryption_type = params.get("Type")
        key_id = params.get("KeyId")
        # botocore model: PutEncryptionConfigRequest.Type is required, EncryptionType enum is NONE | KMS.
        if encryption_type not in ("KMS", "NONE"):
            raise InvalidRequestError(f"Type must be KMS or NONE, got {encryption_type!r}")
        if encryption_type == "NONE":
            if key_id is not None:
                # Unsure what AWS does here: the docs of PutEncryptionConfig.KeyId say "Omit this key if you
                # set Type to NONE" (https://docs.aws.amazon.com/xray/latest/api/API_PutEncryptionConfig.html);
                # we reject it rather than silently ignore it.
                raise InvalidRequestError("KeyId must be omitted when Type is NONE")
            # Assumption: going back to NONE also passes through UPDATING, like a change of key does.
            return self._store(account, region, "NONE", None, updating_seconds)
        if not isinstance(key_id, str) or not key_id:
            # Unsure: AWS might default to alias/aws/xray here; we ask for an explicit key.
            raise InvalidRequestError("KeyId is required when Type is KMS")
        key = _usable_key(key_id, self._find_key(KeyLocation.parse(key_id, account, region)))
        return self._store(account, region, "KMS", key.arn, updating_seconds)

    def reset(self) -> None:
        self._settings.reset()

    def _store(
        self, account: str, region: str, encryption_type: str, key_arn: str | None, updating_seconds: float
    ) -> dict[str, str]:
        setting = self._settings.put(account, region, _Encryption(encryption_type, key_arn), updating_seconds)
        # The Put answer always says UPDATING ("While the status is UPDATING, X-Ray may encrypt data with a
        # combination of the new and old settings", API_EncryptionConfig.html); reads turn ACTIVE later.
        return self._render(setting, status="UPDATING")

    def _render(self, setting: Setting[_Encryption], status: str | None = None) -> dict[str, str]:
        status = status or ("ACTIVE" if self._settings.active(setting) else "UPDATING")
        config = {"Type": setting.value.type, "Status": status}
        if setting.value.key_arn is not None:
            # X-Ray reports the key ARN whichever form of KeyId was put.
            config["KeyId"] = setting.value.key_arn
        return config


def _usable_key(key_id: str, key: KmsKey | None) -> KmsKey:
    """The key, unless X-Ray cannot encrypt with it. The messages are ours (AWS's wording is undocumented)."""
    if key is None:
        raise InvalidRequestError(f"KMS key {key_id} does not exist")
    if key.key_state == "Disabled":
        raise InvalidRequestError(f"KMS key {key.arn} is disabled")
    if key.key_state == "PendingDeletion":
        raise InvalidRequestError(f"KMS key {key.arn} is pending deletion")
    if key.key_state != "Enabled":
        raise InvalidRequestError(f"KMS key {key.arn} is not usable (KeyState {key.key_state})")
    if key.key_spec != "SYMMETRIC_DEFAULT" or key.key_usage != "ENCRYPT_DECRYPT":
        # "Amazon Web Services X-Ray does not support asymmetric KMS keys" (botocore model,
        # PutEncryptionConfigRequest.KeyId documentation).
        raise InvalidRequestError(
            f"KMS key {key.arn} is not a symmetric encryption key (KeySpec {key.key_spec}, "
            f"KeyUsage {key.key_usage}); X-Ray does not support asymmetric KMS keys"
        )
    return key
