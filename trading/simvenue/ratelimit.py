"""Binance's rate limits as fixed windows aligned to the clock (a 10 s window resets at :00, :10,
...; a day window at 00:00 UTC), reported in the `rateLimits` shape of the WebSocket API."""

from __future__ import annotations

from trading.simvenue.config import RateLimitConfig

DAY_S = 86_400


def interval_of(seconds: int) -> tuple[str, int]:
    """("MINUTE", 1) for 60 s, ("SECOND", 10) for 10 s, ..."""
    for name, size in (("DAY", DAY_S), ("HOUR", 3600), ("MINUTE", 60)):
        if seconds % size == 0:
            return name, seconds // size
    return "SECOND", seconds


class FixedWindow:
    def __init__(self, kind: str, limit: int, seconds: int):
        self.kind = kind
        self.limit = limit
        self.window_ms = seconds * 1000
        self.interval, self.interval_num = interval_of(seconds)
        self._start = 0
        self._count = 0

    def count(self, now_ms: int) -> int:
        start = now_ms - now_ms % self.window_ms
        if start != self._start:
            self._start, self._count = start, 0
        return self._count

    def fits(self, amount: int, now_ms: int) -> bool:
        return self.count(now_ms) + amount <= self.limit

    def add(self, amount: int, now_ms: int) -> None:
        self.count(now_ms)
        self._count += amount

    def retry_after_ms(self, now_ms: int) -> int:
        return now_ms - now_ms % self.window_ms + self.window_ms

    def report(self, now_ms: int) -> dict:
        return {
            "rateLimitType": self.kind,
            "interval": self.interval,
            "intervalNum": self.interval_num,
            "limit": self.limit,
            "count": self.count(now_ms),
        }

    def describe(self) -> str:
        return f"{self.limit} {'request weight' if self.kind == 'REQUEST_WEIGHT' else 'orders'} per {self.interval_num} {self.interval}"


def order_windows(config: RateLimitConfig) -> tuple[FixedWindow, FixedWindow]:
    return (
        FixedWindow("ORDERS", config.orders_per_window, config.order_window_seconds),
        FixedWindow("ORDERS", config.orders_per_day, DAY_S),
    )


def weight_window(config: RateLimitConfig) -> FixedWindow:
    return FixedWindow("REQUEST_WEIGHT", config.weight_per_window, config.weight_window_seconds)


def exchange_info_limits(config: RateLimitConfig) -> list[dict]:
    out = []
    for window in (weight_window(config), *order_windows(config)):
        report = window.report(0)
        del report["count"]
        out.append(report)
    return out
