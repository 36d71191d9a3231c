"""Storm control: a flapping account/region (someone flips X-Ray back again and again) keeps being checked and
reverted, but its alerts collapse into summaries instead of paging once per flip. It never hides the only signal.

Drift alerts are counted per (account, region) per clock hour. The first `limit` alerts go out as they are; after
that one summary alert every `summary_every` drifts. Failures (revert-failed, key-unusable, error) are never counted
or suppressed (the caller only asks about drift). Every suppressed drift is named (account, region, CloudTrail
eventID) in a later summary:

- `TableStorm` (whenever the central table is configured, as the central template always does) keeps the count in
  DynamoDB, so it holds across concurrent Lambda containers: one conditional `UpdateItem` per drift alert on the item
  `storm#<hour>` / `count#<account>#<region>`, whose string set of event ids makes a Lambda retry of an alert that SNS
  refused count once. The scheduled sweep sends one recap per closed hour that suppressed anything
  (`closed_windows`), and marks it sent.
- `MemoryStorm` (no table: XRAY_GUARD_SWEEP_TABLE unset, e.g. local runs and tests) counts per container and says
  so once in the log; it never suppresses in alert mode (nothing is reverted there, so a suppressed alert would be
  the drift itself going unreported), and names what it suppressed in its next in-band summary.

Any error of the table makes the alert go out (never silence).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.errors import AwsCallError
from chalicelib.log import emit
from chalicelib.table import CentralTable, expiry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STORM_PREFIX = "storm#"  # leading key of every storm item (the event handler's IAM grant is limited to it)
WINDOW_SECONDS = 3600.0
SUMMARY_LIMIT, SUMMARY_EVERY = 3, 10  # the first 3 drift alerts of a window go out, then one summary every 10
RECAP_LOOKBACK_WINDOWS = 24  # the sweep recaps closed hours up to a day back (the items' TTL)
_TTL_SECONDS = 2 * 86400


@dataclass(frozen=True)
class SuppressedDrift:
    account: str
    region: str
    event_id: str
    verdict: str


@dataclass(frozen=True)
class StormVerdict:
    send: bool
    count: int  # drifts seen for this account/region in this window, this one included
    summarized: bool  # the alert to send is a storm summary
    suppressed: tuple[SuppressedDrift, ...] = ()  # drifts held back since the last summary (MemoryStorm)


@dataclass(frozen=True)
class StormRecap:
    """The drifts one closed hour suppressed, for the scheduled recap."""

    window: int
    drifts: tuple[SuppressedDrift, ...]


class StormControl(Protocol):
    def record(self, drift: SuppressedDrift, *, alert_mode: bool) -> StormVerdict: ...

    def closed_windows(self) -> list[StormRecap]:
        """Closed hours whose held-back drifts still need a recap."""
        ...

    def mark_recapped(self, window: int) -> None: ...


@dataclass
class _Policy:
    limit: int = SUMMARY_LIMIT
    summary_every: int = SUMMARY_EVERY

    def verdict(self, count: int) -> tuple[bool, bool]:
        """(send, summarized) for the count-th drift of a window."""
        if count <= self.limit:
            return True, False
        return (count - self.limit - 1) % self.summary_every == 0, True


class _NoRecaps:
    """Per-container counting names what it held back in its next in-band summary: no scheduled recap."""

    def closed_windows(self) -> list[StormRecap]:
        return []

    def mark_recapped(self, window: int) -> None:
        del window  # nothing is ever recapped here


class MemoryStorm(_NoRecaps):
    """Per-container counting, for deployments without the central table."""

    def __init__(
        self,
        *,
        limit: int = SUMMARY_LIMIT,
        summary_every: int = SUMMARY_EVERY,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = _Policy(limit, summary_every)
        self._window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], int] = {}
        self._seen: set[tuple[str, int]] = set()
        self._held: list[SuppressedDrift] = []
        self._warned = False

    def record(self, drift: SuppressedDrift, *, alert_mode: bool) -> StormVerdict:
        window = int(self._clock() // self._window)
        with self._lock:
            if not self._warned:
                self._warned = True
                emit("storm-per-container", note="no XRAY_GUARD_SWEEP_TABLE: storm control counts per Lambda container")
            # Forget earlier windows: the maps never grow past one window's account/region pairs.
            self._counts = {k: v for k, v in self._counts.items() if k[2] == window}
            self._seen = {k for k in self._seen if k[1] == window}
            key = (drift.account, drift.region, window)
            if (drift.event_id, window) in self._seen:  # a retry of an alert SNS refused: counted once
                return StormVerdict(send=True, count=self._counts.get(key, 1), summarized=False)
            self._seen.add((drift.event_id, window))
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
            send, summarized = self._policy.verdict(count)
            if alert_mode and not send:
                send, summarized = True, False  # nobody else would ever name this drift
            if not send:
                self._held.append(drift)
                return StormVerdict(send=False, count=count, summarized=True)
            held = tuple(d for d in self._held if (d.account, d.region) == (drift.account, drift.region))
            self._held = [d for d in self._held if d not in held]
        return StormVerdict(send=True, count=count, summarized=summarized, suppressed=held)


class TableStorm:
    """Counting in the central table (chalicelib/table.py), under partition keys `storm#<hour>`."""

    def __init__(
        self,
        client: Callable[[], DynamoDBClient],
        table: str,
        *,
        limit: int = SUMMARY_LIMIT,
        summary_every: int = SUMMARY_EVERY,
        window_seconds: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = CentralTable(client, table)
        self._policy = _Policy(limit, summary_every)
        self._window = window_seconds
        self._clock = clock

    def _partition(self, window: int) -> str:
        return f"{STORM_PREFIX}{window}"

    def record(self, drift: SuppressedDrift, *, alert_mode: bool) -> StormVerdict:
        del alert_mode  # counted across containers: whatever is suppressed, in either mode, is recapped by the sweep
        now = self._clock()
        partition, item = self._partition(int(now // self._window)), f"count#{drift.account}#{drift.region}"
        try:
            attributes = self._table.update(
                partition,
                item,
                "ADD n :one, ids :id SET expires_at = :ttl",
                {
                    ":one": {"N": "1"},
                    ":id": {"SS": [drift.event_id]},
                    ":eid": {"S": drift.event_id},
                    ":ttl": expiry(now + _TTL_SECONDS)["expires_at"],
                },
                ConditionExpression="attribute_not_exists(ids) OR NOT contains(ids, :eid)",
                ReturnValues="UPDATED_NEW",
            )
        except AwsCallError as e:
            if e.code == "ConditionalCheckFailedException":
                # This event was counted before: a Lambda retry after SNS refused the alert. Send it again.
                return StormVerdict(send=True, count=0, summarized=False)
            emit("storm-unavailable", error=str(e), account=drift.account, region=drift.region)
            return StormVerdict(send=True, count=0, summarized=False)
        count = int(attributes["n"]["N"])
        send, summarized = self._policy.verdict(count)
        if not send and not self._hold(partition, item, drift):
            send = True  # could not record the suppression for the recap: alert now instead
        return StormVerdict(send=send, count=count, summarized=summarized)

    def _hold(self, partition: str, item: str, drift: SuppressedDrift) -> bool:
        entry = f"{drift.event_id}|{drift.verdict}"
        try:
            self._table.update(partition, item, "ADD suppressed :s", {":s": {"SS": [entry]}})
        except AwsCallError as e:
            emit("storm-unavailable", error=str(e), account=drift.account, region=drift.region)
            return False
        return True

    def closed_windows(self, lookback: int = RECAP_LOOKBACK_WINDOWS) -> list[StormRecap]:
        """Closed hours that suppressed drifts and were not recapped yet (oldest first)."""
        current = int(self._clock() // self._window)
        recaps = []
        for window in range(current - lookback, current):
            items = self._table.partition(self._partition(window))
            if any(item["item"]["S"] == "#recap" for item in items):
                continue
            drifts = tuple(sorted(_suppressed(items), key=lambda d: (d.account, d.region, d.event_id)))
            if drifts:
                recaps.append(StormRecap(window, drifts))
        return recaps

    def mark_recapped(self, window: int) -> None:
        self._table.put(self._partition(window), "#recap", expiry(self._clock() + _TTL_SECONDS))


def _suppressed(items: Sequence[dict[str, Any]]) -> list[SuppressedDrift]:
    out = []
    for item in items:
        name = item["item"]["S"]
        if not name.startswith("count#"):
            continue
        _, account, region = name.split("#", 2)
        for entry in item.get("suppressed", {}).get("SS", []):
            event_id, _, verdict = entry.rpartition("|")
            out.append(SuppressedDrift(account, region, event_id, verdict))
    return out
