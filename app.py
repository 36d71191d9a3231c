"""xray-guard: the Chalice app. Decorators and wiring only; the work is in chalicelib/."""

from __future__ import annotations

from typing import Any

from chalice.app import Chalice, CloudWatchEvent, Rate, SQSEvent

from chalicelib.events import PATTERN
from chalicelib.runtime import runtime_for

app = Chalice(app_name="xray-guard")


@app.on_cw_event(PATTERN)
def on_xray_encryption_change(event: CloudWatchEvent) -> dict[str, Any]:
    """A member account changed X-Ray encryption or its spans store (aws/spans): re-read both, alert or revert."""
    return runtime_for(event).responder.on_event(event.to_dict())


@app.schedule(Rate(6, unit=Rate.HOURS))
def scheduled_sweep(event: Any) -> dict[str, Any]:
    """Every 6 hours (CloudFormation parameter SweepSchedule overrides): one SQS message per account."""
    return runtime_for(event).sweeper().start()


@app.on_sqs_message(queue="xray-guard-sweep", batch_size=1)
def sweep_account(event: SQSEvent) -> list[dict[str, Any]]:
    """Check every enabled region of one account; an unreachable account fails, is retried, then dead-lettered."""
    sweeper = runtime_for(event).sweeper()
    return [sweeper.sweep_account(record.body) for record in event]


@app.on_sqs_message(queue="xray-guard-sweep-dlq", batch_size=1)
def sweep_account_failed(event: SQSEvent) -> None:
    """An account message exhausted its retries: count it as failed so the sweep digest names it."""
    sweeper = runtime_for(event).sweeper()
    for record in event:
        sweeper.account_failed(record.body, "account could not be checked after retries (see sweep_account logs)")
