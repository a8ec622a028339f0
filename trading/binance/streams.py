"""Market-data stream names and the combined-stream URL."""

from __future__ import annotations

from urllib.parse import quote


def depth_stream(symbol: str, speed_ms: int = 100) -> str:
    if speed_ms not in (100, 1000):
        raise ValueError("depth stream speed is 100 or 1000 ms")
    return f"{symbol.lower()}@depth@{speed_ms}ms" if speed_ms == 100 else f"{symbol.lower()}@depth"


def trade_stream(symbol: str) -> str:
    return f"{symbol.lower()}@trade"


def book_ticker_stream(symbol: str) -> str:
    return f"{symbol.lower()}@bookTicker"


def symbol_streams(symbol: str) -> list[str]:
    return [depth_stream(symbol), trade_stream(symbol), book_ticker_stream(symbol)]


def combined_url(base: str, streams: list[str]) -> str:
    """`<base>/stream?streams=a/b/c` (base like ws://127.0.0.1:9443)."""
    if not streams:
        raise ValueError("at least one stream")
    return f"{base.rstrip('/')}/stream?streams=" + "/".join(quote(s, safe="@") for s in streams)
