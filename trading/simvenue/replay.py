"""Replaying captures: publish each recorded stream message and keep the venue's books in sync.

Every line goes, in one synchronous step, to the subscribers of its stream (in the recorded
combined-stream shape: the recorded bytes themselves on the first pass), to the venue's book
(depth diffs, snapshots, trades: the hot path may fill resting orders) and then to the exchange,
whose execution reports are handed on. A `depth` request therefore always sees the book after
exactly the messages already published.

Pacing follows the capture's receive timestamps: at speed N the gap between two lines takes 1/N
of the recorded gap. At maximum speed lines go out as fast as subscribers take them: the replay
waits while a subscriber's queue is congested and the hub drops one that stays congested.
Several symbols are merged by receive time. With looping, each pass restarts the files with the
shift of trading.simvenue.shift and re-initialises the venue's book from the recording's
snapshot at the loop point.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import orjson

from trading.simvenue.capture import SNAPSHOT, CaptureCounts, CaptureLine, read_capture
from trading.simvenue.hub import StreamHub
from trading.simvenue.shift import LoopShift, RecordingBounds
from trading.simvenue.venue_book import VenueBook

log = logging.getLogger(__name__)

YIELD_EVERY = 256  # lines between two turns given to the rest of the event loop
MIN_SLEEP_S = 0.0005


@dataclass
class SymbolReplayStats:
    messages: int = 0  # stream messages published (snapshots are not published)
    snapshots: int = 0
    loops: int = 0  # completed passes
    finished: bool = False


class SymbolReplay:
    """One symbol's capture, line by line (no pacing here: Replay decides when)."""

    def __init__(
        self,
        book: VenueBook,
        hub: StreamHub,
        after_line: Callable[[], None],
        *,
        loop: bool,
    ):
        self.book = book
        self.instrument = book.instrument
        self.hub = hub
        self.after_line = after_line
        self.loop = loop
        self.stats = SymbolReplayStats()
        self.counts = CaptureCounts()
        self.bounds = RecordingBounds()
        self.time_base_ms = 0
        self.loop_index = 0
        self.shift = LoopShift(0, 0, 0, 0)
        self.first_snapshot: dict | None = None
        self._lines = self._open()
        self._next: CaptureLine | None = None

    def _open(self):
        return read_capture(self.instrument.files, self.instrument.symbol, self.counts)

    def set_time_base(self, time_base_ms: int) -> None:
        self.time_base_ms = time_base_ms
        self.shift = self.bounds.shift(self.loop_index, time_base_ms)

    def peek_ts(self) -> int | None:
        """Receive time (shifted to the current pass) of the next line; None when finished."""
        if self._next is None and not self._advance():
            return None
        return self._next.ts_local + self.shift.local_ns

    def _advance(self) -> bool:
        while not self.stats.finished:
            line = next(self._lines, None)
            if line is not None:
                self._next = line
                return True
            self._end_of_pass()
        return False

    def _end_of_pass(self) -> None:
        self.stats.loops += 1
        if self.loop_index == 0 and self.bounds.first_ts is None:
            log.error("%s: the capture has no usable lines; nothing to replay", self.instrument.symbol)
            self.stats.finished = True
            return
        if not self.loop:
            self.stats.finished = True
            return
        if self.first_snapshot is None:
            log.warning(
                "%s: no depth snapshot in the recording: the book cannot restart at the loop point",
                self.instrument.symbol,
            )
        self.loop_index += 1
        self.shift = self.bounds.shift(self.loop_index, self.time_base_ms)
        self._lines = self._open()
        if self.first_snapshot is not None:
            self.book.on_snapshot(self.shift.payload(self.first_snapshot, ""), restart=True)
            self.after_line()

    def step(self) -> bool:
        """Replay the next line. True if a subscriber is now congested (the caller may wait)."""
        if self._next is None and not self._advance():
            return False
        line, self._next = self._next, None
        if self.loop_index == 0:
            self.bounds.observe(line)
        shift = self.shift
        congested = False
        if line.kind == SNAPSHOT:
            if self.first_snapshot is None:
                self.first_snapshot = line.message
            self.stats.snapshots += 1
            self.book.on_snapshot(line.message if shift.is_zero else shift.payload(line.message, ""))
        else:
            channel = line.channel
            if shift.is_zero:
                frame, data = line.raw, line.message["data"]
            else:
                data = shift.payload(line.message["data"], channel)
                frame = orjson.dumps({"stream": line.message["stream"], "data": data})
            congested = self.hub.publish(line.message["stream"], frame)
            self.stats.messages += 1
            if channel.startswith("depth"):
                self.book.on_diff(data)
            elif channel == "trade":
                self.book.on_trade(data)
        self.after_line()
        return congested

    def summary(self) -> dict:
        return {
            **asdict(self.stats),
            "lines": asdict(self.counts),
            "book": {
                **asdict(self.book.counts),
                "state": self.book.state,
                "last_update_id": self.book.last_update_id,
            },
        }


class Replay:
    """All symbols, merged by receive time, paced by `speed` (math.inf = as fast as possible)."""

    def __init__(self, symbols: list[SymbolReplay], hub: StreamHub, speed: float):
        self.symbols = symbols
        self.hub = hub
        self.speed = speed
        self.done = asyncio.Event()

    def set_time_base(self, time_base_ms: int) -> None:
        for symbol in self.symbols:
            symbol.set_time_base(time_base_ms)

    def first_ts(self) -> int | None:
        stamps = [ts for ts in (s.peek_ts() for s in self.symbols) if ts is not None]
        return min(stamps) if stamps else None

    def _earliest(self) -> tuple[SymbolReplay | None, int]:
        best, best_ts = None, 0
        for symbol in self.symbols:
            ts = symbol.peek_ts()
            if ts is not None and (best is None or ts < best_ts):
                best, best_ts = symbol, ts
        return best, best_ts

    def advance(self, count: int = 1) -> int:
        """Replay up to `count` lines now, ignoring pacing (tests, tools). Returns lines replayed."""
        done = 0
        while done < count:
            symbol, _ = self._earliest()
            if symbol is None:
                break
            symbol.step()
            done += 1
        return done

    def advance_until(self, condition: Callable[[], bool], limit: int) -> int:
        """Replay lines until `condition()` holds (checked after each line) or `limit` lines."""
        done = 0
        while done < limit and not condition():
            if not self.advance(1):
                break
            done += 1
        return done

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        paced = self.speed != float("inf")
        start_ts = self.first_ts()
        start_wall = loop.time()
        lines = 0
        try:
            while True:
                symbol, ts = self._earliest()
                if symbol is None:
                    break
                if paced:
                    delay = start_wall + (ts - start_ts) / self.speed / 1e9 - loop.time()
                    if delay > MIN_SLEEP_S:
                        await asyncio.sleep(delay)
                        lines = 0
                congested = symbol.step()
                lines += 1
                if congested and not paced:
                    await self.hub.wait_for_room()
                if lines >= YIELD_EVERY:
                    lines = 0
                    await asyncio.sleep(0)
        finally:
            self.done.set()
        log.info("replay finished: %s", self.summary())

    def summary(self) -> dict:
        return {s.instrument.symbol: s.summary() for s in self.symbols}
