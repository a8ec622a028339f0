"""hotpath.strategy.skewed: exact integer quotes against the rational reference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotpath.signals import SignalEngine
from hotpath.strategy.skewed import SkewedMarketMaker
from tests.hotpath.reference.strategy_ref import ready, skewed_reference

# The headline benchmark: BTCUSDT spot, tick 0.01, lot 0.00001. Decide every 100 ms of exchange
# time, half spread 10 ticks, 0.001 BTC quotes, skew 0.5 tick per 0.001 BTC of inventory, requote
# at 2 ticks, at most 0.01 BTC, post-only.
BENCHMARK = {
    "order_qty": 100,
    "max_position": 1_000,
    "requote_ticks": 2,
    "cooldown_ns": 0,
    "decision_interval_ns": 100_000_000,
    "warmup_events": 0,
    "post_only": 1,
    "half_spread_ticks": 10,
    "skew_e6": 500_000,
    "imbalance_widen_e6": 0,
}
BID, ASK = 6_173_763, 6_173_764  # 61737.63 / 61737.64 USDT
T0 = 1_723_161_255_208_000_000


def x_(position=0, ts=T0, bid=BID, ask=ASK, **over) -> dict:
    x = {"ts_event": ts, "best_bid": bid, "best_bid_qty": 378_826, "best_ask": ask, "best_ask_qty": 154_698}
    x["position"] = position
    x.update(over)
    return x


def quote(position, p=BENCHMARK, sig=None, **over):
    return SkewedMarketMaker(**p).quote(x_(position, **over), sig)


# --------------------------------------------------------------------------- benchmark config
@pytest.mark.parametrize(
    "position,bid,bid_qty,ask,ask_qty,reservation_e6",
    [
        (0, 6_173_753, 100, 6_173_774, 100, 6_173_763_500_000),  # r = mid = ...63.5
        (300, 6_173_752, 100, 6_173_772, 100, 6_173_762_000_000),  # 0.003 BTC long: r = mid - 1.5
        (-100, 6_173_754, 100, 6_173_774, 100, 6_173_764_000_000),  # short: r = mid + 0.5
        (50, 6_173_753, 100, 6_173_774, 100, 6_173_763_250_000),  # half a quote: mid - 0.25
        (900, 6_173_749, 100, 6_173_769, 100, 6_173_759_000_000),  # a bid fill reaches the limit exactly
        (901, 6_173_748, 0, 6_173_769, 100, 6_173_758_995_000),  # ... or would pass it: no bid
        (1_000, 6_173_748, 0, 6_173_769, 100, 6_173_758_500_000),  # at the limit
        (-1_000, 6_173_758, 100, 6_173_779, 0, 6_173_768_500_000),
        (-2_500, 6_173_763, 100, 6_173_786, 0, 6_173_776_000_000),  # beyond: bid kept passive
    ],
)
def test_benchmark_configuration_exact(position, bid, bid_qty, ask, ask_qty, reservation_e6):
    mm = SkewedMarketMaker(**BENCHMARK)
    got = mm.quote(x_(position))
    assert got == {
        "bid_price": bid,
        "bid_qty": bid_qty,
        "ask_price": ask,
        "ask_qty": ask_qty,
        "reservation_e6": reservation_e6,
        "half_spread_e6": 10_000_000,
    }
    assert got == skewed_reference(BENCHMARK, x_(position))
    assert mm.n_quotes == 1 and mm.last_decision_ts == T0


def test_benchmark_decides_every_100ms_of_exchange_time():
    mm = SkewedMarketMaker(**BENCHMARK)
    assert mm.params == BENCHMARK
    decided = []
    for step in range(0, 1_000_000_001, 25_000_000):  # a message every 25 ms for one second
        mm.on_book()
        if mm.quote(x_(0, ts=T0 + step)) is not None:
            decided.append(step)
    assert decided == list(range(0, 1_000_000_001, 100_000_000))
    assert mm.n_quotes == 11 and mm.events_seen == 41


def test_benchmark_wide_market_quotes_inside():
    got = quote(0, bid=6_173_700, ask=6_173_800)
    assert (got["bid_price"], got["ask_price"]) == (6_173_740, 6_173_760)


# --------------------------------------------------------------------------- exactness
def test_exact_rational_boundaries():
    # position / order_qty * skew = 1/3 * 1.5 = 0.5 exactly: r = 100.0 lands on whole ticks
    p = {**BENCHMARK, "order_qty": 3, "max_position": 100, "skew_e6": 1_500_000, "post_only": 0}
    got = SkewedMarketMaker(**p).quote(x_(1, bid=100, ask=101))
    assert (got["bid_price"], got["ask_price"], got["reservation_e6"]) == (90, 110, 100_000_000)
    # a repeating fraction: r = 100.5 - 1/3; reservation rounded to the nearest 1e-6 tick
    got = SkewedMarketMaker(**{**p, "skew_e6": 1_000_000}).quote(x_(1, bid=100, ask=101))
    assert (got["bid_price"], got["ask_price"], got["reservation_e6"]) == (90, 111, 100_166_667)
    got = SkewedMarketMaker(**{**p, "skew_e6": 1_000_000}).quote(x_(-1, bid=100, ask=101))
    assert (got["bid_price"], got["ask_price"], got["reservation_e6"]) == (90, 111, 100_833_333)
    # half-way reservation values round away from zero: r = 100.5 - 0.5e-6 = 100.4999995 ticks
    got = SkewedMarketMaker(**{**p, "order_qty": 2, "skew_e6": 1}).quote(x_(1, bid=100, ask=101))
    assert got["reservation_e6"] == 100_500_000


def test_imbalance_widening():
    p = {**BENCHMARK, "imbalance_widen_e6": 1_000_000}
    sig = SignalEngine()
    for imbalance, half_e6, bid, ask in (
        (500_000, 15_000_000, 6_173_748, 6_173_779),
        (-300_000, 13_000_000, 6_173_750, 6_173_777),
        (0, 10_000_000, 6_173_753, 6_173_774),
        (2_000_000, 20_000_000, 6_173_743, 6_173_784),  # a hostile |imbalance| > 1 counts as 1
        (-(2**63), 20_000_000, 6_173_743, 6_173_784),
    ):
        sig.set_state(imbalance_e6=imbalance)
        got = SkewedMarketMaker(**p).quote(x_(0), sig)
        assert (got["half_spread_e6"], got["bid_price"], got["ask_price"]) == (half_e6, bid, ask)
        assert got == skewed_reference(p, x_(0), imbalance)
    # widening off, or no signals: the imbalance is ignored
    sig.set_state(imbalance_e6=900_000)
    assert quote(0, sig=sig) == quote(0)
    assert SkewedMarketMaker(**p).quote(x_(0), None)["half_spread_e6"] == 10_000_000


@settings(max_examples=500, deadline=None)
@given(
    bid=st.integers(1, 10**9),
    spread=st.integers(1, 100),
    order_qty=st.integers(1, 10**6),
    position=st.integers(-(10**7), 10**7),
    max_position=st.integers(1, 10**7),
    half=st.integers(1, 1_000),
    skew_e6=st.integers(0, 50_000_000),
    widen_e6=st.integers(0, 5_000_000),
    imbalance=st.integers(-1_000_000, 1_000_000),
    post_only=st.integers(0, 1),
)
def test_matches_rational_reference(
    bid, spread, order_qty, position, max_position, half, skew_e6, widen_e6, imbalance, post_only
):
    p = {
        **BENCHMARK,
        "order_qty": order_qty,
        "max_position": max_position,
        "half_spread_ticks": half,
        "skew_e6": skew_e6,
        "imbalance_widen_e6": widen_e6,
        "post_only": post_only,
    }
    sig = SignalEngine()
    sig.set_state(imbalance_e6=imbalance)
    x = x_(position, bid=bid, ask=bid + spread)
    assert SkewedMarketMaker(**p).quote(x, sig) == skewed_reference(p, x, imbalance)


def test_overflow_holds():
    p = {**BENCHMARK, "order_qty": 10**9, "max_position": 10**12}
    assert SkewedMarketMaker(**p).quote(x_(0, bid=2**61, ask=2**61 + 1)) is None
    # r = mid + 2^62 ticks still fits, but not in ticks * 1e6
    assert SkewedMarketMaker(**{**BENCHMARK, "order_qty": 1}).quote(x_(-(2**63))) is None
    huge_skew = {**BENCHMARK, "order_qty": 1, "skew_e6": 2**62}
    assert SkewedMarketMaker(**huge_skew).quote(x_(2**62)) is None
    sane = SkewedMarketMaker(**p).quote(x_(0))
    assert sane is not None and sane["reservation_e6"] == 6_173_763_500_000


def test_post_only_and_non_positive_prices():
    p = {**BENCHMARK, "max_position": 10**9}
    got = SkewedMarketMaker(**p).quote(x_(5_000))  # r = mid - 25: the ask would cross the bid
    assert got["ask_price"] == BID + 1 and got["bid_price"] == 6_173_728
    got = SkewedMarketMaker(**{**p, "post_only": 0}).quote(x_(5_000))
    assert got["ask_price"] == 6_173_749  # not post-only: allowed to take
    got = SkewedMarketMaker(**p).quote(x_(0, bid=3, ask=4))
    assert got["bid_qty"] == 0 and got["ask_price"] == 14 and got["ask_qty"] == 100


# --------------------------------------------------------------------------- gating
def test_warmup_cooldown_and_book_validity():
    p = {**BENCHMARK, "warmup_events": 2, "cooldown_ns": 1_000}
    mm = SkewedMarketMaker(**p)
    assert mm.quote(x_(0)) is None
    mm.on_book()
    mm.on_book()
    assert mm.quote(x_(0, last_quote_change_ts=T0 - 999)) is None
    assert mm.quote(x_(0, last_quote_change_ts=T0 - 1_000)) is not None
    for bad in ({"book_valid": 0}, {"bid": ASK}, {"bid": 0}, {"ask": 0}):
        x = x_(0, ts=T0 + 10**9, **bad)
        assert SkewedMarketMaker(**p).quote(x) is None
        assert not ready(p, 10, 0, x)


# --------------------------------------------------------------------------- params / snapshot
@pytest.mark.parametrize(
    "over",
    [
        {"half_spread_ticks": 0},
        {"skew_e6": -1},
        {"imbalance_widen_e6": -1},
        {"order_qty": 0},
        {"max_position": -1},
        {"post_only": 3},
        {"decision_interval_ns": -1},
        {"warmup_events": -5},
        {"cooldown_ns": -1},
        {"requote_ticks": -1},
    ],
)
def test_invalid_params_refused(over):
    with pytest.raises(ValueError):
        SkewedMarketMaker(**{**BENCHMARK, **over})


def test_unknown_names_refused():
    with pytest.raises(TypeError):
        SkewedMarketMaker(**BENCHMARK, skew=1)
    with pytest.raises(TypeError):
        SkewedMarketMaker(max_position=5)
    with pytest.raises(ValueError):
        SkewedMarketMaker(**BENCHMARK).quote({"bid": 1})


def test_snapshot_round_trip():
    mm = SkewedMarketMaker(**BENCHMARK)
    mm.on_book()
    mm.quote(x_(0))
    blob = mm.to_bytes()
    assert len(blob) == 8 * (1 + 10 + 3)
    clone = SkewedMarketMaker.from_bytes(blob)
    assert clone.params == BENCHMARK and clone.state() == mm.state() == {
        "events_seen": 1,
        "last_decision_ts": T0,
        "n_quotes": 1,
    }
    assert clone.quote(x_(0, ts=T0 + 50_000_000)) is None  # interval survives the restore
    assert clone.quote(x_(0, ts=T0 + 100_000_000)) == mm.quote(x_(0, ts=T0 + 100_000_000))
    for bad in (blob[:-8], blob + b"\1", b"", b"\0" * len(blob)):
        with pytest.raises(ValueError):
            SkewedMarketMaker.from_bytes(bad)
    hostile = bytearray(blob)
    hostile[8 * 8 : 8 * 9] = (0).to_bytes(8, "little")  # half_spread_ticks = 0
    with pytest.raises(ValueError):
        SkewedMarketMaker.from_bytes(bytes(hostile))


def test_unconfigured_slot_holds_and_round_trips():
    # the engine snapshots all strategies of every instrument: all-zero blocks must read back
    mm = SkewedMarketMaker.__new__(SkewedMarketMaker)
    assert mm.quote(x_(0)) is None
    blob = mm.to_bytes()
    assert SkewedMarketMaker.from_bytes(blob).to_bytes() == blob
    hostile = bytearray(blob)
    hostile[-8:] = (1).to_bytes(8, "little")  # n_quotes = 1 with zero params
    with pytest.raises(ValueError):
        SkewedMarketMaker.from_bytes(bytes(hostile))
