"""BitMEX orderBookL2_25 websocket dump: the real capture and synthetic hostile messages."""

import json
from pathlib import Path

import numpy as np
import pytest

from trading.marketdata import DataError, LoadedData, load_events
from trading.marketdata.bitmex import iso_to_ns
from trading.marketdata.kinds import (
    EV_BOOK_INVALID,
    EV_DEPTH,
    EV_DEPTH_CLEAR,
    EV_DEPTH_SNAPSHOT,
    F_LAST,
    F_SELL,
)
from trading.marketdata.reject import Reject

DUMP = Path("/work/shared/data/market_maker/bitmex_ws_orderBookL2_25_XBTUSD_2025-10-16.jsonl")
RAW_DUMP = DUMP.with_name("bitmex_ws_orderBookL2_25_XBTUSD_2025-10-16_raw.txt")

needs_data = pytest.mark.skipif(not DUMP.is_file(), reason="shared market data not mounted")


def load(paths, symbol="XBTUSD", **kwargs) -> LoadedData:
    return load_events(paths, symbol, cache_dir=None, **kwargs)


def records(events):
    return [
        (int(e["kind"]), int(e["flags"]), int(e["price"]), int(e["qty"]), int(e["venue_seq"])) for e in events
    ]


@pytest.fixture(scope="module")
def dump() -> LoadedData:
    return load([DUMP])


@needs_data
def test_real_dump_counts(dump):
    r = dump.report
    assert (dump.format, dump.market, dump.instrument.symbol) == ("bitmex", "bitmex", "XBTUSD")
    assert r.lines == 672
    assert (r.snapshots, r.snapshot_levels) == (1, 50)
    # 175 insert + 146 update + 175 delete messages, 1233 + 412 + 1233 rows
    assert (r.depth_messages, r.depth_applied, r.depth_levels) == (496, 496, 2_878)
    assert r.skipped == {"table_orderBook10": 172, "non_table_message": 3}
    assert (r.bad, r.gaps, r.book_state_at_end) == ({}, 0, "valid")
    assert r.events == len(dump.events) == 1 + 50 + 2_878


@needs_data
def test_real_dump_book_is_never_crossed_and_times_are_venue_times(dump):
    r = dump.report
    assert r.crossed_after_sync == 0 and r.validated
    assert r.ts_local_source == "event_time"
    assert any("no receipt timestamps" in note for note in r.notes)
    events = dump.events
    assert (events["ts_local"] == events["ts_event"]).all()
    assert r.non_monotonic_ts == 0 and (np.diff(events["ts_local"]) >= 0).all()
    assert int(events["ts_event"][0]) == iso_to_ns("2025-10-16T18:20:32.003Z") == 1760638832003000000


@needs_data
def test_real_dump_partial_and_first_update(dump):
    events = dump.events
    # partial row 0: Sell id 141865172433 size 4000 price 107888.0
    assert records(events[:2]) == [
        (EV_DEPTH_CLEAR, 0, 0, 0, 1),
        (EV_DEPTH_SNAPSHOT, F_SELL, 1078880, 4000, 1),
    ]
    assert int(events["flags"][50]) & F_LAST and (events["kind"][1:51] == EV_DEPTH_SNAPSHOT).all()
    assert int((events["kind"][1:51] == EV_DEPTH_SNAPSHOT).sum()) == 50
    depth = events[events["kind"] == EV_DEPTH]
    assert int(((depth["flags"] & F_LAST) != 0).sum()) == 496
    deletes = depth[depth["qty"] == 0]
    assert len(deletes) == 1_233  # every delete row is a level removal at its stored price
    assert (deletes["price"] > 0).all()


@needs_data
def test_raw_dump_with_terminal_noise_is_not_recognised():
    with pytest.raises(DataError, match="unrecognised format"):
        load([RAW_DUMP])


# ---------------------------------------------------------------- synthetic dumps


def message(action, rows, table="orderBookL2_25"):
    return {"table": table, "action": action, "data": rows}


def level(level_id, side, size=None, price=None, ts="2025-10-16T18:20:32.003Z", symbol="XBTUSD"):
    row = {"symbol": symbol, "id": level_id, "side": side, "timestamp": ts}
    if size is not None:
        row["size"] = size
    if price is not None:
        row["price"] = price
    return row


PARTIAL = message(
    "partial", [level(1, "Sell", 300, 100.5), level(2, "Buy", 200, 100.0), level(3, "Buy", 100, 99.5)]
)


def write(tmp_path: Path, items: list, name="dump.jsonl") -> Path:
    lines = [item if isinstance(item, bytes) else json.dumps(item).encode() for item in items]
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_partial_insert_update_without_price_and_delete(tmp_path):
    path = write(
        tmp_path,
        [
            {"info": "Welcome to the BitMEX Realtime API."},
            message("insert", [level(9, "Buy", 50, 99.0)]),  # before the partial: dropped
            PARTIAL,
            message(
                "update", [level(2, "Buy", 250, ts="2025-10-16T18:20:33.5Z")]
            ),  # no price: from the id map
            message("insert", [level(4, "Sell", 10, 100.7), level(5, "Buy", 20, 100.2)]),
            message("delete", [level(1, "Sell", price=100.5)]),
            message("delete", [level(4, "Sell")]),
            message("update", [level(5, "Buy", 1, 100.2, symbol="ETHUSD")]),  # other symbol
        ],
    )
    loaded = load([path])
    assert records(loaded.events) == [
        (EV_DEPTH_CLEAR, 0, 0, 0, 2),
        (EV_DEPTH_SNAPSHOT, F_SELL, 1005, 300, 2),
        (EV_DEPTH_SNAPSHOT, 0, 1000, 200, 2),
        (EV_DEPTH_SNAPSHOT, F_LAST, 995, 100, 2),
        (EV_DEPTH, F_LAST, 1000, 250, 3),
        (EV_DEPTH, F_SELL, 1007, 10, 4),
        (EV_DEPTH, F_LAST, 1002, 20, 4),
        (EV_DEPTH, F_SELL | F_LAST, 1005, 0, 5),
        (EV_DEPTH, F_SELL | F_LAST, 1007, 0, 6),
    ]
    assert int(loaded.events["ts_event"][4]) == iso_to_ns("2025-10-16T18:20:33.500Z")
    r = loaded.report
    assert (r.depth_dropped_before_snapshot, r.skipped_other_symbols, r.skipped) == (
        1,
        1,
        {"non_table_message": 1},
    )
    assert r.crossed_after_sync == 0 and r.bad == {}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (message("delete", [level(77, "Sell", price=100.5)]), "depth_unknown_id"),
        (message("update", [level(77, "Buy", 5)]), "depth_unknown_id"),
        (message("insert", [level(2, "Buy", 5, 100.0)]), "depth_duplicate_id"),
        (message("insert", [level(8, "Buy", 5, 100.05)]), "depth_off_tick"),
        (message("insert", [level(8, "Buy", 5, -100.0)]), "depth_negative"),
        (message("insert", [level(8, "Buy", 5, "100.0")]), "depth_bad_price"),  # a string, not a JSON number
        (message("insert", [level(8, "Buy", 5)]), "depth_missing_price"),
        (message("insert", [{**level(8, "Buy", 5), "price": None}]), "depth_bad_price"),
        (message("insert", [level(8, "Buy", 5.5, 99.0)]), "depth_bad_size"),
        (message("insert", [level(8, "Buy", -5, 99.0)]), "depth_negative"),
        (message("insert", [level(8, "Buy", 0, 99.0)]), "depth_zero_qty"),
        (message("insert", [level(8, "Hold", 5, 99.0)]), "depth_bad_side"),
        (message("insert", [level(8, "Buy", 5, 99.0, ts="yesterday")]), "depth_bad_timestamp"),
        (message("insert", [level(8, "Buy", 5, 99.0, ts="2025-02-30T00:00:00Z")]), "depth_bad_timestamp"),
        (message("update", [level(2, "Sell", 5)]), "depth_side_changed"),
        (message("update", [level(2, "Buy", 5, 101.0)]), "depth_price_changed"),
        (message("update", [level("2", "Buy", 5)]), "depth_bad_id"),
        (message("update", ["not a row"]), "depth_malformed"),
        (message("truncate", []), "depth_malformed"),
        # a bad row poisons the good row before it: nothing of the message is applied
        (message("insert", [level(8, "Buy", 5, 99.0), level(9, "Buy", 5, 99.05)]), "depth_off_tick"),
    ],
)
def test_bad_messages_are_rejected_whole_and_invalidate_the_book(tmp_path, bad, reason):
    path = write(tmp_path, [PARTIAL, bad, message("update", [level(3, "Buy", 7)]), PARTIAL])
    loaded = load([path])
    r = loaded.report
    assert r.bad == {reason: 1}
    assert (r.gaps, r.resyncs, r.depth_dropped_before_snapshot, r.depth_applied, r.snapshots) == (
        1,
        1,
        1,
        0,
        2,
    )
    assert (
        loaded.events["kind"].tolist()
        == [EV_DEPTH_CLEAR]
        + [EV_DEPTH_SNAPSHOT] * 3
        + [EV_BOOK_INVALID]
        + [EV_DEPTH_CLEAR]
        + [EV_DEPTH_SNAPSHOT] * 3
    )


def test_iso_timestamps_are_exact_and_strict():
    assert iso_to_ns("1970-01-01T00:00:00Z") == 0
    assert iso_to_ns("2025-10-16T18:20:32.123456789Z") == 1760638832123456789
    for text in ("2025-10-16 18:20:32Z", "2025-10-16T18:20:32.003+00:00", "", None, 5):
        with pytest.raises(Reject):
            iso_to_ns(text)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            b'{"table":"orderBookL2_25","action":"insert","data":[{"symbol":"XBTUSD","id":8,"price":NaN}]}',
            "line_bad_json",
        ),
        (b'{"table":"orderBookL2_25","action":"insert","data":[{"price":Infinity}]}', "line_bad_json"),
        (b'{"table":"orderBookL2_25","action":"ins', "line_bad_json"),
        (b'{"info":"Welcome", "trunc', "line_bad_json"),
        (b'{"table":"orderBookL2_25","data":"\xff\xfe"}', "line_non_utf8"),
        (b"", "line_empty"),
    ],
)
def test_malformed_lines_are_counted_and_unreadable_book_lines_invalidate(tmp_path, line, reason):
    path = write(tmp_path, [PARTIAL, line, message("update", [level(3, "Buy", 7)])])
    r = load([path]).report
    assert r.bad == {reason: 1}
    if b"orderBookL2" in line:
        # a book message we could not read: without sequence numbers nothing else would notice the loss
        assert (r.depth_applied, r.gaps, r.book_state_at_end) == (0, 1, "invalid_after_gap")
    else:
        assert (r.depth_applied, r.gaps) == (1, 0)


def test_crossed_partial_is_refused(tmp_path):
    crossed = message("partial", [level(1, "Sell", 300, 100.0), level(2, "Buy", 200, 100.0)])
    loaded = load([write(tmp_path, [crossed, message("update", [level(2, "Buy", 7)])])])
    assert loaded.report.bad == {"snapshot_crossed": 1}
    assert len(loaded.events) == 0 and loaded.report.book_state_at_end == "no_snapshot"


def test_number_text_is_converted_exactly(tmp_path):
    # the JSON number text itself is parsed: exponents, many digits, integers; never a binary float
    partial = (
        b'{"table":"orderBookL2_25","action":"partial","data":['
        b'{"symbol":"XBTUSD","id":1,"side":"Sell","size":3,"price":1.00050e5,"timestamp":"2025-10-16T18:20:32Z"},'
        b'{"symbol":"XBTUSD","id":2,"side":"Buy","size":2,"price":100049.90000000000000001,'
        b'"timestamp":"2025-10-16T18:20:32Z"},'
        b'{"symbol":"XBTUSD","id":3,"side":"Buy","size":2,"price":99999,"timestamp":"2025-10-16T18:20:32Z"}]}'
    )
    loaded = load([write(tmp_path, [partial])])
    # 100049.90000000000000001 is off-tick although float() would round it onto the tick
    assert loaded.report.bad == {"snapshot_off_tick": 1}
    fixed = partial.replace(b"100049.90000000000000001", b"100049.90000000")
    loaded = load([write(tmp_path, [fixed], "fixed.jsonl")])
    assert loaded.report.bad == {}
    assert loaded.events["price"].tolist() == [0, 1000500, 1000499, 999990]


def test_symbol_absent_from_the_dump_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no rows for ETHUSD"):
        load([write(tmp_path, [PARTIAL])], "ETHUSD")
