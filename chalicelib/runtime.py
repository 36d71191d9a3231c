"""Composition root: builds the responder and sweeper once per Lambda container (a cached factory)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import botocore.session

from chalicelib.domain import Arn
from chalicelib.errors import ConfigError
from chalicelib.log import configure_logging
from chalicelib.service import Responder
from chalicelib.sessions import ClientFactory
from chalicelib.settings import Settings
from chalicelib.sinks import TableDeliveries
from chalicelib.storm import TableStorm
from chalicelib.sweep import Sweeper, SweepStore


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    responder: Responder

    def sweeper(self) -> Sweeper:
        settings = self.settings
        if not settings.sweep_queue_url or not settings.sweep_table:
            raise ConfigError("XRAY_GUARD_SWEEP_QUEUE_URL and XRAY_GUARD_SWEEP_TABLE: both are required for the sweep")
        clients = self.responder.clients
        region = clients.region  # the sweep queue and table belong to the same stack as the functions
        return Sweeper(
            self.responder,
            SweepStore(partial(clients.home_dynamodb, region), settings.sweep_table),
            clients.home_sqs(region),
            settings.sweep_queue_url,
            new_id=_sweep_id,
        )


def _sweep_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def build(
    env: Mapping[str, str],
    home_account: str | None,
    session: botocore.session.Session | None = None,
    members: botocore.session.Session | None = None,
) -> Runtime:
    """Validate the configuration and wire the pieces. ConfigError names any bad variable. `session` and `members`:
    as ClientFactory's `base` and `members` (default: botocore's, from the process environment)."""
    settings = Settings.from_env(env)
    clients = ClientFactory(settings.member_role, base=session, members=members, home_account=home_account)
    storm, deliveries = None, None
    if settings.sweep_table:
        # The central table lives beside the functions (home account, their own region).
        table, ddb = settings.sweep_table, partial(clients.home_dynamodb, clients.region)
        storm, deliveries = TableStorm(ddb, table), TableDeliveries(ddb, table)
    return Runtime(settings, Responder(settings, clients, storm=storm, deliveries=deliveries))


def audit_responder(
    settings: Settings, session: botocore.session.Session, members: botocore.session.Session | None = None
) -> Responder:
    """The audit command's pipeline: the operator's session (assuming the member role in other accounts; `members`:
    as ClientFactory's) and no destinations: the audit reports, it sends nothing anywhere."""
    return Responder(settings, ClientFactory(settings.member_role, base=session, members=members), sinks=[])


class Container:
    """One Lambda execution environment of a function: its environment variables and its AWS session.

    The runtime is built at the first invocation (Lambda's cold start) and reused by the later ones, as Lambda
    reuses a warm container. In Lambda the container is this process (`os.environ`, botocore's default
    session); the demo and tests stand up others with their own environment mapping, and `serving` makes the
    handlers invoked inside it run in one, without touching the process environment.
    """

    def __init__(self, env: Mapping[str, str] | None = None, session: botocore.session.Session | None = None) -> None:
        """`env` None: the process environment as it is at the first invocation (Lambda's, where `os.environ` is
        complete before any handler runs; Chalice's local test client swaps `os.environ` for its duration)."""
        self._env = env
        self._session = session
        self._lock = threading.Lock()
        self._runtimes: dict[str | None, Runtime] = {}

    def runtime(self, home_account: str | None) -> Runtime:
        with self._lock:
            runtime = self._runtimes.get(home_account)
            if runtime is None:
                configure_logging()
                runtime = build(os.environ if self._env is None else self._env, home_account, self._session)
                self._runtimes[home_account] = runtime
            return runtime


LAMBDA = Container()
_container: ContextVar[Container] = ContextVar("xray_guard_container", default=LAMBDA)


@contextmanager
def serving(container: Container) -> Iterator[Container]:
    """Handlers invoked inside the block (in this thread) run in `container` instead of this process's own."""
    token = _container.set(container)
    try:
        yield container
    finally:
        _container.reset(token)


def runtime_for(event: Any) -> Runtime:
    """The container's runtime for a Chalice event object (its Lambda context names our account)."""
    return _container.get().runtime(account_of(getattr(event.context, "invoked_function_arn", "")))


def account_of(function_arn: str) -> str | None:
    """The account id in a Lambda function ARN (arn:aws:lambda:region:ACCOUNT:function:name), if there is one.

    Reading it from the context saves an sts:GetCallerIdentity call; the local test client has no ARN.
    """
    arn = Arn.parse(function_arn)
    return arn.account if arn is not None and arn.account.isascii() and arn.account.isdigit() else None
