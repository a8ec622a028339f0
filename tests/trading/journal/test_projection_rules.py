"""The order / fill / position fold of the sink on hand-written record sequences (no database):
the transitions a backtest journal rarely or never shows."""

from __future__ import annotations

import numpy as np

from hotpath.types import (
    F_MAKER,
    F_OPERATOR,
    F_REDUCE_ONLY,
    F_SELL,
    JOURNAL_RECORD_DTYPE,
    OT_LIMIT,
    OT_MARKET,
    REC_CANCEL_REJECTED,
    REC_CANCEL_SENT,
    REC_FILL,
    REC_INPUT,
    REC_ORDER_ACKED,
    REC_ORDER_ADOPTED,
    REC_ORDER_CANCELED,
    REC_ORDER_EXPIRED,
    REC_ORDER_NEW,
    REC_ORDER_REJECTED,
    REC_ORDER_SENT,
    TIF_GTC,
    TIF_IOC,
)
from trading.journal_sink import project


def journal(*rows: dict) -> np.ndarray:
    records = np.zeros(len(rows), dtype=JOURNAL_RECORD_DTYPE)
    for i, row in enumerate(rows):
        records[i]["seq"] = 100 + i
        records[i]["ts_local"] = 1_000 + i
        records[i]["ts_event"] = 900 + i
        for name, value in row.items():
            records[i][name] = value
    return records


def fold(records, stored=None, symbols=None):
    loaded = []

    def load(ids):
        loaded.extend(ids)
        return {cid: dict(row) for cid, row in (stored or {}).items() if cid in ids}

    return project(records, 5, symbols or {0: "BTCUSDT", 1: "ETHUSDT"}, load), loaded


def new(order_id, **fields):
    return {
        "kind": REC_ORDER_NEW,
        "order_id": order_id,
        "price": 50,
        "qty": 10,
        "a": OT_LIMIT,
        "b": TIF_GTC,
        **fields,
    }


def test_life_of_an_order_partially_filled_then_cancelled():
    records = journal(
        new(1, flags=F_SELL | F_REDUCE_ONLY | F_OPERATOR, instrument=1),
        {"kind": REC_ORDER_SENT, "order_id": 1, "instrument": 1},
        {"kind": REC_INPUT, "order_id": 1, "reason": 10},  # inputs never touch the projection
        {"kind": REC_ORDER_ACKED, "order_id": 1, "a": 777, "instrument": 1},
        {"kind": REC_FILL, "order_id": 1, "price": 50, "qty": 4, "flags": F_SELL | F_MAKER, "a": -4, "b": 0, "c": 12,
         "d": 9001, "e": 100, "instrument": 1},
        {"kind": REC_CANCEL_SENT, "order_id": 1, "instrument": 1},
        {"kind": REC_FILL, "order_id": 1, "price": 51, "qty": 1, "flags": F_SELL, "a": -5, "b": 0, "c": 3, "d": 9002,
         "e": 102, "instrument": 1},  # a fill while the cancel is in flight
        {"kind": REC_ORDER_CANCELED, "order_id": 1, "qty": 5, "instrument": 1},
    )  # fmt: skip
    out, loaded = fold(records)
    assert loaded == []  # created in this batch: nothing to load
    order = out.orders[1]
    assert order == {
        "client_id": 1,
        "instrument": 1,
        "symbol": "ETHUSDT",
        "side": "SELL",
        "order_type": "LIMIT",
        "tif": "GTC",
        "flags": F_REDUCE_ONLY | F_OPERATOR,
        "price": 50,
        "qty": 10,
        "filled": 5,
        "status": "CANCELLED",
        "reason": 0,
        "venue_order_id": 777,
        "created_ns": 1_000,
        "sent_ns": 1_001,
        "acked_ns": 1_003,
        "updated_ns": 1_007,
        "first_seq": 100,
        "last_seq": 107,
    }
    assert [fill[1] for fill in out.fills] == [104, 106]
    assert out.fills[0] == (5, 104, 1, 1, "ETHUSDT", "SELL", 50, 4, 12, True, -4, 0, 9001, 100, 904, 1_004)
    assert out.positions == {1: [5, 1, "ETHUSDT", -5, 0, 15, 5, 2, 106, 906, 1_006]}


def test_partial_fill_during_pending_cancel_keeps_pending_cancel_and_a_cancel_reject_restores():
    stored = {
        2: {"client_id": 2, "instrument": 0, "symbol": "BTCUSDT", "side": "BUY", "order_type": "LIMIT", "tif": "GTC",
            "flags": 0, "price": 50, "qty": 10, "filled": 0, "status": "ACKED", "reason": 0, "venue_order_id": 8,
            "created_ns": 1, "sent_ns": 1, "acked_ns": 2, "updated_ns": 2, "first_seq": 3, "last_seq": 5},
    }  # fmt: skip
    records = journal(
        {"kind": REC_CANCEL_SENT, "order_id": 2},
        {"kind": REC_FILL, "order_id": 2, "qty": 3, "price": 50, "a": 3},
        {"kind": REC_CANCEL_REJECTED, "order_id": 2, "reason": 2011},
    )
    out, loaded = fold(records, stored)
    assert loaded == [2]
    assert out.orders[2]["status"] == "PARTIALLY_FILLED" and out.orders[2]["filled"] == 3
    assert out.orders[2]["reason"] == 2011 and out.orders[2]["last_seq"] == 102
    records = journal(
        {"kind": REC_CANCEL_SENT, "order_id": 2}, {"kind": REC_FILL, "order_id": 2, "qty": 3, "a": 3}
    )
    out, _ = fold(records, stored)
    assert out.orders[2]["status"] == "PENDING_CANCEL"  # the venue has not answered the cancel yet
    records = journal({"kind": REC_CANCEL_SENT, "order_id": 2}, {"kind": REC_CANCEL_REJECTED, "order_id": 2})
    out, _ = fold(records, stored)
    assert out.orders[2]["status"] == "ACKED"


def test_rejected_expired_and_filled_orders():
    records = journal(
        new(3, a=OT_MARKET, b=TIF_IOC, price=0),
        {"kind": REC_ORDER_SENT, "order_id": 3},
        {"kind": REC_ORDER_EXPIRED, "order_id": 3, "qty": 10},
        new(4),
        {"kind": REC_ORDER_SENT, "order_id": 4},
        {"kind": REC_ORDER_REJECTED, "order_id": 4, "reason": 3},
        new(5),
        {"kind": REC_ORDER_SENT, "order_id": 5},
        {"kind": REC_FILL, "order_id": 5, "qty": 10, "price": 50, "a": 10},
    )
    out, _ = fold(records)
    assert (out.orders[3]["order_type"], out.orders[3]["tif"], out.orders[3]["status"]) == (
        "MARKET",
        "IOC",
        "EXPIRED",
    )
    assert (out.orders[4]["status"], out.orders[4]["reason"]) == ("REJECTED", 3)
    assert (out.orders[5]["status"], out.orders[5]["filled"]) == ("FILLED", 10)
    assert out.orders[3]["acked_ns"] is None and out.orders[5]["sent_ns"] == 1_007


def test_adopted_orders_and_fills_of_unknown_orders():
    records = journal(
        {
            "kind": REC_ORDER_ADOPTED,
            "order_id": 900,
            "price": 70,
            "qty": 20,
            "flags": F_SELL,
            "a": 5,
            "b": 4242,
        },
        {"kind": REC_ORDER_ADOPTED, "order_id": 901, "price": 60, "qty": 20, "a": 0, "b": 4243},
        {
            "kind": REC_FILL,
            "order_id": 12345,
            "qty": 2,
            "price": 60,
            "a": 2,
            "b": 0,
            "c": 1,
        },  # engine alerted
    )
    out, loaded = fold(records)
    assert loaded == [12345]  # looked up, not found: no order row invented
    assert set(out.orders) == {900, 901}
    adopted = out.orders[900]
    assert (adopted["status"], adopted["filled"], adopted["venue_order_id"], adopted["side"]) == (
        "PARTIALLY_FILLED",
        5,
        4242,
        "SELL",
    )
    assert (adopted["order_type"], adopted["tif"], adopted["first_seq"]) == ("LIMIT", "GTC", 100)
    assert out.orders[901]["status"] == "ACKED"
    assert [fill[2] for fill in out.fills] == [12345]  # the fill itself is still a fill
    assert out.positions[0][3:8] == [2, 0, 1, 2, 1]


def test_batches_without_order_records_touch_nothing():
    out, loaded = fold(journal({"kind": REC_INPUT}, {"kind": REC_INPUT, "order_id": 7}))
    assert (out.orders, out.fills, out.positions, loaded) == ({}, [], {}, [])
