"""Driving a localaws that runs elsewhere: ``start_subprocess`` launches ``python -m localaws``, and
``LocalAWSClient`` talks to the ``/_localaws/*`` control endpoints of any running localaws."""

from __future__ import annotations

import http.client
import json
import os
import select
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Unpack
from urllib.parse import urlencode, urlsplit

import boto3
import botocore.session

from chalicelib.sessions import with_shared_loader
from localaws.calls import CallEntry
from localaws.faults import FaultChanges, fault_changes

READY_PREFIX = "localaws listening on "


class LocalAWSClient:
    """The control endpoints of a running localaws, over HTTP."""

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"expected http://host:port, got {endpoint_url!r}")
        self.endpoint_url = endpoint_url
        self._host = parts.hostname
        self._port = parts.port
        self._timeout = timeout

    def calls(self) -> list[CallEntry]:
        entries: list[CallEntry] = self._request("GET", "calls")
        return entries

    def reset(self) -> None:
        self._request("POST", "reset")

    def published(self, topic_arn: str) -> list[dict[str, str | None]]:
        """Messages SNS accepted for the topic, oldest first: ``message_id``, ``subject``, ``message``."""
        sent: list[dict[str, str | None]] = self._request("GET", f"published?{urlencode({'topic': topic_arn})}")
        return sent

    def set_faults(self, **changes: Unpack[FaultChanges]) -> dict[str, object]:
        settings: dict[str, object] = self._request("POST", "faults", fault_changes(**changes))
        return settings

    def _request(self, method: str, endpoint: str, document: object = None) -> Any:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            body = None if document is None else json.dumps(document)
            connection.request(method, f"/_localaws/{endpoint}", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read() or b"null")
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"localaws {method} /_localaws/{endpoint}: {response.status} {answer}")
        return answer


def start_subprocess(
    *,
    port: int = 0,
    latency_ms: float | None = None,
    throttle_rate: float | None = None,
    updating_seconds: float | None = None,
    fail: Iterable[str] = (),
    seed: int | None = None,
    no_transaction_search: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 60.0,
) -> tuple[subprocess.Popen[str], str]:
    """Launch ``python -m localaws --port PORT`` and wait for its URL line.

    Returns the process and its endpoint URL; stop it with ``process.terminate(); process.wait()``. Options
    left at None fall back to the ``LOCALAWS_*`` variables of ``env`` (default: this process's environment).
    """
    args = [sys.executable, "-m", "localaws", "--port", str(port)]
    for option, value in (
        ("--latency-ms", latency_ms),
        ("--throttle-rate", throttle_rate),
        ("--updating-seconds", updating_seconds),
        ("--seed", seed),
    ):
        if value is not None:
            args += [option, str(value)]
    for spec in fail:
        args += ["--fail", spec]
    for region in no_transaction_search:
        args += ["--no-transaction-search", region]
    child_env = dict(os.environ if env is None else env)
    # The child imports localaws from the same checkout as this process.
    package_root = str(Path(__file__).resolve().parent.parent)
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, child_env.get("PYTHONPATH")]))
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=child_env)
    assert process.stdout is not None  # stdout=PIPE
    ready, _, _ = select.select([process.stdout], [], [], startup_timeout)
    line = process.stdout.readline() if ready else ""
    if not line.startswith(READY_PREFIX):
        process.kill()
        process.wait()
        raise RuntimeError(f"localaws did not start (exit code {process.returncode}, first line {line!r})")
    return process, line.removeprefix(READY_PREFIX).strip()


def admin_session(account: str, region: str) -> boto3.Session:
    """An administrator's session in an emulated account (moto's STS AssumeRole acts in the role's account).

    Uses the standard AWS_ENDPOINT_URL and credential variables of this process, as the AWS CLI would, and the
    process's one botocore data loader (``chalicelib.sessions.with_shared_loader``), so the models are parsed only once.
    """
    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="admin"
    )["Credentials"]
    base = with_shared_loader(botocore.session.Session())
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
        botocore_session=base,
    )
