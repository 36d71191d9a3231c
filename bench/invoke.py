"""Child program of the peak-memory figures: one Lambda invocation in this fresh process, then its peak RSS.

`python -m bench.invoke MODE [ARGS]` prints, as its last stdout line, `{"peak_rss_mib": ..., "result": ...}`:

- `boto3`: only `import boto3` (the peer);
- `event`: `app.on_xray_encryption_change` with tests/events/console-change-to-none.json, as Lambda calls it;
- `sweep SWEEP_ID ACCOUNT`: `app.sweep_account` with one SQS record for ACCOUNT;
- `events REGIONS ACCOUNT...`: a warm container: `app.on_xray_encryption_change` once per account and region (a
  comma list), console-change-to-none.json with that account and region and unique ids; the result is the count of
  each decision.

The AWS and XRAY_GUARD_* variables come from the environment, as in Lambda. Imports nothing of the benchmarks
(nor the emulator), so the figure is xray-guard's alone.

Peak RSS is VmHWM from /proc/self/status, the high-water mark of this process's own address space. Not
`getrusage(RUSAGE_SELF).ru_maxrss`: Linux keeps it across execve, so a child of the ~130 MiB benchmark process
would report its parent's size (the two agree in a process started from a shell).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

EVENT = Path(__file__).resolve().parent.parent / "tests" / "events" / "console-change-to-none.json"
HOME = "123456789012"


class LambdaContext:
    """What Lambda passes as `context` (only what xray-guard reads)."""

    def __init__(self, handler: str) -> None:
        self.function_name = f"xray-guard-prod-{handler}"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:{HOME}:function:{self.function_name}"


def invoke(mode: str, args: list[str]) -> Any:
    if mode == "boto3":
        import boto3  # noqa: F401, PLC0415 (the import is what is measured)

        return None
    import app  # noqa: PLC0415 (a fresh process imports the app as Lambda does)

    if mode == "event":
        return app.on_xray_encryption_change(json.loads(EVENT.read_text()), LambdaContext("on_xray_encryption_change"))
    if mode == "sweep":
        sweep_id, account = args
        record = {
            "messageId": "bench-1",
            "receiptHandle": "bench",
            "body": json.dumps({"sweep_id": sweep_id, "account": account}),
            "attributes": {},
            "eventSource": "aws:sqs",
        }
        return app.sweep_account({"Records": [record]}, LambdaContext("sweep_account"))
    if mode == "events":
        regions, *accounts = args
        context = LambdaContext("on_xray_encryption_change")
        decisions: dict[str, int] = {}
        for n, (account, region) in enumerate((a, r) for a in accounts for r in regions.split(",")):
            event = json.loads(EVENT.read_text())
            event["id"], event["detail"]["eventID"] = f"eb-{n}", f"ct-{n}"
            event["account"] = event["detail"]["recipientAccountId"] = account
            event["region"] = event["detail"]["awsRegion"] = region
            decision = app.on_xray_encryption_change(event, context)["decision"]
            decisions[decision] = decisions.get(decision, 0) + 1
        return decisions
    raise SystemExit(f"unknown mode {mode!r}: boto3, event, sweep or events")


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(argv: list[str]) -> int:
    result = invoke(argv[0], argv[1:])
    print(json.dumps({"peak_rss_mib": peak_rss_mib(), "result": result}, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
