"""The Binance market-data feed against a scripted venue on loopback: depth sync (spot and futures
rules), gaps, disconnects, the stale guard. Every expected event is written out in full."""

from __future__ import annotations

import asyncio
import json
import time

import orjson
import pytest

from hotpath.types import (
    EV_BBO,
    EV_BOOK_INVALID,
    EV_DEPTH,
    EV_DEPTH_CLEAR,
    EV_DEPTH_SNAPSHOT,
    EV_TRADE,
    F_LAST,
    F_SELL,
)
from tests.trading.node_clients.scripted_venue import (
    Recorder,
    book_from,
    book_ticker_message,
    depth_message,
    running,
    snapshot_result,
    trade_message,
    until,
)
from trading.engine.feeds.binance import BinanceMarketData
from trading.engine.feeds.depth_sync import INVALID, LIVE

T0 = 1_723_161_300_000_000_000  # the injected receive clock
E_MS = 1_723_161_255_000
MS = 1_000_000
SELL_LAST = F_SELL | F_LAST


def fixed_clock():
    return T0


def make_feed(venue, instruments, recorder, **kwargs):
    kwargs.setdefault("clock", fixed_clock)
    return BinanceMarketData(venue.stream_base, venue.api_url, instruments, on_events=recorder, **kwargs)


def ev(kind, price=0, qty=0, seq=0, aux=0, flags=0, ts_event=E_MS * MS, ts_local=T0, instrument=0):
    """A record tuple in MARKET_EVENT_DTYPE field order."""
    return (ts_event, ts_local, price, qty, seq, aux, 0, kind, flags, instrument, 0)


async def sync_spot(venue, feed, recorder, symbol="BTCUSDT", last_id=100, instrument=0):
    """Bring one spot instrument live: one bridging diff, then the snapshot."""
    await venue.push(depth_message(symbol, last_id - 1, last_id + 1, bids=[("99.00", "1")]))
    request = await venue.next_request("depth")
    assert request.params == {"symbol": symbol, "limit": 1000}
    await venue.reply(request, snapshot_result(last_id, [("99.00", "2")], [("101.00", "3")]))
    await until(lambda: feed.state(instrument) == LIVE)


@pytest.mark.asyncio
async def test_spot_sync_buffers_diffs_drops_stale_ones_and_emits_snapshot_then_chain(venue, btc):
    recorder = Recorder()
    feed = make_feed(venue, [btc], recorder)
    async with running(feed):
        await venue.wait_streams(1)
        assert venue.stream_paths[0] == "/stream?streams=btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker"
        # before the snapshot: one diff it already contains, one that bridges it, one that follows
        await venue.push(depth_message("BTCUSDT", 91, 100, bids=[("99.00", "1")]))
        request = await venue.next_request("depth")  # asked for once the first diff is buffered
        assert request.params == {"symbol": "BTCUSDT", "limit": 1000}
        await venue.push(depth_message("BTCUSDT", 98, 104, bids=[("99.50", "2")], asks=[("101.00", "0")]))
        await venue.push(depth_message("BTCUSDT", 105, 107, asks=[("100.50", "3")]))
        await until(lambda: feed.stats.messages == 3)
        assert recorder.records() == [], "nothing reaches the engine before a snapshot"
        await venue.reply(
            request,
            snapshot_result(100, [("99.00", "1"), ("98.00", "4")], [("101.00", "5"), ("102.00", "6")]),
        )
        await until(lambda: len(recorder) > 0)
        snapshot_ts = dict(ts_event=T0)  # spot snapshots carry no venue time
        assert recorder.records() == [
            ev(EV_DEPTH_CLEAR, seq=100, **snapshot_ts),
            ev(EV_DEPTH_SNAPSHOT, 9900, 1_000_000, 100, **snapshot_ts),
            ev(EV_DEPTH_SNAPSHOT, 9800, 4_000_000, 100, **snapshot_ts),
            ev(EV_DEPTH_SNAPSHOT, 10100, 5_000_000, 100, flags=F_SELL, **snapshot_ts),
            ev(EV_DEPTH_SNAPSHOT, 10200, 6_000_000, 100, flags=SELL_LAST, **snapshot_ts),
            ev(EV_DEPTH, 9950, 2_000_000, 104, 98),
            ev(EV_DEPTH, 10100, 0, 104, 98, flags=SELL_LAST),
            ev(EV_DEPTH, 10050, 3_000_000, 107, 105, flags=SELL_LAST),
        ]
        assert len(recorder.batches) == 1, "snapshot and replayed diffs are one engine input"
        recorder.clear()
        # live: a repeat of held updates is dropped, the next diff applies
        await venue.push(depth_message("BTCUSDT", 100, 106, bids=[("1.00", "1")]))
        await venue.push(depth_message("BTCUSDT", 108, 108, bids=[("99.00", "0")], event_ms=E_MS + 100))
        await until(lambda: len(recorder) > 0)
        assert recorder.records() == [
            ev(EV_DEPTH, 9900, 0, 108, 108, flags=F_LAST, ts_event=(E_MS + 100) * MS)
        ]
        # trades and best bid/offer flow straight through
        recorder.clear()
        await venue.push(
            trade_message("BTCUSDT", 7001, "100.01", "0.25", buyer_maker=True, trade_ms=E_MS + 5)
        )
        await venue.push(book_ticker_message("BTCUSDT", 109, "99.50", "2", "100.50", "3"))
        await until(lambda: len(recorder) == 3)
        assert recorder.records() == [
            ev(EV_TRADE, 10001, 250_000, 7001, flags=SELL_LAST, ts_event=(E_MS + 5) * MS),
            ev(EV_BBO, 9950, 2_000_000, 109, ts_event=T0),
            ev(EV_BBO, 10050, 3_000_000, 109, flags=SELL_LAST, ts_event=T0),
        ]
        assert feed.stats.states == {0: LIVE}
        recorder.clear()
    stats = feed.stats
    assert (stats.snapshots, stats.depth_applied, stats.depth_stale, stats.gaps) == (1, 3, 2, 0)
    # stop() leaves the book unmaintained, and says so; it is not counted as a loss
    assert stats.states == {0: INVALID} and recorder.records() == [
        ev(EV_BOOK_INVALID, flags=F_LAST, ts_event=T0)
    ]
    assert (stats.disconnects, stats.resyncs) == (0, 0)
    assert stats.bad == {}


@pytest.mark.asyncio
async def test_futures_sync_uses_pu_chaining_and_the_futures_boundary(venue, btc_usdm):
    recorder = Recorder()
    feed = make_feed(venue, [btc_usdm], recorder, market="usdm")
    async with running(feed):
        await venue.wait_streams(1)
        await venue.push(depth_message("BTCUSDT", 90, 99, bids=[("50.0", "1")], prev=89))  # u < lastUpdateId
        request = await venue.next_request("depth")
        # U == lastUpdateId: bridges on futures (U <= lastUpdateId <= u); spot would need U <= 101
        await venue.push(depth_message("BTCUSDT", 100, 103, bids=[("99.9", "2")], prev=99))
        await venue.push(depth_message("BTCUSDT", 104, 106, asks=[("100.1", "0.005")], prev=103))
        await until(lambda: feed.stats.messages == 3)
        await venue.reply(
            request, snapshot_result(100, [("99.9", "1")], [("100.1", "1")], event_ms=E_MS - 50)
        )
        await until(lambda: len(recorder) > 0)
        snap = dict(ts_event=(E_MS - 50) * MS)  # futures snapshots carry E
        assert recorder.records() == [
            ev(EV_DEPTH_CLEAR, seq=100, **snap),
            ev(EV_DEPTH_SNAPSHOT, 999, 1000, 100, **snap),
            ev(EV_DEPTH_SNAPSHOT, 1001, 1000, 100, flags=SELL_LAST, **snap),
            ev(EV_DEPTH, 999, 2000, 103, 99, flags=F_LAST),  # aux = pu on futures
            ev(EV_DEPTH, 1001, 5, 106, 103, flags=SELL_LAST),
        ]
        recorder.clear()
        # pu must equal the previous u (106): 105 is a gap even though U follows
        await venue.push(depth_message("BTCUSDT", 107, 109, bids=[("99.8", "1")], prev=105))
        second = await venue.next_request("depth")
        assert recorder.records() == [ev(EV_BOOK_INVALID, seq=109, flags=F_LAST, ts_event=T0)]
        assert feed.state(0) != LIVE
        await venue.reply(second, snapshot_result(108, [("99.8", "1")], [("100.1", "1")], event_ms=E_MS))
        await until(lambda: feed.state(0) == LIVE)
    assert feed.stats.gaps == 1 and feed.stats.resyncs == 1 and feed.stats.snapshots == 2
    # the gapping diff was kept and bridges the new snapshot (107 <= 108 <= 109)
    bids, asks = book_from(recorder.records())
    assert bids == {998: 1000} and asks == {1001: 1000}


@pytest.mark.asyncio
async def test_gap_invalidates_the_book_requests_a_new_snapshot_and_rebuilds_it_exactly(venue, btc):
    recorder = Recorder()
    feed = make_feed(venue, [btc], recorder)
    async with running(feed):
        await venue.wait_streams(1)
        await sync_spot(venue, feed, recorder, last_id=100)
        await venue.push(depth_message("BTCUSDT", 102, 103, asks=[("102.00", "7")]))
        await venue.push(depth_message("BTCUSDT", 110, 112, bids=[("99.00", "8")]))  # 104..109 missing
        second = await venue.next_request("depth")
        await until(lambda: EV_BOOK_INVALID in recorder.kinds())
        records = recorder.records()
        assert records[-1] == ev(EV_BOOK_INVALID, seq=112, flags=F_LAST, ts_event=T0)
        assert feed.state(0) != LIVE
        # diffs keep coming while the snapshot is fetched: buffered, nothing emitted
        n_before = len(recorder)
        await venue.push(depth_message("BTCUSDT", 113, 115, asks=[("101.00", "0"), ("103.00", "1")]))
        await until(lambda: feed.stats.messages == 4)
        assert len(recorder) == n_before
        await venue.reply(
            second, snapshot_result(111, [("99.00", "5"), ("98.00", "1")], [("101.00", "2"), ("102.00", "7")])
        )
        await until(lambda: feed.state(0) == LIVE)
    bids, asks = book_from(recorder.records())
    # snapshot 111, then 110..112 (bids 99.00 -> 8), then 113..115
    assert bids == {9900: 8_000_000, 9800: 1_000_000}
    assert asks == {10200: 7_000_000, 10300: 1_000_000}
    assert (feed.stats.gaps, feed.stats.resyncs, feed.stats.snapshots, feed.stats.snapshot_requests) == (
        1,
        1,
        2,
        2,
    )


@pytest.mark.asyncio
async def test_disconnect_invalidates_every_book_then_reconnects_with_backoff_and_resyncs(venue, btc, eth):
    recorder = Recorder()
    feed = make_feed(venue, [btc, eth], recorder, backoff_initial_s=0.2, backoff_max_s=0.4)
    async with running(feed):
        await venue.wait_streams(1)
        await sync_spot(venue, feed, recorder, "BTCUSDT", 100, 0)
        await sync_spot(venue, feed, recorder, "ETHUSDT", 500, 1)
        recorder.clear()
        dropped_at = time.monotonic()
        await venue.drop_streams()
        await until(lambda: len(recorder) == 2)
        assert recorder.records() == [
            ev(EV_BOOK_INVALID, flags=F_LAST, ts_event=T0, instrument=0),
            ev(EV_BOOK_INVALID, flags=F_LAST, ts_event=T0, instrument=1),
        ]
        assert feed.state(0) == INVALID and feed.state(1) == INVALID
        await venue.wait_streams(2)
        delay = venue.stream_connect_times[1] - dropped_at
        assert 0.16 <= delay < 1.5, f"reconnected after {delay:.3f} s; backoff starts at 0.2 s (jitter 20%)"
        await until(lambda: feed.stats.reconnects == 1)  # the client side may lag the server's accept
        assert feed.stats.disconnects == 1
        await sync_spot(venue, feed, recorder, "BTCUSDT", 200, 0)
        await sync_spot(venue, feed, recorder, "ETHUSDT", 600, 1)
    assert feed.stats.resyncs == 2 and feed.stats.snapshots == 4


@pytest.mark.asyncio
async def test_reconnect_delays_grow_exponentially_while_the_venue_refuses(venue, btc):
    attempts: list[float] = []

    async def refuse(reader, writer):  # accept the TCP connection, then drop it: no handshake
        attempts.append(time.monotonic())
        writer.close()

    refuser = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = refuser.sockets[0].getsockname()[1]
    recorder = Recorder()
    feed = BinanceMarketData(
        f"ws://127.0.0.1:{port}",
        venue.api_url,
        [btc],
        on_events=recorder,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    async with running(feed):
        await until(lambda: len(attempts) >= 5, timeout=5)
    refuser.close()
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)][:4]
    for gap, base in zip(gaps, [0.05, 0.1, 0.2, 0.2], strict=True):
        assert 0.8 * base - 0.01 <= gap <= base + 0.15, (gaps, base)
    assert feed.stats.reconnects == 0 and feed.stats.messages == 0 and recorder.records() == []


@pytest.mark.asyncio
async def test_stale_guard_invalidates_and_flags_an_instrument_without_data(venue, btc):
    recorder = Recorder()
    flags = []
    feed = make_feed(
        venue,
        [btc],
        recorder,
        clock=time.time_ns,
        stale_after_s=0.3,
        on_stale=lambda i, s: flags.append((i, s)),
    )
    async with running(feed):
        await venue.wait_streams(1)
        await sync_spot(venue, feed, recorder)
        recorder.clear()
        quiet_from = time.monotonic()
        await until(lambda: flags == [(0, True)], timeout=3)
        waited = time.monotonic() - quiet_from
        assert 0.25 <= waited < 1.5
        assert feed.stale and feed.stale_instruments == {0}
        assert [r[7] for r in recorder.records()] == [EV_BOOK_INVALID]
        assert feed.state(0) == INVALID
        # data again: the flag clears, the trade flows, the book resyncs from the next diff
        await venue.push(trade_message("BTCUSDT", 1, "100.00", "1", buyer_maker=False))
        await until(lambda: flags == [(0, True), (0, False)])
        assert not feed.stale
        await sync_spot(venue, feed, recorder, last_id=300)
    assert feed.stats.stale_events == 1 and feed.stats.resyncs == 1


@pytest.mark.asyncio
async def test_snapshot_older_than_the_buffered_diffs_is_refused_and_fetched_again(venue, btc):
    recorder = Recorder()
    feed = make_feed(venue, [btc], recorder, backoff_initial_s=0.01)
    async with running(feed):
        await venue.wait_streams(1)
        await venue.push(depth_message("BTCUSDT", 150, 152, bids=[("99.00", "1")]))
        first = await venue.next_request("depth")
        await venue.reply(
            first, snapshot_result(140, [("99.00", "1")], [("101.00", "1")])
        )  # 141..149 unknown
        second = await venue.next_request("depth")
        assert recorder.records() == [], "a snapshot that cannot be bridged is never emitted"
        await venue.reply(second, snapshot_result(151, [("99.00", "2")], [("101.00", "1")]))
        await until(lambda: feed.state(0) == LIVE)
    assert feed.stats.snapshots_too_old == 1 and feed.stats.snapshots == 1
    assert book_from(recorder.records()) == ({9900: 1_000_000}, {10100: 1_000_000})


@pytest.mark.asyncio
async def test_snapshot_error_responses_are_counted_and_retried(venue, btc):
    recorder = Recorder()
    feed = make_feed(venue, [btc], recorder, backoff_initial_s=0.01)
    async with running(feed):
        await venue.wait_streams(1)
        await venue.push(depth_message("BTCUSDT", 99, 101, bids=[("99.00", "1")]))
        first = await venue.next_request("depth")
        await venue.reply(first, status=429, error={"code": -1003, "msg": "Too many requests."})
        second = await venue.next_request("depth")
        await venue.reply(second, snapshot_result(100, [("99.00", "2"), ("99.00", "1")], [("101.00", "1")]))
        third = await venue.next_request("depth")  # duplicate level: refused, asked again
        await venue.reply(third, {"lastUpdateId": 0, "bids": [], "asks": []})  # the venue has no book yet
        fourth = await venue.next_request("depth")
        assert feed.state(0) != LIVE and recorder.records() == []
        await venue.reply(fourth, snapshot_result(100, [("99.00", "2")], [("101.00", "1")]))
        await until(lambda: feed.state(0) == LIVE)
    assert feed.stats.bad == {"snapshot_error_-1003": 1, "snapshot_duplicate_level": 1}
    assert feed.stats.skipped == {"snapshot_not_ready": 1}
    assert feed.stats.snapshot_requests == 4 and feed.stats.snapshots == 1


@pytest.mark.asyncio
async def test_diffs_in_binance_form_take_the_fast_path_and_others_decode_the_same(venue, btc):
    """The same live diffs, compact (as Binance writes them: read from the text) and spaced (the
    orjson path): the same events reach the engine; a bad diff is refused either way."""
    recorder = Recorder()
    feed = make_feed(venue, [btc], recorder)
    async with running(feed):
        await venue.wait_streams(1)
        await sync_spot(venue, feed, recorder)
        fast_before = feed.stats.depth_fast
        compact = depth_message("BTCUSDT", 102, 103, bids=[("99.50", "2")], asks=[("101.00", "0")])
        spaced = depth_message("BTCUSDT", 104, 105, bids=[("99.50", "2")], asks=[("101.00", "0")])
        await venue.push(orjson.dumps(compact).decode())
        await venue.push(json.dumps(spaced))
        await until(lambda: feed.stats.depth_applied >= 3)
        assert feed.stats.depth_fast == fast_before + 1, "only the compact frame is read from its text"
        diffs = [r for r in recorder.records() if r[4] in (103, 105)]
        same = [(r[4] - 103, r[5] - 102, *r[:4], *r[6:]) for r in diffs if r[4] == 103]
        assert same == [(r[4] - 105, r[5] - 104, *r[:4], *r[6:]) for r in diffs if r[4] == 105]
        assert len(diffs) == 4
        bad = depth_message("BTCUSDT", 106, 107, bids=[("99.505", "2")])  # off tick: refused
        await venue.push(orjson.dumps(bad).decode())
        await until(lambda: feed.stats.bad.get("depth_off_tick") == 1)
        assert feed.stats.depth_fast == fast_before + 1


def test_a_depth_frame_refreshes_the_stale_guard_only_once_it_proved_whole(btc):
    """A frame the depth fast path declines (here truncated: bad JSON) is no sign of life for
    the stale guard; a whole one is, and clears the stale flag before its events go out."""
    stale_calls, recorder = [], Recorder()
    feed = BinanceMarketData("ws://127.0.0.1:1", "ws://127.0.0.1:1", [btc], on_events=recorder,
                             clock=fixed_clock, on_stale=lambda index, stale: stale_calls.append(stale))  # fmt: skip
    slot = feed._slots[0]
    slot.sync.apply_snapshot(100)  # as a snapshot response would (the book is live)
    slot.stale, slot.last_data_ns = True, 0
    whole = orjson.dumps(depth_message("BTCUSDT", 101, 102, bids=[("99.50", "2")])).decode()
    feed._on_frame(whole[:70])
    assert feed.stats.bad["bad_json"] == 1
    assert (slot.stale, slot.last_data_ns, stale_calls) == (True, 0, [])
    feed._on_frame(whole)
    assert feed.stats.depth_fast == 1 and feed.stats.depth_applied == 1
    assert (slot.stale, slot.last_data_ns, stale_calls) == (False, T0, [False])
    assert [r[4] for r in recorder.records()] == [102]
