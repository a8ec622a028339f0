"""Binance capture loader: the real hftbacktest captures, then synthetic streams for every rule."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from hotpath.types import MARKET_EVENT_DTYPE
from trading.instruments import InstrumentRegistry
from trading.marketdata import DataError, LoadedData, load_events
from trading.marketdata.kinds import (
    EV_BBO,
    EV_BOOK_INVALID,
    EV_DEPTH,
    EV_DEPTH_CLEAR,
    EV_DEPTH_SNAPSHOT,
    EV_TRADE,
    F_LAST,
    F_SELL,
)

DATA = Path("/work/shared/data/hftbacktest")
SPOT_BTC = [DATA / "spot/btcusdt_20240808.gz", DATA / "spot/btcusdt_20240809.gz"]
SPOT_ETH = [DATA / "spot/ethusdt_20240808.gz", DATA / "spot/ethusdt_20240809.gz"]
USDM_BTC = [DATA / "usdm/btcusdt_20240808.gz"]

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared market data not mounted")


def load(paths, symbol="BTCUSDT", **kwargs) -> LoadedData:
    return load_events(paths, symbol, cache_dir=None, **kwargs)


def records(events: np.ndarray) -> list[tuple[int, int, int, int, int, int]]:
    """(kind, flags, price, qty, venue_seq, aux) per event, for exact comparisons."""
    return [
        (int(e["kind"]), int(e["flags"]), int(e["price"]), int(e["qty"]), int(e["venue_seq"]), int(e["aux"]))
        for e in events
    ]


def count_lines_containing(paths, needle: bytes) -> int:
    total = 0
    for path in paths:
        with gzip.open(path, "rb") as handle:
            total += sum(1 for line in handle if needle in line)
    return total


# ---------------------------------------------------------------- real captures


@pytest.fixture(scope="module")
def spot_btc() -> LoadedData:
    return load(SPOT_BTC)


@pytest.fixture(scope="module")
def spot_eth() -> LoadedData:
    return load(SPOT_ETH, "ETHUSDT")


@pytest.fixture(scope="module")
def usdm_btc() -> LoadedData:
    return load(USDM_BTC)


@needs_data
def test_spot_btcusdt_two_days_is_one_gapless_stream(spot_btc):
    r = spot_btc.report
    assert (spot_btc.format, spot_btc.market) == ("binance", "spot")
    assert spot_btc.instrument.lot_size == InstrumentRegistry().get("BTCUSDT", "spot").lot_size
    assert r.gaps == 0 and r.resyncs == 0 and r.bad == {} and r.skipped == {}
    assert r.book_state_at_end == "valid"
    assert r.lines == 99_574
    assert r.snapshots == 1 and r.snapshot_levels == 2000
    assert r.depth_messages == 6_495
    assert r.depth_applied == 6_493
    assert r.depth_dropped_stale == 2  # the two diffs before the snapshot that it already contains
    assert r.depth_replayed == 1  # U=..208 u=..224 arrived before the snapshot (lastUpdateId ..218)
    assert r.depth_dropped_before_snapshot == 0
    assert r.depth_levels == 298_094
    assert r.trades == 19_904 == count_lines_containing(SPOT_BTC, b'"stream":"btcusdt@trade"')
    assert r.bbo == 73_174 == count_lines_containing(SPOT_BTC, b'"stream":"btcusdt@bookTicker"')
    assert r.events == len(spot_btc.events) == 466_347 == 298_094 + 1 + 2000 + 19_904 + 2 * 73_174
    kinds, counts = np.unique(spot_btc.events["kind"], return_counts=True)
    assert dict(zip(kinds.tolist(), counts.tolist(), strict=True)) == {
        EV_DEPTH: 298_094,
        EV_DEPTH_CLEAR: 1,
        EV_DEPTH_SNAPSHOT: 2000,
        EV_TRADE: 19_904,
        EV_BBO: 146_348,
    }


@needs_data
def test_spot_btcusdt_array_layout(spot_btc):
    events = spot_btc.events
    assert events.dtype == MARKET_EVENT_DTYPE
    assert events.flags.c_contiguous
    assert not events["order_id"].any() and not events["instrument"].any() and not events["reserved"].any()
    assert (events["qty"] >= 0).all()
    assert (events["price"][events["kind"] != EV_DEPTH_CLEAR] > 0).all()
    assert (np.diff(events["ts_local"]) >= 0).all() and spot_btc.report.non_monotonic_ts == 0


@needs_data
def test_spot_btcusdt_exact_first_records(spot_btc):
    events = spot_btc.events
    spec = spot_btc.instrument
    # line 3: bookTicker u=50093239212 b=61837.63/3.78826 a=61837.64/1.54698, no event time in spot
    ts = 1723161254087891268
    assert records(events[:2]) == [
        (EV_BBO, 0, spec.price_to_ticks("61837.63"), spec.qty_to_lots("3.78826"), 50093239212, 0),
        (
            EV_BBO,
            F_SELL | F_LAST,
            spec.price_to_ticks("61837.64"),
            spec.qty_to_lots("1.54698"),
            50093239212,
            0,
        ),
    ]
    assert events["ts_event"][0] == events["ts_local"][0] == ts
    # line 4: trade t=3735683259 p=61837.63 q=0.02 T=1723161255342 m=true -> aggressor sold
    trade = events[2]
    assert records(events[2:3]) == [(EV_TRADE, F_SELL | F_LAST, 6183763, 20_000, 3735683259, 0)]
    assert (int(trade["ts_event"]), int(trade["ts_local"])) == (1723161255342_000000, 1723161254087896568)
    # the snapshot: one clear, 1000 bids then 1000 asks, F_LAST on the last record only
    clear = int(np.flatnonzero(events["kind"] == EV_DEPTH_CLEAR)[0])
    snap = events[clear : clear + 2001]
    assert int(snap["venue_seq"][0]) == 50093239218 and int(snap["ts_local"][0]) == 1723161254206652067
    assert (snap["kind"][1:] == EV_DEPTH_SNAPSHOT).all()
    assert (snap["flags"][1:1001] == 0).all() and (snap["flags"][1001:2000] == F_SELL).all()
    assert int(snap["flags"][2000]) == F_SELL | F_LAST
    assert (int(snap["price"][1]), int(snap["qty"][1])) == (6183763, 3_788_260)
    # the buffered diff U=50093239208 u=50093239224 is applied right after the snapshot, at its receipt time
    replayed = events[clear + 2001]
    assert int(replayed["kind"]) == EV_DEPTH
    assert (int(replayed["venue_seq"]), int(replayed["aux"])) == (50093239224, 50093239208)
    assert int(replayed["ts_local"]) == 1723161254206652067
    assert int(replayed["ts_event"]) == 1723161255408_000000


@needs_data
def test_spot_btcusdt_book_checks(spot_btc):
    r = spot_btc.report
    assert r.validated
    assert r.crossed_after_sync == 0 and r.first_crossed is None
    assert r.bbo_checked == 1_072  # bookTickers sharing an update id with a depth message
    assert r.bbo_mismatched == 0 and r.first_bbo_mismatch is None


@needs_data
def test_spot_btcusdt_message_boundaries(spot_btc):
    events = spot_btc.events
    kind, flags = events["kind"], events["flags"]
    depth_last = (kind == EV_DEPTH) & ((flags & F_LAST) != 0)
    assert int(depth_last.sum()) == spot_btc.report.depth_applied
    assert int(((kind == EV_BBO) & ((flags & F_LAST) != 0)).sum()) == spot_btc.report.bbo
    assert ((flags[kind == EV_TRADE] & F_LAST) != 0).all()
    # depth venue_seq (u) strictly increases message to message: the chain has no holes
    assert (np.diff(events["venue_seq"][depth_last]) > 0).all()


@needs_data
def test_spot_ethusdt_two_days(spot_eth):
    r = spot_eth.report
    assert (r.gaps, r.bad, r.book_state_at_end) == (0, {}, "valid")
    assert r.depth_applied == 6_468 and r.depth_levels == 272_752 and r.depth_dropped_stale == 2
    assert r.trades == 14_515 and r.bbo == 58_758 and r.events == 406_784
    assert r.crossed_after_sync == 0
    assert r.bbo_checked == 1_056 and r.bbo_mismatched == 0


@needs_data
def test_usdm_btcusdt_uses_futures_rules(usdm_btc):
    r = usdm_btc.report
    assert (usdm_btc.market, usdm_btc.instrument.tick_size) == (
        "usdm",
        InstrumentRegistry().get("BTCUSDT", "usdm").tick_size,
    )
    assert (r.gaps, r.bad, r.book_state_at_end) == (0, {}, "valid")
    assert r.depth_messages == 6_551 and r.depth_applied == 6_547 and r.depth_dropped_stale == 4
    assert r.depth_replayed == 2  # two diffs written before the snapshot bridge it (pu chain)
    assert r.depth_levels == 443_262 and r.trades == 21_313 and r.bbo == 66_089 and r.events == 598_754
    assert r.crossed_after_sync == 0 and r.bbo_checked == 629 and r.bbo_mismatched == 0
    depth = usdm_btc.events[
        (usdm_btc.events["kind"] == EV_DEPTH) & ((usdm_btc.events["flags"] & F_LAST) != 0)
    ]
    # futures: aux = pu = previous message's u, exactly, all the way
    assert (depth["aux"][1:] == depth["venue_seq"][:-1]).all()
    # futures bookTicker carries an event time: ts_event != ts_local
    bbo = usdm_btc.events[usdm_btc.events["kind"] == EV_BBO]
    assert (bbo["ts_event"] != bbo["ts_local"]).all()


@needs_data
def test_second_day_alone_has_no_book():
    loaded = load(SPOT_BTC[1:])
    r = loaded.report
    assert r.snapshots == 0 and r.depth_applied == 0 and r.depth_levels == 0
    assert r.depth_dropped_before_snapshot == 3_044 == r.depth_messages
    assert r.book_state_at_end == "no_snapshot"
    assert any("no usable depth snapshot" in note for note in r.notes)
    assert "no usable depth snapshot" in r.summary()
    assert not np.isin(loaded.events["kind"], (EV_DEPTH, EV_DEPTH_CLEAR, EV_DEPTH_SNAPSHOT)).any()
    assert r.trades == 10_147 and r.bbo == 45_134  # trades and tickers do not need the book


@needs_data
def test_files_in_the_wrong_order_do_not_sync():
    r = load(list(reversed(SPOT_BTC))).report
    # day 2's diffs are buffered, then day 1's snapshot is older than all of them: a gap, never synced
    assert r.gaps >= 1 and r.book_state_at_end != "valid"


# ---------------------------------------------------------------- synthetic captures

T0 = 1_723_161_254_000_000_000  # receipt ns
E0 = 1_723_161_255_000  # venue ms


def encode(ts: int, obj) -> bytes:
    return f"{ts} ".encode() + json.dumps(obj, separators=(",", ":")).encode()


def depth(ts, first, last, bids=(), asks=(), *, pu=None, symbol="BTCUSDT", event_ms=None):
    data = {
        "e": "depthUpdate",
        "E": event_ms or E0 + ts // 1_000_000 % 100_000,
        "s": symbol,
        "U": first,
        "u": last,
        "b": [list(level) for level in bids],
        "a": [list(level) for level in asks],
    }
    if pu is not None:
        data["pu"] = pu
    suffix = "depth@0ms" if pu is not None else "depth@100ms"
    return encode(T0 + ts, {"stream": f"{symbol.lower()}@{suffix}", "data": data})


def snapshot(ts, last_id, bids, asks, *, futures=False):
    body = {"lastUpdateId": last_id}
    if futures:
        body.update(E=E0 + 1, T=E0)
    body.update(bids=[list(b) for b in bids], asks=[list(a) for a in asks])
    return encode(T0 + ts, body)


def trade(ts, trade_id, price, qty, seller_aggressed, symbol="BTCUSDT"):
    data = {"e": "trade", "E": E0, "s": symbol, "t": trade_id, "p": price, "q": qty, "T": E0 - 1}
    data.update(m=seller_aggressed, M=True)
    return encode(T0 + ts, {"stream": f"{symbol.lower()}@trade", "data": data})


def ticker(ts, update_id, bid, bid_qty, ask, ask_qty, symbol="BTCUSDT"):
    data = {"u": update_id, "s": symbol, "b": bid, "B": bid_qty, "a": ask, "A": ask_qty}
    return encode(T0 + ts, {"stream": f"{symbol.lower()}@bookTicker", "data": data})


def write(tmp_path: Path, lines: list[bytes], name: str = "capture.gz") -> Path:
    path = tmp_path / name
    payload = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(payload) if name.endswith(".gz") else payload)
    return path


BOOK_BIDS = [("100.00", "1.000000"), ("99.99", "2.000000")]
BOOK_ASKS = [("100.01", "1.500000"), ("100.02", "3.000000")]


def kinds_of(events) -> list[int]:
    return events["kind"].tolist()


def test_synthetic_spot_stream_exact_events(tmp_path):
    path = write(
        tmp_path,
        [
            depth(1, 90, 95, [("100.00", "9.000000")]),  # before the snapshot, contained in it: stale
            snapshot(2, 100, BOOK_BIDS, BOOK_ASKS),
            depth(3, 101, 104, [("100.00", "0.500000")], [("100.01", "0")]),  # U == lastUpdateId + 1
            trade(4, 7, "100.02", "0.250000", False),
            ticker(5, 104, "100.00", "0.500000", "100.02", "3.000000"),
            depth(6, 105, 105, [], [("100.03", "1.000000")]),
        ],
    )
    loaded = load([path])
    assert records(loaded.events) == [
        (EV_DEPTH_CLEAR, 0, 0, 0, 100, 0),
        (EV_DEPTH_SNAPSHOT, 0, 10000, 1_000_000, 100, 0),
        (EV_DEPTH_SNAPSHOT, 0, 9999, 2_000_000, 100, 0),
        (EV_DEPTH_SNAPSHOT, F_SELL, 10001, 1_500_000, 100, 0),
        (EV_DEPTH_SNAPSHOT, F_SELL | F_LAST, 10002, 3_000_000, 100, 0),
        (EV_DEPTH, 0, 10000, 500_000, 104, 101),
        (EV_DEPTH, F_SELL | F_LAST, 10001, 0, 104, 101),
        (EV_TRADE, F_LAST, 10002, 250_000, 7, 0),  # m=false: the aggressor bought
        (EV_BBO, 0, 10000, 500_000, 104, 0),
        (EV_BBO, F_SELL | F_LAST, 10002, 3_000_000, 104, 0),
        (EV_DEPTH, F_SELL | F_LAST, 10003, 1_000_000, 105, 105),
    ]
    assert loaded.events["ts_local"].tolist() == [T0 + 2] * 5 + [T0 + 3] * 2 + [T0 + 4] + [T0 + 5] * 2 + [
        T0 + 6
    ]
    assert int(loaded.events["ts_event"][7]) == (E0 - 1) * 1_000_000  # trade time T
    assert int(loaded.events["ts_event"][8]) == T0 + 5  # spot bookTicker: no venue time
    r = loaded.report
    assert (r.depth_dropped_stale, r.depth_applied, r.gaps, r.bbo_checked, r.bbo_mismatched) == (
        1,
        2,
        0,
        1,
        0,
    )


@pytest.mark.parametrize(
    ("first", "last", "outcome"),
    [
        (95, 100, "stale"),  # u == lastUpdateId: dropped (spot: u <= lastUpdateId)
        (90, 99, "stale"),
        (101, 101, "applied"),  # U == lastUpdateId + 1
        (90, 101, "applied"),  # U <= lastUpdateId + 1 <= u
        (100, 130, "applied"),
        (102, 110, "gap"),  # U > lastUpdateId + 1
    ],
)
def test_spot_first_diff_boundaries(tmp_path, first, last, outcome):
    path = write(
        tmp_path, [snapshot(1, 100, BOOK_BIDS, BOOK_ASKS), depth(2, first, last, [("99.98", "1.000000")])]
    )
    r = load([path]).report
    assert (r.depth_dropped_stale, r.depth_applied, r.gaps) == {
        "stale": (1, 0, 0),
        "applied": (0, 1, 0),
        "gap": (0, 0, 1),
    }[outcome]


@pytest.mark.parametrize(
    ("first", "last", "outcome"),
    [
        (95, 99, "stale"),  # u < lastUpdateId
        (95, 100, "applied"),  # u == lastUpdateId is kept by the futures rule
        (100, 100, "applied"),
        (100, 120, "applied"),
        (101, 120, "gap"),  # U > lastUpdateId: the futures rule wants U <= lastUpdateId
    ],
)
def test_futures_first_diff_boundaries(tmp_path, first, last, outcome):
    path = write(
        tmp_path,
        [
            snapshot(1, 100, [("100.0", "1.000")], [("100.1", "1.000")], futures=True),
            depth(2, first, last, [("99.9", "1.000")], pu=first - 1),
        ],
    )
    loaded = load([path])
    assert loaded.market == "usdm"
    r = loaded.report
    assert (r.depth_dropped_stale, r.depth_applied, r.gaps) == {
        "stale": (1, 0, 0),
        "applied": (0, 1, 0),
        "gap": (0, 0, 1),
    }[outcome]


def test_futures_chain_uses_pu_not_u_plus_one(tmp_path):
    snap = snapshot(1, 100, [("100.0", "1.000")], [("100.1", "1.000")], futures=True)
    chained = write(
        tmp_path,
        [snap, depth(2, 95, 110, pu=90), depth(3, 150, 160, [("99.9", "1.000")], pu=110)],
        "chained.gz",
    )
    r = load([chained]).report
    assert (r.depth_applied, r.gaps) == (2, 0)  # U jumps from 111 to 150, but pu == previous u
    broken = write(
        tmp_path,
        [snap, depth(2, 95, 110, pu=90), depth(3, 111, 120, [("99.9", "1.000")], pu=109)],
        "broken.gz",
    )
    loaded = load([broken])
    assert (loaded.report.depth_applied, loaded.report.gaps) == (1, 1)
    assert records(loaded.events[-1:]) == [(EV_BOOK_INVALID, F_LAST, 0, 0, 120, 109)]


def test_spot_chain_requires_u_plus_one_and_ignores_repeats(tmp_path):
    path = write(
        tmp_path,
        [
            snapshot(1, 100, BOOK_BIDS, BOOK_ASKS),
            depth(2, 101, 105, [("99.98", "1.000000")]),
            depth(3, 101, 105, [("99.98", "7.000000")]),  # a repeat of u=105: stale, not a gap
            depth(4, 106, 108, [("99.97", "1.000000")]),
        ],
    )
    r = load([path]).report
    assert (r.depth_applied, r.depth_dropped_stale, r.gaps) == (2, 1, 0)


def test_gap_invalidates_then_resyncs_on_a_later_snapshot(tmp_path):
    path = write(
        tmp_path,
        [
            snapshot(1, 100, BOOK_BIDS, BOOK_ASKS),
            depth(2, 101, 105, [("99.98", "1.000000")]),
            depth(3, 107, 110, [("99.97", "1.000000")]),  # 106 is missing
            depth(4, 111, 115, [("99.96", "1.000000")]),  # dropped until a snapshot arrives
            trade(5, 1, "100.01", "0.100000", True),
            snapshot(6, 112, BOOK_BIDS, BOOK_ASKS),
            depth(7, 116, 118, [("99.95", "1.000000")]),
        ],
    )
    loaded = load([path])
    events = loaded.events
    assert kinds_of(events) == (
        [EV_DEPTH_CLEAR] + [EV_DEPTH_SNAPSHOT] * 4 + [EV_DEPTH, EV_BOOK_INVALID, EV_TRADE]
        + [EV_DEPTH_CLEAR] + [EV_DEPTH_SNAPSHOT] * 4 + [EV_DEPTH, EV_DEPTH]
    )  # fmt: skip
    invalid = events[6]
    assert (int(invalid["venue_seq"]), int(invalid["aux"]), int(invalid["flags"])) == (110, 107, F_LAST)
    # u=110 is inside the new snapshot (stale); 111..115 bridges lastUpdateId 112 and is applied at the
    # snapshot's receipt time; then the chain continues
    replayed = events[13]
    assert (int(replayed["venue_seq"]), int(replayed["ts_local"])) == (115, T0 + 6)
    assert int(events[14]["venue_seq"]) == 118
    r = loaded.report
    assert (r.gaps, r.resyncs, r.snapshots, r.depth_replayed, r.depth_dropped_stale) == (1, 1, 2, 1, 1)
    assert r.book_state_at_end == "valid" and r.crossed_after_sync == 0


def test_gap_without_a_later_snapshot_leaves_the_book_invalid(tmp_path):
    path = write(
        tmp_path,
        [snapshot(1, 100, BOOK_BIDS, BOOK_ASKS), depth(2, 101, 105), depth(3, 200, 205), depth(4, 206, 210)],
    )
    loaded = load([path])
    r = loaded.report
    assert (r.gaps, r.resyncs, r.depth_applied, r.depth_dropped_before_snapshot) == (1, 0, 1, 2)
    assert r.book_state_at_end == "invalid_after_gap"
    assert any("invalid at the end" in note for note in r.notes)
    assert kinds_of(loaded.events)[-1] == EV_BOOK_INVALID


def test_snapshot_older_than_the_synced_book_is_ignored(tmp_path):
    path = write(
        tmp_path,
        [
            snapshot(1, 100, BOOK_BIDS, BOOK_ASKS),
            depth(2, 101, 110, [("99.98", "1.000000")]),
            snapshot(3, 105, BOOK_BIDS, BOOK_ASKS),  # would rewind the book
            depth(4, 111, 112, [("99.97", "1.000000")]),
        ],
    )
    r = load([path]).report
    assert (r.snapshots, r.snapshots_ignored, r.depth_applied, r.gaps) == (1, 1, 2, 0)


def test_stream_is_continuous_across_files(tmp_path):
    lines = [
        snapshot(1, 100, BOOK_BIDS, BOOK_ASKS),
        depth(2, 101, 105, [("99.98", "1.000000")]),
        depth(3, 106, 108, [("99.97", "1.000000")]),
        depth(4, 109, 111, [("99.96", "1.000000")]),
    ]
    whole = load([write(tmp_path, lines, "whole.gz")])
    split = load([write(tmp_path, lines[:2], "a.gz"), write(tmp_path, lines[2:], "b.txt")])
    assert split.report.gaps == 0 and split.report.depth_applied == 3
    assert split.events.tobytes() == whole.events.tobytes()
    assert len(split.report.files) == 2


def test_crossed_book_after_sync_is_reported(tmp_path):
    path = write(
        tmp_path,
        [
            snapshot(1, 100, BOOK_BIDS, BOOK_ASKS),
            depth(2, 101, 101, [("100.05", "1.000000")]),  # bid above the best ask
            depth(3, 102, 102, [("100.05", "0")]),
        ],
    )
    r = load([path]).report
    assert r.crossed_after_sync == 1
    assert r.first_crossed == {"index": 5, "venue_seq": 101, "best_bid": 10005, "best_ask": 10001}


def test_bookticker_check_compares_against_the_book_after_the_same_update_id(tmp_path):
    path = write(
        tmp_path,
        [
            snapshot(1, 100, BOOK_BIDS, BOOK_ASKS),
            ticker(2, 101, "100.00", "0.700000", "100.01", "1.500000"),  # arrives before its depth message
            depth(3, 101, 101, [("100.00", "0.700000")]),
            depth(4, 102, 102, [("100.00", "0.800000")]),
            ticker(5, 102, "100.00", "0.800000", "100.01", "1.400000"),  # ask qty disagrees
            ticker(6, 150, "100.00", "9.000000", "100.01", "9.000000"),  # no depth message with u=150
        ],
    )
    r = load([path]).report
    assert (r.bbo_checked, r.bbo_mismatched) == (2, 1)
    assert r.first_bbo_mismatch == {
        "index": 9,
        "venue_seq": 102,
        "venue": [10000, 800_000, 10001, 1_400_000],
        "book": [10000, 800_000, 10001, 1_500_000],
    }
    skipped = load([path], validate=False).report
    assert not skipped.validated and skipped.bbo_checked == 0 and "book replay skipped" in skipped.summary()


def test_diffs_before_the_first_snapshot_are_buffered_and_counted(tmp_path):
    path = write(
        tmp_path,
        [
            depth(1, 80, 90),  # never applicable: stale once the snapshot arrives
            depth(2, 91, 99),
            depth(3, 100, 103, [("99.98", "1.000000")]),  # bridges lastUpdateId 101 (U <= 102 <= u)
            snapshot(4, 101, BOOK_BIDS, BOOK_ASKS),
            depth(5, 104, 104, [("99.97", "1.000000")]),
        ],
    )
    r = load([path]).report
    assert (r.depth_dropped_stale, r.depth_replayed, r.depth_applied, r.gaps) == (2, 1, 2, 0)


# ---------------------------------------------------------------- bad input


GOOD_LEVEL = ("99.98", "1.000000")


@pytest.mark.parametrize(
    ("level", "reason"),
    [
        (("NaN", "1.000000"), "depth_nan"),
        (("99.98", "nan"), "depth_nan"),
        (("inf", "1.000000"), "depth_inf"),
        (("99.98", "-1.000000"), "depth_negative"),
        (("-99.98", "1.000000"), "depth_negative"),
        (("99.985", "1.000000"), "depth_off_tick"),
        (("99.98", "1.0000001"), "depth_off_tick"),
        (("99999999999999999999999", "1.000000"), "depth_too_large"),
        (("99.98", "1e30"), "depth_too_large"),
        (("", "1.000000"), "depth_unparsable"),
        (("0x10", "1.000000"), "depth_unparsable"),
        (("0.00", "1.000000"), "depth_zero_price"),
        ((99.98, "1.000000"), "depth_unparsable"),  # a JSON number, not a string
        (("99.98",), "depth_malformed"),
        (("99.98", "1.0", "x"), "depth_malformed"),
        ((["99.98"], "1.0"), "depth_malformed"),
    ],
)
def test_a_bad_level_rejects_the_whole_message_and_forces_a_resync(tmp_path, level, reason):
    path = write(
        tmp_path,
        [
            snapshot(1, 100, BOOK_BIDS, BOOK_ASKS),
            depth(2, 101, 105, [GOOD_LEVEL, level]),  # the good level must not be emitted either
            depth(3, 106, 110, [("99.97", "1.000000")]),
        ],
    )
    loaded = load([path])
    r = loaded.report
    assert r.bad == {reason: 1}
    assert (r.depth_applied, r.gaps) == (0, 1)  # 106..110 no longer chains to the snapshot
    assert kinds_of(loaded.events)[-1] == EV_BOOK_INVALID
    assert not (loaded.events["kind"] == EV_DEPTH).any()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "line_empty"),
        (b"   ", "line_empty"),
        (b'{"stream":"btcusdt@trade","data":{}}', "line_missing_timestamp"),
        (b"12a4 {}", "line_bad_timestamp"),
        (b"99999999999999999999 {}", "line_bad_timestamp"),
        (b'1723161254000000001 {"stream":"btcusdt@depth@100ms","data":{"e":"dep', "line_bad_json"),
        (b'1723161254000000001 {"stream":"btc\xff\xfeusdt@trade"}', "line_non_utf8"),
        (b"1723161254000000001 " + b"[" * 2000 + b"]" * 2000, "line_bad_json"),
        (b"1723161254000000001 [1,2]", "line_not_an_object"),
        (b'1723161254000000001 {"stream":5,"data":{}}', "line_malformed_stream"),
        (b'1723161254000000001 {"hello":"world"}', "line_unknown_message"),
        (
            b'1723161254000000001 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT",'
            b'"U":1.5,"u":2,"b":[],"a":[]}}',
            "depth_bad_sequence",
        ),
        (
            b'1723161254000000001 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT",'
            b'"U":1,"u":123456789012345678901234567890,"b":[],"a":[]}}',
            "depth_bad_sequence",  # orjson turns out-of-range integers into floats
        ),
        (
            b'1723161254000000001 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":true,'
            b'"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}}',
            "depth_bad_timestamp",
        ),
        (
            b'1723161254000000001 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,'
            b'"s":"BTCUSDT","U":1,"u":2,"b":"oops","a":[]}}',
            "depth_malformed",
        ),
        (
            b'1723161254000000001 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,'
            b'"s":"ETHUSDT","U":1,"u":2,"b":[],"a":[]}}',
            "depth_symbol_mismatch",
        ),
        (
            b'1723161254000000001 {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,'
            b'"s":"BTCUSDT","U":5,"u":2,"b":[],"a":[]}}',
            "depth_bad_sequence",  # U > u
        ),
    ],
)
def test_malformed_lines_are_counted_and_skipped(tmp_path, line, reason):
    path = write(
        tmp_path,
        [
            snapshot(1, 100, BOOK_BIDS, BOOK_ASKS),
            line,
            depth(3, 101, 105, [GOOD_LEVEL]),
            trade(4, 9, "100.01", "0.100000", True),
        ],
        "capture.txt",
    )
    loaded = load([path])
    r = loaded.report
    assert r.bad == {reason: 1}
    assert (r.depth_applied, r.trades, r.gaps) == (1, 1, 0)
    assert r.lines == 4


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (trade(2, 5, "nan", "0.100000", True), "trade_nan"),
        (trade(2, 5, "100.00", "-0.1", True), "trade_negative"),
        (trade(2, 5, "100.001", "0.1", True), "trade_off_tick"),
        (trade(2, 5, "100.00", "0", True), "trade_zero_qty"),
        (trade(2, -1, "100.00", "0.1", True), "trade_bad_id"),
        (trade(2, 5, "100.00", "0.1", "yes"), "trade_malformed"),
        (ticker(2, 100, "100.01", "1.0", "100.00", "1.0"), "bbo_crossed"),
        (ticker(2, 100, "100.00", "0", "100.01", "1.0"), "bbo_zero_side"),
        (ticker(2, 100, "100.00", "1.0", "Infinity", "1.0"), "bbo_inf"),
        (ticker(2, None, "100.00", "1.0", "100.01", "1.0"), "bbo_bad_sequence"),
    ],
)
def test_bad_trades_and_tickers_are_skipped_without_touching_the_book(tmp_path, message, reason):
    path = write(
        tmp_path,
        [snapshot(1, 100, BOOK_BIDS, BOOK_ASKS), message, depth(3, 101, 105, [GOOD_LEVEL])],
    )
    loaded = load([path])
    r = loaded.report
    assert r.bad == {reason: 1}
    assert (r.trades, r.bbo, r.depth_applied, r.gaps) == (0, 0, 1, 0)
    assert not np.isin(loaded.events["kind"], (EV_TRADE, EV_BBO)).any()


def test_bad_snapshots_are_rejected_whole(tmp_path):
    cases = {
        "snapshot_zero_qty": snapshot(1, 100, [("100.00", "0.000000")], BOOK_ASKS),
        "snapshot_crossed": snapshot(1, 100, [("100.01", "1.0")], [("100.01", "1.0")]),
        "snapshot_duplicate_level": snapshot(1, 100, [("100.00", "1.0"), ("100.00", "2.0")], BOOK_ASKS),
        "snapshot_bad_sequence": snapshot(1, -5, BOOK_BIDS, BOOK_ASKS),
        "snapshot_nan": snapshot(1, 100, [("NaN", "1.0")], BOOK_ASKS),
    }
    for reason, bad_snapshot in cases.items():
        path = write(tmp_path, [bad_snapshot, depth(2, 101, 105, [GOOD_LEVEL])], f"{reason}.gz")
        loaded = load([path])
        r = loaded.report
        assert r.bad == {reason: 1}, reason
        assert (r.snapshots, r.depth_applied, r.depth_dropped_before_snapshot) == (0, 0, 1), reason
        assert len(loaded.events) == 0


def test_other_symbols_are_skipped_and_counted(tmp_path):
    path = write(
        tmp_path,
        [
            snapshot(1, 100, BOOK_BIDS, BOOK_ASKS),
            depth(2, 500, 510, [("3000.00", "1.0000")], symbol="ETHUSDT"),
            trade(3, 1, "3000.00", "1.0", False, symbol="ETHUSDT"),
            depth(4, 101, 105, [GOOD_LEVEL]),
        ],
    )
    r = load([path], "btcusdt").report  # symbol is case-insensitive
    assert (r.skipped_other_symbols, r.depth_applied, r.trades, r.bad) == (2, 1, 0, {})


def test_raw_stream_payloads_and_unsupported_streams(tmp_path):
    raw_trade = encode(
        T0 + 3,
        {"e": "trade", "E": E0, "s": "BTCUSDT", "t": 11, "p": "100.00", "q": "0.5", "T": E0, "m": False},
    )
    partial_depth = encode(T0 + 4, {"stream": "btcusdt@depth5@100ms", "data": {"s": "BTCUSDT"}})
    raw_agg = encode(T0 + 5, {"e": "aggTrade", "s": "BTCUSDT", "a": 1, "p": "100.00", "q": "1.0"})
    path = write(tmp_path, [snapshot(1, 100, BOOK_BIDS, BOOK_ASKS), raw_trade, partial_depth, raw_agg])
    loaded = load([path])
    assert loaded.report.trades == 1 and loaded.report.bad == {}
    assert loaded.report.skipped == {"stream_depth5@100ms": 1, "stream_raw_aggTrade": 1}
    assert records(loaded.events[-1:]) == [(EV_TRADE, F_LAST, 10000, 500_000, 11, 0)]


def test_symbol_absent_from_the_capture_is_a_data_error(tmp_path):
    path = write(tmp_path, [snapshot(1, 100, BOOK_BIDS, BOOK_ASKS), depth(2, 101, 105)])
    with pytest.raises(DataError, match="no Binance messages for ETHUSDT"):
        load([path], "ETHUSDT")


def test_non_monotonic_receipt_time_is_kept_in_order_and_counted(tmp_path):
    path = write(
        tmp_path,
        [
            snapshot(10, 100, BOOK_BIDS, BOOK_ASKS),
            depth(20, 101, 105, [GOOD_LEVEL]),
            trade(15, 1, "100.01", "0.100000", True),  # receipt clock stepped back
            depth(30, 106, 107, [GOOD_LEVEL]),
        ],
    )
    loaded = load([path])
    r = loaded.report
    assert r.non_monotonic_ts == 1
    assert r.first_non_monotonic == {"index": 6, "ts_local": T0 + 15, "previous_ts_local": T0 + 20}
    assert kinds_of(loaded.events)[5:] == [EV_DEPTH, EV_TRADE, EV_DEPTH]


def test_snapshots_in_multi_symbol_captures_are_not_attributed(tmp_path):
    path = write(
        tmp_path,
        [
            depth(1, 500, 510, [("3000.00", "1.0000")], symbol="ETHUSDT"),
            snapshot(2, 100, BOOK_BIDS, BOOK_ASKS),  # ETH's or BTC's? the line does not say
            depth(3, 101, 105, [GOOD_LEVEL]),
        ],
    )
    loaded = load([path])
    r = loaded.report
    assert r.skipped == {"snapshot_unattributable": 1} and r.snapshots == 0
    assert len(loaded.events) == 0 and r.book_state_at_end == "no_snapshot"
    assert any("several symbols" in note for note in r.notes)


def test_hostile_variety_of_stream_names_cannot_grow_the_report(tmp_path):
    lines = [snapshot(1, 100, BOOK_BIDS, BOOK_ASKS)]
    lines += [
        encode(T0 + 2, {"stream": f"btcusdt@weird{i}{'x' * 500}", "data": {"s": "BTCUSDT"}})
        for i in range(200)
    ]
    lines.append(depth(3, 101, 105, [GOOD_LEVEL]))
    r = load([write(tmp_path, lines)]).report
    assert r.depth_applied == 1
    assert len(r.skipped) == 64 and sum(r.skipped.values()) == 200
    assert r.skipped["other"] == 200 - 63 and all(len(key) <= 47 for key in r.skipped)
