"""The venue's own order book of one instrument, kept in sync from the replayed stream.

It follows Binance's "How to manage a local order book correctly" exactly as a client must:
  spot:    drop u <= lastUpdateId; the first applied diff has U <= lastUpdateId+1 <= u; then U == u+1
  futures: drop u <  lastUpdateId; the first applied diff has U <= lastUpdateId <= u; then pu == u
A snapshot line initialises it (diffs seen before it are buffered and replayed after it); a
sequence break invalidates it until the next snapshot. Every level change goes to the hot path's
SimulatedVenue (set_level), whose fill rules then act on the accounts' resting orders; a snapshot
is applied as the level changes between the current book and the snapshot, so resting orders see
a market that moved, not one that vanished and came back.

The hot path's wrapper cannot list its levels, so the same levels are mirrored here in two dicts:
they answer the `depth` request and compute snapshot differences.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

from hotpath.matching import SimulatedVenue
from hotpath.types import BUY, SELL
from trading.marketdata.reject import Reject
from trading.marketdata.values import ExactValues
from trading.simvenue.clock import VenueClock
from trading.simvenue.instruments import VenueInstrument

NO_SNAPSHOT = "no_snapshot"
SYNCING = "syncing"
SYNCED = "synced"
MAX_PENDING = 10_000  # diffs buffered while waiting for a snapshot
INT64_MAX = 2**63 - 1


@dataclass
class BookCounts:
    diffs_applied: int = 0
    diffs_stale: int = 0
    diffs_buffered_dropped: int = 0
    snapshots: int = 0
    snapshots_ignored: int = 0
    gaps: int = 0
    trades: int = 0
    rejected: int = 0  # messages with a bad value, skipped whole


@dataclass(slots=True)
class _Diff:
    first: int  # U
    final: int  # u
    previous: int  # pu (futures), else 0
    levels: list[tuple[int, int, int]]  # (side, price ticks, qty lots)


class VenueBook:
    def __init__(self, instrument: VenueInstrument, venue: SimulatedVenue, clock: VenueClock):
        self.instrument = instrument
        self.index = instrument.index
        self.futures = instrument.market in ("usdm", "coinm")
        self.values = ExactValues(instrument.spec)
        self.venue = venue
        self.clock = clock
        self.levels: tuple[dict[int, int], dict[int, int]] = ({}, {})  # [BUY] bids, [SELL] asks
        self.last_update_id = 0
        self.state = NO_SNAPSHOT
        self.snapshot_id = 0
        self.pending: deque[_Diff] = deque()
        self.counts = BookCounts()

    # -- messages --

    def on_snapshot(self, message: dict, *, restart: bool = False) -> None:
        """A REST depth snapshot. `restart` (the replay's loop point) discards buffered diffs."""
        try:
            last_id = message.get("lastUpdateId")
            if type(last_id) is not int or not 0 < last_id <= INT64_MAX:
                raise Reject("snapshot_bad_sequence")
            bid_levels = self._parse_levels(message.get("bids"), BUY, snapshot=True)
            ask_levels = self._parse_levels(message.get("asks"), SELL, snapshot=True)
        except Reject:
            self.counts.rejected += 1
            return
        if restart:
            self.pending.clear()
        elif self.state == SYNCED and last_id <= self.last_update_id:
            self.counts.snapshots_ignored += 1  # older than what the book holds: applying it would rewind
            return
        bids = {price: qty for _, price, qty in bid_levels}
        asks = {price: qty for _, price, qty in ask_levels}
        self._replace(BUY, bids)
        self._replace(SELL, asks)
        self.counts.snapshots += 1
        self.state = SYNCING
        self.snapshot_id = last_id
        self.last_update_id = last_id
        pending, self.pending = self.pending, deque()
        for diff in pending:
            self._on_diff(diff)

    def on_diff(self, data: dict) -> None:
        """A diff-depth stream payload (`depthUpdate`)."""
        try:
            diff = self._parse_diff(data)
        except Reject:
            self.counts.rejected += 1
            return
        self._on_diff(diff)

    def on_trade(self, data: dict) -> None:
        """A public trade: the venue's resting orders at or through its price may fill."""
        if self.futures and data.get("X", "MARKET") != "MARKET":
            return  # insurance-fund and ADL prints are not market trades
        try:
            price = self.values.price(data.get("p"), "trade_")
            qty = self.values.qty(data.get("q"), "trade_")
            buyer_is_maker = data.get("m")
            if not price or not qty or type(buyer_is_maker) is not bool:
                raise Reject("trade_malformed")
        except Reject:
            self.counts.rejected += 1
            return
        self.counts.trades += 1
        self.venue.trade(self.index, SELL if buyer_is_maker else BUY, price, qty, self.clock.now_ns())

    # -- queries --

    def depth(self, limit: int) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """(lastUpdateId, best `limit` bids high to low, best `limit` asks low to high)."""
        bids = heapq.nlargest(limit, self.levels[BUY].items())
        asks = heapq.nsmallest(limit, self.levels[SELL].items())
        return self.last_update_id, bids, asks

    # -- internals --

    def _on_diff(self, diff: _Diff) -> None:
        counts = self.counts
        if self.state == NO_SNAPSHOT:
            self.pending.append(diff)
            if len(self.pending) > MAX_PENDING:
                self.pending.popleft()
                counts.diffs_buffered_dropped += 1
            return
        last = self.last_update_id
        if self.state == SYNCING:
            if (diff.final < last) if self.futures else (diff.final <= last):
                counts.diffs_stale += 1
                return
            bridged = (diff.first <= last <= diff.final) if self.futures else (diff.first <= last + 1)
            if not bridged:
                self._gap(diff)
                return
        else:
            if diff.final <= last:
                counts.diffs_stale += 1
                return
            chained = (diff.previous == last) if self.futures else (diff.first == last + 1)
            if not chained:
                self._gap(diff)
                return
        for side, price, qty in diff.levels:
            self._set(side, price, qty)
        self.last_update_id = diff.final
        self.state = SYNCED
        counts.diffs_applied += 1

    def _gap(self, diff: _Diff) -> None:
        self.counts.gaps += 1
        self.state = NO_SNAPSHOT
        self.pending.clear()
        self.pending.append(diff)  # it may bridge the next snapshot

    def _replace(self, side: int, new_levels: dict[int, int]) -> None:
        current = self.levels[side]
        for price in [p for p in current if p not in new_levels]:
            self._set(side, price, 0)
        for price, qty in new_levels.items():
            if current.get(price) != qty:
                self._set(side, price, qty)

    def _set(self, side: int, price: int, qty: int) -> None:
        if self.venue.set_level(self.index, side, price, qty, self.clock.now_ns()) == -2:
            raise MemoryError("the hot-path book could not grow")
        if qty:
            self.levels[side][price] = qty
        else:
            self.levels[side].pop(price, None)

    def _parse_diff(self, data: dict) -> _Diff:
        first, final = data.get("U"), data.get("u")
        previous = data.get("pu", 0) if self.futures else 0
        if (
            type(first) is not int
            or type(final) is not int
            or type(previous) is not int
            or not 0 < first <= final <= INT64_MAX
            or previous < 0
        ):
            raise Reject("depth_bad_sequence")
        levels = self._parse_levels(data.get("b"), BUY, snapshot=False)
        levels += self._parse_levels(data.get("a"), SELL, snapshot=False)
        return _Diff(first, final, previous, levels)

    def _parse_levels(self, levels: object, side: int, snapshot: bool) -> list[tuple[int, int, int]]:
        if type(levels) is not list:
            raise Reject("levels_malformed")
        price_of, qty_of = self.values.price, self.values.qty
        out = []
        for level in levels:
            if type(level) is not list or len(level) < 2:
                raise Reject("levels_malformed")
            price = price_of(level[0])
            qty = qty_of(level[1])
            if not price or (snapshot and not qty):
                raise Reject("levels_zero")
            out.append((side, price, qty))
        return out
