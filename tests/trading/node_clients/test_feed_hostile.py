"""Hostile and malformed frames on the market-data stream: each is counted under its reason, none
reaches the engine, and the feed keeps running (a valid frame right after still flows)."""

from __future__ import annotations

import pytest

from hotpath.types import EV_BOOK_INVALID, EV_TRADE, F_LAST, F_SELL
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
from trading.engine.feeds.depth_sync import LIVE

T0 = 1_723_161_300_000_000_000


def trade_with(**changes):
    message = trade_message("BTCUSDT", 5, "100.00", "1", buyer_maker=False)
    for key, value in changes.items():
        if value is None:
            message["data"].pop(key)
        else:
            message["data"][key] = value
    return message


def raw_trade(price_literal: str) -> str:
    """A trade whose price is a raw JSON literal (NaN, huge numbers: things json.dumps won't write)."""
    return (
        '{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255101,"s":"BTCUSDT","t":5,'
        f'"p":{price_literal},"q":"1","T":1723161255100,"m":false,"M":true}}}}'
    )


HOSTILE_FRAMES = [
    ("truncated JSON", '{"stream":"btcusdt@trade","data":{"e":"trade","p":"100.0', "bad_json"),
    ("NaN literal", raw_trade("NaN"), "bad_json"),
    ("Infinity literal", raw_trade("Infinity"), "bad_json"),
    ("huge number literal", raw_trade("1e400"), "bad_json"),
    ("binary frame", b'{"stream":"btcusdt@trade","data":{}}', "binary_frame"),
    ("1 MB frame", '{"stream":"btcusdt@trade","data":{"pad":"' + "x" * (1 << 20) + '"}}', "frame_too_large"),
    ("JSON array", "[1, 2, 3]", "not_an_object"),
    ("unknown stream", trade_message("ETHUSDT", 5, "100.00", "1", False), "unknown_stream"),
    ("stream is not a string", {"stream": ["btcusdt@trade"], "data": {}}, "unknown_stream"),
    ("NaN price", trade_with(p="NaN"), "trade_nan"),
    ("Infinity price", trade_with(p="Infinity"), "trade_inf"),
    ("negative qty", trade_with(q="-1.0"), "trade_negative"),
    ("huge price", trade_with(p="9" * 70), "trade_too_large"),
    ("price beyond 2**62 ticks", trade_with(p="99999999999999999999.00"), "trade_too_large"),
    ("huge exponent", trade_with(p="1e400"), "trade_too_large"),
    ("off-tick price", trade_with(p="100.005"), "trade_off_tick"),
    ("off-lot qty", trade_with(q="0.0000001"), "trade_off_tick"),
    ("zero price", trade_with(p="0.00"), "trade_zero_price"),
    ("price as a JSON number", trade_with(p=100.0), "trade_unparsable"),
    ("price with spaces", trade_with(p=" 100.00"), "trade_unparsable"),
    ("non-ASCII digits", trade_with(p="１００.00"), "trade_unparsable"),
    ("wrong symbol in payload", trade_with(s="ETHUSDT"), "trade_symbol_mismatch"),
    ("trade id as a string", trade_with(t="5"), "trade_bad_id"),
    ("missing qty", trade_with(q=None), "trade_unparsable"),
    ("missing trade time", trade_with(T=None), "trade_bad_timestamp"),
    ("maker flag not a bool", trade_with(m=1), "trade_malformed"),
    ("data is a list", {"stream": "btcusdt@trade", "data": []}, "trade_malformed"),
    (
        "crossed best bid/offer",
        book_ticker_message("BTCUSDT", 9, "101.00", "1", "100.00", "1"),
        "bbo_crossed",
    ),
    ("one-sided zero qty", book_ticker_message("BTCUSDT", 9, "100.00", "0", "101.00", "1"), "bbo_zero_side"),
    ("bbo NaN qty", book_ticker_message("BTCUSDT", 9, "100.00", "nan", "101.00", "1"), "bbo_nan"),
]


@pytest.mark.asyncio
async def test_hostile_frames_are_counted_by_reason_and_never_emitted(venue, btc):
    recorder = Recorder()
    feed = BinanceMarketData(venue.stream_base, venue.api_url, [btc], on_events=recorder, clock=lambda: T0)
    async with running(feed):
        await venue.wait_streams(1)
        expected_bad: dict[str, int] = {}
        for sentinel_id, (label, frame, reason) in enumerate(HOSTILE_FRAMES, start=1000):
            recorder.clear()
            await venue.push(frame)
            # a valid trade right behind it: once it is out, the hostile frame has been handled
            await venue.push(trade_message("BTCUSDT", sentinel_id, "100.01", "2", buyer_maker=True))
            await until(lambda: len(recorder) >= 1)
            expected_bad[reason] = expected_bad.get(reason, 0) + 1
            assert recorder.records() == [
                (
                    1_723_161_255_100_000_000,
                    T0,
                    10001,
                    2_000_000,
                    sentinel_id,
                    0,
                    0,
                    EV_TRADE,
                    F_SELL | F_LAST,
                    0,
                    0,
                )
            ], label
            assert dict(feed.stats.bad) == expected_bad, label
    assert feed.stats.trades == len(HOSTILE_FRAMES)
    assert feed.stats.bad["frame_too_large"] == 1


HOSTILE_DEPTH = [
    ("NaN qty", [("99.00", "NaN")], [], "depth_nan"),
    ("negative price", [("-99.00", "1")], [], "depth_negative"),
    ("off-tick price", [("99.001", "1")], [], "depth_off_tick"),
    ("level with three values", [("99.00", "1", "x")], [], "depth_malformed"),
    ("level as an object", [], [{"p": "101.00"}], "depth_malformed"),
    ("zero price", [("0", "1")], [], "depth_zero_price"),
    ("qty as a number", [("99.00", 1)], [], "depth_unparsable"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("label", "bids", "asks", "reason"), HOSTILE_DEPTH, ids=[h[0] for h in HOSTILE_DEPTH]
)
async def test_a_depth_diff_that_cannot_be_applied_invalidates_the_book_and_resyncs(
    venue, btc, label, bids, asks, reason
):
    recorder = Recorder()
    feed = BinanceMarketData(venue.stream_base, venue.api_url, [btc], on_events=recorder, clock=lambda: T0)
    async with running(feed):
        await venue.wait_streams(1)
        await venue.push(depth_message("BTCUSDT", 99, 101, bids=[("99.00", "1")]))
        await venue.reply(
            await venue.next_request("depth"), snapshot_result(100, [("99.00", "1")], [("101.00", "1")])
        )
        await until(lambda: feed.state(0) == LIVE)
        recorder.clear()
        # a valid first level does not rescue the message: it is refused whole
        await venue.push(depth_message("BTCUSDT", 102, 102, bids=[("98.00", "5"), *bids], asks=asks))
        second = await venue.next_request("depth")
        assert recorder.records() == [(T0, T0, 0, 0, 0, 0, 0, EV_BOOK_INVALID, F_LAST, 0, 0)]
        assert dict(feed.stats.bad) == {reason: 1}
        await venue.push(depth_message("BTCUSDT", 103, 104, asks=[("101.00", "4")]))
        await venue.reply(second, snapshot_result(103, [("99.00", "3")], [("101.00", "1")]))
        await until(lambda: feed.state(0) == LIVE)
    assert book_from(recorder.records()) == ({9900: 3_000_000}, {10100: 4_000_000})
    assert feed.stats.resyncs == 1


@pytest.mark.asyncio
async def test_depth_sequence_fields_are_validated(venue, btc):
    recorder = Recorder()
    feed = BinanceMarketData(venue.stream_base, venue.api_url, [btc], on_events=recorder, clock=lambda: T0)
    bad_sequences = [
        ({"U": None}, "depth_bad_sequence"),
        ({"U": 10, "u": 9}, "depth_bad_sequence"),
        ({"u": "11"}, "depth_bad_sequence"),
        ({"U": 0}, "depth_bad_sequence"),
        ({"u": 2**63}, "depth_bad_sequence"),
        ({"E": None}, "depth_bad_timestamp"),
        ({"pu": 9}, "depth_market_mismatch"),
        ({"s": "ETHUSDT"}, "depth_symbol_mismatch"),
        ({"e": "depth"}, "depth_malformed"),
    ]
    async with running(feed):
        await venue.wait_streams(1)
        for changes, _ in bad_sequences:
            message = depth_message("BTCUSDT", 10, 11, bids=[("99.00", "1")])
            for key, value in changes.items():
                if value is None:
                    message["data"].pop(key)
                else:
                    message["data"][key] = value
            await venue.push(message)
        await until(lambda: feed.stats.messages == len(bad_sequences))
    expected: dict[str, int] = {}
    for _, reason in bad_sequences:
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(feed.stats.bad) == expected
    assert set(recorder.kinds()) == {EV_BOOK_INVALID}, "only invalidations, never a level"
    assert feed.stats.depth_buffered == 0 and venue.pending("depth") <= 1
