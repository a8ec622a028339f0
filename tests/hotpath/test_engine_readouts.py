"""The engine's read-outs for the console: risk_status(), risk_usage(i), strategy_state(i).

Each value is checked against something computed independently: the journal records the engine
wrote, the positions and live orders it reports, the configuration it was given.
"""

from __future__ import annotations

import numpy as np
import pytest

from hotpath.engine import EngineError
from hotpath.risk import RR_CIRCUIT_LOSSES, RR_CIRCUIT_RAPID_FILLS, STATE_ACTIVE, STATE_HALTED
from hotpath.types import (
    CTL_KILL,
    EV_CONTROL,
    EV_TRADE,
    F_LAST,
    F_SELL,
    REC_EQUITY,
    REC_FILL,
    REC_ORDER_NEW,
    REC_QUOTE,
    REC_ROUND_TRIP,
    REC_TRADING_STATE,
)
from tests.conftest import MM_BENCH_CONFIG as MM
from tests.support.engine_streams import Stream, quiet_book
from trading.backtest.config import build_engine_setup, parse_config
from trading.backtest.runner import build_engine, center_price, run_engine
from trading.instruments import InstrumentRegistry
from trading.marketdata import load_events

NANO = 1_000_000_000
AS_CONFIG = {
    "strategy": {"order_qty": "0.001", "max_position": "0.01", "requote_ticks": 2, "decision_interval_ms": 100,
                 "warmup_events": 10, "post_only": True},
    "risk": {"max_position": "0.01", "max_notional": "5000", "max_drawdown": "1000", "max_open_orders": 7},
    "venue": {"maker_fee_ppm": 0, "taker_fee_ppm": 0},
}  # fmt: skip


@pytest.fixture(scope="module")
def btc():
    return InstrumentRegistry().get("BTCUSDT", "spot")


@pytest.fixture(scope="module")
def real_events(spot_btc_files, cache_dir):
    return load_events(list(spot_btc_files[:1]), "BTCUSDT", cache_dir=cache_dir).events


def engine_for(btc, config, strategy, center=6_000_000):
    setup = build_engine_setup(parse_config(config), strategy, btc, latency_us=None, center_price=center)
    return build_engine(setup), setup


def with_risk(config: dict, **risk) -> dict:
    return {**config, "risk": {**config.get("risk", {}), **risk}}


# ----------------------------------------------------------------------- real data, Avellaneda-Stoikov


@pytest.fixture(scope="module")
def as_run(btc, real_events):
    engine, setup = engine_for(btc, AS_CONFIG, "avellaneda", center_price(real_events))
    records, _, _ = run_engine(engine, real_events)
    return engine, setup, records


def test_risk_status_equity_drawdown_and_configured_limits(as_run):
    engine, setup, records = as_run
    status = engine.risk_status()
    pos = engine.position(0)
    assert pos["fills"] > 0 and pos["round_trips"] > 0, "the strategy must trade on the real data"
    # equity is realized - fees + unrealized at the last mark; the last fill leaves it exact
    assert status["equity"] == pos["realized"] - pos["fees"] + pos["unrealized"]
    assert status["drawdown"] == status["peak_equity"] - status["equity"] > 0
    sampled = records[records["kind"] == REC_EQUITY]["e"]
    assert status["peak_equity"] >= max(0, int(sampled.max())), "the peak is at least every sampled equity"
    assert status["daily_loss"] == status["day_start_equity"] - status["equity"]
    assert status["max_drawdown"] == 1000 * NANO == setup.risk_config["max_drawdown"]
    assert status["max_open_orders_total"] == 200 and status["rate_capacity"] == 2000
    # omitted limits are disabled (INT64_MAX): reported as None, never as a huge number
    assert status["max_daily_loss"] is None
    assert status["max_consecutive_losses"] is None
    assert status["max_total_notional"] is None
    assert (status["trading_state"], status["reason"]) == ("ACTIVE", "OK")
    assert status["open_orders"] == len(engine.live_orders())
    assert 0 <= status["tokens"] <= status["rate_capacity"]


def test_total_notional_is_positions_and_open_orders_at_the_mid(as_run, btc):
    engine, _, _ = as_run
    pos = engine.position(0)
    leaves = sum(o["qty"] - o["filled"] for o in engine.live_orders())
    mid = pos["mid_x2"] // 2
    lots = abs(pos["qty"]) + leaves
    # 1 lot = 1e-6 BTC and 1 tick = 0.01 USDT: one lot-tick is 1e-8 USDT = 10 nano
    assert engine.risk_status()["total_notional"] == mid * lots * 10
    usage = engine.risk_usage(0)
    assert usage["open_buy"] + usage["open_sell"] == leaves
    assert usage["open_orders"] == len(engine.live_orders())
    assert usage["max_open_orders"] == 7 and usage["max_position"] == 10_000
    assert usage["max_notional"] == 5000 * NANO
    assert usage["max_spread_ticks"] is None, "no max_spread_ticks configured"


def test_strategy_state_matches_the_journal(as_run):
    engine, _, records = as_run
    state = engine.strategy_state(0)
    pos = engine.position(0)
    fills = records[records["kind"] == REC_FILL]
    assert state["kind"] == "avellaneda"
    assert state["orders"] == int((records["kind"] == REC_ORDER_NEW).sum())
    assert state["fills"] == len(fills) == pos["fills"]
    assert state["realized_pnl"] == int(fills[-1]["b"]), "fees are zero: realized as the last fill booked it"
    assert state["inventory"] == pos["qty"] == int(fills[-1]["a"])
    assert state["quotes"] == state["targets"] == engine.stats()["instruments"][0]["targets"]
    assert state["quotes"] >= int((records["kind"] == REC_QUOTE).sum()), (
        "a quote record only when orders moved"
    )
    # the reservation price sits near the mid, the half spread inside its configured clamp
    mid_e6 = pos["mid_x2"] * 500_000
    assert abs(state["reservation_e6"] - mid_e6) < 1_000 * 1_000_000
    assert 1_000_000 <= state["half_spread_e6"] <= 1000 * 1_000_000


def test_a_tripped_loss_breaker_shows_with_its_counts(btc, real_events):
    engine, _ = engine_for(btc, with_risk(AS_CONFIG, max_consecutive_losses=3), "avellaneda",
                           center_price(real_events))  # fmt: skip
    records, _, _ = run_engine(engine, real_events)
    status = engine.risk_status()
    assert (status["trading_state"], status["reason"]) == ("HALTED", "CIRCUIT_LOSSES")
    # the losing streak, recounted from the round trips the engine journaled
    streak, tripped_at = 0, None
    for trip in records[records["kind"] == REC_ROUND_TRIP]:
        streak = streak + 1 if trip["a"] < 0 else (0 if trip["a"] > 0 else streak)
        if streak >= 3 and tripped_at is None:
            tripped_at = int(trip["seq"])
    assert status["consecutive_losses"] == streak >= 3
    after = records[records["seq"] > tripped_at]
    assert REC_ORDER_NEW not in after["kind"].tolist(), "nothing placed after the breaker tripped"
    assert status["max_consecutive_losses"] == 3
    assert status["open_orders"] == 0 == len(engine.live_orders())
    # the trip is a journaled trading-state change (ACTIVE -> HALTED, the breaker's reason),
    # written right after the round trip that tripped it, before the cancels it causes
    changes = records[records["kind"] == REC_TRADING_STATE]
    assert [(int(c["a"]), int(c["b"]), int(c["reason"])) for c in changes] == [
        (STATE_ACTIVE, STATE_HALTED, RR_CIRCUIT_LOSSES)
    ]
    assert int(changes[0]["seq"]) == tripped_at + 1


# ----------------------------------------------------------------------- synthetic book, exact values


def test_usage_of_two_resting_quotes_on_a_quiet_book(btc):
    engine, _ = engine_for(btc, MM, "mm")
    run_engine(engine, quiet_book(Stream()).array())
    usage = engine.risk_usage(0)
    assert (usage["position"], usage["open_buy"], usage["open_sell"], usage["exposure"]) == (
        0,
        1000,
        1000,
        1000,
    )
    assert usage["open_orders"] == 2 and usage["spread_ticks"] == 2
    # 2000 lots of 1e-6 BTC at 60 000.00 USDT = 120 USDT
    assert usage["notional"] == 120 * NANO
    assert usage["max_order_qty"] == 10_000 and usage["collar_ppm"] == 50_000
    assert usage["max_notional"] is None and usage["max_spread_ticks"] is None
    state = engine.strategy_state(0)
    assert state["kind"] == "mm" and state["reservation_e6"] is None and state["half_spread_e6"] is None
    assert (state["orders"], state["fills"], state["inventory"], state["order_qty"]) == (2, 0, 0, 1000)
    status = engine.risk_status()
    assert status["tokens"] == 2000, "refilled at 1000 orders/s since the two orders"
    assert status["drawdown"] == 0 and status["total_notional"] == 120 * NANO
    slow, _ = engine_for(btc, with_risk(MM, rate_limit_per_sec=1, rate_limit_burst=10), "mm")
    run_engine(slow, quiet_book(Stream()).array())
    assert slow.risk_status()["tokens"] == 8, "two orders taken, less than a second to refill one"


def test_the_rapid_fill_breaker_and_an_operator_kill_show(btc):
    engine, _ = engine_for(btc, with_risk(MM, rapid_fill_count=2, rapid_fill_window_ms=1000), "mm")
    stream = quiet_book(Stream())
    stream.add(EV_TRADE, price=5_999_980, qty=5_000, flags=F_SELL | F_LAST, seq=1, dt_ms=10)
    stream.depth([(0, 5_999_999, 1)], seq=50)
    stream.add(EV_TRADE, price=6_000_100, qty=5_000, flags=F_LAST, seq=2, dt_ms=200)
    stream.depth([(0, 5_999_998, 1)], seq=51)
    records, _, _ = run_engine(engine, stream.array())
    assert int((records["kind"] == REC_FILL).sum()) == 2
    status = engine.risk_status()
    assert (status["trading_state"], status["reason"]) == ("HALTED", "CIRCUIT_RAPID_FILLS")
    assert (status["rapid_fills"], status["rapid_fill_count"]) == (2, 2)
    assert status["rapid_fill_window_ns"] == 1000 * 1_000_000
    changes = records[records["kind"] == REC_TRADING_STATE]
    assert [(int(c["a"]), int(c["b"]), int(c["reason"])) for c in changes] == [
        (STATE_ACTIVE, STATE_HALTED, RR_CIRCUIT_RAPID_FILLS)
    ], "the breaker's halt is journaled"

    killed, _ = engine_for(btc, MM, "mm")
    stream = quiet_book(Stream())
    stream.add(EV_CONTROL, aux=CTL_KILL, order_id=7, seq=1, dt_ms=5)
    run_engine(killed, stream.array())
    assert (killed.risk_status()["trading_state"], killed.risk_status()["reason"]) == ("HALTED", "OPERATOR")


def test_readouts_refuse_unknown_instruments_and_change_nothing(btc):
    engine, _ = engine_for(btc, MM, "mm")
    run_engine(engine, quiet_book(Stream()).array())
    before = engine.state_hash()
    for _ in range(3):
        engine.risk_status(), engine.risk_usage(0), engine.strategy_state(0)
    assert engine.state_hash() == before, "read-outs are reads"
    for bad in (1, -1, 64):
        with pytest.raises(EngineError, match="out of range"):
            engine.risk_usage(bad)
        with pytest.raises(EngineError, match="out of range"):
            engine.strategy_state(bad)
    assert np.isfinite(engine.risk_status()["tokens"])
