"""Where findings go. The pipeline (chalicelib/service.py) returns a typed `Finding` and knows no destination; each
destination is one class behind the small `Sink` interface, in its own module, chosen by XRAY_GUARD_SINKS:

- `sns` (default): the alert topic, rendered for email and Slack; storm control and the failure queue live here;
- `securityhub`: AWS Security Hub CSPM, one finding per account/region/store, imported in that account;
- `eventbridge`: a versioned finding event on the central account's default bus.

The sweep digest, storm recaps and alarms always go to SNS. On a Lambda retry of an event, destinations that already
accepted the same finding are skipped (`Deliveries`), so the retry re-sends only what failed; a retry whose check
decided otherwise (a revert that failed, then succeeded) is news, and goes to every destination.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from chalicelib.domain import SinkName
from chalicelib.errors import AwsCallError, SinkFailed
from chalicelib.findings import Finding
from chalicelib.log import emit
from chalicelib.table import CentralTable, expiry, live

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DELIVERY_PREFIX = "delivery#"  # leading key of the delivery items (the event handler's grant is limited to it)
DELIVERY_TTL_SECONDS = 3600


class Sink(Protocol):
    """One destination. `send` raises SinkFailed when the destination refused the finding; it returns a note (e.g.
    "Security Hub CSPM is not enabled in ...") for a finding it deliberately did not deliver, else None."""

    name: SinkName

    def wants(self, finding: Finding) -> bool: ...

    def send(self, finding: Finding) -> str | None: ...


class Deliveries(Protocol):
    """Which destinations already accepted a delivery (so a Lambda retry does not send it twice). A delivery id is
    the event's id and what its check decided (`delivery_id`)."""

    def accepted(self, delivery: str, sinks: Iterable[SinkName]) -> set[str]:
        """Which of these destinations already accepted the delivery."""
        ...

    def record(self, delivery: str, sink: SinkName) -> None: ...


def delivery_id(event_id: str, finding: Finding) -> str:
    """The event's id and the finding's decisions: a retry that decided alike finds what it already delivered, one
    that decided otherwise (reverted this time, after a failed revert) finds nothing and tells every destination."""
    return f"{event_id}#{finding.decisions}"


@dataclass
class MemoryDeliveries:
    """Per container (deployments without the central table): a retry usually lands in the same warm container."""

    clock: Callable[[], float] = time.time
    _seen: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self, delivery: str, sinks: Iterable[SinkName]) -> set[str]:
        now = self.clock()
        names = {sink.value for sink in sinks}
        with self._lock:
            self._seen = {k: t for k, t in self._seen.items() if now - t < DELIVERY_TTL_SECONDS}
            return {sink for (seen, sink) in self._seen if seen == delivery and sink in names}

    def record(self, delivery: str, sink: SinkName) -> None:
        with self._lock:
            self._seen[(delivery, sink.value)] = self.clock()


class TableDeliveries:
    """In the central table (chalicelib/table.py), an hour long: item `delivery#<delivery id>` / `<sink>`."""

    def __init__(
        self, client: Callable[[], DynamoDBClient], table: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._table = CentralTable(client, table)
        self._clock = clock

    def accepted(self, delivery: str, sinks: Iterable[SinkName]) -> set[str]:
        # One Query of the delivery's partition (its items are the destinations that accepted it, at most one per
        # sink), not one GetItem per destination.
        names = {sink.value for sink in sinks}
        try:
            items = self._table.partition(DELIVERY_PREFIX + delivery)
        except AwsCallError as e:
            emit("deliveries-unavailable", error=str(e))
            return set()  # unknown: send again rather than risk sending nothing
        now = self._clock()
        return {item["item"]["S"] for item in items if item["item"]["S"] in names and live(item, now)}

    def record(self, delivery: str, sink: SinkName) -> None:
        expires = expiry(self._clock() + DELIVERY_TTL_SECONDS)
        try:
            self._table.put(DELIVERY_PREFIX + delivery, sink.value, expires)
        except AwsCallError as e:
            emit("deliveries-unavailable", error=str(e))  # a retry may then send this destination again


def dispatch(
    sinks: Sequence[Sink], finding: Finding, *, deliveries: Deliveries | None = None, event_id: str | None = None
) -> list[str]:
    """Send the finding to every destination that wants it; return their notes. Raises SinkFailed naming every
    destination that failed, after trying all of them (one refusing never stops the others)."""
    wanted = [sink for sink in sinks if sink.wants(finding)]
    # Remembered only where a retry could re-send something: an event, and more than one destination.
    ledger = deliveries if event_id and len(wanted) > 1 else None
    delivery = delivery_id(event_id, finding) if ledger and event_id else ""
    done = ledger.accepted(delivery, [sink.name for sink in wanted]) if ledger else set()
    failures: list[str] = []
    notes: list[str] = []
    for sink in wanted:
        if sink.name.value in done:
            emit("sink-skipped", sink=sink.name.value, why="accepted on an earlier attempt", event_id=event_id)
            continue
        try:
            note = sink.send(finding)
        except SinkFailed as e:
            failures.append(f"{sink.name.value}: {e}")
            continue
        if note:
            notes.append(note)
        if ledger:
            ledger.record(delivery, sink.name)
    if failures:
        raise SinkFailed("finding not delivered to " + "; ".join(failures))
    return notes
