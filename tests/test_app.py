"""The Chalice wiring: handlers registered as designed, and an invocation through Chalice's own test client."""

from __future__ import annotations

import json

import pytest
from chalice.app import CloudWatchEventConfig
from chalice.test import Client

import app as app_module
from chalicelib.events import PATTERN
from chalicelib.runtime import account_of
from tests.conftest import CENTRAL, World, load_event


def test_event_handler_pattern_is_the_designed_literal() -> None:
    [handler] = [h for h in app_module.app.event_sources if h.name == "on_xray_encryption_change"]
    assert isinstance(handler, CloudWatchEventConfig)
    assert handler.event_pattern == PATTERN


def test_every_designed_handler_is_registered() -> None:
    names = {h.name for h in app_module.app.event_sources}
    assert names == {"on_xray_encryption_change", "scheduled_sweep", "sweep_account", "sweep_account_failed"}


@pytest.mark.parametrize(
    ("arn", "account"),
    [("arn:aws:lambda:us-east-1:123456789012:function:xray-guard-prod-on_x", "123456789012"), ("", None)],
)
def test_home_account_comes_from_the_function_arn(arn: str, account: str | None) -> None:
    assert account_of(arn) == account


def test_invocation_through_chalice_test_client(world: World) -> None:
    world.create_key(account=CENTRAL, region="us-east-1")
    world.put(account=CENTRAL, region="us-east-1", Type="KMS", KeyId="alias/xray-encryption")
    event = load_event("iac-sets-approved-key.json")
    event["account"], event["region"] = CENTRAL, "us-east-1"
    with Client(app_module.app, stage_name="dev") as client:
        response = client.lambda_.invoke("on_xray_encryption_change", event)
    assert json.loads(json.dumps(response.payload))["outcome"] == "compliant"
