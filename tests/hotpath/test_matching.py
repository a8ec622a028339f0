"""hotpath.matching (SimulatedVenue): exact scenario tests and a property test against the
plain-Python reference (tests/hotpath/reference/matching_ref.py)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hotpath.matching as matching
import hotpath.types as hptypes
from hotpath.matching import SimulatedVenue
from tests.hotpath.reference import matching_ref as R
from tests.hotpath.reference.matching_ref import (
    EV_CANCEL_REJECT,
    EV_ORDER_ACK,
    EV_ORDER_CANCELED,
    EV_ORDER_EXPIRED,
    EV_ORDER_FILL,
    EV_ORDER_REJECT,
    F_MAKER,
    F_SELL,
    OT_LIMIT,
    OT_LIMIT_MAKER,
    OT_MARKET,
    TIF_FOK,
    TIF_GTC,
    TIF_IOC,
    VenueRef,
)

BUY, SELL = 0, 1
INT64_MAX = 2**63 - 1

# BTCUSDT-like linear: tick 0.01 USDT, lot 0.00001 BTC -> notional nano USDT = price * qty * 100.
LINEAR = {"contract_type": 0, "value_num": 100, "value_den": 1, "maker_fee_ppm": -50, "taker_fee_ppm": 300}
# XBTUSD-like inverse: tick 0.5 USD, 1 USD per contract -> nano XBT = qty * 2e9 / price.
INVERSE = {
    "contract_type": 1,
    "value_num": 10**9,
    "value_den": 1,
    "inv_num": 2 * 10**9,
    "inv_den": 1,
    "maker_fee_ppm": -250,
    "taker_fee_ppm": 750,
}
PLAIN = {"value_num": 1, "value_den": 1}  # zero fees: scenarios about matching only


def _enum(module, enum_name: str, member: str) -> int:
    """Enum value from a compiled module, whether the enum is named or anonymous."""
    if hasattr(module, member):
        return int(getattr(module, member))
    return int(getattr(getattr(module, enum_name), member))


def test_reference_constants_match_the_compiled_enums():
    for name in ("VR_NONE", "VR_WOULD_TAKE", "VR_UNKNOWN_ORDER", "VR_DUPLICATE_ID", "VR_BAD_PRICE"):
        assert _enum(matching, "VenueReject", name) == getattr(R, name)
    for name in ("VR_BAD_QTY", "VR_TOO_MANY_ORDERS", "VR_BAD_INSTRUMENT", "VR_BAD_ORDER"):
        assert _enum(matching, "VenueReject", name) == getattr(R, name)
    for name in ("EV_ORDER_ACK", "EV_ORDER_REJECT", "EV_ORDER_FILL", "EV_ORDER_CANCELED"):
        assert _enum(hptypes, "EventKind", name) == getattr(R, name)
    for name in ("EV_CANCEL_REJECT", "EV_ORDER_EXPIRED"):
        assert _enum(hptypes, "EventKind", name) == getattr(R, name)
    assert _enum(hptypes, "EventFlag", "F_SELL") == F_SELL
    assert _enum(hptypes, "EventFlag", "F_MAKER") == F_MAKER
    assert _enum(hptypes, "OrderType", "OT_LIMIT_MAKER") == OT_LIMIT_MAKER
    assert _enum(hptypes, "OrderType", "OT_MARKET") == OT_MARKET
    assert _enum(hptypes, "TimeInForce", "TIF_FOK") == TIF_FOK
    assert _enum(hptypes, "TimeInForce", "TIF_IOC") == TIF_IOC
    assert (int(hptypes.BUY), int(hptypes.SELL)) == (BUY, SELL)


def ev(kind, ts, oid, *, price=0, qty=0, seq=0, aux=0, flags=0, inst=0, lat=0):
    return {
        "kind": kind,
        "ts_event": ts,
        "ts_local": ts + lat,
        "order_id": oid,
        "instrument": inst,
        "price": price,
        "qty": qty,
        "venue_seq": seq,
        "aux": aux,
        "flags": flags,
    }


def venue(instruments=(PLAIN,), **kw) -> SimulatedVenue:
    kw.setdefault("center_prices", [1000] * len(instruments))
    kw.setdefault("window_log2", 12)
    return SimulatedVenue([dict(i) for i in instruments], **kw)


def asks(v, *levels, ts=0, inst=0):
    for price, qty in levels:
        v.set_level(inst, SELL, price, qty, ts)


def bids(v, *levels, ts=0, inst=0):
    for price, qty in levels:
        v.set_level(inst, BUY, price, qty, ts)


def new(v, cid, side, order_type, tif, price, qty, ts, inst=0):
    """Send an order and let it arrive (scenario venues have zero entry latency)."""
    assert v.send_new(cid, inst, side, order_type, tif, price, qty, ts) == 0
    v.process(ts)


def drain(v):
    return v.pop_responses(INT64_MAX)


# ---------------------------------------------------------------------------------------------
# taker orders


def test_market_order_walks_levels_and_expires_remainder():
    v = venue()
    asks(v, (1001, 5), (1002, 3), (1005, 10))
    bids(v, (999, 4))
    new(v, 1, BUY, OT_MARKET, TIF_GTC, 0, 12, ts=10)
    assert drain(v) == [
        ev(EV_ORDER_ACK, 10, 1, qty=12, aux=1),
        ev(EV_ORDER_FILL, 10, 1, price=1001, qty=5, seq=1),
        ev(EV_ORDER_FILL, 10, 1, price=1002, qty=3, seq=2),
        ev(EV_ORDER_FILL, 10, 1, price=1005, qty=4, seq=3),
    ]
    # the recorded book is never changed by our orders
    assert [v.level(0, SELL, p) for p in (1001, 1002, 1005)] == [5, 3, 10]
    new(v, 2, BUY, OT_MARKET, TIF_IOC, 0, 25, ts=20)
    assert drain(v) == [
        ev(EV_ORDER_ACK, 20, 2, qty=25, aux=2),
        ev(EV_ORDER_FILL, 20, 2, price=1001, qty=5, seq=4),
        ev(EV_ORDER_FILL, 20, 2, price=1002, qty=3, seq=5),
        ev(EV_ORDER_FILL, 20, 2, price=1005, qty=10, seq=6),
        ev(EV_ORDER_EXPIRED, 20, 2, qty=7),
    ]
    new(v, 3, SELL, OT_MARKET, TIF_GTC, 0, 6, ts=30)
    assert drain(v) == [
        ev(EV_ORDER_ACK, 30, 3, qty=6, aux=3, flags=F_SELL),
        ev(EV_ORDER_FILL, 30, 3, price=999, qty=4, seq=7, flags=F_SELL),
        ev(EV_ORDER_EXPIRED, 30, 3, qty=2, flags=F_SELL),
    ]
    assert v.resting() == []
    c = v.counters
    assert (c["n_fills"], c["n_taker_fills"], c["n_maker_fills"], c["n_expired"]) == (7, 7, 0, 2)


def test_market_order_on_empty_side_expires_without_fill():
    v = venue()
    bids(v, (999, 4))
    new(v, 1, BUY, OT_MARKET, TIF_GTC, 0, 3, ts=5)
    assert drain(v) == [ev(EV_ORDER_ACK, 5, 1, qty=3, aux=1), ev(EV_ORDER_EXPIRED, 5, 1, qty=3)]
    assert v.counters["next_trade_id"] == 1


def test_ioc_partial_fill_then_expire():
    v = venue()
    asks(v, (1001, 5), (1002, 3), (1003, 4))
    new(v, 1, BUY, OT_LIMIT, TIF_IOC, 1002, 10, ts=1)
    assert drain(v) == [
        ev(EV_ORDER_ACK, 1, 1, price=1002, qty=10, aux=1),
        ev(EV_ORDER_FILL, 1, 1, price=1001, qty=5, seq=1),
        ev(EV_ORDER_FILL, 1, 1, price=1002, qty=3, seq=2),
        ev(EV_ORDER_EXPIRED, 1, 1, price=1002, qty=2),
    ]
    assert v.resting() == []
    # an IOC that reaches nothing expires whole
    new(v, 2, BUY, OT_LIMIT, TIF_IOC, 1000, 4, ts=2)
    assert drain(v) == [
        ev(EV_ORDER_ACK, 2, 2, price=1000, qty=4, aux=2),
        ev(EV_ORDER_EXPIRED, 2, 2, price=1000, qty=4),
    ]


def test_fok_unfillable_expires_without_fills_and_fillable_fills():
    v = venue()
    bids(v, (999, 5), (998, 3), (990, 50))
    new(v, 1, SELL, OT_LIMIT, TIF_FOK, 998, 9, ts=1)
    assert drain(v) == [
        ev(EV_ORDER_ACK, 1, 1, price=998, qty=9, aux=1, flags=F_SELL),
        ev(EV_ORDER_EXPIRED, 1, 1, price=998, qty=9, flags=F_SELL),
    ]
    assert v.counters["n_fills"] == 0
    new(v, 2, SELL, OT_LIMIT, TIF_FOK, 998, 8, ts=2)
    assert drain(v) == [
        ev(EV_ORDER_ACK, 2, 2, price=998, qty=8, aux=2, flags=F_SELL),
        ev(EV_ORDER_FILL, 2, 2, price=999, qty=5, seq=1, flags=F_SELL),
        ev(EV_ORDER_FILL, 2, 2, price=998, qty=3, seq=2, flags=F_SELL),
    ]
    assert v.resting() == []


def test_post_only_rejected_when_it_would_take_and_rests_otherwise():
    v = venue()
    bids(v, (999, 7))
    asks(v, (1001, 5))
    new(v, 1, BUY, OT_LIMIT_MAKER, TIF_GTC, 1001, 2, ts=1)
    new(v, 2, SELL, OT_LIMIT_MAKER, TIF_IOC, 998, 2, ts=1)  # tif ignored
    new(v, 3, BUY, OT_LIMIT_MAKER, TIF_GTC, 999, 2, ts=1)
    new(v, 4, SELL, OT_LIMIT_MAKER, TIF_FOK, 1000, 2, ts=1)
    assert drain(v) == [
        ev(EV_ORDER_REJECT, 1, 1, price=1001, qty=2, aux=R.VR_WOULD_TAKE),
        ev(EV_ORDER_REJECT, 1, 2, price=998, qty=2, aux=R.VR_WOULD_TAKE, flags=F_SELL),
        ev(EV_ORDER_ACK, 1, 3, price=999, qty=2, aux=1),
        ev(EV_ORDER_ACK, 1, 4, price=1000, qty=2, aux=2, flags=F_SELL),
    ]
    assert v.resting() == [
        {
            "client_id": 3,
            "venue_id": 1,
            "instrument": 0,
            "side": BUY,
            "price": 999,
            "leaves": 2,
            "queue_ahead": 7,
            "ts_arrival": 1,
        },
        {
            "client_id": 4,
            "venue_id": 2,
            "instrument": 0,
            "side": SELL,
            "price": 1000,
            "leaves": 2,
            "queue_ahead": 0,
            "ts_arrival": 1,
        },
    ]
    # a post-only order on an empty opposite side rests
    v2 = venue()
    new(v2, 9, BUY, OT_LIMIT_MAKER, TIF_GTC, 5000, 1, ts=3)
    assert drain(v2) == [ev(EV_ORDER_ACK, 3, 9, price=5000, qty=1, aux=1)]


def test_gtc_crosses_then_rests_remainder():
    v = venue()
    asks(v, (1001, 5), (1002, 3), (1003, 9))
    bids(v, (1002, 0))  # nothing on our side at 1002
    new(v, 1, BUY, OT_LIMIT, TIF_GTC, 1002, 10, ts=4)
    assert drain(v) == [
        ev(EV_ORDER_ACK, 4, 1, price=1002, qty=10, aux=1),
        ev(EV_ORDER_FILL, 4, 1, price=1001, qty=5, seq=1),
        ev(EV_ORDER_FILL, 4, 1, price=1002, qty=3, seq=2),
    ]
    assert v.resting() == [
        {
            "client_id": 1,
            "venue_id": 1,
            "instrument": 0,
            "side": BUY,
            "price": 1002,
            "leaves": 2,
            "queue_ahead": 0,
            "ts_arrival": 4,
        }
    ]
    # the unchanged recorded book still crosses the rest: the next crossing update fills it
    asks(v, (1003, 8), ts=6)  # above our price: nothing
    assert drain(v) == []
    asks(v, (1002, 1), ts=7)
    assert drain(v) == [ev(EV_ORDER_FILL, 7, 1, price=1002, qty=2, seq=3, flags=F_MAKER)]
    assert v.resting() == []


# ---------------------------------------------------------------------------------------------
# resting orders: queue position model


def test_rest_then_fill_by_trades_at_our_price():
    v = venue()
    bids(v, (999, 10))
    asks(v, (1001, 10))
    new(v, 1, BUY, OT_LIMIT, TIF_GTC, 999, 4, ts=1)
    assert drain(v) == [ev(EV_ORDER_ACK, 1, 1, price=999, qty=4, aux=1)]
    assert v.resting()[0]["queue_ahead"] == 10
    v.trade(0, SELL, 999, 6, 2)  # eats 6 of the 10 ahead
    assert drain(v) == []
    assert v.resting()[0]["queue_ahead"] == 4
    v.trade(0, BUY, 999, 50, 3)  # a buy aggressor does not trade against bids
    v.trade(0, SELL, 1000, 50, 3)  # above our bid: not ours
    assert v.resting()[0]["queue_ahead"] == 4
    v.trade(0, SELL, 999, 7, 4)  # 4 ahead, 3 excess fill us
    assert drain(v) == [ev(EV_ORDER_FILL, 4, 1, price=999, qty=3, seq=1, flags=F_MAKER)]
    assert v.resting()[0]["leaves"] == 1 and v.resting()[0]["queue_ahead"] == 0
    v.trade(0, SELL, 999, 5, 5)
    assert drain(v) == [ev(EV_ORDER_FILL, 5, 1, price=999, qty=1, seq=2, flags=F_MAKER)]
    assert v.resting() == []
    c = v.counters
    assert (c["n_maker_fills"], c["n_taker_fills"]) == (2, 0)


def test_trade_through_fills_whole_leaves():
    v = venue()
    asks(v, (1001, 10))
    new(v, 1, SELL, OT_LIMIT, TIF_GTC, 1001, 4, ts=1)
    new(v, 2, SELL, OT_LIMIT, TIF_GTC, 1003, 5, ts=1)
    drain(v)
    v.trade(0, BUY, 1002, 1, 2)  # through 1001, not through 1003
    assert drain(v) == [ev(EV_ORDER_FILL, 2, 1, price=1001, qty=4, seq=1, flags=F_SELL | F_MAKER)]
    assert [o["client_id"] for o in v.resting()] == [2]


def test_book_crossing_update_fills_whole_leaves():
    v = venue()
    bids(v, (999, 10))
    asks(v, (1001, 3))
    new(v, 1, BUY, OT_LIMIT, TIF_GTC, 999, 4, ts=1)
    new(v, 2, BUY, OT_LIMIT, TIF_GTC, 997, 4, ts=1)
    drain(v)
    asks(v, (1000, 2), ts=2)  # not at our price
    asks(v, (999, 0), ts=2)  # a removal never fills
    assert drain(v) == []
    asks(v, (998, 1), ts=3)  # through 999, not through 997
    assert drain(v) == [ev(EV_ORDER_FILL, 3, 1, price=999, qty=4, seq=1, flags=F_MAKER)]
    asks(v, (997, 6), ts=4)
    assert drain(v) == [ev(EV_ORDER_FILL, 4, 2, price=997, qty=4, seq=2, flags=F_MAKER)]
    assert v.resting() == []


def test_level_decrease_reduces_queue_ahead_risk_averse():
    v = venue()
    bids(v, (999, 10))
    new(v, 1, BUY, OT_LIMIT, TIF_GTC, 999, 5, ts=1)
    drain(v)
    bids(v, (999, 6), ts=2)
    assert v.resting()[0]["queue_ahead"] == 6
    bids(v, (999, 8), ts=3)  # growth is behind us: queue ahead unchanged
    assert v.resting()[0]["queue_ahead"] == 6
    bids(v, (998, 1), ts=3)  # other prices do not matter
    assert v.resting()[0]["queue_ahead"] == 6
    bids(v, (999, 7), ts=4)  # decrease to 7 >= 6 ahead: still 6
    assert v.resting()[0]["queue_ahead"] == 6
    bids(v, (999, 0), ts=5)  # level gone: we are at the front
    assert v.resting()[0]["queue_ahead"] == 0
    v.trade(0, SELL, 999, 2, 6)
    assert drain(v) == [ev(EV_ORDER_FILL, 6, 1, price=999, qty=2, seq=1, flags=F_MAKER)]
    assert v.resting()[0]["leaves"] == 3


def test_one_trade_against_several_orders_shares_its_quantity():
    v = venue()
    bids(v, (999, 3))
    asks(v, (1001, 1))
    new(v, 5, BUY, OT_LIMIT, TIF_GTC, 999, 4, ts=1)  # queue 3
    bids(v, (999, 1), ts=1)
    new(v, 2, BUY, OT_LIMIT, TIF_GTC, 999, 4, ts=2)  # queue 1 (lower id, later)
    new(v, 8, BUY, OT_LIMIT, TIF_GTC, 998, 2, ts=2)
    drain(v)
    assert [o["queue_ahead"] for o in v.resting()] == [1, 1, 0]
    v.trade(0, SELL, 999, 5, 3)
    # ascending client id: id 2 (excess 4) takes 4 of the 5 lots, id 5 (excess 4) the last 1
    assert drain(v) == [
        ev(EV_ORDER_FILL, 3, 2, price=999, qty=4, seq=1, flags=F_MAKER),
        ev(EV_ORDER_FILL, 3, 5, price=999, qty=1, seq=2, flags=F_MAKER),
    ]
    assert [(o["client_id"], o["leaves"], o["queue_ahead"]) for o in v.resting()] == [(5, 3, 0), (8, 2, 0)]
    v.trade(0, SELL, 997, 1, 4)  # through both remaining orders: whole leaves, ascending id
    assert drain(v) == [
        ev(EV_ORDER_FILL, 4, 5, price=999, qty=3, seq=3, flags=F_MAKER),
        ev(EV_ORDER_FILL, 4, 8, price=998, qty=2, seq=4, flags=F_MAKER),
    ]


# ---------------------------------------------------------------------------------------------
# cancels, ids, bad input, capacity


def test_cancel_and_cancel_unknown():
    v = venue((PLAIN, PLAIN), center_prices=[1000, 1000])
    new(v, 1, BUY, OT_LIMIT, TIF_GTC, 990, 5, ts=1)
    drain(v)
    for cid, inst, ts in ((1, 1, 2), (1, 0, 3), (1, 0, 4), (42, 0, 5)):
        assert v.send_cancel(cid, inst, ts) == 0
    v.process(10)
    assert drain(v) == [
        ev(EV_CANCEL_REJECT, 2, 1, aux=R.VR_UNKNOWN_ORDER, inst=1),  # wrong instrument
        ev(EV_ORDER_CANCELED, 3, 1, price=990, qty=5),
        ev(EV_CANCEL_REJECT, 4, 1, aux=R.VR_UNKNOWN_ORDER),  # already cancelled
        ev(EV_CANCEL_REJECT, 5, 42, aux=R.VR_UNKNOWN_ORDER),
    ]
    assert v.resting() == []
    assert v.counters["n_rejects"] == 3


def test_cancel_reports_leaves_after_partial_fill():
    v = venue()
    bids(v, (999, 1))
    new(v, 1, BUY, OT_LIMIT, TIF_GTC, 999, 5, ts=1)
    v.trade(0, SELL, 999, 3, 2)
    v.send_cancel(1, 0, 3)
    v.process(3)
    assert drain(v) == [
        ev(EV_ORDER_ACK, 1, 1, price=999, qty=5, aux=1),
        ev(EV_ORDER_FILL, 2, 1, price=999, qty=2, seq=1, flags=F_MAKER),
        ev(EV_ORDER_CANCELED, 3, 1, price=999, qty=3),
    ]


def test_cancel_all_in_ascending_client_id_for_one_instrument():
    v = venue((PLAIN, PLAIN), center_prices=[1000, 1000])
    for cid in (7, 3, 9, 5):
        new(v, cid, SELL if cid == 9 else BUY, OT_LIMIT, TIF_GTC, 1010 if cid == 9 else 990 - cid, 1, ts=1)
    new(v, 4, BUY, OT_LIMIT, TIF_GTC, 990, 1, ts=1, inst=1)
    drain(v)
    v.send_cancel_all(0, 2)
    v.send_cancel_all(0, 3)  # nothing left: no answer
    v.send_cancel_all(9, 4)  # no such instrument
    v.process(4)
    assert drain(v) == [
        ev(EV_ORDER_CANCELED, 2, 3, price=987, qty=1),
        ev(EV_ORDER_CANCELED, 2, 5, price=985, qty=1),
        ev(EV_ORDER_CANCELED, 2, 7, price=983, qty=1),
        ev(EV_ORDER_CANCELED, 2, 9, price=1010, qty=1, flags=F_SELL),
        ev(EV_CANCEL_REJECT, 4, 0, aux=R.VR_BAD_INSTRUMENT, inst=9),
    ]
    assert [(o["client_id"], o["instrument"]) for o in v.resting()] == [(4, 1)]


def test_duplicate_client_id_rejected_while_live_only():
    v = venue((PLAIN, PLAIN), center_prices=[1000, 1000])
    new(v, 1, BUY, OT_LIMIT, TIF_GTC, 990, 5, ts=1)
    new(v, 1, SELL, OT_LIMIT, TIF_GTC, 1010, 2, ts=2)
    new(v, 1, SELL, OT_LIMIT, TIF_GTC, 1010, 2, ts=2, inst=1)  # ids are venue-wide
    v.send_cancel(1, 0, 3)
    v.process(3)
    new(v, 1, SELL, OT_LIMIT, TIF_GTC, 1010, 2, ts=4)  # finished ids may come back
    assert drain(v) == [
        ev(EV_ORDER_ACK, 1, 1, price=990, qty=5, aux=1),
        ev(EV_ORDER_REJECT, 2, 1, price=1010, qty=2, aux=R.VR_DUPLICATE_ID, flags=F_SELL),
        ev(EV_ORDER_REJECT, 2, 1, price=1010, qty=2, aux=R.VR_DUPLICATE_ID, flags=F_SELL, inst=1),
        ev(EV_ORDER_CANCELED, 3, 1, price=990, qty=5),
        ev(EV_ORDER_ACK, 4, 1, price=1010, qty=2, aux=2, flags=F_SELL),
    ]


@pytest.mark.parametrize(
    "cid,inst,side,ot,tif,price,qty,reason",
    [
        (1, 0, BUY, OT_LIMIT, TIF_GTC, 990, 0, R.VR_BAD_QTY),
        (1, 0, BUY, OT_MARKET, TIF_GTC, 0, -3, R.VR_BAD_QTY),
        (1, 0, BUY, OT_LIMIT, TIF_GTC, 0, 1, R.VR_BAD_PRICE),
        (1, 0, SELL, OT_LIMIT, TIF_IOC, -5, 1, R.VR_BAD_PRICE),
        (1, 0, BUY, OT_LIMIT_MAKER, TIF_GTC, 2**61 + 1, 1, R.VR_BAD_PRICE),
        (1, 0, BUY, OT_LIMIT, TIF_GTC, 2**61, 2**62, R.VR_BAD_QTY),  # cannot be valued in int64
        (1, 0, BUY, OT_LIMIT, TIF_GTC, INT64_MAX, 1, R.VR_BAD_PRICE),
        (1, 3, BUY, OT_LIMIT, TIF_GTC, 990, 1, R.VR_BAD_INSTRUMENT),
        (1, -1, BUY, OT_LIMIT, TIF_GTC, 990, 1, R.VR_BAD_INSTRUMENT),
        (0, 0, BUY, OT_LIMIT, TIF_GTC, 990, 1, R.VR_BAD_ORDER),
        (-4, 0, BUY, OT_LIMIT, TIF_GTC, 990, 1, R.VR_BAD_ORDER),
        (1, 0, 2, OT_LIMIT, TIF_GTC, 990, 1, R.VR_BAD_ORDER),
        (1, 0, BUY, 7, TIF_GTC, 990, 1, R.VR_BAD_ORDER),
        (1, 0, BUY, OT_LIMIT, 3, 990, 1, R.VR_BAD_ORDER),
    ],
)
def test_bad_orders_are_rejected_with_reason(cid, inst, side, ot, tif, price, qty, reason):
    v = venue()
    asks(v, (1001, 5))
    assert v.send_new(cid, inst, side, ot, tif, price, qty, 1) == 0
    v.process(1)
    flags = F_SELL if side == SELL else 0
    expected_inst = inst if 0 <= inst <= 0xFFFF else 0xFFFF
    assert drain(v) == [
        ev(EV_ORDER_REJECT, 1, cid, price=price, qty=qty, aux=reason, flags=flags, inst=expected_inst)
    ]
    assert v.resting() == [] and v.counters["next_venue_id"] == 1 and v.counters["n_rejects"] == 1


def test_market_order_ignores_price_and_tif():
    v = venue()
    asks(v, (1001, 5))
    new(v, 1, BUY, OT_MARKET, 99, -7, 2, ts=1)
    assert drain(v) == [
        ev(EV_ORDER_ACK, 1, 1, price=-7, qty=2, aux=1),
        ev(EV_ORDER_FILL, 1, 1, price=1001, qty=2, seq=1),
    ]


def test_resting_table_full():
    v = venue(max_resting=2)
    asks(v, (1001, 5))
    new(v, 1, BUY, OT_LIMIT, TIF_GTC, 990, 1, ts=1)
    new(v, 2, BUY, OT_LIMIT_MAKER, TIF_GTC, 991, 1, ts=1)
    new(v, 3, BUY, OT_LIMIT, TIF_GTC, 992, 1, ts=2)
    new(v, 4, BUY, OT_LIMIT_MAKER, TIF_GTC, 992, 1, ts=2)
    new(v, 5, BUY, OT_LIMIT, TIF_IOC, 1001, 1, ts=3)  # never rests: accepted when full
    assert drain(v) == [
        ev(EV_ORDER_ACK, 1, 1, price=990, qty=1, aux=1),
        ev(EV_ORDER_ACK, 1, 2, price=991, qty=1, aux=2),
        ev(EV_ORDER_REJECT, 2, 3, price=992, qty=1, aux=R.VR_TOO_MANY_ORDERS),
        ev(EV_ORDER_REJECT, 2, 4, price=992, qty=1, aux=R.VR_TOO_MANY_ORDERS),
        ev(EV_ORDER_ACK, 3, 5, price=1001, qty=1, aux=3),
        ev(EV_ORDER_FILL, 3, 5, price=1001, qty=1, seq=1),
    ]


def test_command_ring_full_and_response_ring_full():
    v = venue(queue_capacity=2)
    asks(v, (1001, 1), (1002, 1), (1003, 1))
    assert v.send_new(1, 0, BUY, OT_MARKET, TIF_GTC, 0, 3, 5) == 0
    assert v.send_cancel(1, 0, 5) == 0
    assert v.send_cancel(2, 0, 5) == -1
    assert v.counters["n_dropped"] == 1
    assert v.next_arrival == 5
    v.process(5)
    # ACK + 3 fills + cancel reject into a ring of 2: the first two fit, the rest are lost
    assert v.counters["n_dropped"] == 4
    assert v.counters["n_fills"] == 3  # the venue traded anyway
    assert drain(v) == [
        ev(EV_ORDER_ACK, 5, 1, qty=3, aux=1),
        ev(EV_ORDER_FILL, 5, 1, price=1001, qty=1, seq=1),
    ]
    assert v.send_cancel(2, 0, 6) == 0  # room again


@pytest.mark.parametrize(
    "kw",
    [
        {"queue_capacity": 3},
        {"queue_capacity": 0},
        {"max_resting": 0},
        {"entry_latency_ns": -1},
        {"response_latency_ns": -1},
        {"window_log2": 30},
        {"center_prices": [0]},
    ],
)
def test_bad_venue_parameters(kw):
    with pytest.raises(ValueError):
        venue(**kw)


def test_bad_instrument_specs():
    with pytest.raises(ValueError):
        SimulatedVenue([])
    with pytest.raises(ValueError):
        SimulatedVenue([{"value_num": 1, "tick": 1}])
    with pytest.raises(ValueError):
        SimulatedVenue([{"contract_type": 2}])


# ---------------------------------------------------------------------------------------------
# latency


def test_latency_commands_and_responses():
    v = venue(entry_latency_ns=100, response_latency_ns=50)
    asks(v, (1001, 5), (1002, 5), ts=0)
    assert v.send_new(1, 0, BUY, OT_MARKET, TIF_GTC, 0, 6, 1_000) == 0
    assert v.next_arrival == 1_100
    asks(v, (1001, 1), ts=1_050)  # the market moves while the order travels
    v.process(1_099)
    assert v.next_response == INT64_MAX and v.resting() == []
    v.set_level(0, SELL, 1_003, 9, 1_100)  # at 1100 the order arrives first, then this update
    assert v.next_arrival == INT64_MAX
    assert v.next_response == 1_150
    assert v.pop_responses(1_149) == []
    assert v.pop_responses(1_150) == [
        ev(EV_ORDER_ACK, 1_100, 1, qty=6, aux=1, lat=50),
        ev(EV_ORDER_FILL, 1_100, 1, price=1001, qty=1, seq=1, lat=50),
        ev(EV_ORDER_FILL, 1_100, 1, price=1002, qty=5, seq=2, lat=50),
    ]
    # a resting order: fills are stamped with the market event's time
    v.send_new(2, 0, SELL, OT_LIMIT, TIF_GTC, 1_010, 3, 2_000)
    v.trade(0, BUY, 1_011, 1, 2_099)  # before arrival: not ours
    v.trade(0, BUY, 1_011, 1, 2_100)  # same time as arrival: the order is there first
    v.send_cancel(2, 0, 2_000)  # arrives at 2100, after the fill: the order is gone
    v.process(2_100)
    assert v.pop_responses(2_149) == []
    assert v.pop_responses(2_150) == [
        ev(EV_ORDER_ACK, 2_100, 2, price=1_010, qty=3, aux=2, flags=F_SELL, lat=50),
        ev(EV_ORDER_FILL, 2_100, 2, price=1_010, qty=3, seq=3, flags=F_SELL | F_MAKER, lat=50),
        ev(EV_CANCEL_REJECT, 2_100, 2, aux=R.VR_UNKNOWN_ORDER, lat=50),
    ]


# ---------------------------------------------------------------------------------------------
# fees


def test_linear_fees_taker_and_maker_rebate_exact():
    v = venue((LINEAR,), center_prices=[6_000_000], window_log2=16)
    asks(v, (6_000_100, 5), (6_000_200, 7))
    new(v, 1, BUY, OT_LIMIT, TIF_IOC, 6_000_200, 8, ts=1)
    # 6_000_100 * 5 * 100 = 3_000_050_000 nano USDT, 300 ppm -> 900_015
    # 6_000_200 * 3 * 100 = 1_800_060_000, 300 ppm -> 540_018
    assert drain(v)[1:] == [
        ev(EV_ORDER_FILL, 1, 1, price=6_000_100, qty=5, seq=1, aux=900_015),
        ev(EV_ORDER_FILL, 1, 1, price=6_000_200, qty=3, seq=2, aux=540_018),
    ]
    new(v, 2, BUY, OT_LIMIT_MAKER, TIF_GTC, 6_000_000, 5, ts=2)
    v.trade(0, SELL, 5_999_999, 1, 3)
    # 6_000_000 * 5 * 100 = 3_000_000_000, -50 ppm -> -150_000 (a rebate)
    assert drain(v)[1:] == [
        ev(EV_ORDER_FILL, 3, 2, price=6_000_000, qty=5, seq=3, aux=-150_000, flags=F_MAKER)
    ]
    new(v, 3, SELL, OT_LIMIT, TIF_GTC, 6_000_100, 5, ts=4)
    bids(v, (6_000_100, 1), ts=5)  # crosses our ask: maker fill
    # 6_000_100 * 5 * 100 = 3_000_050_000, -50 ppm -> -150_002.5 -> -150_003 (half away from zero)
    assert drain(v) == [
        ev(EV_ORDER_ACK, 4, 3, price=6_000_100, qty=5, aux=3, flags=F_SELL),
        ev(EV_ORDER_FILL, 5, 3, price=6_000_100, qty=5, seq=4, aux=-150_003, flags=F_SELL | F_MAKER),
    ]


def test_inverse_fees_taker_and_maker_rebate_exact():
    v = venue((INVERSE,), center_prices=[120_000], window_log2=16)
    bids(v, (120_000, 100))
    new(v, 1, SELL, OT_MARKET, TIF_GTC, 0, 100, ts=1)
    # 100 contracts at 60_000 USD: 100 * 2e9 / 120_000 = 1_666_666.67 -> 1_666_666 nano XBT
    # taker 750 ppm: 1_249.9995 -> 1_250
    assert drain(v)[1:] == [ev(EV_ORDER_FILL, 1, 1, price=120_000, qty=100, seq=1, aux=1_250, flags=F_SELL)]
    new(v, 2, BUY, OT_LIMIT, TIF_GTC, 120_000, 100, ts=2)
    v.trade(0, SELL, 119_999, 3, 3)
    # maker -250 ppm: -416.6665 -> -417
    assert drain(v)[1:] == [ev(EV_ORDER_FILL, 3, 2, price=120_000, qty=100, seq=2, aux=-417, flags=F_MAKER)]


def test_walk_stops_at_a_level_that_cannot_be_valued():
    v = venue((LINEAR,), center_prices=[1000])
    asks(v, (1001, 5), (2**61 + 1, 5))  # a far, absurd quote beyond the valuation bound
    new(v, 1, BUY, OT_MARKET, TIF_GTC, 0, 8, ts=1)
    out = drain(v)
    assert [(e["kind"], e["price"], e["qty"]) for e in out] == [
        (EV_ORDER_ACK, 0, 8),
        (EV_ORDER_FILL, 1001, 5),
        (EV_ORDER_EXPIRED, 0, 3),
    ]
    # a sell walks bids from the top: the absurd bid ends the walk before the good one, and FOK
    # counts with the same walk, so nothing is fillable
    bids(v, (2**61 + 1, 5), (1001, 5))
    new(v, 2, SELL, OT_LIMIT, TIF_FOK, 1000, 3, ts=2)
    new(v, 3, SELL, OT_LIMIT, TIF_IOC, 1000, 3, ts=2)
    assert [(e["kind"], e["order_id"], e["qty"]) for e in drain(v)] == [
        (EV_ORDER_ACK, 2, 3),
        (EV_ORDER_EXPIRED, 2, 3),
        (EV_ORDER_ACK, 3, 3),
        (EV_ORDER_EXPIRED, 3, 3),
    ]
    assert v.counters["n_fills"] == 1


# ---------------------------------------------------------------------------------------------
# snapshots


def _scenario_steps():
    """A scenario touching every piece of state (rings in flight included)."""
    return [
        ("level", 0, SELL, 1001, 5, 0),
        ("level", 0, SELL, 1002, 5, 0),
        ("level", 0, BUY, 999, 8, 0),
        ("level", 1, BUY, 119_990, 40, 0),
        ("new", 1, 0, BUY, OT_LIMIT, TIF_GTC, 999, 4, 10),
        ("new", 2, 0, SELL, OT_LIMIT_MAKER, TIF_GTC, 1002, 3, 10),
        ("new", 3, 1, SELL, OT_MARKET, TIF_GTC, 0, 10, 12),
        ("new", 4, 1, BUY, OT_LIMIT, TIF_GTC, 119_990, 7, 12),
        ("process", 60),
        ("trade", 0, SELL, 999, 9, 70),
        ("level", 0, BUY, 999, 3, 75),
        ("new", 5, 0, BUY, OT_LIMIT, TIF_IOC, 1002, 20, 80),
        ("cancel", 4, 1, 81),
        ("snapshot",),
        ("trade", 0, SELL, 999, 2, 140),
        ("level", 0, BUY, 1002, 1, 150),
        ("new", 6, 0, BUY, OT_LIMIT, TIF_GTC, 998, 2, 150),
        ("cancel_all", 0, 160),
        ("process", 10_000),
    ]


def _run(v, steps, snapshot=False):
    out = []
    for step in steps:
        kind, args = step[0], step[1:]
        if kind == "snapshot":
            if snapshot:
                data = v.to_bytes()
                v = SimulatedVenue.from_bytes(data)
                assert v.to_bytes() == data
            continue
        if kind == "level":
            v.set_level(*args)
        elif kind == "trade":
            v.trade(*args)
        elif kind == "new":
            v.send_new(*args)
        elif kind == "cancel":
            v.send_cancel(*args)
        elif kind == "cancel_all":
            v.send_cancel_all(*args)
        elif kind == "process":
            v.process(args[0])
        out.append(v.pop_responses(step[-1] + 20))
    return v, out


def test_snapshot_mid_scenario_continues_identically():
    def make():
        return venue(
            (LINEAR, INVERSE), entry_latency_ns=30, response_latency_ns=20, center_prices=[1000, 120_000]
        )

    plain, out_plain = _run(make(), _scenario_steps())
    restored, out_restored = _run(make(), _scenario_steps(), snapshot=True)
    assert out_plain == out_restored
    assert sum(len(o) for o in out_plain) >= 15
    assert plain.to_bytes() == restored.to_bytes()
    assert plain.resting() == restored.resting()
    assert plain.counters == restored.counters


def test_snapshot_bytes_layout_and_rejection_of_bad_bytes():
    v = venue(entry_latency_ns=7, response_latency_ns=3, max_resting=4, queue_capacity=8)
    bids(v, (999, 2))
    v.send_new(1, 0, BUY, OT_LIMIT, TIF_GTC, 999, 5, 0)
    v.process(7)
    v.send_cancel(1, 0, 8)
    data = v.to_bytes()
    words = struct.unpack(f"<{len(data) // 8}q", data)
    # magic, 1 instrument (8 fields), book (11 header + bids 1 level + asks 0), then the venue
    book_start = 2 + 8
    sim = list(words[book_start + 11 + 3 + 1 :])
    assert sim[:5] == [7, 3, 4, 8, 1]  # params, n_instruments
    assert sim[5:13] == [2, 1, 0, 0, 0, 0, 0, 0]  # next ids and counters
    assert sim[13:22] == [1, 1, 1, 0, BUY, 999, 5, 2, 7]  # one resting order
    assert sim[22:32] == [1, 15, 2, 1, 0, 0, 0, 0, 0, 0]  # one cancel in flight (arrives at 15)
    assert sim[32] == 1 and sim[33:44] == [7, 10, 999, 5, 0, 1, 1, EV_ORDER_ACK, 0, 0, 0]
    assert len(sim) == 44
    again = SimulatedVenue.from_bytes(data)
    assert again.to_bytes() == data
    assert again.resting() == v.resting() and again.next_arrival == 15 and again.next_response == 10

    def patched(index, value):
        w = list(words)
        w[index] = value
        return struct.pack(f"<{len(w)}q", *w)

    sim0 = len(words) - len(sim)
    for bad in (
        data[:-8],
        data + b"\0" * 8,
        b"",
        patched(0, 1),  # magic
        patched(sim0 + 3, 6),  # queue capacity not a power of two
        patched(sim0 + 13, 5),  # more resting orders than max_resting
        patched(sim0 + 14, 0),  # client id 0
        patched(sim0 + 17, 2),  # side 2
        patched(sim0 + 19, 0),  # leaves 0
        patched(sim0 + 15, 2),  # venue id not yet issued
        patched(sim0 + 24, 9),  # unknown command kind
        patched(sim0 + 33 + 10, 1),  # reserved != 0
    ):
        with pytest.raises(ValueError):
            SimulatedVenue.from_bytes(bad)


# ---------------------------------------------------------------------------------------------
# property test against the reference

CENTERS = [1000, 120_000]
INSTRUMENTS = [LINEAR, INVERSE]


def _rarely(common: st.SearchStrategy, hostile: list) -> st.SearchStrategy:
    """Mostly `common`, about one draw in sixteen from the hostile values."""
    return st.integers(0, 15).flatmap(lambda k: st.sampled_from(hostile) if k == 0 else common)


@st.composite
def venue_ops(draw):
    # A few live prices per instrument and example: several of our orders share a price, and
    # trades and depth updates keep hitting them (queue, budget and crossing rules).
    live = [draw(st.lists(st.integers(c - 3, c + 3), min_size=1, max_size=3, unique=True)) for c in CENTERS]

    def _price(inst: int) -> st.SearchStrategy[int]:
        c = CENTERS[inst % 2]
        return _rarely(st.sampled_from(live[inst % 2]), [0, -1, 2**61, 2**61 + 1, c - 3000])

    ops = []
    kinds = ["level"] * 4 + ["trade"] * 2 + ["new"] * 4 + ["cancel", "cancel_all", "pop", "pop"]
    for _ in range(draw(st.integers(1, 80))):
        kind = draw(st.sampled_from(kinds))
        dt = draw(st.integers(0, 4))
        inst = draw(_rarely(st.sampled_from([0, 1]), [2, 3, 7]))  # 2.. do not exist
        if kind == "level":
            side = draw(st.sampled_from([BUY, SELL]))
            ops.append(
                (kind, dt, inst % 2, side, draw(_price(inst)), draw(st.sampled_from([0, 0, 1, 2, 5, 9, 20])))
            )
        elif kind == "trade":
            aggressor = draw(st.sampled_from([BUY, SELL]))
            ops.append((kind, dt, inst % 2, aggressor, draw(_price(inst)), draw(st.integers(0, 12))))
        elif kind == "new":
            ops.append(
                (
                    kind,
                    dt,
                    draw(_rarely(st.integers(1, 10), [0, -3])),  # small id range: duplicates happen
                    inst,
                    draw(_rarely(st.sampled_from([BUY, SELL]), [2, -1])),
                    draw(_rarely(st.sampled_from([OT_LIMIT, OT_LIMIT, OT_MARKET, OT_LIMIT_MAKER]), [5])),
                    draw(_rarely(st.sampled_from([TIF_GTC, TIF_GTC, TIF_IOC, TIF_FOK]), [4])),
                    draw(_price(inst)),
                    draw(_rarely(st.sampled_from([1, 2, 3, 7, 15]), [0, -2, 2**62])),
                )
            )
        elif kind == "cancel":
            ops.append((kind, dt, draw(st.integers(1, 10)), inst))
        elif kind == "cancel_all":
            ops.append((kind, dt, inst))
        else:
            ops.append((kind, dt, draw(st.booleans())))
    return ops


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    venue_ops(),
    st.integers(0, 3),
    st.integers(0, 3),
    st.sampled_from([1, 2, 64]),
    st.sampled_from([4, 64, 64]),
    st.integers(0, 10**6),
)
def test_random_sequences_match_reference(ops, entry, response, max_resting, queue_capacity, snap_seed):
    kw = {
        "entry_latency_ns": entry,
        "response_latency_ns": response,
        "max_resting": max_resting,
        "queue_capacity": queue_capacity,
        "center_prices": CENTERS,
        "window_log2": 12,
    }
    v = SimulatedVenue([dict(i) for i in INSTRUMENTS], **kw)
    ref = VenueRef([dict(i) for i in INSTRUMENTS], **kw)
    t = 0
    for i, op in enumerate(ops):
        t += op[1]
        kind, args = op[0], op[2:]
        if kind == "level":
            assert v.set_level(*args, t) == ref.set_level(*args, t)
        elif kind == "trade":
            v.trade(*args, t)
            ref.trade(*args, t)
        elif kind == "new":
            assert v.send_new(*args, t) == ref.send_new(*args, t)
        elif kind == "cancel":
            assert v.send_cancel(*args, t) == ref.send_cancel(*args, t)
        elif kind == "cancel_all":
            assert v.send_cancel_all(*args, t) == ref.send_cancel_all(*args, t)
        else:
            v.process(t)
            ref.process(t)
            if args[0]:
                assert v.pop_responses(t) == ref.pop_responses(t)
        assert v.resting() == ref.resting()
        assert v.counters == ref.counters
        assert (v.next_arrival, v.next_response) == (ref.next_arrival, ref.next_response)
        if (i * 7919 + snap_seed) % 11 == 0:  # snapshot and continue on the restored venue
            v = SimulatedVenue.from_bytes(v.to_bytes())
    v.process(INT64_MAX)
    ref.process(INT64_MAX)
    assert v.pop_responses(INT64_MAX) == ref.pop_responses(INT64_MAX)
    assert v.resting() == ref.resting()
    assert v.counters == ref.counters
