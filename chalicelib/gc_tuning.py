"""Garbage-collector settings for the audit: thousands of AWS calls over a heap of loaded botocore models.

The audit's garbage is mostly short-lived (responses, findings, rows; the clients are built once and shared by the
member accounts, chalicelib.sessions), but with CPython's default thresholds (700, 10, 10) every 700 net allocations
start a young collection, up to every hundredth of them a full one, and a full collection walks every loaded botocore
model. With those thresholds bench/audit.py measured the collector at a third or more of the audit's CPU, when each
account still built its own clients (36 accounts: 20 of 55 s, 30 of 66 s); with the young generation collected every
50,000 net allocations and shared clients it costs a few per cent (BENCHMARKS.md, 7d), and the audit's peak memory
stays flat with the number of accounts (bench/audit.py: peak RSS after each account, and at two organization sizes).
On the shared clients, a scratch run of the same 36-account audit (50 ms per call, --parallel 2) measured the
collector at 0.8-1.2 s with the default thresholds and 0.1-0.2 s with this one.

Not used in Lambda: a sweep_account invocation checks one account, and its peak RSS target (128 MiB) has less
room than the CPU the collector costs it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Inside the block, the young generation is collected every YOUNG_THRESHOLD allocations. The thresholds are
    restored after the block: they are the process's, and the audit also runs inside other programs (the tests, the
    benchmarks)."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
