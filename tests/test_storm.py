"""Storm control, pure: which drift alerts of a flapping account/region go out."""

from __future__ import annotations

from chalicelib.storm import StormControl


def test_first_alerts_pass_then_one_summary_every_ten() -> None:
    now = [0.0]
    storm = StormControl(limit=3, summary_every=10, window_seconds=3600, clock=lambda: now[0])
    sent = [n for n in range(1, 31) if storm.record("222222222222", "eu-west-1").send]
    assert sent == [1, 2, 3, 4, 14, 24]


def test_counts_are_per_account_region_and_window() -> None:
    now = [0.0]
    storm = StormControl(limit=1, summary_every=10, window_seconds=3600, clock=lambda: now[0])
    assert storm.record("a", "eu-west-1").send
    assert storm.record("a", "us-east-1").send
    assert storm.record("b", "eu-west-1").send
    second = storm.record("a", "eu-west-1")
    assert (second.send, second.summarized, second.count) == (True, True, 2)
    assert not storm.record("a", "eu-west-1").send
    now[0] = 3600.0
    fresh = storm.record("a", "eu-west-1")
    assert (fresh.send, fresh.summarized, fresh.count) == (True, False, 1)
