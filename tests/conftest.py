"""Shared fixtures: one localaws per test session on a free loopback port, reset before each test."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.cli import Sessions
from chalicelib.errors import AwsCallError
from chalicelib.gc_tuning import YOUNG_THRESHOLD
from chalicelib.service import Responder
from chalicelib.sessions import ClientFactory
from chalicelib.settings import Settings
from chalicelib.sweep import Sweeper, SweepStore
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

__all__ = ["APPROVED_ALIAS", "CENTRAL", "EVENTS", "MEMBER", "MEMBER_REGION", "TOPIC_NAME", "FakeTime", "SweepRun",
           "World", "load_event"]  # fmt: skip

# How often SQS hands the sweep queue's message to sweep_account before the dead-letter queue takes it
# (infra/central.json: the sweep queue's RedrivePolicy maxReceiveCount).
SWEEP_RECEIVES = 5


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
        super().__init__(aws, app=aws.app)
        self.aws = aws
        self.time = time or FakeTime()
        self._sweeps = 0  # sweeps run so far: each has its own id, so that a test can sweep again
        self._sweep_place: tuple[str, str, str, str] | None = None  # topic, inbox, central table, sweep queue

    def reset(self) -> None:
        super().reset()
        self._sweep_place = None

    def enable_security_hub(self, account: str = MEMBER, region: str = MEMBER_REGION) -> None:
        """Turn Security Hub on in one account and region; it is off everywhere until then (and after a reset)."""
        self.client("securityhub", account, region).enable_security_hub(EnableDefaultStandards=False)

    def responder(self, topic: str, **env: str) -> Responder:
        values = {"XRAY_GUARD_KMS_KEY": APPROVED_ALIAS, "XRAY_GUARD_TOPIC_ARN": topic, "XRAY_GUARD_MODE": "revert"}
        values.update(env)
        settings = Settings.from_env(values)
        clients = ClientFactory(
            settings.member_role, base=self.code_session(), members=self.code_member_session(), home_account=CENTRAL
        )
        return Responder(settings, clients, sleep=self.time.sleep, clock=self.time.monotonic)

    def audit_sessions(self) -> Sessions:
        """What the audit command calls AWS with when a test hands it the code's sessions (in process, their clients
        kept from test to test) instead of building its own from the environment, as `python -m chalicelib.cli`
        does (tests/test_cli.py and the audit's own end-to-end tests keep that path)."""
        return Sessions(self.code_session(), self.code_member_session())

    def sweep(self, accounts: str, regions: str, **env: str) -> SweepRun:
        """Run the three sweep steps as Lambda would, against an alert inbox, central table and sweep queue (new at
        the world's first sweep, kept for the next; each sweep has a new id):
        scheduled_sweep → one SQS message per account → sweep_account for each → the digest. An AwsCallError from
        sweep_account fails the test. `env`: more settings (XRAY_GUARD_MODE defaults to revert, as in
        `responder`)."""
        return self._sweep(accounts, regions, env, redeliver=False)

    def sweep_redelivered(self, accounts: str, regions: str, **env: str) -> SweepRun:
        """As `sweep`, but an AwsCallError from sweep_account is retried as SQS redelivers the message, then
        account_failed runs as the dead-letter handler."""
        return self._sweep(accounts, regions, env, redeliver=True)

    def _sweep(self, accounts: str, regions: str, env: dict[str, str], *, redeliver: bool) -> SweepRun:
        sqs = self.client("sqs")
        if self._sweep_place is None:
            topic, inbox = self.alert_inbox()
            table = self.create_central_table()
            self._sweep_place = topic, inbox, table, sqs.create_queue(QueueName="xray-guard-sweep")["QueueUrl"]
        topic, inbox, table, queue = self._sweep_place
        self._sweeps += 1
        sweep_id = f"sweep-{self._sweeps}"
        responder = self.responder(topic, XRAY_GUARD_ACCOUNTS=accounts, XRAY_GUARD_REGIONS=regions, **env)
        store = SweepStore(lambda: self.client("dynamodb"), table)
        sweeper = Sweeper(responder, store, sqs, queue, new_id=lambda: sweep_id)
        started = sweeper.start()
        messages = 0
        while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                messages += 1
                if redeliver:
                    _sweep_account_redelivered(sweeper, message["Body"])
                else:
                    sweeper.sweep_account(message["Body"])
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        [digest] = self.alerts(inbox)
        return SweepRun(started, messages, digest)


def _sweep_account_redelivered(sweeper: Sweeper, body: str) -> None:
    error = ""
    for _receive in range(SWEEP_RECEIVES):
        try:
            sweeper.sweep_account(body)
            return
        except AwsCallError as e:
            error = str(e)
    sweeper.account_failed(body, error)


@dataclass(frozen=True)
class SweepRun:
    """One sweep as Lambda ran it: what the schedule step answered, how many account messages it queued, and the
    digest's machine rendering (the one message the alert inbox received)."""

    started: dict[str, Any]
    messages: int
    digest: dict[str, Any]


@pytest.fixture
def aws(localaws: LocalAWS) -> LocalAWS:
    """The session's local AWS, reset: for tests of localaws itself."""
    localaws.reset()
    return localaws


@pytest.fixture
def world(localaws: LocalAWS) -> World:
    localaws.reset()
    return World(localaws)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker per core. The suite computes more than it waits now that the world's clients skip the
    SDK's retry back-off (localaws.world `_RetryAtOnce`), and each worker imports, collects and warms up on its own:
    measured interleaved on this 2-core machine (`pytest -n N`), 2 workers took 62.5-66.9 s and 111-120 s of CPU,
    3 workers 66.0-66.7 s and 127-130 s."""
    return os.cpu_count() or 1


def pytest_collection_finish(session: pytest.Session) -> None:
    """Everything imported and collected lives for the whole run: keep the garbage collector from walking it again
    on every full collection (the tests still build many botocore clients, which only cyclic collection
    frees). And collect as the audit does (chalicelib.gc_tuning): what the tests load later (botocore models, the
    emulator's state, the kept clients) stays too. Measured with `gc.callbacks` over `pytest -n 2`: the collector
    took 6.3 s of each worker's CPU with CPython's default thresholds, 3.3 s with this one (peak RSS of a worker
    ~460 MiB)."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
