"""Tardis CSV loader: real samples (BitMEX, Deribit, Binance futures) and malformed rows."""

import gzip
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from trading.instruments import InstrumentSpec
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

MM = Path("/work/shared/data/market_maker")
NT = Path("/work/shared/data/nautilus_trader/tardis")
BOOK = MM / "tests_bitmex_book_sample.csv.gz"
TRADES_SAMPLE = MM / "tests_bitmex_trades_sample.csv.gz"
QUOTES_SAMPLE = MM / "tests_bitmex_quotes_sample.csv.gz"
QUOTES_HOUR = MM / "XBTUSD_2024-08-01_00h_quotes.csv.gz"
TRADES_HOUR = MM / "XBTUSD_2024-08-01_00h_trades.csv.gz"

pytestmark = pytest.mark.skipif(not MM.is_dir() or not NT.is_dir(), reason="shared market data not mounted")

DERIBIT_PERPETUAL = InstrumentSpec(
    symbol="BTC-PERPETUAL",
    venue="deribit",
    market="deribit",
    base="BTC",
    quote="USD",
    settle="BTC",
    tick_size=Decimal("0.5"),
    lot_size=Decimal("10"),  # Tardis amounts for Deribit inverse perpetuals are USD, 10 USD contracts
    contract_type="inverse",
    multiplier=Decimal("1"),
    maker_fee_ppm=0,
    taker_fee_ppm=500,
)
# Binance USD-M BTCUSDT traded with a 0.01 tick in 2020 (0.1 today, as shipped).
USDM_BTCUSDT_2020 = InstrumentSpec(
    symbol="BTCUSDT",
    venue="binance",
    market="usdm",
    base="BTC",
    quote="USDT",
    settle="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.001"),
    contract_type="linear",
    multiplier=Decimal("1"),
    maker_fee_ppm=200,
    taker_fee_ppm=500,
)


def load(paths, symbol="XBTUSD", **kwargs) -> LoadedData:
    return load_events(paths, symbol, cache_dir=None, **kwargs)


def records(events):
    return [
        (
            int(e["kind"]),
            int(e["flags"]),
            int(e["price"]),
            int(e["qty"]),
            int(e["venue_seq"]),
            int(e["ts_local"]),
        )
        for e in events
    ]


@pytest.fixture(scope="module")
def book() -> LoadedData:
    return load([BOOK])


def test_bitmex_incremental_book_sample(book):
    r = book.report
    assert (book.format, book.market, book.instrument.symbol) == ("tardis", "bitmex", "XBTUSD")
    assert r.lines == 6_000  # header + 5,999 rows
    assert (r.snapshots, r.snapshot_levels) == (1, 5_465)
    assert (r.depth_messages, r.depth_applied, r.depth_levels) == (520, 520, 534)
    assert (r.gaps, r.bad, r.book_state_at_end) == (0, {}, "valid")
    assert r.crossed_after_sync == 0 and r.non_monotonic_ts == 0
    assert r.events == len(book.events) == 1 + 5_465 + 534
    events = book.events
    # first row: bitmex,XBTUSD,1722470400150000,1722470400229046,true,ask,3201030,900
    assert records(events[:2]) == [
        (EV_DEPTH_CLEAR, 0, 0, 0, 1, 1722470400229046000),
        (EV_DEPTH_SNAPSHOT, F_SELL, 32010300, 900, 1, 1722470400229046000),
    ]
    assert int(events["ts_event"][1]) == 1722470400150000000
    snapshot_end = 1 + 5_465 - 1
    assert int(events["flags"][snapshot_end]) & F_LAST and not int(events["flags"][snapshot_end - 1]) & F_LAST
    depth = events[events["kind"] == EV_DEPTH]
    assert int(((depth["flags"] & F_LAST) != 0).sum()) == 520  # one F_LAST per message
    assert (np.diff(depth["venue_seq"]) >= 0).all() and int(depth["venue_seq"][-1]) == 521  # message counter


def test_bitmex_hour_of_quotes_and_trades_merged_by_receipt_time():
    loaded = load([QUOTES_HOUR, TRADES_HOUR])  # given quotes first: trades still win ties
    r = loaded.report
    assert (r.bbo, r.trades, r.bad, r.book_state_at_end) == (56_856, 4_414, {}, "no_depth")
    events = loaded.events
    assert len(events) == 2 * 56_856 + 4_414
    assert (np.diff(events["ts_local"]) >= 0).all()
    # first trade row: ...,1722470401364000,1722470401376168,<uuid>,sell,64600,2000
    trade = events[events["kind"] == EV_TRADE][0]
    assert (int(trade["price"]), int(trade["qty"]), int(trade["flags"]), int(trade["venue_seq"])) == (
        646000,
        2000,
        F_SELL | F_LAST,
        1,
    )
    assert (int(trade["ts_event"]), int(trade["ts_local"])) == (1722470401364000000, 1722470401376168000)
    sides = events[events["kind"] == EV_TRADE]["flags"] & F_SELL
    assert int((sides != 0).sum()) == 2_391 and int((sides == 0).sum()) == 2_023
    # first quote row: ...,1722470400150000,1722470400229046,6800,64600.1,64600,35500 -> bid then ask
    bbo = events[events["kind"] == EV_BBO][:2]
    assert [(int(e["flags"]), int(e["price"]), int(e["qty"])) for e in bbo] == [
        (0, 646000, 35500),
        (F_SELL | F_LAST, 646001, 6800),
    ]
    # venue time is not monotonic in quotes (1722470400150000 then ...116000); order follows receipt
    assert int(bbo[0]["ts_event"]) == 1722470400150000000


def test_book_trades_quotes_merge_is_stable_book_first():
    loaded = load([QUOTES_SAMPLE, TRADES_SAMPLE, BOOK])
    r = loaded.report
    assert (r.trades, r.bbo, r.snapshots, r.depth_applied, r.files) == (
        9,
        9,
        1,
        520,
        [str(QUOTES_SAMPLE), str(TRADES_SAMPLE), str(BOOK)],
    )
    events = loaded.events
    assert (np.diff(events["ts_local"]) >= 0).all()
    # trades at local 1722470401376168 tie with nothing in the book; check tie order generally:
    ts, kinds = events["ts_local"], events["kind"]
    rank = np.select(
        [np.isin(kinds, (EV_DEPTH, EV_DEPTH_CLEAR, EV_DEPTH_SNAPSHOT)), kinds == EV_TRADE], [0, 1], 2
    )
    same = ts[1:] == ts[:-1]
    assert (rank[1:][same] >= rank[:-1][same]).all()


def test_bitmex_trades_2020_sample():
    loaded = load([NT / "bitmex_trades_XBTUSD.csv"])
    assert loaded.report.trades == 10 and loaded.report.bad == {}
    first = loaded.events[0]
    # bitmex,XBTUSD,1583020803145000,1583020803307160,ccc3c1fa-...,sell,8531.5,2152
    assert (int(first["price"]), int(first["qty"]), int(first["flags"]), int(first["ts_local"])) == (
        85315,
        2152,
        F_SELL | F_LAST,
        1583020803307160000,
    )
    assert loaded.events["venue_seq"].tolist() == list(range(1, 11))


def test_deribit_incremental_book_with_an_explicit_instrument():
    loaded = load(
        [NT / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"], "BTC-PERPETUAL", instrument=DERIBIT_PERPETUAL
    )
    r = loaded.report
    assert (loaded.market, r.snapshots, r.snapshot_levels, r.bad) == ("deribit", 1, 15, {})
    events = loaded.events
    assert records(events[:2]) == [
        (EV_DEPTH_CLEAR, 0, 0, 0, 1, 1585699200355684000),
        (EV_DEPTH_SNAPSHOT, F_SELL, 12843, 1864, 1, 1585699200355684000),  # 6421.5 / 0.5, 18640 / 10
    ]
    assert int(events["flags"][-1]) == F_SELL | F_LAST


def test_deribit_without_an_instrument_is_a_clear_error():
    with pytest.raises(
        DataError, match="unknown instrument 'BTC-PERPETUAL' in market 'deribit'.*instrument="
    ):
        load([NT / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"], "BTC-PERPETUAL")


def test_book_snapshot_25_files():
    loaded = load(
        [NT / "binance-futures_book_snapshot_25_BTCUSDT.csv"], "BTCUSDT", instrument=USDM_BTCUSDT_2020
    )
    r = loaded.report
    assert (loaded.market, r.snapshots, r.snapshot_levels, r.bad, r.crossed_after_sync) == (
        "usdm",
        10,
        500,
        {},
        0,
    )
    first = loaded.events[:51]
    assert int(first["kind"][0]) == EV_DEPTH_CLEAR
    # bids first (asks[0] 11657.08/1.714, bids[0] 11657.07/10.896)
    assert (int(first["price"][1]), int(first["qty"][1]), int(first["flags"][1])) == (1165707, 10896, 0)
    assert (int(first["price"][26]), int(first["qty"][26]), int(first["flags"][26])) == (
        1165708,
        1714,
        F_SELL,
    )
    assert int(first["flags"][50]) == F_SELL | F_LAST


def test_book_snapshot_under_todays_tick_is_refused_whole():
    # the shipped USD-M BTCUSDT has a 0.1 tick: 2020 prices like 11657.08 are off-tick, fail closed
    loaded = load([NT / "binance-futures_book_snapshot_5_BTCUSDT.csv"], "BTCUSDT")
    r = loaded.report
    assert r.bad == {"snapshot_off_tick": 10}
    assert len(loaded.events) == 0 and r.book_state_at_end == "no_snapshot"


def test_unknown_exchange_needs_an_instrument():
    with pytest.raises(DataError, match="huobi-dm-swap"):
        load([NT / "huobi-dm-swap_quotes_BTC-USD.csv"], "BTC-USD")


# ---------------------------------------------------------------- synthetic files

BOOK_HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"


def write_csv(tmp_path: Path, name: str, header: str, rows: list[str]) -> Path:
    path = tmp_path / name
    payload = (header + "\n" + "\n".join(rows) + "\n").encode()
    path.write_bytes(gzip.compress(payload) if name.endswith(".gz") else payload)
    return path


def row(ts: int, snapshot: bool, side: str, price: str, amount: str, symbol: str = "XBTUSD") -> str:
    return f"bitmex,{symbol},{ts},{ts + 5},{'true' if snapshot else 'false'},{side},{price},{amount}"


SNAPSHOT_ROWS = [row(100, True, "bid", "64600", "100"), row(100, True, "ask", "64600.5", "200")]


def test_rejected_message_invalidates_until_the_next_snapshot(tmp_path):
    path = write_csv(
        tmp_path,
        "book.csv.gz",
        BOOK_HEADER,
        [
            row(90, False, "bid", "64599", "5"),  # before any snapshot: dropped
            *SNAPSHOT_ROWS,
            row(200, False, "bid", "64600", "150"),
            row(300, False, "bid", "64599.5", "10"),
            row(300, False, "ask", "NaN", "10"),  # poisons the whole message at 300
            row(400, False, "ask", "64601", "10"),  # dropped: book invalid
            row(500, True, "bid", "64590", "1"),  # a new snapshot run: resync
            row(500, True, "ask", "64610", "1"),
            row(600, False, "ask", "64610", "0"),
        ],
    )
    loaded = load([path])
    assert records(loaded.events) == [
        (EV_DEPTH_CLEAR, 0, 0, 0, 2, 105_000),
        (EV_DEPTH_SNAPSHOT, 0, 646000, 100, 2, 105_000),
        (EV_DEPTH_SNAPSHOT, F_SELL | F_LAST, 646005, 200, 2, 105_000),
        (EV_DEPTH, F_LAST, 646000, 150, 3, 205_000),
        (EV_BOOK_INVALID, F_LAST, 0, 0, 4, 305_000),
        (EV_DEPTH_CLEAR, 0, 0, 0, 6, 505_000),
        (EV_DEPTH_SNAPSHOT, 0, 645900, 1, 6, 505_000),
        (EV_DEPTH_SNAPSHOT, F_SELL | F_LAST, 646100, 1, 6, 505_000),
        (EV_DEPTH, F_SELL | F_LAST, 646100, 0, 7, 605_000),
    ]
    r = loaded.report
    assert r.bad == {"depth_nan": 1}
    assert (r.gaps, r.resyncs, r.snapshots, r.depth_applied, r.depth_dropped_before_snapshot) == (
        1,
        1,
        2,
        2,
        2,
    )
    assert r.book_state_at_end == "valid"


@pytest.mark.parametrize(
    ("bad_row", "reason"),
    [
        (row(300, False, "bid", "-1", "10"), "depth_negative"),
        (row(300, False, "bid", "64600.25", "10"), "depth_off_tick"),
        (row(300, False, "bid", "64600", "1.5"), "depth_off_tick"),
        (row(300, False, "bid", "1e40", "10"), "depth_too_large"),
        (row(300, False, "bid", "", "10"), "depth_unparsable"),
        (row(300, False, "middle", "64600", "10"), "depth_bad_side"),
        (row(300, False, "bid", "0", "10"), "depth_zero_price"),
        ("bitmex,XBTUSD,300,305,maybe,bid,64600,10", "depth_bad_is_snapshot"),
        ("bitmex,XBTUSD,3x0,305,false,bid,64600,10", "depth_bad_timestamp"),
        ("bitmex,XBTUSD,300,305,false,bid,64600", "depth_malformed"),
        ("bitmex,XBTUSD,300,305,false,bid,64600,10,extra", "depth_malformed"),
        ("deribit,XBTUSD,300,305,false,bid,64600,10", "depth_exchange_mismatch"),
    ],
)
def test_bad_book_rows_fail_closed(tmp_path, bad_row, reason):
    path = write_csv(
        tmp_path,
        "book.csv",
        BOOK_HEADER,
        [
            *SNAPSHOT_ROWS,
            row(300, False, "ask", "64601", "10"),
            bad_row,
            row(400, False, "bid", "64599", "3"),
        ],
    )
    loaded = load([path])
    r = loaded.report
    assert r.bad == {reason: 1}
    assert r.gaps == 1 and r.depth_applied == 0 and r.book_state_at_end == "invalid_after_gap"
    assert loaded.events["kind"].tolist() == [
        EV_DEPTH_CLEAR,
        EV_DEPTH_SNAPSHOT,
        EV_DEPTH_SNAPSHOT,
        EV_BOOK_INVALID,
    ]


def test_undecodable_book_row_also_fails_closed(tmp_path):
    path = tmp_path / "book.csv"
    body = "\n".join([BOOK_HEADER, *SNAPSHOT_ROWS, row(300, False, "ask", "64601", "10")]).encode()
    path.write_bytes(
        body
        + b"\nbitmex,XBTUSD,300,305,false,bid,6\xff\xfe600,10\n"
        + row(400, False, "bid", "1", "1").encode()
    )
    r = load([path]).report
    assert (r.bad, r.gaps, r.depth_applied) == ({"depth_non_utf8": 1}, 1, 0)


def test_bad_snapshot_rows_reject_the_snapshot(tmp_path):
    rows = [row(100, True, "bid", "64600", "100"), row(100, True, "ask", "64600", "200")]  # crossed
    path = write_csv(tmp_path, "book.csv", BOOK_HEADER, [*rows, row(200, False, "bid", "64599", "1")])
    loaded = load([path])
    assert loaded.report.bad == {"snapshot_crossed": 1}
    assert len(loaded.events) == 0 and loaded.report.book_state_at_end == "no_snapshot"
    zero = write_csv(tmp_path, "zero.csv", BOOK_HEADER, [row(100, True, "bid", "64600", "0")])
    assert load([zero]).report.bad == {"snapshot_zero_qty": 1}


def test_other_symbols_and_blank_lines_in_book_files(tmp_path):
    path = write_csv(
        tmp_path,
        "book.csv",
        BOOK_HEADER,
        [
            *SNAPSHOT_ROWS,
            row(150, False, "bid", "10", "1", symbol="ETHUSD"),
            "",
            row(200, False, "bid", "64599", "1"),
        ],
    )
    r = load([path]).report
    assert (r.skipped_other_symbols, r.bad, r.depth_applied, r.gaps) == (1, {"depth_empty_line": 1}, 1, 0)


TRADES_HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
QUOTES_HEADER = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount"


def test_bad_trade_and_quote_rows_are_skipped(tmp_path):
    trades = write_csv(
        tmp_path,
        "trades.csv",
        TRADES_HEADER,
        [
            "bitmex,XBTUSD,100,110,a,buy,64600,10",
            "bitmex,XBTUSD,101,111,b,unknown,64600,10",
            "bitmex,XBTUSD,102,112,c,sell,inf,10",
            "bitmex,XBTUSD,103,113,,sell,64600,10",
            "bitmex,XBTUSD,104,114,d,sell,64600,0",
            "bitmex,XBTUSD,105,115,e,sell,64600.5,7",
        ],
    )
    quotes = write_csv(
        tmp_path,
        "quotes.csv",
        QUOTES_HEADER,
        [
            "bitmex,XBTUSD,100,110,5,64601,64600,6",
            "bitmex,XBTUSD,101,111,5,64600,64601,6",  # crossed
            "bitmex,XBTUSD,102,112,,,64600,6",  # empty ask side
            "bitmex,XBTUSD,103,113,5,64601,64600,-6",
        ],
    )
    loaded = load([trades, quotes])
    r = loaded.report
    assert r.bad == {
        "trade_unknown_side": 1,
        "trade_inf": 1,
        "trade_bad_id": 1,
        "trade_zero_qty": 1,
        "bbo_crossed": 1,
        "bbo_negative": 1,
    }
    assert (r.trades, r.bbo) == (2, 2)
    assert [(k, f, p, q) for k, f, p, q, _, _ in records(loaded.events)] == [
        (EV_TRADE, F_LAST, 646000, 10),
        (EV_BBO, 0, 646000, 6),
        (EV_BBO, F_SELL | F_LAST, 646010, 5),
        (EV_BBO, 0, 646000, 6),
        (EV_BBO, F_SELL | F_LAST, 0, 0),
        (EV_TRADE, F_SELL | F_LAST, 646005, 7),  # local 115: after the quote at 112
    ]


def test_mixing_book_sources_or_exchanges_is_refused(tmp_path):
    snap_header = (
        "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount"
    )
    snap = write_csv(tmp_path, "snap.csv", snap_header, ["bitmex,XBTUSD,1,2,64601,1,64600,1"])
    inc = write_csv(tmp_path, "inc.csv", BOOK_HEADER, SNAPSHOT_ROWS)
    with pytest.raises(DataError, match="pick one book source"):
        load([snap, inc])
    other = write_csv(tmp_path, "other.csv", TRADES_HEADER, ["deribit,XBTUSD,1,2,a,buy,64600,10"])
    with pytest.raises(DataError, match="different exchanges"):
        load([inc, other])
