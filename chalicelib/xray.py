"""X-Ray encryption configuration adapter: domain values in and out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.domain import EncryptionState, EncryptionStatus, EncryptionType
from chalicelib.sessions import call_aws

if TYPE_CHECKING:
    from mypy_boto3_xray import XRayClient
    from mypy_boto3_xray.type_defs import EncryptionConfigTypeDef


class XRayEncryption:
    """Reads and writes X-Ray's per-region encryption setting through the client it is given."""

    def __init__(self, client: XRayClient) -> None:
        self._client = client

    def get(self) -> EncryptionState:
        response = call_aws("xray", "GetEncryptionConfig", self._client.get_encryption_config)
        return _state(response["EncryptionConfig"])

    def put_kms(self, key_arn: str) -> EncryptionState:
        response = call_aws(
            "xray",
            "PutEncryptionConfig",
            lambda: self._client.put_encryption_config(Type="KMS", KeyId=key_arn),
        )
        return _state(response["EncryptionConfig"])


def _state(config: EncryptionConfigTypeDef) -> EncryptionState:
    # KeyId is absent when Type is NONE (https://docs.aws.amazon.com/xray/latest/api/API_EncryptionConfig.html)
    return EncryptionState(
        type=EncryptionType(config.get("Type", "NONE")),
        status=EncryptionStatus(config.get("Status", "ACTIVE")),
        key_arn=config.get("KeyId") or None,
    )
