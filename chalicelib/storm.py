"""Storm control: a flapping account/region (someone flips X-Ray back again and again) keeps being reverted, but
its alerts collapse into a summary instead of paging once per flip.

Counts drift alerts per (account, region) per clock hour. The first `limit` alerts go out as they are; after that
one summary alert every `summary_every` drifts. Failures (revert-failed, key-unusable, error) are never suppressed.
The counter lives in the Lambda container: with several warm containers the bound holds per container.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class StormVerdict:
    send: bool
    count: int  # drifts seen for this account/region in this window, this one included
    summarized: bool  # the alert to send is a storm summary


class StormControl:
    def __init__(
        self,
        *,
        limit: int = 3,
        summary_every: int = 10,
        window_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limit = limit
        self._every = summary_every
        self._window = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], int] = {}

    def record(self, account: str, region: str) -> StormVerdict:
        window = int(self._clock() // self._window)
        with self._lock:
            # Forget earlier windows: the map never grows past one window's account/region pairs.
            self._counts = {k: v for k, v in self._counts.items() if k[2] == window}
            key = (account, region, window)
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        if count <= self._limit:
            return StormVerdict(send=True, count=count, summarized=False)
        over = count - self._limit - 1
        return StormVerdict(send=over % self._every == 0, count=count, summarized=True)
