"""Composition root: builds the responder and sweeper once per Lambda container (a cached factory)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import botocore.session

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
        home = clients.home_account()
        region = clients.region  # the sweep queue and table belong to the same stack as the functions
        return Sweeper(
            self.responder,
            SweepStore(clients.client(home, region, "dynamodb"), settings.sweep_table),
            clients.client(home, region, "sqs"),
            settings.sweep_queue_url,
            new_id=_sweep_id,
        )


def _sweep_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def build(env: Mapping[str, str], home_account: str | None, session: botocore.session.Session | None = None) -> Runtime:
    """Validate the configuration and wire the pieces. ConfigError names any bad variable."""
    settings = Settings.from_env(env)
    clients = ClientFactory(settings.member_role, base=session, home_account=home_account)
    storm, deliveries = None, None
    if settings.sweep_table:
        # The central table lives beside the functions (home account, their own region). The client is made on
        # first use, so cold starts that never count a drift do not pay for it.
        table = settings.sweep_table

        def ddb() -> Any:
            return clients.client(clients.home_account(), clients.region, "dynamodb")

        storm, deliveries = TableStorm(ddb, table), TableDeliveries(ddb, table)
    return Runtime(settings, Responder(settings, clients, storm=storm, deliveries=deliveries))


def runtime_for(event: Any) -> Runtime:
    """The container's runtime for a Chalice event object (its Lambda context names our account)."""
    return _lambda_runtime(account_of(getattr(event.context, "invoked_function_arn", "")))


@lru_cache(maxsize=1)
def _lambda_runtime(home_account: str | None) -> Runtime:
    """Built at the first invocation (Lambda's own cold start) and reused by the container."""
    configure_logging()
    return build(os.environ, home_account)


def account_of(function_arn: str) -> str | None:
    """The account id in a Lambda function ARN (arn:aws:lambda:region:ACCOUNT:function:name), if there is one.

    Reading it from the context saves an sts:GetCallerIdentity call; the local test client has no ARN.
    """
    parts = function_arn.split(":")
    return parts[4] if len(parts) > 4 and parts[4].isdigit() else None
