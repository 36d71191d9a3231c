"""The local AWS the benchmarks run against: one localaws subprocess (so the emulator does not share the GIL with
the code under test), the standard AWS variables that point boto3 at it, and member-account admins that set up
keys, X-Ray settings and the alert topic as the people in the story do.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from chalicelib.service import Responder
from chalicelib.sessions import ClientFactory
from chalicelib.settings import Settings
from localaws import LocalAWSClient, start_subprocess

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"

CENTRAL = "123456789012"  # moto's default account: xray-guard's home
MEMBER, MEMBER_REGION = "222222222222", "eu-west-1"  # where tests/events/*.json happen
APPROVED_ALIAS = "alias/xray-encryption"
TOPIC_NAME = "xray-guard-alerts"
TOPIC_ARN = f"arn:aws:sns:us-east-1:{CENTRAL}:{TOPIC_NAME}"
# The 17 regions enabled by default in every account (the opt-in regions are left out).
REGIONS = (
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)


def load_event(name: str) -> dict[str, Any]:
    """A real-shaped EventBridge event from tests/events/."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def offline_env() -> dict[str, str]:
    """Standard AWS variables for a process that must not read this machine's AWS config or credentials."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


def guard_env(**overrides: str) -> dict[str, str]:
    """xray-guard's own variables, as .chalice/config.json sets them, plus overrides (e.g. XRAY_GUARD_MODE)."""
    return {"XRAY_GUARD_KMS_KEY": APPROVED_ALIAS, "XRAY_GUARD_TOPIC_ARN": TOPIC_ARN, **overrides}


class LocalAWSProcess:
    """`python -m localaws` in a subprocess; `control` drives its call log, reset and faults over HTTP."""

    def __init__(self) -> None:
        self._process, self.url = start_subprocess(latency_ms=0, updating_seconds=0)
        self.control = LocalAWSClient(self.url, timeout=120)

    def env(self) -> dict[str, str]:
        """The standard variables that point boto3 (in this process or a child) at this localaws."""
        return {**offline_env(), "AWS_ENDPOINT_URL": self.url}

    def cpu_seconds(self) -> float:
        """CPU time the emulator has used so far (user + system, from /proc), to see whether it keeps up."""
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def call_count(self) -> int:
        return len(self.control.calls())

    def calls_since(self, start: int) -> list[str]:
        """ "service:Operation" of every call logged after the first `start` calls."""
        return [f"{c['service']}:{c['operation']}" for c in self.control.calls()[start:]]

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> LocalAWSProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class Admin:
    """An administrator of one account (through OrganizationAccountAccessRole, as an org admin would)."""

    def __init__(self, account: str) -> None:
        self.account = account
        if account == CENTRAL:
            self._session = boto3.Session()
            return
        # A session per admin: boto3's default session is not safe to share between set-up threads.
        creds = (
            boto3.Session()
            .client("sts")
            .assume_role(RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="admin")[
                "Credentials"
            ]
        )
        self._session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    def client(self, service: str, region: str) -> Any:
        return self._session.client(service, region_name=region)  # type: ignore[call-overload]

    def create_approved_key(self, region: str) -> str:
        """Steps 1-2 of the remediation guide: a symmetric key and the approved alias."""
        kms = self.client("kms", region)
        arn: str = kms.create_key(Description="X-Ray trace encryption")["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName=APPROVED_ALIAS, TargetKeyId=arn)
        return arn

    def put_encryption(self, region: str, **config: str) -> None:
        self.client("xray", region).put_encryption_config(**config)

    def create_topic(self) -> str:
        arn: str = self.client("sns", "us-east-1").create_topic(Name=TOPIC_NAME)["TopicArn"]
        return arn


class SteppedClock:
    """Monotonic time that can be moved forward, to stand for the time between two Lambda invocations without
    waiting for it (the responder's TTLs read this clock; its sleeps stay real)."""

    def __init__(self) -> None:
        self._offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus `extra`, with the checkout importable (for `python -c` / `-m` children)."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


COMPLIANT_EVENT = "iac-sets-approved-key.json"


def warm_responder(aws: LocalAWSProcess, clock: SteppedClock) -> tuple[Responder, Admin]:
    """A fresh local AWS where the member region is compliant and the alert topic exists, and a revert-mode
    responder wired as `chalicelib.runtime.build` wires it (but on `clock`), warmed by one compliant invocation:
    its assumed-role credentials and the approved key's ARN are cached, as in a reused Lambda container."""
    aws.control.reset()
    Admin(CENTRAL).create_topic()
    admin = Admin(MEMBER)
    admin.create_approved_key(MEMBER_REGION)
    admin.put_encryption(MEMBER_REGION, Type="KMS", KeyId=APPROVED_ALIAS)
    settings = Settings.from_env(guard_env(XRAY_GUARD_MODE="revert"))
    clients = ClientFactory(settings.member_role, home_account=CENTRAL)
    responder = Responder(settings, clients, clock=clock.monotonic)
    responder.on_event(load_event(COMPLIANT_EVENT))
    return responder, admin
