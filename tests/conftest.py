"""Shared fixtures: one localaws per test session on a free loopback port, reset before each test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.service import Responder
from chalicelib.sessions import ClientFactory
from chalicelib.settings import Settings
from localaws import LocalAWS, admin_session

EVENTS = Path(__file__).parent / "events"
CENTRAL = "123456789012"  # moto's default account: the responder's home
MEMBER = "222222222222"
MEMBER_REGION = "eu-west-1"
APPROVED_ALIAS = "alias/xray-encryption"
TOPIC_NAME = "xray-guard-alerts"


def load_event(name: str) -> dict[str, Any]:
    """A real-shaped EventBridge event from tests/events/."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@pytest.fixture(scope="session")
def localaws() -> Iterator[LocalAWS]:
    with pytest.MonkeyPatch.context() as mp, LocalAWS(updating_seconds=0.0) as aws:
        # botocore and the AWS CLI read the standard variables; nothing project-specific.
        mp.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_CONFIG_FILE", "/dev/null")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        yield aws


class FakeTime:
    """An injectable clock whose sleep advances time instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@dataclass
class World:
    """Acts on the local AWS as the people in the story do: admins in member accounts, the central team."""

    aws: LocalAWS
    time: FakeTime = field(default_factory=FakeTime)

    def session(self, account: str = CENTRAL, region: str = "us-east-1") -> boto3.Session:
        if account == CENTRAL:
            return boto3.Session(region_name=region)
        return admin_session(account, region)

    def create_key(
        self, account: str = MEMBER, region: str = MEMBER_REGION, alias: str | None = APPROVED_ALIAS, **kwargs: Any
    ) -> str:
        kms = self.session(account, region).client("kms")
        arn: str = kms.create_key(Description="X-Ray trace encryption", **kwargs)["KeyMetadata"]["Arn"]
        if alias:
            kms.create_alias(AliasName=alias, TargetKeyId=arn)
        return arn

    def enable_security_hub(self, account: str = MEMBER, region: str = MEMBER_REGION) -> None:
        """Turn Security Hub on in one account and region; it is off everywhere until then (and after a reset)."""
        self.session(account, region).client("securityhub").enable_security_hub(EnableDefaultStandards=False)

    def kms(self, account: str = MEMBER, region: str = MEMBER_REGION) -> Any:
        return self.session(account, region).client("kms")

    def put(self, account: str = MEMBER, region: str = MEMBER_REGION, **kwargs: str) -> None:
        xray: Any = self.session(account, region).client("xray")
        xray.put_encryption_config(**kwargs)

    def encryption(self, account: str = MEMBER, region: str = MEMBER_REGION) -> dict[str, Any]:
        return dict(self.session(account, region).client("xray").get_encryption_config()["EncryptionConfig"])

    def alert_inbox(self) -> tuple[str, str]:
        """The alert topic, with an SQS queue subscribed (raw) that receives the machine rendering."""
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
        url = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        return topic, url

    def alerts(self, url: str) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs", region_name="us-east-1")
        out: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return out
            for m in messages:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def calls(self, operation: str | None = None) -> list[dict[str, str]]:
        return [c for c in self.aws.calls() if operation is None or c["operation"] == operation]

    def responder(self, topic: str, **env: str) -> Responder:
        values = {"XRAY_GUARD_KMS_KEY": APPROVED_ALIAS, "XRAY_GUARD_TOPIC_ARN": topic, "XRAY_GUARD_MODE": "revert"}
        values.update(env)
        settings = Settings.from_env(values)
        clients = ClientFactory(settings.member_role, region="us-east-1", home_account=CENTRAL)
        return Responder(settings, clients, sleep=self.time.sleep, clock=self.time.monotonic)


@pytest.fixture
def world(localaws: LocalAWS) -> World:
    localaws.reset()
    return World(localaws)
