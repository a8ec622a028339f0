"""The node's Binance market-data feed: combined streams in, MarketEvent arrays out.

One websocket carries `<sym>@depth@100ms`, `<sym>@trade` and `<sym>@bookTicker` of every
instrument; a second one, to the WebSocket API, fetches depth snapshots (`depth`). Each frame is
decoded where it arrives (orjson, then the compiled decoder) and handed to `on_events` at once:
no queue between the socket and the engine. The array passed to `on_events` is a view of a
reused buffer, valid only during the call (copy it to keep it).

Fail closed. A frame that cannot be decoded exactly is counted by reason (`stats.bad`) and never
emitted. A depth message of an instrument that cannot be applied exactly, a sequence gap, a
stale feed or a disconnect emit EV_BOOK_INVALID for the instruments concerned (the engine stops
quoting them) and the book is rebuilt from a new snapshot (EV_DEPTH_CLEAR, EV_DEPTH_SNAPSHOT...,
F_LAST) followed by the buffered diffs that continue it (depth_sync.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from hotpath.types import EV_BOOK_INVALID, F_LAST, MARKET_EVENT_DTYPE
from trading.binance.streams import book_ticker_stream, combined_url, depth_stream, trade_stream
from trading.engine.feeds.binance_decode import EventWriter, InstrumentCodec
from trading.engine.feeds.depth_sync import INVALID, LIVE, SYNCING, BookSync, DiffAction, SnapshotOutcome
from trading.engine.feeds.stats import FeedStats
from trading.engine.venue_types import WS_OPTIONS, Backoff, FeedInstrument, check_instruments, close_normally
from trading.marketdata.reject import Reject

MARKETS = ("spot", "usdm", "coinm")
# Largest stream frame decoded. Real depth diffs stay far below (p99 ~13 kB on BTCUSDT); a bigger
# frame is refused unread, and if it was a diff the next diff shows the gap.
MAX_STREAM_FRAME_CHARS = 256 * 1024
SNAPSHOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)
_CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, WebSocketException)

DEPTH, TRADE, BBO = "depth", "trade", "bbo"

EventsCallback = Callable[[np.ndarray], None]
StaleCallback = Callable[[int, bool], None]


class _Instrument:
    """Runtime state of one instrument of the feed."""

    __slots__ = (
        "index",
        "symbol",
        "codec",
        "sync",
        "last_data_ns",
        "stale",
        "request_id",
        "retry_due",
        "retry",
    )

    def __init__(self, item: FeedInstrument, futures: bool, backoff_initial_s: float, backoff_max_s: float):
        self.index = item.index
        self.symbol = item.symbol
        self.codec = InstrumentCodec(item.index, item.spec, futures)
        self.sync = BookSync(futures)
        self.last_data_ns = 0
        self.stale = False
        self.request_id: int | None = None  # snapshot request in flight
        self.retry_due = 0.0  # no snapshot request before this loop time (monotonic s)
        self.retry = Backoff(backoff_initial_s, backoff_max_s, seed=item.index)


class BinanceMarketData:
    """Market data of `instruments` from a Binance-protocol venue.

    stream_base_url: e.g. ws://127.0.0.1:9443 (the combined-stream path is appended);
    api_url: the WebSocket API endpoint that serves `depth` snapshots.
    on_events(array): every decoded message, synchronously. on_stale(index, stale): an
    instrument went without data for stale_after_s (True) or has data again (False).
    """

    def __init__(
        self,
        stream_base_url: str,
        api_url: str,
        instruments: list[FeedInstrument],
        *,
        on_events: EventsCallback,
        market: str = "spot",
        stale_after_s: float = 5.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        snapshot_limit: int = 1000,
        clock: Callable[[], int] = time.time_ns,
        on_stale: StaleCallback | None = None,
        on_latency: Callable[[str, int], None] | None = None,
        snapshot_timeout_s: float = 10.0,
        seed: int = 0,
    ):
        if market not in MARKETS:
            raise ValueError(f"market must be one of {MARKETS}, got {market!r}")
        if snapshot_limit not in SNAPSHOT_LIMITS:
            raise ValueError(f"snapshot_limit must be one of {SNAPSHOT_LIMITS}")
        if not stale_after_s > 0 or not snapshot_timeout_s > 0:
            raise ValueError("stale_after_s and snapshot_timeout_s must be positive")
        self.market = market
        self.futures = market != "spot"
        self.instruments = check_instruments(instruments, market)
        self.api_url = api_url
        self.stream_url = combined_url(
            stream_base_url,
            [
                s
                for i in self.instruments
                for s in (depth_stream(i.symbol), trade_stream(i.symbol), book_ticker_stream(i.symbol))
            ],
        )
        self.snapshot_limit = snapshot_limit
        self.stale_after_ns = int(stale_after_s * 1e9)
        self.snapshot_timeout_s = snapshot_timeout_s
        self.stats = FeedStats()
        self._on_events = on_events
        self._on_stale = on_stale
        self._on_latency = on_latency  # ("feed_recv_to_decode" | "decode_to_engine", ns)
        self._clock = clock
        self._slots = [
            _Instrument(i, self.futures, backoff_initial_s, backoff_max_s) for i in self.instruments
        ]
        self._routes: dict[str, tuple[_Instrument, str]] = {}
        for slot in self._slots:
            self._routes[depth_stream(slot.symbol)] = (slot, DEPTH)
            self._routes[trade_stream(slot.symbol)] = (slot, TRADE)
            self._routes[book_ticker_stream(slot.symbol)] = (slot, BBO)
        self._writer = EventWriter()
        self._stream_backoff = Backoff(backoff_initial_s, backoff_max_s, seed=seed)
        self._api_backoff = Backoff(backoff_initial_s, backoff_max_s, seed=seed + 1)
        self._api_ws = None
        self._stream_ws = None
        self._requests: dict[int, _Instrument] = {}
        self._next_request_id = 1
        self._requested_at: dict[int, float] = {}  # request id -> loop time sent
        self._send_tasks: set[asyncio.Task] = set()
        self._stopped: asyncio.Event | None = None
        self._stream_connections = 0
        self.connected = False
        for slot in self._slots:
            self.stats.states[slot.index] = slot.sync.state

    # ------------------------------------------------------------------ public

    @property
    def stale(self) -> bool:
        """True while any instrument is without data for stale_after_s."""
        return any(slot.stale for slot in self._slots)

    @property
    def stale_instruments(self) -> frozenset[int]:
        return frozenset(slot.index for slot in self._slots if slot.stale)

    def state(self, index: int) -> str:
        """syncing / live / invalid for one instrument index."""
        return self.stats.states[index]

    async def run(self) -> None:
        """Connect, sync and stream until stop(); reconnects on its own."""
        self._stopped = asyncio.Event()
        now = self._clock()
        for slot in self._slots:
            slot.last_data_ns = now
        tasks = [
            asyncio.create_task(self._stream_loop(), name="feed-stream"),
            asyncio.create_task(self._api_loop(), name="feed-api"),
            asyncio.create_task(self._guard_loop(), name="feed-guard"),
        ]
        stop_waiter = asyncio.create_task(self._stopped.wait())
        try:
            done, _ = await asyncio.wait([stop_waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop_waiter and task.exception() is not None:
                    raise task.exception()
        finally:
            await close_normally([self._stream_ws, self._api_ws])
            for task in (stop_waiter, *tasks, *self._send_tasks):
                task.cancel()
            await asyncio.gather(stop_waiter, *tasks, *self._send_tasks, return_exceptions=True)
            self.connected = False

    def stop(self) -> None:
        if self._stopped is not None:
            self._stopped.set()

    # ------------------------------------------------------------------ market-data stream

    async def _stream_loop(self) -> None:
        while True:
            try:
                async with connect(self.stream_url, **WS_OPTIONS) as ws:
                    self._stream_ws = ws
                    self._stream_connections += 1
                    if self._stream_connections > 1:
                        self.stats.reconnects += 1
                    self.connected = True
                    healthy = False
                    on_frame = self._on_frame
                    async for frame in ws:
                        on_frame(frame)
                        if not healthy:
                            healthy = True
                            self._stream_backoff.reset()
            except _CONNECTION_ERRORS:
                pass
            self._stream_ws = None
            stopping = self._stopped is not None and self._stopped.is_set()
            if self.connected:
                self.connected = False
                if not stopping:
                    self.stats.disconnects += 1
            # the books are no longer maintained, even on stop(); a stop is not counted as a loss
            self._lose_all_books(counted=not stopping)
            await asyncio.sleep(self._stream_backoff.next_delay())

    def _on_frame(self, frame: str | bytes) -> None:
        """One stream frame: decode, sync, emit. The latency path of the node."""
        ts_local = self._clock()
        stats = self.stats
        stats.messages += 1
        stats.bytes += len(frame)
        if type(frame) is not str:
            stats.bad["binary_frame"] += 1
            return
        if len(frame) > MAX_STREAM_FRAME_CHARS:
            stats.bad["frame_too_large"] += 1
            return
        writer = self._writer
        # the depth fast path: a diff in Binance's own form is read from its text (no orjson
        # objects); whatever it declines is decoded (or refused) by the general path below
        route = self._routes.get(writer.stream_of(frame))
        if route is not None and route[1] is DEPTH:
            slot = route[0]
            writer.reset()
            if writer.depth_frame(slot.codec, ts_local) >= 0:
                # fresh only once the frame proved whole: a truncated one must not hold off the
                # stale guard (the general path below decides what a declined frame counts as)
                stats.depth_fast += 1
                slot.last_data_ns = ts_local
                if slot.stale:
                    self._fresh_again(slot)
                self._on_diff(slot, ts_local, self._clock() if self._on_latency is not None else 0)
                return
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            stats.bad["bad_json"] += 1
            return
        if type(message) is not dict:
            stats.bad["not_an_object"] += 1
            return
        stream = message.get("stream")
        route = self._routes.get(stream) if type(stream) is str else None
        if route is None:
            if "id" in message and "stream" not in message:
                stats.skipped["request_response"] += 1  # e.g. a SUBSCRIBE acknowledgement
            else:
                stats.bad["unknown_stream"] += 1
            return
        slot, channel = route
        slot.last_data_ns = ts_local
        if slot.stale:
            self._fresh_again(slot)
        data = message.get("data")
        writer.reset()
        try:
            if channel is DEPTH:
                writer.depth(slot.codec, data, ts_local)
            elif channel is TRADE:
                if not writer.trade(slot.codec, data, ts_local):
                    stats.skipped["trade_non_market"] += 1
                    return
                stats.trades += 1
            else:
                writer.bbo(slot.codec, data, ts_local)
                stats.bbo += 1
        except Reject as exc:
            stats.bad[exc.args[0]] += 1
            if channel is DEPTH:
                # a diff we cannot apply is a hole in the chain: the book is lost now, not at the next diff
                self._lose_book(slot, ts_local, 0)
            return
        decoded = self._clock() if self._on_latency is not None else 0
        if channel is DEPTH:
            self._on_diff(slot, ts_local, decoded)
        else:
            self._hand_over(ts_local, decoded)

    def _hand_over(self, ts_local: int, decoded: int) -> None:
        """The decoded frame's events to the engine (with the two feed latency stages)."""
        if decoded:
            on_latency = self._on_latency
            on_latency("feed_recv_to_decode", decoded - ts_local)
            on_latency("decode_to_engine", self._clock() - decoded)
        self._on_events(self._writer.view())

    def _on_diff(self, slot: _Instrument, ts_local: int, decoded: int = 0) -> None:
        writer = self._writer
        sync = slot.sync
        action = sync.on_diff(writer.first_id, writer.final_id, writer.prev_id)
        if action is DiffAction.APPLY:
            self.stats.depth_applied += 1
            if len(writer):
                self._hand_over(ts_local, decoded)
        elif action is DiffAction.STALE:
            self.stats.depth_stale += 1
        else:
            if action is DiffAction.GAP:
                self.stats.gaps += 1
                self.stats.resyncs += 1
                self._emit_invalid([slot], ts_local, writer.final_id)
            sync.buffer(writer.first_id, writer.final_id, writer.prev_id, writer.view().copy())
            self.stats.depth_buffered += 1
            self._set_state(slot)
            self._request_snapshot(slot)

    # ------------------------------------------------------------------ book losses and staleness

    def _lose_book(self, slot: _Instrument, ts_local: int, venue_seq: int) -> None:
        """The instrument's book can no longer be trusted: EV_BOOK_INVALID and a new snapshot."""
        if slot.sync.state == LIVE:
            self.stats.resyncs += 1
        slot.sync.lose(SYNCING)
        # a snapshot already in flight stays wanted: whether it fits is decided against the diffs
        # buffered from now on, not by when it was asked for (and hostile frames cannot make us
        # flood the venue with requests)
        self._emit_invalid([slot], ts_local, venue_seq)
        self._set_state(slot)
        self._request_snapshot(slot)

    def _lose_all_books(self, counted: bool = True) -> None:
        """The stream is gone: every book that was not already lost becomes invalid."""
        lost = [slot for slot in self._slots if slot.sync.state != INVALID]
        for slot in self._slots:
            if slot.sync.state == LIVE and counted:
                self.stats.resyncs += 1
            slot.sync.lose(INVALID)
            self._set_state(slot)
        if lost:
            self._emit_invalid(lost, self._clock(), 0)

    def _check_stale(self, now: int) -> None:
        for slot in self._slots:
            if not slot.stale and now - slot.last_data_ns > self.stale_after_ns:
                slot.stale = True
                self.stats.stale_events += 1
                if slot.sync.state == LIVE:
                    self.stats.resyncs += 1
                slot.sync.lose(INVALID)
                self._set_state(slot)
                self._emit_invalid([slot], now, 0)
                if self._on_stale is not None:
                    self._on_stale(slot.index, True)

    def _fresh_again(self, slot: _Instrument) -> None:
        slot.stale = False
        if self._on_stale is not None:
            self._on_stale(slot.index, False)

    def _emit_invalid(self, slots: list[_Instrument], ts: int, venue_seq: int) -> None:
        events = np.zeros(len(slots), dtype=MARKET_EVENT_DTYPE)
        events["ts_event"] = ts
        events["ts_local"] = ts
        events["venue_seq"] = venue_seq
        events["kind"] = EV_BOOK_INVALID
        events["flags"] = F_LAST
        events["instrument"] = [slot.index for slot in slots]
        self._on_events(events)

    def _set_state(self, slot: _Instrument) -> None:
        self.stats.states[slot.index] = slot.sync.state

    async def _guard_loop(self) -> None:
        """Stale-feed guard and snapshot timeouts / retries, a few times per stale period."""
        period = min(0.25, self.stale_after_ns / 4e9)
        while True:
            await asyncio.sleep(period)
            now = self._clock()
            self._check_stale(now)
            loop_now = asyncio.get_running_loop().time()
            for request_id, sent_at in list(self._requested_at.items()):
                slot = self._requests.get(request_id)
                if slot is not None and loop_now - sent_at > self.snapshot_timeout_s:
                    self.stats.bad["snapshot_timeout"] += 1
                    self._forget_request(request_id)
                    slot.request_id = None
            for slot in self._slots:
                self._request_snapshot(slot)

    # ------------------------------------------------------------------ snapshots (WebSocket API)

    def _request_snapshot(self, slot: _Instrument) -> None:
        """Ask for a snapshot if the instrument is syncing, none is in flight and no retry delay runs."""
        ws = self._api_ws
        if slot.sync.state != SYNCING or slot.request_id is not None or ws is None:
            return
        now = asyncio.get_running_loop().time()
        if now < slot.retry_due:
            return
        request_id = self._next_request_id
        self._next_request_id += 1
        slot.request_id = request_id
        self._requests[request_id] = slot
        self._requested_at[request_id] = now
        self.stats.snapshot_requests += 1
        request = {
            "id": request_id,
            "method": "depth",
            "params": {"symbol": slot.symbol, "limit": self.snapshot_limit},
        }
        task = asyncio.ensure_future(ws.send(orjson.dumps(request).decode()))
        self._send_tasks.add(task)
        task.add_done_callback(self._send_tasks.discard)

    def _forget_request(self, request_id: int) -> None:
        self._requests.pop(request_id, None)
        self._requested_at.pop(request_id, None)

    def _retry_snapshot_later(self, slot: _Instrument) -> None:
        slot.request_id = None
        slot.retry_due = asyncio.get_running_loop().time() + slot.retry.next_delay()

    async def _api_loop(self) -> None:
        while True:
            try:
                async with connect(self.api_url, **WS_OPTIONS) as ws:
                    self._api_ws = ws
                    for slot in self._slots:
                        self._request_snapshot(slot)
                    async for frame in ws:
                        self._on_api_frame(frame)
                        self._api_backoff.reset()
            except _CONNECTION_ERRORS:
                pass
            finally:
                self._api_ws = None
                for request_id in list(self._requests):  # lost with the connection: ask again later
                    slot = self._requests[request_id]
                    if slot.request_id == request_id:
                        slot.request_id = None
                    self._forget_request(request_id)
            await asyncio.sleep(self._api_backoff.next_delay())

    def _on_api_frame(self, frame: str | bytes) -> None:
        ts_local = self._clock()
        stats = self.stats
        if type(frame) is not str:
            stats.bad["api_binary_frame"] += 1
            return
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            stats.bad["api_bad_json"] += 1
            return
        request_id = message.get("id") if type(message) is dict else None
        slot = self._requests.get(request_id) if type(request_id) is int else None
        if slot is None:
            stats.bad["api_unknown_response"] += 1
            return
        self._forget_request(request_id)
        if slot.request_id != request_id or slot.sync.state != SYNCING:
            stats.skipped["snapshot_superseded"] += 1  # the book was lost again meanwhile
            if slot.request_id == request_id:
                slot.request_id = None
            return
        slot.request_id = None
        if message.get("status") != 200:
            error = message.get("error")
            code = error.get("code") if type(error) is dict else None
            stats.bad[f"snapshot_error_{code}" if type(code) is int else "snapshot_error"] += 1
            self._retry_snapshot_later(slot)
            return
        result = message.get("result")
        if type(result) is dict and result.get("lastUpdateId") == 0:
            # a venue that has no book yet (a replay before its first snapshot): not an error
            stats.skipped["snapshot_not_ready"] += 1
            self._retry_snapshot_later(slot)
            return
        writer = self._writer
        writer.reset()
        try:
            last_id = writer.snapshot(slot.codec, result, ts_local)
        except Reject as exc:
            stats.bad[exc.args[0]] += 1
            self._retry_snapshot_later(slot)
            return
        result = slot.sync.apply_snapshot(last_id)
        stats.depth_stale += result.stale
        if result.outcome is SnapshotOutcome.TOO_OLD:
            stats.snapshots_too_old += 1
            self._retry_snapshot_later(slot)
            return
        stats.snapshots += 1
        stats.depth_applied += len(result.replay)
        slot.retry.reset()
        slot.retry_due = 0.0
        parts = [writer.view()]
        for diff in result.replay:
            diff.payload["ts_local"] = ts_local  # applied now, as a live feed could have
            parts.append(diff.payload)
        if result.gap is not None:
            stats.gaps += 1
            stats.resyncs += 1
            invalid = np.zeros(1, dtype=MARKET_EVENT_DTYPE)
            invalid[0] = (
                ts_local,
                ts_local,
                0,
                0,
                result.gap.final,
                0,
                0,
                EV_BOOK_INVALID,
                F_LAST,
                slot.index,
                0,
            )
            parts.append(invalid)
        self._set_state(slot)
        self._on_events(np.concatenate(parts))
        if result.gap is not None:
            self._request_snapshot(slot)
