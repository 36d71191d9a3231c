"""The central account's default event bus: one versioned finding event per finding that is not compliant, for
your own routing (source `xray-guard`, detail-type `X-Ray Encryption Finding`, detail = `xray-guard.finding/v1`).

The organization may put events on that bus too (its resource policy lets members forward CloudTrail events), so a
consumer's rule matches `"account": ["<central account>"]` as well as the source (README, "Destinations").
PutEvents reports refused entries in FailedEntryCount instead of an error (botocore events model, PutEvents).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from chalicelib.domain import SinkName
from chalicelib.errors import AwsCallError, SinkFailed
from chalicelib.findings import Finding
from chalicelib.sessions import call_aws

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SOURCE = "xray-guard"
DETAIL_TYPE = "X-Ray Encryption Finding"


class EventBridgeSink:
    name = SinkName.EVENTBRIDGE

    def __init__(self, bus_arn: Callable[[], str], events: Callable[[], EventBridgeClient]) -> None:
        self._bus_arn = bus_arn  # made on first use, like the client (the home account may need one STS call)
        self._events = events

    def wants(self, finding: Finding) -> bool:
        return finding.is_news

    def send(self, finding: Finding) -> str | None:
        entry = {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(finding.to_json()),
            "EventBusName": self._bus_arn(),
            "Resources": [],
        }
        try:
            answer = call_aws("events", "PutEvents", lambda: self._events().put_events(Entries=[entry]))  # type: ignore[list-item]
        except AwsCallError as e:
            raise SinkFailed(f"PutEvents failed: {e}") from e
        if answer.get("FailedEntryCount", 0):
            failed = [e for e in answer.get("Entries", []) if e.get("ErrorCode")]
            raise SinkFailed(f"PutEvents refused the finding: {failed}")
        return None
