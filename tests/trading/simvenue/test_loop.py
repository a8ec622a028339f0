"""Looping: ids and times keep increasing, with a sequence gap at each loop point, and the venue's
own book restarts from the recording's snapshot."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from tests.trading.simvenue.helpers import config, connect_streams, running, write_slice
from trading.simvenue.config import MAX_SPEED
from trading.simvenue.core import VenueCore
from trading.simvenue.shift import LOOP_ID_GAP

STREAMS = "btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker"
PASS = 1499  # stream messages in the 1500-line slice (line 8 is the REST snapshot)


def without_shifted_fields(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("E", "T", "U", "u", "pu", "t")}


@pytest.mark.asyncio
async def test_loops_keep_ids_increasing_with_a_gap_at_each_loop_point(btc_short):
    async with running(config((btc_short,), speed=MAX_SPEED, loop=True, paused=True)) as (server, base):
        async with connect_streams(base, STREAMS) as ws:
            server.start_replay()
            messages = [orjson.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3 * PASS + 50)]
        stats = server.stats()["symbols"]["BTCUSDT"]
    assert stats["loops"] >= 3
    depth = [m["data"] for m in messages if m["stream"] == "btcusdt@depth@100ms"]
    trades = [m["data"] for m in messages if m["stream"] == "btcusdt@trade"]
    tickers = [m["data"] for m in messages if m["stream"] == "btcusdt@bookTicker"]
    per_pass = len([m for m in messages[:PASS] if m["stream"] == "btcusdt@depth@100ms"])

    # depth: chained (U == previous u + 1) inside a pass, a forward jump at each of the 3 loop points
    gaps = [i for i in range(1, len(depth)) if depth[i]["U"] != depth[i - 1]["u"] + 1]
    assert gaps == [per_pass, 2 * per_pass, 3 * per_pass]
    for i in gaps:
        assert depth[i]["U"] - depth[i - 1]["u"] > LOOP_ID_GAP
    assert all(depth[i]["u"] > depth[i - 1]["u"] for i in range(1, len(depth)))
    # bookTicker update ids and event times keep increasing across the loop points
    assert all(tickers[i]["u"] > tickers[i - 1]["u"] for i in range(1, len(tickers)))
    times = [d["E"] for d in depth]
    assert times == sorted(times) and times[per_pass] > times[per_pass - 1]
    # trade ids: unique, increasing, no gap (the recording's are consecutive)
    ids = [t["t"] for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert all(trades[i]["T"] >= trades[i - 1]["T"] for i in range(1, len(trades)))
    # the second pass is the first one with only ids and times shifted
    assert [m["stream"] for m in messages[PASS : 2 * PASS]] == [m["stream"] for m in messages[:PASS]]
    assert [without_shifted_fields(m["data"]) for m in messages[PASS : 2 * PASS]] == [
        without_shifted_fields(m["data"]) for m in messages[:PASS]
    ]
    assert (
        messages[PASS]["data"]["E"] - messages[0]["data"]["E"]
        == messages[2 * PASS]["data"]["E"] - messages[PASS]["data"]["E"]
    )


def test_the_venue_book_restarts_from_the_snapshot_at_each_loop_point(btc_short):
    core = VenueCore(config((btc_short,), loop=True, paused=True))
    replay, book = core.replay, core.books[0]
    lines_per_pass = 1500
    replay.advance(600)
    first = book.depth(20)
    replay.advance(lines_per_pass - 600)  # to the end of the first pass: the book moved on
    end = book.depth(20)
    replay.advance(600)  # the same point of the second pass
    second = book.depth(20)
    replay.advance(lines_per_pass)
    third = book.depth(20)
    symbol = replay.symbols[0]
    step = symbol.bounds.shift(1, 0).ids
    assert symbol.loop_index == 2
    assert end[1:] != first[1:]
    assert second[1:] == first[1:] and third[1:] == first[1:]  # same levels, same quantities
    assert second[0] == first[0] + step and third[0] == first[0] + 2 * step
    assert book.counts.gaps == 0  # the restart is a snapshot, not a broken chain
    assert book.counts.snapshots == 3


def test_a_futures_capture_syncs_with_the_futures_rules_and_loops(slice_dir, data_dir):
    capture = write_slice(slice_dir, data_dir / "hftbacktest/usdm/btcusdt_20240808.gz", 5000)
    core = VenueCore(config((capture,), loop=True, paused=True))
    book = core.books[0]
    assert core.instruments[0].market == "usdm" and book.futures
    core.replay.advance(5000)
    first = book.depth(10)
    core.replay.advance(5000)
    second = book.depth(10)
    assert book.state == "synced" and book.counts.gaps == 0
    assert book.counts.diffs_applied == 2 * 402  # every diff of both passes chained by pu == previous u
    assert second[1:] == first[1:] and second[0] > first[0]
