"""The venue's clock: wall time in ns that never goes backwards (timestamps, recvWindow checks and
the hot path's venue time all read it)."""

from __future__ import annotations

import time

NS_PER_MS = 1_000_000


class VenueClock:
    def __init__(self) -> None:
        self._last = 0

    def now_ns(self) -> int:
        now = time.time_ns()
        if now < self._last:
            now = self._last  # a wall-clock step back must not reorder the venue's events
        self._last = now
        return now

    def now_ms(self) -> int:
        return self.now_ns() // NS_PER_MS
