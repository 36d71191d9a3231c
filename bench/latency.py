"""Event → verified revert latency, with every AWS call delayed 50 ms and X-Ray UPDATING for 2 s after a Put.

Each run starts from a fresh local AWS and a warm revert-mode responder (see `bench.calls`), an admin's change to
NONE one simulated minute earlier, then times one `Responder.on_event(console-change-to-none.json)` with the real
`time.sleep` (its polls really wait). Ideal = the floor's calls × latency + updating time = (Get, DescribeKey,
Put, Publish, one verification read) 5 × 50 ms + 2 s. Median of the runs.
"""

from __future__ import annotations

import statistics
import time

from bench.aws import MEMBER, MEMBER_REGION, LocalAWSProcess, SteppedClock, load_event, warm_responder
from bench.calls import DRIFT_EVENT, compact, revert_polls
from bench.report import Row, Section, times

RUNS = 5
LATENCY_MS = 50.0
UPDATING_SECONDS = 2.0
FLOOR_CALLS = 5
TARGET = 1.2


def one_run(aws: LocalAWSProcess) -> tuple[float, list[str], str]:
    """Seconds from event to verified revert, the calls made, and the outcome."""
    clock = SteppedClock()
    responder = warm_responder(aws, clock)  # also resets faults to none
    aws.world.put(MEMBER, MEMBER_REGION, Type="NONE")
    clock.advance(60.0)
    aws.control.set_faults(latency_ms=LATENCY_MS, updating_seconds=UPDATING_SECONDS)
    event = load_event(DRIFT_EVENT)
    start = aws.call_count()
    began = time.perf_counter()
    summary = responder.on_event(event)
    elapsed = time.perf_counter() - began
    return elapsed, aws.calls_since(start), str(summary.get("outcome"))


def run(aws: LocalAWSProcess) -> Section:
    started = time.perf_counter()
    runs = [one_run(aws) for _ in range(RUNS)]
    aws.reset()
    latency = LATENCY_MS / 1000
    ideal = FLOOR_CALLS * latency + UPDATING_SECONDS
    median = statistics.median(elapsed for elapsed, _, _ in runs)
    all_reverted = all(outcome == "reverted" for _, _, outcome in runs)
    section = Section(
        "Event → verified revert latency",
        f"localaws faults: latency {LATENCY_MS:g} ms on every AWS call, X-Ray UPDATING for {UPDATING_SECONDS:g} s "
        f"after a Put. {RUNS} runs, each on a fresh local AWS with a warm responder (credentials and approved key "
        "ARN cached; the previous invocation one simulated minute earlier, so the pre-flight DescribeKey is due), "
        "timing one `Responder.on_event` with the real sleep. Ideal = 5 floor calls × latency + updating time.",
    )
    section.rows.append(
        Row(
            "event → verified revert (50 ms/call, UPDATING 2 s)",
            f"{median:.2f} s" + ("" if all_reverted else " (not all runs reverted!)"),
            f"ideal {ideal:.2f} s",
            times(median / ideal),
            f"≤ {TARGET}×",
            all_reverted and median / ideal <= TARGET,
        )
    )
    for number, (elapsed, ops, outcome) in enumerate(runs, 1):
        section.details.append(
            f"- run {number}: {elapsed:.2f} s ({elapsed - ideal:+.2f} s on the ideal), {outcome}, {len(ops)} calls "
            f"with {revert_polls(ops)} polls: {compact(ops)}"
        )
    section.seconds = time.perf_counter() - started
    return section
