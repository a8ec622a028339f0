"""hotpath.signals against the plain-Python reference (tests/hotpath/reference/signals_ref.py)."""

from __future__ import annotations

import gzip
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotpath.book import L2Book
from hotpath.signals import SignalEngine
from tests.hotpath.reference.signals_ref import (
    BUY,
    E6,
    INT64_MAX,
    PARAM_NAMES,
    SELL,
    SignalsRef,
    microprice_e6,
    params_valid,
)


class Pair:
    """A kernel (L2Book + SignalEngine) and the reference ({price: qty} dicts + SignalsRef) fed
    the same inputs."""

    def __init__(self, center: int = 10_000, **params):
        self.book = L2Book(center)
        self.eng = SignalEngine(**params)
        self.ref = SignalsRef(**params)
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}

    def set(self, side: int, price: int, qty: int) -> None:
        assert self.book.set(side, price, qty) >= 0
        levels = self.bids if side == BUY else self.asks
        if qty == 0:
            levels.pop(price, None)
        else:
            levels[price] = qty

    def message(self, ts: int, updates=()) -> None:
        for side, price, qty in updates:
            self.set(side, price, qty)
        self.eng.on_book(self.book, ts)
        self.ref.on_book(self.bids, self.asks, ts)

    def trade(self, side: int, price: int, qty: int, ts: int, mid_x2: int | None = None) -> None:
        mid = self.eng.mid_x2 if mid_x2 is None else mid_x2
        self.eng.on_trade(side, price, qty, mid, ts)
        self.ref.on_trade(side, price, qty, mid, ts)

    def check(self) -> None:
        assert self.eng.state() == self.ref.state()


def engine_state_via_properties(eng: SignalEngine) -> dict:
    return {name: getattr(eng, name) for name in SignalsRef.STATE_FIELDS}


# --------------------------------------------------------------------------- params
def test_defaults_and_params_property():
    eng = SignalEngine()
    assert eng.params == {
        "imbalance_levels": 5,
        "vpin_bucket_qty": 100_000,
        "vpin_window": 50,
        "vol_sample_ns": 100_000_000,
        "vol_alpha_e6": 50_000,
        "intensity_alpha_e6": 50_000,
    }
    assert tuple(eng.params) == PARAM_NAMES  # struct order = canonical byte order
    assert eng.state() == SignalsRef().state()
    assert engine_state_via_properties(eng) == eng.state()


@pytest.mark.parametrize(
    "name,bad,good",
    [
        ("imbalance_levels", 0, 1),
        ("imbalance_levels", 65, 64),
        ("imbalance_levels", -1, 64),
        ("vpin_bucket_qty", 0, 1),
        ("vpin_bucket_qty", -5, INT64_MAX),
        ("vpin_window", 0, 1),
        ("vpin_window", 65, 64),
        ("vol_sample_ns", 0, 1),
        ("vol_sample_ns", -1, 1),
        ("vol_alpha_e6", 0, 1),
        ("vol_alpha_e6", E6 + 1, E6),
        ("intensity_alpha_e6", 0, 1),
        ("intensity_alpha_e6", E6 + 1, E6),
    ],
)
def test_invalid_params_refused(name, bad, good):
    with pytest.raises(ValueError):
        SignalEngine(**{name: bad})
    assert not params_valid({**SignalEngine().params, name: bad})
    assert SignalEngine(**{name: good}).params[name] == good


def test_unknown_param_is_a_type_error():
    with pytest.raises(TypeError):
        SignalEngine(imbalance_level=3)


# --------------------------------------------------------------------------- microprice / mid
def test_microprice_exact_values():
    p = Pair()
    p.message(1, [(BUY, 100, 3), (SELL, 101, 1)])
    # (100*1 + 101*3) / 4 = 100.75 ticks
    assert p.eng.mid_x2 == 201
    assert p.eng.microprice_e6 == 100_750_000
    # floor: (100*2 + 101*1) / 3 = 100.3333.. -> 100_333_333
    p.message(2, [(BUY, 100, 1), (SELL, 101, 2)])
    assert p.eng.microprice_e6 == 100_333_333
    # weight towards the thin side: bid qty huge -> close to the ask
    p.message(3, [(BUY, 100, 999_999), (SELL, 101, 1)])
    assert p.eng.microprice_e6 == 100_999_999
    p.check()


def test_microprice_one_sided_book_is_zero():
    p = Pair()
    p.message(1, [(BUY, 100, 3), (SELL, 101, 1)])
    p.message(2, [(SELL, 101, 0)])
    assert (p.eng.mid_x2, p.eng.microprice_e6) == (0, 0)
    p.message(3, [(BUY, 100, 0), (SELL, 101, 4)])
    assert (p.eng.mid_x2, p.eng.microprice_e6) == (0, 0)
    p.check()


def test_microprice_crossed_book_still_exact():
    p = Pair()
    p.message(1, [(BUY, 105, 1), (SELL, 100, 3)])  # crossed: the formula is still a weighted mean
    assert p.eng.microprice_e6 == (105 * 3 + 100 * 1) * E6 // 4
    p.check()


def test_microprice_hostile_magnitudes():
    # prices whose *1e6 does not fit in int64 give 0, never a wrapped value
    assert microprice_e6(2**62, 1, 2**62 + 1, 1) == 0
    p = Pair(center=2**40)
    p.message(1, [(BUY, 2**40, 2**61), (SELL, 2**40 + 1, 2**61)])
    assert p.eng.microprice_e6 == microprice_e6(2**40, 2**61, 2**40 + 1, 2**61) == (2**40) * E6 + E6 // 2
    p.message(2, [(BUY, 2**40, 2**62), (SELL, 2**40 + 1, 2**62)])  # qty sum overflows int64
    assert p.eng.microprice_e6 == 0 and p.eng.imbalance_e6 == 0 and p.eng.mid_x2 == 2**41 + 1
    p.check()


# --------------------------------------------------------------------------- imbalance
def test_imbalance_top_n_levels_and_rounding():
    p = Pair(imbalance_levels=2)
    p.message(1, [(BUY, 100, 5), (BUY, 99, 5), (BUY, 98, 100), (SELL, 101, 10)])
    assert p.eng.imbalance_e6 == 0  # (10 - 10) / 20 over the top 2
    p2 = Pair(imbalance_levels=3)
    p2.message(1, [(BUY, 100, 5), (BUY, 99, 5), (BUY, 98, 100), (SELL, 101, 10)])
    assert p2.eng.imbalance_e6 == 833_333  # 100/120
    p3 = Pair(imbalance_levels=3)
    p3.message(1, [(SELL, 101, 5), (SELL, 102, 5), (SELL, 103, 100), (BUY, 100, 10)])
    assert p3.eng.imbalance_e6 == -833_333  # symmetric
    for q in (p, p2, p3):
        q.check()


def test_imbalance_half_rounds_away_from_zero():
    p = Pair(imbalance_levels=1)
    p.message(1, [(BUY, 100, 2_000_001), (SELL, 101, 1_999_999)])
    assert p.eng.imbalance_e6 == 1  # exactly 0.5e-6
    p.message(2, [(BUY, 100, 1_999_999), (SELL, 101, 2_000_001)])
    assert p.eng.imbalance_e6 == -1
    p.check()


def test_imbalance_one_side_and_empty():
    p = Pair()
    p.message(1, [(BUY, 100, 7)])
    assert p.eng.imbalance_e6 == E6
    p.message(2, [(BUY, 100, 0), (SELL, 120, 7)])
    assert p.eng.imbalance_e6 == -E6
    p.message(3, [(SELL, 120, 0)])
    assert p.eng.imbalance_e6 == 0
    p.check()


# --------------------------------------------------------------------------- OFI
def ofi_after(first, second):
    p = Pair()
    p.message(1, first)
    assert (p.eng.ofi, p.eng.ofi_last) == (0, 0)  # the first observation only records
    p.message(2, second)
    p.check()
    return p.eng.ofi_last, p.eng.ofi


def test_ofi_paper_cases():
    base = [(BUY, 100, 5), (SELL, 105, 4)]
    # bid price up: + new bid qty (ask unchanged: -4 + 4)
    assert ofi_after(base, [(BUY, 101, 3)]) == (3, 3)
    # bid price down: - previous bid qty
    assert ofi_after(base, [(BUY, 100, 0), (BUY, 99, 7)]) == (-5, -5)
    # same bid price, qty change: new - old; same ask price qty up: -(new - old)
    assert ofi_after(base, [(BUY, 100, 8)]) == (3, 3)
    assert ofi_after(base, [(SELL, 105, 10)]) == (-6, -6)
    assert ofi_after(base, [(BUY, 100, 8), (SELL, 105, 10)]) == (-3, -3)
    # ask price up: + previous ask qty ; ask price down: - new ask qty
    assert ofi_after(base, [(SELL, 105, 0), (SELL, 106, 2)]) == (4, 4)
    assert ofi_after(base, [(SELL, 104, 6)]) == (-6, -6)
    # nothing changed: zero
    assert ofi_after(base, []) == (0, 0)


def test_ofi_empty_sides_and_accumulation():
    base = [(BUY, 100, 5), (SELL, 105, 4)]
    # the ask side vanishes (price -> +inf): the previous ask qty leaves the ask = buy pressure
    assert ofi_after(base, [(SELL, 105, 0)]) == (4, 4)
    # the bid side vanishes: - previous bid qty
    assert ofi_after(base, [(BUY, 100, 0)]) == (-5, -5)
    # a side appears from nothing
    assert ofi_after([(SELL, 105, 4)], [(BUY, 100, 5)]) == (5, 5)
    assert ofi_after([(BUY, 100, 5)], [(SELL, 105, 4)]) == (-4, -4)
    p = Pair()
    p.message(1, base)
    p.message(2, [(BUY, 101, 3)])
    p.message(3, [(SELL, 104, 6)])
    assert (p.eng.ofi_last, p.eng.ofi) == (-6, -3)
    p.check()


def test_ofi_saturates_instead_of_wrapping():
    p = Pair()
    p.message(1, [(BUY, 100, 1), (SELL, 105, 1)])
    p.eng.set_state(ofi=INT64_MAX - 1)
    p.ref.ofi = INT64_MAX - 1
    p.message(2, [(BUY, 100, 0), (BUY, 101, INT64_MAX)])
    assert (p.eng.ofi_last, p.eng.ofi) == (INT64_MAX, INT64_MAX)
    p.check()


# --------------------------------------------------------------------------- VPIN
def test_vpin_trade_spanning_three_buckets():
    p = Pair(vpin_bucket_qty=10, vpin_window=3)
    p.trade(BUY, 100, 5, ts=1, mid_x2=0)
    assert (p.eng.bucket_buy, p.eng.bucket_count, p.eng.vpin_e6) == (5, 0, 0)
    # 23 sold: 5 close bucket 1 (5/5 -> 0), 10 fill bucket 2 (10), 8 open bucket 3
    p.trade(SELL, 100, 23, ts=2, mid_x2=0)
    assert p.eng.bucket_imbalance[:3] == [0, 10, 0]
    assert (p.eng.bucket_buy, p.eng.bucket_sell) == (0, 8)
    assert (p.eng.bucket_head, p.eng.bucket_count) == (2, 2)
    assert p.eng.vpin_e6 == 10 * E6 // 20
    # 2 buys close bucket 3 (|2 - 8| = 6), 25 more: two full buy buckets wrap the ring, 5 left
    p.trade(BUY, 100, 27, ts=3, mid_x2=0)
    assert p.eng.bucket_imbalance[:3] == [10, 10, 6]
    assert (p.eng.bucket_head, p.eng.bucket_count) == (2, 3)
    assert (p.eng.bucket_buy, p.eng.bucket_sell) == (5, 0)
    assert p.eng.vpin_e6 == 26 * E6 // 30 == 866_666
    assert p.eng.vpin == pytest.approx(0.866666)
    p.check()


def test_vpin_exact_fill_of_bucket_and_balanced_flow():
    p = Pair(vpin_bucket_qty=4, vpin_window=2)
    for i in range(8):
        p.trade(BUY if i % 2 == 0 else SELL, 100, 1, ts=i, mid_x2=0)
    assert p.eng.bucket_imbalance[:2] == [0, 0]
    assert (p.eng.bucket_count, p.eng.vpin_e6, p.eng.bucket_buy, p.eng.bucket_sell) == (2, 0, 0, 0)
    p.trade(BUY, 100, 4, ts=9, mid_x2=0)
    assert p.eng.vpin_e6 == 500_000
    p.check()


def test_vpin_huge_trade_is_bounded_work():
    eng = SignalEngine(vpin_bucket_qty=1, vpin_window=64)
    start = time.perf_counter()
    eng.on_trade(SELL, 100, 10**15 + 3, 0, 1)
    assert time.perf_counter() - start < 0.01
    assert eng.bucket_count == 64
    assert eng.bucket_imbalance == [1] * 64
    assert eng.bucket_head == (10**15 + 3) % 64
    assert eng.vpin_e6 == E6
    # the same with the reference on a smaller instance that still wraps the ring many times
    p = Pair(vpin_bucket_qty=3, vpin_window=5)
    p.trade(BUY, 100, 2, ts=0, mid_x2=0)
    p.trade(SELL, 100, 3 * 37 + 2, ts=0, mid_x2=0)
    p.check()


def test_vpin_huge_bucket_does_not_overflow():
    p = Pair(vpin_bucket_qty=2**62, vpin_window=64)
    for i in range(70):
        p.trade(BUY, 100, 2**62, ts=i, mid_x2=0)
    assert p.eng.vpin_e6 == E6
    p.check()


def test_invalid_trades_change_nothing():
    p = Pair()
    p.message(1, [(BUY, 100, 1), (SELL, 101, 1)])
    before = p.eng.state()
    for side, price, qty in [
        (2, 100, 1),
        (-1, 100, 1),
        (BUY, 0, 1),
        (BUY, -5, 1),
        (SELL, 100, 0),
        (SELL, 100, -3),
    ]:
        p.trade(side, price, qty, ts=5)
    assert p.eng.state() == before
    p.check()


# --------------------------------------------------------------------------- volatility
def test_volatility_sampling_and_ewma():
    p = Pair(vol_sample_ns=100, vol_alpha_e6=500_000)
    p.message(0, [(BUY, 100, 1), (SELL, 100 + 1, 1)])  # mid_x2 201: first observation records
    assert (p.eng.vol_last_mid_x2, p.eng.vol_samples, p.eng.vol_var_e6) == (201, 0, 0)
    p.message(50, [(BUY, 100, 0), (SELL, 101, 0), (BUY, 102, 1), (SELL, 103, 1)])  # 50 ns: no sample
    assert p.eng.vol_samples == 0 and p.eng.vol_last_mid_x2 == 201
    p.message(100, [])  # mid_x2 205: d = 4 half ticks = 2 ticks -> 4 ticks^2
    assert p.eng.vol_samples == 1
    assert p.eng.vol_var_e6 == 2_000_000  # 0 + 0.5 * 4e6
    p.message(230, [(BUY, 102, 0), (SELL, 103, 0), (BUY, 100, 1), (SELL, 101, 1)])
    assert p.eng.vol_var_e6 == 3_000_000  # d = -4 again: 2e6 + 0.5 * (4e6 - 2e6)
    assert p.eng.vol_last_sample_ts == 230
    p.message(330, [])  # unchanged mid: 3e6 + 0.5 * (0 - 3e6)
    assert p.eng.vol_var_e6 == 1_500_000
    # sigma^2 per second = var / 1e6 / (sample_ns / 1e9) ticks^2
    assert p.eng.sigma2_per_sec == pytest.approx(1.5 / 100e-9)
    p.check()


def test_volatility_ewma_floors_towards_minus_infinity():
    p = Pair(vol_sample_ns=10, vol_alpha_e6=1)
    p.message(0, [(BUY, 100, 1), (SELL, 101, 1)])
    p.eng.set_state(vol_var_e6=3)
    p.ref.vol_var_e6 = 3
    p.message(10, [])
    assert p.eng.vol_var_e6 == 2  # 3 + floor(-3e-6) = 2
    p.message(20, [(SELL, 101, 0), (SELL, 103, 1)])  # d = 2 half ticks: x = 1e6
    assert p.eng.vol_var_e6 == 2  # 2 + floor(1 * (1e6 - 2) / 1e6) = 2 + 0
    p.message(30, [])  # x = 0 again
    assert p.eng.vol_var_e6 == 1
    p.check()


def test_volatility_skips_one_sided_books_and_saturates_jumps():
    p = Pair(center=2**40, vol_sample_ns=1, vol_alpha_e6=E6)
    p.message(0, [(BUY, 10, 1), (SELL, 11, 1)])
    p.message(5, [(SELL, 11, 0)])  # one-sided: no sample, the last mid is kept
    assert (p.eng.vol_samples, p.eng.vol_last_mid_x2) == (0, 21)
    p.message(6, [(BUY, 10, 0), (BUY, 2**40, 1), (SELL, 2**40 + 1, 1)])
    assert p.eng.vol_var_e6 == INT64_MAX  # (2^41 half ticks)^2 * 250000 saturates
    p.check()


# --------------------------------------------------------------------------- intensity
def test_trade_depth_kappa_and_rate():
    p = Pair(intensity_alpha_e6=500_000)
    p.message(0, [(BUY, 100, 1), (SELL, 101, 1)])  # mid_x2 = 201
    p.trade(BUY, 101, 1, ts=1_000_000_000)  # |202 - 201| * 0.5 + 0.5 = 1 tick
    assert (p.eng.depth_ewma_e6, p.eng.kappa_e6, p.eng.rate_e6) == (1_000_000, 1_000_000, 0)
    assert p.eng.kappa == 1.0
    p.trade(SELL, 103, 1, ts=2_000_000_000)  # depth 3 ticks; interval 1 s
    assert p.eng.depth_ewma_e6 == 2_000_000 and p.eng.kappa_e6 == 500_000
    assert p.eng.interarrival_ewma_ns == 1_000_000_000 and p.eng.rate_e6 == 1_000_000
    p.trade(SELL, 100, 1, ts=2_500_000_000)  # depth 1; interval 0.5 s
    assert p.eng.depth_ewma_e6 == 1_500_000 and p.eng.kappa_e6 == 666_666
    assert p.eng.interarrival_ewma_ns == 750_000_000 and p.eng.rate_e6 == 1_333_333
    p.trade(SELL, 100, 1, ts=2_000_000_000)  # out of order: counts as simultaneous
    assert p.eng.interarrival_ewma_ns == 375_000_000
    p.check()


def test_unknown_mid_skips_depth_but_not_arrival():
    p = Pair(intensity_alpha_e6=E6)
    p.trade(BUY, 100, 1, ts=10, mid_x2=0)
    p.trade(BUY, 100, 1, ts=30, mid_x2=0)
    assert (p.eng.depth_ewma_e6, p.eng.kappa_e6) == (0, 0)
    assert (p.eng.interarrival_ewma_ns, p.eng.rate_e6) == (20, 10**15 // 20)
    p.trade(BUY, 100, 1, ts=30, mid_x2=0)  # zero interval: rate capped at 1e15 / 1 ns
    assert p.eng.rate_e6 == 10**15
    p.trade(BUY, INT64_MAX, 1, ts=31, mid_x2=200)  # 2 * price overflows: depth skipped
    assert p.eng.kappa_e6 == 0
    p.check()


# --------------------------------------------------------------------------- set_state / snapshot
def test_set_state_validates_and_leaves_params():
    eng = SignalEngine(vpin_bucket_qty=10, vpin_window=4)
    eng.set_state(vol_var_e6=123, kappa_e6=456, rate_e6=789, vpin_e6=500_000, imbalance_e6=-250_000)
    assert (eng.vol_var_e6, eng.kappa_e6, eng.rate_e6, eng.vpin_e6, eng.imbalance_e6) == (
        123,
        456,
        789,
        500_000,
        -250_000,
    )
    assert eng.rate_per_sec == pytest.approx(789e-6)
    eng.set_state(bucket_imbalance=[1, 2, 3])
    assert eng.bucket_imbalance[:5] == [1, 2, 3, 0, 0]
    for bad in (
        {"bucket_head": 4},
        {"bucket_count": 5},
        {"bucket_buy": 6, "bucket_sell": 4},
        {"bucket_imbalance": [11]},
        {"bucket_imbalance": [0, 0, 0, 0, 1]},  # beyond the window
        {"vpin_bucket_qty": 3},
        {"nonsense": 1},
    ):
        with pytest.raises(ValueError):
            eng.set_state(**bad)
    assert eng.params["vpin_bucket_qty"] == 10 and eng.bucket_head == 0


def test_snapshot_round_trip_and_hostile_bytes():
    p = Pair(vpin_bucket_qty=7, vpin_window=5, vol_sample_ns=10)
    p.message(0, [(BUY, 100, 3), (SELL, 102, 4)])
    for i in range(30):
        p.trade(i % 2, 100 + i % 3, 1 + i, ts=i * 7)
        p.message(i * 7 + 3, [(BUY, 100 - i % 2, 2 + i)])
    blob = p.eng.to_bytes()
    assert len(blob) == 8 * (1 + 6 + 11 + 64 + 14)  # marker, params, state, ring, state
    clone = SignalEngine.from_bytes(blob)
    assert clone.state() == p.eng.state() and clone.params == p.eng.params
    assert clone.to_bytes() == blob
    # the restored engine continues identically
    p.trade(SELL, 101, 9, ts=999)
    clone.on_trade(SELL, 101, 9, p.eng.mid_x2, 999)
    assert clone.state() == p.eng.state()
    for bad in (
        blob[:-8],  # truncated
        blob + b"\0" * 8,  # trailing
        b"X" + blob[1:],  # marker
        b"",
    ):
        with pytest.raises(ValueError):
            SignalEngine.from_bytes(bad)
    words = [int.from_bytes(blob[i : i + 8], "little", signed=True) for i in range(0, len(blob), 8)]
    head_index = 1 + 6 + 11 + 64
    for index, value in ((head_index, 5), (head_index + 1, 6), (1 + 2, 0), (1 + 6 + 9, 7)):
        hostile = list(words)
        hostile[index] = value
        raw = b"".join(w.to_bytes(8, "little", signed=True) for w in hostile)
        with pytest.raises(ValueError):
            SignalEngine.from_bytes(raw)


# --------------------------------------------------------------------------- property tests
levels = st.tuples(st.sampled_from([BUY, SELL]), st.integers(9_990, 10_010), st.integers(0, 40))
step = st.one_of(
    st.tuples(st.just("book"), st.integers(0, 150_000_000), st.lists(levels, max_size=6)),
    st.tuples(
        st.just("trade"),
        st.integers(0, 150_000_000),
        st.tuples(
            st.sampled_from([BUY, SELL]), st.integers(9_985, 10_015), st.integers(1, 400), st.booleans()
        ),
    ),
)
param_sets = st.fixed_dictionaries(
    {
        "imbalance_levels": st.integers(1, 8),
        "vpin_bucket_qty": st.integers(1, 120),
        "vpin_window": st.integers(1, 64),
        "vol_sample_ns": st.integers(1, 200_000_000),
        "vol_alpha_e6": st.integers(1, E6),
        "intensity_alpha_e6": st.integers(1, E6),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=param_sets, steps=st.lists(step, min_size=1, max_size=40))
def test_random_sequences_match_reference(params, steps):
    p = Pair(**params)
    ts = 0
    for kind, dt, payload in steps:
        ts += dt
        if kind == "book":
            p.message(ts, payload)
        else:
            side, price, qty, mid_known = payload
            p.trade(side, price, qty, ts=ts, mid_x2=None if mid_known else 0)
        p.check()
    assert p.eng.sigma2_per_sec == p.ref.sigma2_per_sec
    assert p.eng.kappa == p.ref.kappa and p.eng.vpin == p.ref.vpin
    assert -E6 <= p.eng.imbalance_e6 <= E6 and 0 <= p.eng.vpin_e6 <= E6
    assert SignalEngine.from_bytes(p.eng.to_bytes()).state() == p.eng.state()


@settings(max_examples=200, deadline=None)
@given(
    bid=st.one_of(st.integers(1, 10**7), st.integers(1, 2**45)),
    spread=st.integers(-(2**20), 2**45),
    bid_qty=st.integers(1, 2**62),
    ask_qty=st.integers(1, 2**62),
)
def test_microprice_matches_reference_on_wide_ranges(bid, spread, bid_qty, ask_qty):
    ask = max(1, bid + spread)
    p = Pair(center=bid)
    p.message(1, [(BUY, bid, bid_qty), (SELL, ask, ask_qty)])
    assert p.eng.microprice_e6 == microprice_e6(bid, bid_qty, ask, ask_qty)
    p.check()


# --------------------------------------------------------------------------- real data
TICK_DECIMALS, LOT_DECIMALS = 2, 5  # tick 0.01 USDT, lot 0.00001 BTC


def to_units(text: str, decimals: int, off_grid: list | None = None) -> int:
    """Exact decimal string -> integer units. A value off the grid fails, unless off_grid is given:
    then it is floored and recorded there (Binance aggregated depth carries a few sub-lot level
    quantities, e.g. 93.756587 BTC with a 0.00001 lot)."""
    whole, _, frac = text.partition(".")
    frac = frac.ljust(decimals, "0")
    if set(frac[decimals:]) - {"0"}:
        assert off_grid is not None, f"{text} is not a whole number of units"
        off_grid.append(text)
    return int(whole) * 10**decimals + int(frac[:decimals] or "0")


def test_replay_btcusdt_spot_day(spot_btc_files):
    """The 2024-08-08 recording (../shared/data via the conftest fixture, read in place)."""
    assert spot_btc_files[0].name == "btcusdt_20240808.gz"  # the off-lot values below are that day's
    pair = None
    pending: list[dict] = []  # depth diffs received before the snapshot
    last_u = None
    synced = False
    applied = trades = 0
    off_lot: list[str] = []

    def apply_diff(d: dict, ts: int) -> None:
        nonlocal applied
        updates = [(BUY, to_units(px, TICK_DECIMALS), to_units(q, LOT_DECIMALS, off_lot)) for px, q in d["b"]]
        updates += [
            (SELL, to_units(px, TICK_DECIMALS), to_units(q, LOT_DECIMALS, off_lot)) for px, q in d["a"]
        ]
        pair.message(ts, updates)
        applied += 1

    def on_depth(d: dict) -> None:
        nonlocal last_u, synced
        if d["u"] <= snapshot_id:
            return  # already in the snapshot
        if not synced:
            assert d["U"] <= snapshot_id + 1 <= d["u"], "first diff does not bridge the snapshot"
            synced = True
        else:
            assert d["U"] == last_u + 1, f"sequence gap before {d['U']}"
        last_u = d["u"]
        apply_diff(d, d["E"] * 1_000_000)

    with gzip.open(spot_btc_files[0], "rt") as fh:
        for line in fh:
            _, _, payload = line.partition(" ")
            msg = json.loads(payload)
            if "lastUpdateId" in msg:
                snapshot_id = msg["lastUpdateId"]
                best_bid = to_units(msg["bids"][0][0], TICK_DECIMALS)
                pair = Pair(center=best_bid, vpin_bucket_qty=50_000, vpin_window=50)
                snap = [
                    (BUY, to_units(px, TICK_DECIMALS), to_units(q, LOT_DECIMALS)) for px, q in msg["bids"]
                ]
                snap += [
                    (SELL, to_units(px, TICK_DECIMALS), to_units(q, LOT_DECIMALS)) for px, q in msg["asks"]
                ]
                pair.message(int(line.split(" ", 1)[0]), snap)
                for d in pending:
                    on_depth(d)
                pending.clear()
                continue
            stream, data = msg["stream"], msg["data"]
            if stream.endswith("@depth@100ms"):
                if pair is None:
                    pending.append(data)
                else:
                    on_depth(data)
            elif stream.endswith("@trade") and pair is not None and synced:
                side = SELL if data["m"] else BUY  # buyer is maker: the seller was the aggressor
                price = to_units(data["p"], TICK_DECIMALS)
                qty = to_units(data["q"], LOT_DECIMALS)
                pair.trade(side, price, qty, ts=data["T"] * 1_000_000)
                trades += 1

    assert applied > 3000 and trades > 9000
    assert off_lot == ["25.42618900", "244.56630400", "93.75658700"]  # the only sub-lot values of the day
    pair.check()
    eng = pair.eng
    assert eng.n_book == applied + 1 and eng.n_trades == trades
    assert eng.mid_x2 > 0 and 2 * 55_000_00 < eng.mid_x2 < 2 * 70_000_00  # BTC around 61.7k USDT
    bid, ask = pair.book.best_bid, pair.book.best_ask
    assert 0 < bid < ask and eng.mid_x2 == bid + ask
    assert bid * E6 <= eng.microprice_e6 <= ask * E6
    assert abs(eng.imbalance_e6) <= E6
    assert 0 <= eng.vpin_e6 <= E6 and eng.bucket_count == 50
    assert eng.kappa_e6 > 0 and eng.kappa > 0 and eng.rate_e6 > 0
    assert eng.vol_samples > 1000 and eng.vol_var_e6 > 0
    assert SignalEngine.from_bytes(eng.to_bytes()).state() == eng.state()


def test_unconfigured_slot_is_inert_and_round_trips():
    # the engine snapshots every instrument slot, configured or not: an all-zero Signals must
    # survive write/read, and the kernels must not divide by its zero bucket size
    eng = SignalEngine.__new__(SignalEngine)
    assert eng.params == dict.fromkeys(PARAM_NAMES, 0)
    book = L2Book(100)
    book.set(BUY, 100, 1)
    book.set(SELL, 101, 1)
    eng.on_book(book, 1)
    eng.on_trade(BUY, 100, 5, 201, 2)
    assert all(v == 0 for v in eng.state().values() if not isinstance(v, list)) and eng.n_book == 0
    blob = eng.to_bytes()
    assert SignalEngine.from_bytes(blob).to_bytes() == blob
    hostile = bytearray(blob)
    hostile[-8:] = (1).to_bytes(8, "little")  # zero params but n_trades = 1: not an unconfigured slot
    with pytest.raises(ValueError):
        SignalEngine.from_bytes(bytes(hostile))
