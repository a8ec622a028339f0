"""Reconciliation plans applied to a real engine in live mode (no simulated venue)."""

from __future__ import annotations

import pytest

from hotpath.orders import OS_ACKED
from hotpath.types import EV_ORDER_ACK, F_MAKER, OT_LIMIT_MAKER, SELL
from tests.support.engine_streams import Stream, quiet_book
from trading.backtest.config import build_engine_setup, parse_config
from trading.backtest.runner import build_engine
from trading.engine.reconcile import VenueOrder, VenueTrade, plan, position_differences
from trading.instruments import InstrumentRegistry

CONFIG = {"strategy": {"order_qty": "0.001", "max_position": "0.01", "warmup_events": 0}}


@pytest.fixture
def engine_with_quotes():
    spec = InstrumentRegistry().get("BTCUSDT", "spot")
    setup = build_engine_setup(parse_config(CONFIG), "mm", spec, latency_us=None, center_price=6_000_000)
    engine = build_engine(setup, with_sim=False)
    stream = quiet_book(Stream())
    run(engine, stream.array())
    orders = engine.live_orders()
    acks = Stream()
    acks.ts = stream.ts
    for k, order in enumerate(orders):
        acks.add(EV_ORDER_ACK, order_id=order["client_id"], aux=9000 + k, dt_ms=1)
    run(engine, acks.array())
    assert [o["status"] for o in engine.live_orders()] == [OS_ACKED, OS_ACKED]
    return engine, acks.ts


def run(engine, events):
    start = 0
    while start < len(events):
        start = engine.process(events, start)
        engine.drain()


def test_plan_adopts_fills_and_closes(engine_with_quotes):
    engine, ts = engine_with_quotes
    bid, ask = sorted(engine.live_orders(), key=lambda o: o["side"])
    venue_orders = [
        VenueOrder(
            0, bid["client_id"], 9000, 0, bid["order_type"], bid["price"], bid["qty"], 0
        ),  # still open
        VenueOrder(0, 77, 9500, SELL, OT_LIMIT_MAKER, 6_000_050, 2000, 500),  # ours, unknown: adopt
        VenueOrder(0, None, 1, 0, OT_LIMIT_MAKER, 5_000_000, 1000, 0),  # not ours
    ]
    trades = [
        # the ask filled completely while the node was down
        VenueTrade(0, 555, 9001, None, SELL, ask["price"], ask["qty"], 0, True, ts - 5),
        # a fill of the adopted order, reported by client id
        VenueTrade(0, 556, 9500, 77, SELL, 6_000_050, 500, 0, True, ts - 4),
    ]
    reconciliation = plan(engine.live_orders(), venue_orders, trades, policy="adopt", now_ns=ts + 1)
    assert reconciliation.adopted == [77] and reconciliation.fills == 2 and reconciliation.foreign_orders == 1
    assert reconciliation.closed == [ask["client_id"]]
    run(engine, reconciliation.events)
    live = {o["client_id"]: o for o in engine.live_orders()}
    assert set(live) == {bid["client_id"], 77}
    assert live[77]["filled"] == 1000, "adopted with 500 filled, then the reported 500 fill"
    assert engine.position(0)["qty"] == -ask["qty"] - 500
    # the same plan again, knowing what is booked: nothing left to do
    before = engine.state_hash()
    again = plan(
        engine.live_orders(), venue_orders, trades, policy="adopt", now_ns=ts + 2, booked=engine.has_fill
    )
    assert again.adopted == [] and again.closed == [] and again.fills == 0 and again.unknown_fills == []
    assert len(again.events) == 0 and engine.state_hash() == before
    # without that knowledge the fills are sent again and the engine's dedup drops them
    blind = plan(engine.live_orders(), venue_orders, trades, policy="adopt", now_ns=ts + 3)
    run(engine, blind.events)
    assert engine.position(0)["qty"] == -ask["qty"] - 500
    assert engine.stats()["duplicate_fills"] == 2


def test_orders_gone_from_the_venue_without_fills_are_closed(engine_with_quotes):
    engine, ts = engine_with_quotes
    reconciliation = plan(engine.live_orders(), [], [], policy="cancel", now_ns=ts + 1)
    assert reconciliation.cancel_all and len(reconciliation.closed) == 2
    run(engine, reconciliation.events)
    assert engine.live_orders() == [] and engine.position(0)["qty"] == 0


def test_fills_of_unknown_orders_are_booked_and_reported(engine_with_quotes):
    engine, ts = engine_with_quotes
    live = engine.live_orders()
    venue_orders = [VenueOrder(0, o["client_id"], 9000 + k, o["side"], o["order_type"], o["price"], o["qty"], 0)
                    for k, o in enumerate(live)]  # fmt: skip
    trade = VenueTrade(0, 900, 123456, None, 0, 5_999_000, 250, 0, False, ts)
    reconciliation = plan(live, venue_orders, [trade], policy="adopt", now_ns=ts + 1)
    assert reconciliation.unknown_fills == [900]
    run(engine, reconciliation.events)
    assert engine.position(0)["qty"] == 250, "money moved: the fill is booked even without its order"
    assert not (reconciliation.events["flags"] & F_MAKER).any()


def test_position_differences_and_bad_policy():
    assert position_differences({0: 5, 1: 0}, {0: 5}) == []
    assert position_differences({0: 5}, {0: 4, 2: 1}) == [
        "instrument 0: node position 5 lots, venue position 4 lots",
        "instrument 2: node position 0 lots, venue position 1 lots",
    ]
    with pytest.raises(ValueError, match="policy"):
        plan([], [], [], policy="ignore", now_ns=0)
    empty = plan([], [], [], policy="adopt", now_ns=0)
    assert len(empty.events) == 0 and empty.adopted == empty.closed == []
