"""The call log: one entry per AWS request that reached localaws, for tests and benchmarks to count.

Entries are plain dicts, as served by ``GET /_localaws/calls``: ``service``, ``operation``, ``account``,
``region``, and ``fault`` ("throttled" or "failed") when localaws injected one.
"""

from __future__ import annotations

import threading

CallEntry = dict[str, str]


class CallLog:
    """Thread-safe, append-only until ``clear``."""

    def __init__(self) -> None:
        self._entries: list[CallEntry] = []
        self._lock = threading.Lock()

    def record(self, *, service: str, operation: str, account: str, region: str, fault: str | None = None) -> None:
        entry = {"service": service, "operation": operation, "account": account, "region": region}
        if fault is not None:
            entry["fault"] = fault
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[CallEntry]:
        """A copy, oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
