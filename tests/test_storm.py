"""Storm control: which drift alerts of a flapping account/region go out, and that none is silently lost."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.storm import MemoryStorm, SuppressedDrift, TableStorm
from localaws.world import console_change
from tests.conftest import FakeTime, World

ACCOUNT, REGION = "222222222222", "eu-west-1"


def drift(n: int, account: str = ACCOUNT, region: str = REGION) -> SuppressedDrift:
    return SuppressedDrift(account, region, f"event-{n}", "drift-none")


def test_first_alerts_pass_then_one_summary_every_ten() -> None:
    now = [0.0]
    storm = MemoryStorm(limit=3, summary_every=10, window_seconds=3600, clock=lambda: now[0])
    sent = [n for n in range(1, 31) if storm.record(drift(n), alert_mode=False).send]
    assert sent == [1, 2, 3, 4, 14, 24]


def test_counts_are_per_account_region_and_window() -> None:
    now = [0.0]
    storm = MemoryStorm(limit=1, summary_every=10, window_seconds=3600, clock=lambda: now[0])
    assert storm.record(drift(1, "a"), alert_mode=False).send
    assert storm.record(drift(2, "a", "us-east-1"), alert_mode=False).send
    assert storm.record(drift(3, "b"), alert_mode=False).send
    second = storm.record(drift(4, "a"), alert_mode=False)
    assert (second.send, second.summarized, second.count) == (True, True, 2)
    assert not storm.record(drift(5, "a"), alert_mode=False).send
    now[0] = 3600.0
    fresh = storm.record(drift(6, "a"), alert_mode=False)
    assert (fresh.send, fresh.summarized, fresh.count) == (True, False, 1)


def test_without_a_table_alert_mode_never_suppresses() -> None:
    storm = MemoryStorm(limit=1, summary_every=10, clock=lambda: 0.0)
    assert all(storm.record(drift(n), alert_mode=True).send for n in range(1, 40))


def test_without_a_table_the_next_summary_names_what_was_held_back() -> None:
    storm = MemoryStorm(limit=1, summary_every=3, clock=lambda: 0.0)
    verdicts = [storm.record(drift(n), alert_mode=False) for n in range(1, 6)]
    assert [v.send for v in verdicts] == [True, True, False, False, True]
    assert [d.event_id for d in verdicts[-1].suppressed] == ["event-3", "event-4"]


def test_a_retried_event_is_counted_once() -> None:
    storm = MemoryStorm(limit=1, summary_every=100, clock=lambda: 0.0)
    assert storm.record(drift(1), alert_mode=False).send
    for _ in range(5):  # Lambda retries after SNS refused the alert: each must go out, none may use the budget
        assert storm.record(drift(2), alert_mode=False).send
    assert storm.record(drift(3), alert_mode=False).count == 3


def _table(world: World) -> tuple[TableStorm, FakeTime]:
    table = world.create_central_table()
    ddb = world.client("dynamodb")
    return TableStorm(lambda: ddb, table, limit=2, summary_every=5, clock=world.time.monotonic), world.time


def test_table_counts_hold_across_containers(world: World) -> None:
    first, _ = _table(world)
    other = boto3.client("dynamodb", region_name="us-east-1")
    second = TableStorm(lambda: other, "xray-guard-sweeps", limit=2, summary_every=5, clock=world.time.monotonic)
    sent = [
        n for n in range(1, 13) if (first if n % 2 else second).record(drift(n), alert_mode=True).send
    ]  # two warm containers taking turns share one count
    assert sent == [1, 2, 3, 8]


def test_table_retry_does_not_consume_the_budget_and_is_sent(world: World) -> None:
    storm, _ = _table(world)
    assert storm.record(drift(1), alert_mode=False).send
    assert storm.record(drift(1), alert_mode=False).send  # the retry
    assert storm.record(drift(2), alert_mode=False).count == 2


def test_table_recap_names_each_held_back_drift_once_per_closed_hour(world: World) -> None:
    storm, clock = _table(world)
    for n in range(1, 8):
        storm.record(drift(n), alert_mode=True)
    storm.record(drift(100, "333333333333", "us-east-1"), alert_mode=True)
    assert storm.closed_windows() == []  # the hour is still open
    clock.sleep(3600)
    [recap] = storm.closed_windows()
    assert [d.event_id for d in recap.drifts] == ["event-4", "event-5", "event-6", "event-7"]
    storm.mark_recapped(recap.window)
    assert storm.closed_windows() == []


def test_table_errors_send_the_alert(world: World) -> None:
    storm = TableStorm(lambda: world.client("dynamodb"), "no-such-table", clock=world.time.monotonic)
    assert all(storm.record(drift(n), alert_mode=True).send for n in range(1, 10))


@pytest.mark.parametrize("mode", ["alert", "revert"])
def test_responder_with_table_never_loses_a_drift(world: World, mode: str) -> None:
    """Every drift event ends in an alert that names it, or in the recap of its hour."""
    world.create_key()
    topic, inbox = world.alert_inbox()
    storm, clock = _table(world)
    responder = world.responder(topic, XRAY_GUARD_MODE=mode)
    responder = type(responder)(responder.settings, responder.clients, sleep=clock.sleep, clock=clock.monotonic,
                                storm=storm)  # fmt: skip
    ids = []
    for n in range(12):
        world.put(Type="NONE")
        ids.append(f"ct-{n}")
        responder.on_event(console_change(n))
    named = {a["cloudtrail_event_id"] for a in world.alerts(inbox)}
    clock.sleep(3600)
    assert responder.recap_storms() == 1
    [recap] = world.alerts(inbox)
    named |= {d["event_id"] for d in recap["held_back"]}
    assert named == set(ids)
