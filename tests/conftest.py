"""Shared fixtures: one localaws per test session on a free loopback port, reset before each test."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from chalicelib.service import Responder
from chalicelib.sessions import ClientFactory
from chalicelib.settings import Settings
from localaws import LocalAWS
from localaws.world import (
    APPROVED_ALIAS,
    CENTRAL,
    EVENTS,
    MEMBER,
    MEMBER_REGION,
    TOPIC_NAME,
    LocalWorld,
    load_event,
    offline_env,
)

__all__ = ["APPROVED_ALIAS", "CENTRAL", "EVENTS", "MEMBER", "MEMBER_REGION", "TOPIC_NAME", "FakeTime", "World",
           "load_event"]  # fmt: skip


@pytest.fixture(scope="session")
def localaws() -> Iterator[LocalAWS]:
    with pytest.MonkeyPatch.context() as mp, LocalAWS(updating_seconds=0.0) as aws:
        # For tests that use boto3's default session or pass os.environ on: the standard variables only.
        for var, value in offline_env(aws.endpoint_url).items():
            mp.setenv(var, value)
        for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            mp.delenv(var, raising=False)
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


class World(LocalWorld):
    """The people of the story (localaws.world) on the session's localaws, and the responder they deploy."""

    def __init__(self, aws: LocalAWS, time: FakeTime | None = None) -> None:
        super().__init__(aws)
        self.aws = aws
        self.time = time or FakeTime()

    def enable_security_hub(self, account: str = MEMBER, region: str = MEMBER_REGION) -> None:
        """Turn Security Hub on in one account and region; it is off everywhere until then (and after a reset)."""
        self.client("securityhub", account, region).enable_security_hub(EnableDefaultStandards=False)

    def responder(self, topic: str, **env: str) -> Responder:
        values = {"XRAY_GUARD_KMS_KEY": APPROVED_ALIAS, "XRAY_GUARD_TOPIC_ARN": topic, "XRAY_GUARD_MODE": "revert"}
        values.update(env)
        settings = Settings.from_env(values)
        clients = ClientFactory(settings.member_role, base=self.code_session(), home_account=CENTRAL)
        return Responder(settings, clients, sleep=self.time.sleep, clock=self.time.monotonic)


@pytest.fixture
def aws(localaws: LocalAWS) -> LocalAWS:
    """The session's local AWS, reset: for tests of localaws itself."""
    localaws.reset()
    return localaws


@pytest.fixture
def world(localaws: LocalAWS) -> World:
    localaws.reset()
    return World(localaws)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything imported and collected lives for the whole run: keep the garbage collector from walking it again
    on every full collection (the tests build thousands of botocore clients, which only cyclic collection frees)."""
    gc.freeze()
