"""What the node's venue clients (market-data feed, order gateway) share: the instruments they
serve, the reconnect backoff and the websocket connection options.

An instrument's `index` is its slot in the engine (MarketEvent.instrument); the spec does every
decimal <-> integer conversion. Never imports Django.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterable
from dataclasses import dataclass

from hotpath.types import MAX_INSTRUMENTS
from trading.instruments import InstrumentSpec

# Websocket options of every venue connection. No permessage-deflate: inflating costs more
# latency than the bytes it saves on loopback or a colocated link. Frames up to 8 MiB are read
# (a 5000-level depth snapshot is ~300 kB); the feed refuses stream frames far smaller than that.
WS_MAX_FRAME_BYTES = 8 << 20
WS_OPTIONS = {
    "compression": None,
    "max_size": WS_MAX_FRAME_BYTES,
    "open_timeout": 10,
    "close_timeout": 2,
    "ping_interval": 20,
    "ping_timeout": 20,
}


@dataclass(frozen=True)
class FeedInstrument:
    """One instrument of the node: engine slot `index` and its exact spec."""

    index: int
    spec: InstrumentSpec

    def __post_init__(self) -> None:
        if type(self.index) is not int or not 0 <= self.index < MAX_INSTRUMENTS:
            raise ValueError(f"instrument index {self.index!r} must be an int in [0, {MAX_INSTRUMENTS})")
        if not isinstance(self.spec, InstrumentSpec):
            raise TypeError(f"spec must be an InstrumentSpec, got {type(self.spec).__name__}")

    @property
    def symbol(self) -> str:
        """The venue symbol, upper case as Binance writes it in payloads."""
        return self.spec.symbol.upper()


def check_instruments(
    instruments: Iterable[FeedInstrument], market: str | None = None
) -> list[FeedInstrument]:
    """The instruments as a list; ValueError on none, duplicate indexes or symbols, or (when
    `market` is given) a spec of another market."""
    result = list(instruments)
    if not result:
        raise ValueError("at least one instrument")
    for item in result:
        if not isinstance(item, FeedInstrument):
            raise TypeError(f"expected FeedInstrument, got {type(item).__name__}")
        if market is not None and item.spec.market != market:
            raise ValueError(
                f"{item.symbol} is a {item.spec.market!r} instrument, this client speaks {market!r}"
            )
    if len({i.index for i in result}) != len(result):
        raise ValueError("instrument indexes must be unique")
    if len({i.symbol for i in result}) != len(result):
        raise ValueError("instrument symbols must be unique")
    return result


class Backoff:
    """Exponential reconnect delays: initial * 2**attempt capped at maximum, times a jitter factor
    in [1 - jitter, 1] from a seeded RNG (reproducible runs, yet several nodes do not reconnect
    in lockstep). `reset()` after a connection proved healthy."""

    def __init__(self, initial_s: float, maximum_s: float, *, jitter: float = 0.2, seed: int = 0):
        if not 0 < initial_s <= maximum_s:
            raise ValueError("backoff needs 0 < initial <= maximum")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.jitter = jitter
        self.attempt = 0
        self._rng = random.Random(seed)

    def next_delay(self) -> float:
        base = min(self.maximum_s, self.initial_s * (2 ** min(self.attempt, 62)))
        self.attempt += 1
        return base * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        self.attempt = 0


async def close_normally(connections: Iterable, timeout_s: float = 1.0) -> None:
    """Close open websocket connections with code 1000 (a stop, not a failure), briefly waiting."""
    for connection in connections:
        if connection is None:
            continue
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), timeout_s)
