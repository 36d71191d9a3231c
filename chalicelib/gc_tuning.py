"""Garbage-collector settings for work that builds and drops thousands of botocore clients: the audit's accounts.

A botocore client is thousands of objects in reference cycles (its event hooks, endpoint and configuration refer
back to one another), so dropping an account's clients leaves garbage that only the cyclic collector frees. With
CPython's default thresholds (700, 10, 10) an audit of 11 accounts × 17 regions ran ~2,400 collections, each
young one also walking the objects of every client still in use: bench/audit.py measured a third of the audit's
CPU in the collector. Instead, the young generation is collected every 50,000 net allocations (a few dozen
collections per audit), and the caller runs one full collection after each account, once that account's clients
are released: memory then stays that of the accounts in flight (bench/audit.py: peak RSS at two organization sizes,
the per-account slope), not the garbage of however many accounts the thresholds would let pile up.

Not used in Lambda: a sweep_account invocation checks one account, and its peak RSS target (128 MiB) has less
room than the CPU the collector costs it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 50_000


@contextmanager
def fewer_collections() -> Iterator[Callable[[], None]]:
    """Inside the block, the young generation is collected every YOUNG_THRESHOLD allocations, and the function it
    gives runs a full collection (call it after each account). The thresholds are restored after the block: they
    are the process's, and the audit also runs inside other programs (the tests, the benchmarks)."""
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, *before[1:])
    try:
        yield _collect
    finally:
        gc.set_threshold(*before)


def _collect() -> None:
    gc.collect()
