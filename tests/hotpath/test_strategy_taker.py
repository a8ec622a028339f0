"""hotpath.strategy.taker against the integer reference (TakerRef)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotpath.signals import SignalEngine
from hotpath.strategy.taker import LiquidityTaker
from tests.hotpath.reference.strategy_ref import BUY, SELL, TakerRef

P = {
    "order_qty": 100,
    "max_position": 1_000,
    "threshold_e6": 300_000,
    "fv_alpha_e6": 100_000,
    "weight_fv_e6": 700_000,
    "weight_imbalance_e6": 300_000,
    "cooldown_ns": 0,
    "slippage_ticks": 0,
    "use_market": 0,
    "warmup_events": 0,
}


def book(bid, ask, ts=0, position=0, **over) -> dict:
    x = {"ts_event": ts, "best_bid": bid, "best_bid_qty": 10, "best_ask": ask, "best_ask_qty": 10}
    x["position"] = position
    x.update(over)
    return x


def primed(**over) -> LiquidityTaker:
    """fv = 101 ticks (one message at bid 100 / ask 102)."""
    t = LiquidityTaker(**{**P, **over})
    t.on_book(book(100, 102))
    assert t.fv_e6 == 101_000_000
    return t


# --------------------------------------------------------------------------- signal and side
def test_buy_when_fair_value_above_mid():
    t = primed()
    # mid 100, spread 2: fv_signal = (101 - 100) / 2 = 0.5 -> signal 0.7 * 0.5 = 0.35
    got = t.decide(book(99, 101, ts=10))
    assert got == {"side": BUY, "qty": 100, "price": 101, "signal_e6": 350_000}
    assert (t.last_order_ts, t.n_signals, t.last_signal_e6) == (10, 1, 350_000)


def test_sell_when_fair_value_below_mid():
    got = primed().decide(book(101, 103, ts=10))
    assert got == {"side": SELL, "qty": 100, "price": 101, "signal_e6": -350_000}


def test_threshold_is_inclusive():
    assert primed(threshold_e6=350_000).decide(book(99, 101))["side"] == BUY
    assert primed(threshold_e6=350_000).decide(book(101, 103))["side"] == SELL
    t = primed(threshold_e6=350_001)
    assert t.decide(book(99, 101)) is None and t.decide(book(101, 103)) is None
    assert t.last_signal_e6 == -350_000 and t.n_signals == 0


def test_imbalance_term_and_clamps():
    sig = SignalEngine()
    sig.set_state(imbalance_e6=400_000)
    t = primed(weight_fv_e6=0, weight_imbalance_e6=1_000_000)
    assert t.decide(book(100, 102), sig) == {"side": BUY, "qty": 100, "price": 102, "signal_e6": 400_000}
    assert primed(weight_fv_e6=0, weight_imbalance_e6=1_000_000).decide(book(100, 102)) is None  # no signals
    # fv 20 spreads away: fv_signal clamps to 1, weights above 1 clamp the signal to 1
    t = primed(weight_fv_e6=3_000_000)
    got = t.decide(book(120, 122))
    assert got["side"] == SELL and got["signal_e6"] == -1_000_000
    sig.set_state(imbalance_e6=-(2**63))  # hostile: clamped to -1
    t = primed(weight_fv_e6=0, weight_imbalance_e6=500_000)
    assert t.decide(book(100, 102), sig)["signal_e6"] == -500_000


def test_signal_rounding_is_symmetric():
    # fv_signal = 1e6 / 3 -> 333_333.33 rounds to 333_333 ; * 0.7 = 233_333.1 -> 233_333
    t = LiquidityTaker(**{**P, "threshold_e6": 1_000_000})
    t.on_book(book(100, 101))  # fv = 100.5
    t.decide(book(99, 102))  # mid 100.5: 0
    assert t.last_signal_e6 == 0
    t.decide(book(100, 103))  # mid 101.5, spread 3: (100.5 - 101.5) / 3
    assert t.last_signal_e6 == -233_333
    t.decide(book(98, 101))  # mid 99.5
    assert t.last_signal_e6 == 233_333


def test_fair_value_ewma():
    t = LiquidityTaker(**{**P, "fv_alpha_e6": 100_000})
    t.on_book(book(100, 101))
    assert t.fv_e6 == 100_500_000
    t.on_book(book(110, 111))  # + 0.1 * 10e6
    assert t.fv_e6 == 101_500_000
    t.on_book(book(90, 91))  # + floor(0.1 * -11e6)
    assert t.fv_e6 == 100_400_000
    t.on_book(book(100, 100))  # locked book: ignored
    t.on_book(book(0, 100))
    t.on_book(book(100, 101, book_valid=0))
    assert (t.fv_e6, t.events_seen) == (100_400_000, 3)
    t2 = LiquidityTaker(**{**P, "fv_alpha_e6": 3})
    t2.on_book(book(100, 101))
    t2.on_book(book(99, 100))  # floor(3 * -1e6 / 1e6) = -3
    assert t2.fv_e6 == 100_499_997


# --------------------------------------------------------------------------- limits and timing
def test_max_position_caps_quantity():
    assert primed().decide(book(99, 101, position=950))["qty"] == 50
    assert primed().decide(book(99, 101, position=1_000)) is None
    assert primed().decide(book(99, 101, position=-1_000))["qty"] == 100  # reducing a short
    assert primed().decide(book(99, 101, position=1_500)) is None  # beyond the limit: no buy
    assert primed().decide(book(101, 103, position=-950))["qty"] == 50
    assert primed().decide(book(101, 103, position=-1_000)) is None
    assert primed().decide(book(101, 103, position=1_500))["qty"] == 100  # reducing a long
    t = primed()
    assert t.decide(book(99, 101, position=1_000)) is None and t.n_signals == 0 and t.last_order_ts == 0


def test_cooldown_between_orders():
    t = primed(cooldown_ns=1_000)
    assert t.decide(book(99, 101, ts=5_000)) is not None
    assert t.decide(book(101, 103, ts=5_999)) is None
    assert t.last_signal_e6 == -350_000  # the signal is still evaluated during the cooldown
    got = t.decide(book(101, 103, ts=6_000))
    assert got["side"] == SELL and t.last_order_ts == 6_000 and t.n_signals == 2


def test_market_and_ioc_prices():
    assert primed(use_market=1).decide(book(99, 101))["price"] == 0
    assert primed(use_market=1).decide(book(101, 103))["price"] == 0
    assert primed(slippage_ticks=3).decide(book(99, 101))["price"] == 104
    assert primed(slippage_ticks=3).decide(book(101, 103))["price"] == 98
    t = LiquidityTaker(**{**P, "slippage_ticks": 5})
    t.on_book(book(1, 3))
    assert t.decide(book(3, 5)) == {"side": SELL, "qty": 100, "price": 1, "signal_e6": -700_000}


def test_warmup_and_invalid_books():
    t = LiquidityTaker(**{**P, "warmup_events": 2})
    t.on_book(book(100, 102))
    assert t.decide(book(99, 101)) is None
    t.on_book(book(100, 100))  # not two-sided: not counted
    assert t.events_seen == 1 and t.decide(book(99, 101)) is None
    t.on_book(book(100, 102))
    assert t.decide(book(99, 101)) is not None
    fresh = LiquidityTaker(**P)
    assert fresh.decide(book(99, 101)) is None  # no fair value yet
    for bad in (book(99, 101, book_valid=0), book(0, 101), book(101, 101), book(102, 101)):
        assert primed().decide(bad) is None


# --------------------------------------------------------------------------- against the reference
inputs = st.fixed_dictionaries(
    {
        "ts": st.integers(0, 10_000),
        "bid": st.integers(0, 1_050),
        "spread": st.integers(-2, 12),
        "position": st.integers(-1_500, 1_500),
        "valid": st.integers(0, 4).map(lambda v: int(v != 0)),
        "imbalance": st.integers(-1_200_000, 1_200_000),
        "decide": st.booleans(),
    }
)
param_sets = st.fixed_dictionaries(
    {
        "order_qty": st.integers(1, 300),
        "max_position": st.integers(1, 1_200),
        "threshold_e6": st.integers(1, 1_000_000),
        "fv_alpha_e6": st.integers(1, 1_000_000),
        "weight_fv_e6": st.integers(-2_000_000, 2_000_000),
        "weight_imbalance_e6": st.integers(-2_000_000, 2_000_000),
        "cooldown_ns": st.integers(0, 3_000),
        "slippage_ticks": st.integers(0, 5),
        "use_market": st.integers(0, 1),
        "warmup_events": st.integers(0, 5),
    }
)


@settings(max_examples=300, deadline=None)
@given(params=param_sets, steps=st.lists(inputs, min_size=1, max_size=40))
def test_matches_reference(params, steps):
    kernel, ref = LiquidityTaker(**params), TakerRef(**params)
    sig = SignalEngine()
    ts = 0
    for s in steps:
        ts += s["ts"]
        x = book(s["bid"], s["bid"] + s["spread"], ts=ts, position=s["position"], book_valid=s["valid"])
        if s["decide"]:
            sig.set_state(imbalance_e6=s["imbalance"])
            assert kernel.decide(x, sig) == ref.decide(x, s["imbalance"])
        else:
            kernel.on_book(x)
            ref.on_book(x)
        assert kernel.state() == ref.state()


@settings(max_examples=200, deadline=None)
@given(
    fv_mid=st.integers(-3_000, 3_000),
    spread=st.integers(1, 9),
    imbalance=st.integers(-1_000_000, 1_000_000),
    w_fv=st.integers(0, 1_000_000),
    w_imb=st.integers(0, 1_000_000),
)
def test_signal_is_odd_symmetric(fv_mid, spread, imbalance, w_fv, w_imb):
    def signal(direction):
        t = LiquidityTaker(
            **{**P, "weight_fv_e6": w_fv, "weight_imbalance_e6": w_imb, "threshold_e6": 1_000_000}
        )
        t.on_book(book(10_000, 10_000 + 2 * spread))  # fv = 10_000 + spread
        sig = SignalEngine()
        sig.set_state(imbalance_e6=direction * imbalance)
        mid_shift = -direction * fv_mid
        t.decide(book(10_000 + mid_shift, 10_000 + mid_shift + 2 * spread), sig)
        return t.last_signal_e6

    assert signal(-1) == -signal(1)


# --------------------------------------------------------------------------- params / snapshot
@pytest.mark.parametrize(
    "over",
    [
        {"order_qty": 0},
        {"max_position": 0},
        {"threshold_e6": 0},
        {"threshold_e6": 1_000_001},
        {"fv_alpha_e6": 0},
        {"fv_alpha_e6": 1_000_001},
        {"weight_fv_e6": 1_000_000_001},
        {"weight_imbalance_e6": -1_000_000_001},
        {"cooldown_ns": -1},
        {"slippage_ticks": -1},
        {"use_market": 2},
        {"warmup_events": -1},
    ],
)
def test_invalid_params_refused(over):
    with pytest.raises(ValueError):
        LiquidityTaker(**{**P, **over})


def test_names_and_defaults():
    t = LiquidityTaker(order_qty=1, max_position=2)
    assert t.params == {**P, "order_qty": 1, "max_position": 2}
    with pytest.raises(TypeError):
        LiquidityTaker(order_qty=1, max_position=2, threshold=3)
    with pytest.raises(TypeError):
        LiquidityTaker(order_qty=1)
    with pytest.raises(ValueError):
        t.decide({"bid": 1})


def test_snapshot_round_trip():
    t = primed(cooldown_ns=100)
    t.decide(book(99, 101, ts=1_000))
    blob = t.to_bytes()
    assert len(blob) == 8 * (1 + 10 + 5)
    clone = LiquidityTaker.from_bytes(blob)
    assert clone.params == t.params and clone.state() == t.state()
    assert clone.state() == {
        "fv_e6": 101_000_000,
        "events_seen": 1,
        "last_order_ts": 1_000,
        "last_signal_e6": 350_000,
        "n_signals": 1,
    }
    assert clone.decide(book(99, 101, ts=1_050)) is None  # cooldown survives
    assert clone.decide(book(99, 101, ts=1_100)) == t.decide(book(99, 101, ts=1_100))
    for bad in (blob[:-8], blob + b"\0", b"", b"\0" * len(blob)):
        with pytest.raises(ValueError):
            LiquidityTaker.from_bytes(bad)
    hostile = bytearray(blob)
    hostile[8 * 14 : 8 * 15] = (2_000_000).to_bytes(8, "little")  # last_signal_e6 out of range
    with pytest.raises(ValueError):
        LiquidityTaker.from_bytes(bytes(hostile))


def test_unconfigured_slot_is_inert_and_round_trips():
    # the engine snapshots all strategies of every instrument: all-zero blocks must read back
    t = LiquidityTaker.__new__(LiquidityTaker)
    t.on_book(book(100, 102))
    assert t.decide(book(99, 101)) is None and t.state() == dict.fromkeys(t.state(), 0)
    blob = t.to_bytes()
    assert LiquidityTaker.from_bytes(blob).to_bytes() == blob
    hostile = bytearray(blob)
    hostile[-8:] = (1).to_bytes(8, "little")  # n_signals = 1 with zero params
    with pytest.raises(ValueError):
        LiquidityTaker.from_bytes(bytes(hostile))
