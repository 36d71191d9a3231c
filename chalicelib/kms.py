"""KMS adapter: describe a key (alias, id or ARN) as a domain KeyInfo."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.domain import KeyInfo, MissingKey
from chalicelib.errors import AwsCallError
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
        return KeyInfo(
            arn=meta["Arn"],
            state=meta.get("KeyState", "Unavailable"),
            key_manager=meta.get("KeyManager", "CUSTOMER"),
            key_spec=meta.get("KeySpec", "SYMMETRIC_DEFAULT"),
            key_usage=meta.get("KeyUsage", "ENCRYPT_DECRYPT"),
        )
