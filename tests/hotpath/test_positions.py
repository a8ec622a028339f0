"""hotpath.orders positions: average-cost PnL on settlement value for linear and inverse contracts.

Worked examples are integers computed by hand (the arithmetic is in the comments); the property
tests compare every fill with the exact Fraction reference in tests/hotpath/reference/orders_ref.py.
"""

from __future__ import annotations

import struct
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotpath.orders import PositionTracker
from tests.hotpath.reference import orders_ref as ref
from tests.hotpath.reference.orders_ref import INT64_MAX, INT64_MIN, POSITION_FIELDS, PositionRef

BUY, SELL = 0, 1

# Binance BTCUSDT spot: tick 0.01 USDT, lot 0.00001 BTC -> one tick*lot = 1e-7 USDT = 100 nano-USDT.
BTCUSDT = {"contract_type": 0, "value_num": 100, "value_den": 1, "maker_fee_ppm": -100, "taker_fee_ppm": 1000}
# BitMEX XBTUSD: tick 0.1 USD, 1 contract = 1 USD. Quote notional 1e9 nano-USD per contract;
# settlement value of q contracts at p ticks = q / (p * 0.1) BTC = q * 1e10 / p nano-BTC.
XBTUSD = {
    "contract_type": 1,
    "value_num": 1_000_000_000,
    "value_den": 1,
    "inv_num": 10_000_000_000,
    "inv_den": 1,
    "maker_fee_ppm": -250,
    "taker_fee_ppm": 750,
}
NO_TRIP = {"realized_delta": 0, "trip_closed": 0, "trip_pnl": 0, "trip_start_ts": 0, "trip_volume": 0}


def outcome(realized_delta=0, trip_closed=0, trip_pnl=0, trip_start_ts=0, trip_volume=0):
    return {
        "realized_delta": realized_delta,
        "trip_closed": trip_closed,
        "trip_pnl": trip_pnl,
        "trip_start_ts": trip_start_ts,
        "trip_volume": trip_volume,
    }


# ---------------------------------------------------------------------------------------------
# worked examples: linear


def test_linear_long_round_trip_losing_after_fees():
    p = PositionTracker(BTCUSDT)
    # buy 0.001 BTC (100 lots) at 50000.00 (5_000_000 ticks): value 5e6*100*100 = 50e9 nano = 50 USDT
    # taker fee 1000 ppm = 0.05 USDT = 50_000_000 nano
    assert p.apply_fill(BUY, 5_000_000, 100, 50_000_000, 1) == NO_TRIP
    assert p.state() == {
        "qty": 100, "entry_value": 50_000_000_000, "realized": 0, "fees": 50_000_000, "volume": 100,
        "volume_notional": 50_000_000_000, "n_fills": 1, "n_round_trips": 0, "n_winning_trips": 0,
        "trip_pnl": -50_000_000, "trip_start_ts": 1, "trip_volume": 100,
    }  # fmt: skip
    # mid 50000.005 (bid 5_000_000, ask 5_000_001): value floor(10_000_001*100*100/2) = 50_000_005_000
    assert p.unrealized(10_000_001) == 5_000
    assert p.unrealized(10_000_000) == 0
    assert p.unrealized(9_999_999) == -5_000
    # sell at 50100.00: exit 50.1e9, realized +0.1 USDT; fee 50_100_000; trip = 1e8 - 5e7 - 5.01e7
    assert p.apply_fill(SELL, 5_010_000, 100, 50_100_000, 2) == outcome(100_000_000, 1, -100_000, 1, 200)
    assert p.state() == {
        "qty": 0, "entry_value": 0, "realized": 100_000_000, "fees": 100_100_000, "volume": 200,
        "volume_notional": 100_100_000_000, "n_fills": 2, "n_round_trips": 1, "n_winning_trips": 0,
        "trip_pnl": 0, "trip_start_ts": 0, "trip_volume": 0,
    }  # fmt: skip
    assert p.unrealized(0) == 0  # flat: nothing to mark


def test_linear_short_partial_closes_with_maker_rebates():
    p = PositionTracker(BTCUSDT)
    # sell 300 lots at 50000.00: value 150e9; maker rebate -100 ppm = -15_000_000
    p.apply_fill(SELL, 5_000_000, 300, -15_000_000, 10)
    assert (p.qty, p.entry_value, p.trip_pnl) == (-300, 150_000_000_000, 15_000_000)
    # buy back 100 at 49900.00: removed 150e9*100/300 = 50e9, exit 4_990_000*100*100 = 49.9e9
    # short (dir -1): realized -(49.9e9 - 50e9) = +1e8; trip 15e6 + 1e8 - 49.9e6 = 65.1e6
    assert p.apply_fill(BUY, 4_990_000, 100, 49_900_000, 11) == outcome(100_000_000)
    assert (p.qty, p.entry_value, p.trip_pnl, p.realized) == (-200, 100_000_000_000, 65_100_000, 100_000_000)
    # mid 49900.005: value floor(9_980_001*200*100/2) = 99_800_010_000 -> -(99.80001e9 - 100e9)
    assert p.unrealized(9_980_001) == 199_990_000
    # buy the rest at 50050.00 with a maker rebate: exit 100.1e9, realized -1e8
    # trip 65.1e6 - 1e8 + 10.01e6 = -24.89e6 (losing although the first leg won)
    assert p.apply_fill(BUY, 5_005_000, 200, -10_010_000, 12) == outcome(
        -100_000_000, 1, -24_890_000, 10, 600
    )
    assert (p.qty, p.entry_value, p.realized, p.fees) == (0, 0, 0, 24_890_000)
    assert (p.n_round_trips, p.n_winning_trips, p.n_fills, p.volume) == (1, 0, 3, 600)
    assert p.volume_notional == 150_000_000_000 + 49_900_000_000 + 100_100_000_000


def test_linear_winning_trip_counts():
    p = PositionTracker(BTCUSDT)
    p.apply_fill(BUY, 100, 10, 1, 1)  # value 100*10*100 = 100_000
    out = p.apply_fill(SELL, 102, 10, 1, 2)  # exit 102_000: +2000 - 2 fees
    assert out == outcome(2_000, 1, 1_998, 1, 20)
    assert (p.n_round_trips, p.n_winning_trips) == (1, 1)
    p.apply_fill(SELL, 100, 10, 0, 3)
    out = p.apply_fill(BUY, 100, 10, 0, 4)  # zero pnl: a trip, not a win
    assert out == outcome(0, 1, 0, 3, 20)
    assert (p.n_round_trips, p.n_winning_trips) == (2, 1)


def test_linear_average_cost_floor():
    # value_den 3 makes values fractional: floors happen where the contract says
    ins = {"contract_type": 0, "value_num": 1, "value_den": 3}
    p = PositionTracker(ins)
    p.apply_fill(BUY, 10, 1, 0, 1)  # floor(10/3) = 3
    p.apply_fill(BUY, 11, 1, 0, 2)  # floor(11/3) = 3 -> entry 6, qty 2
    assert (p.qty, p.entry_value) == (2, 6)
    p.apply_fill(BUY, 12, 1, 0, 3)  # 4 -> entry 10, qty 3
    # sell 2 at 13: exit floor(26/3) = 8; removed floor(10*2/3) = 6 (not 7: floor) -> +2
    assert p.apply_fill(SELL, 13, 2, 0, 4)["realized_delta"] == 2
    assert (p.qty, p.entry_value) == (1, 4)
    # sell 1 at 9: exit floor(9/3) = 3; removed the remaining 4 -> -1
    assert p.apply_fill(SELL, 9, 1, 0, 5) == outcome(-1, 1, 1, 1, 6)
    # over the trip the floors cancel: sells 8 + 3 - buys 3 + 3 + 4 = 1
    assert (p.entry_value, p.realized, p.n_winning_trips) == (0, 1, 1)


def test_linear_flip_splits_the_fee():
    p = PositionTracker(BTCUSDT)
    p.apply_fill(BUY, 5_000_000, 100, 0, 1)
    # sell 250 at 50020.00: 100 close the long, 150 open a short
    # fee split: floor(125_050_001 * 100 / 250) = floor(50_020_000.4) = 50_020_000; the rest 75_030_001
    # close: exit 5_002_000*100*100 = 50.02e9 vs 50e9 -> +20e6; trip pnl 20e6 - 50.02e6
    out = p.apply_fill(SELL, 5_002_000, 250, 125_050_001, 2)
    assert out == outcome(20_000_000, 1, -30_020_000, 1, 200)
    assert p.state() == {
        "qty": -150, "entry_value": 75_030_000_000, "realized": 20_000_000, "fees": 125_050_001,
        "volume": 350, "volume_notional": 175_050_000_000, "n_fills": 2, "n_round_trips": 1,
        "n_winning_trips": 0, "trip_pnl": -75_030_001, "trip_start_ts": 2, "trip_volume": 150,
    }  # fmt: skip


def test_flip_with_negative_fee_floors_toward_minus_infinity():
    p = PositionTracker({"contract_type": 0, "value_num": 1, "value_den": 1})
    p.apply_fill(SELL, 10, 1, 0, 1)
    # buy 3: close 1, open 2; fee -7 -> closing part floor(-7/3) = -3, new trip -4
    out = p.apply_fill(BUY, 10, 3, -7, 2)
    assert out == outcome(0, 1, 3, 1, 2)
    assert (p.qty, p.entry_value, p.trip_pnl, p.trip_volume, p.trip_start_ts) == (2, 20, 4, 2, 2)
    assert (p.n_round_trips, p.n_winning_trips) == (1, 1)


# ---------------------------------------------------------------------------------------------
# worked examples: inverse


def test_inverse_long_partial_close_and_loss():
    p = PositionTracker(XBTUSD)
    # buy 1000 contracts at 50000.0 (500_000 ticks): value 1000*1e10/500_000 = 20_000_000 nano-BTC
    # taker 750 ppm -> 15_000
    assert p.apply_fill(BUY, 500_000, 1000, 15_000, 1) == NO_TRIP
    assert (p.qty, p.entry_value, p.volume_notional) == (1000, 20_000_000, 1_000 * 10**9)
    # mid 50000.05 (bid 500_000, ask 500_001): floor(1000*1e10*2/1_000_001) = 19_999_980
    # long inverse (dir -1): -(19_999_980 - 20_000_000) = +20
    assert p.unrealized(1_000_001) == 20
    assert p.unrealized(1_010_000) == 198_020  # -(floor(2e13/1_010_000) = 19_801_980 - 20e6)
    # sell 400 at 50500.0: exit floor(4e12/505_000) = 7_920_792; removed 20e6*400/1000 = 8e6
    # realized -(7_920_792 - 8_000_000) = +79_208; maker rebate round(7_920_792 * -250e-6) = -1980
    assert p.apply_fill(SELL, 505_000, 400, -1_980, 2) == outcome(79_208)
    assert (p.qty, p.entry_value, p.trip_pnl) == (600, 12_000_000, -15_000 + 79_208 + 1_980)
    # sell 600 at 49500.0: exit floor(6e12/495_000) = 12_121_212 -> -121_212; taker 9_091
    assert p.apply_fill(SELL, 495_000, 600, 9_091, 3) == outcome(-121_212, 1, -64_115, 1, 2000)
    assert p.state() == {
        "qty": 0, "entry_value": 0, "realized": -42_004, "fees": 22_111, "volume": 2000,
        "volume_notional": 2_000 * 10**9, "n_fills": 3, "n_round_trips": 1, "n_winning_trips": 0,
        "trip_pnl": 0, "trip_start_ts": 0, "trip_volume": 0,
    }  # fmt: skip


def test_inverse_short_profits_when_price_falls():
    p = PositionTracker(XBTUSD)
    p.apply_fill(SELL, 500_000, 1000, 0, 1)  # entry 20_000_000 nano-BTC
    # mark 49000.0: floor(1000*1e10*2/980_000) = 20_408_163; short inverse (dir +1): +408_163
    assert p.unrealized(980_000) == 408_163
    assert p.unrealized(1_020_000) == 19_607_843 - 20_000_000
    assert p.apply_fill(BUY, 490_000, 1000, 0, 2) == outcome(408_163, 1, 408_163, 1, 2000)
    assert (p.n_round_trips, p.n_winning_trips, p.realized) == (1, 1, 408_163)


def test_inverse_flip():
    p = PositionTracker(XBTUSD)
    p.apply_fill(SELL, 400_000, 10, 0, 1)  # 10*1e10/400_000 = 250_000
    # buy 30 at 40100.0: close 10 -> exit floor(1e11/401_000) = 249_376 -> +(249_376 - 250_000) = -624
    # open 20 long at 401_000 -> entry floor(2e11/401_000) = 498_753; fee 30 -> 10 / 20
    out = p.apply_fill(BUY, 401_000, 30, 30, 2)
    assert out == outcome(-624, 1, -634, 1, 20)
    assert (p.qty, p.entry_value, p.trip_pnl, p.trip_volume) == (20, 498_753, -20, 20)


# ---------------------------------------------------------------------------------------------
# refusals and overflow: -1 (None here), position unchanged


def position_bytes(**fields) -> bytes:
    values = [fields.get(k, 0) for k in POSITION_FIELDS]
    return struct.pack("<13q", 0x504F5331, *values)


@pytest.mark.parametrize(
    ("side", "price", "qty"),
    [(2, 100, 1), (-1, 100, 1), (BUY, 100, 0), (BUY, 100, -1), (SELL, 100, INT64_MIN), (BUY, 0, 1),
     (BUY, -1, 1), (SELL, INT64_MIN, 1), (BUY, 2**61 + 1, 1)],
)  # fmt: skip
def test_bad_fill_input(side, price, qty):
    p = PositionTracker(BTCUSDT)
    p.apply_fill(BUY, 100, 5, 3, 1)
    before = p.state()
    assert p.apply_fill(side, price, qty, 0, 2) is None
    assert p.state() == before


def test_bad_contract_type_refused():
    p = PositionTracker({"contract_type": 2, "value_num": 1, "value_den": 1})
    assert p.apply_fill(BUY, 100, 1, 0, 1) is None
    assert p.n_fills == 0
    q = PositionTracker({"contract_type": 0, "value_num": -1, "value_den": 1})  # negative value
    assert q.apply_fill(BUY, 100, 1, 0, 1) is None


@pytest.mark.parametrize(
    ("start", "fill"),
    [
        # notional of the fill itself overflows (100 * INT64_MAX)
        ({}, (BUY, 1, INT64_MAX, 0)),
        # entry value overflows on an increase
        ({"qty": 1, "entry_value": INT64_MAX - 50, "trip_start_ts": 1, "trip_volume": 1}, (BUY, 1, 1, 0)),
        # position quantity overflows
        ({"qty": INT64_MAX - 1, "entry_value": 1, "trip_start_ts": 1, "trip_volume": 1}, (BUY, 1, 2, 0)),
        # the short side may not reach INT64_MIN (|qty| must stay representable)
        ({"qty": -INT64_MAX, "entry_value": 1, "trip_start_ts": 1, "trip_volume": 1}, (SELL, 1, 1, 0)),
        # cumulative fees, realized, volume, notional volume, fill count
        ({"fees": INT64_MAX - 5}, (BUY, 1, 1, 10)),
        ({"fees": INT64_MIN + 5}, (BUY, 1, 1, -10)),
        ({"qty": 1, "entry_value": 0, "realized": INT64_MAX, "trip_start_ts": 1, "trip_volume": 1}, (SELL, 100, 1, 0)),
        ({"volume": INT64_MAX}, (BUY, 1, 1, 0)),
        ({"volume_notional": INT64_MAX - 99}, (BUY, 1, 1, 0)),
        ({"n_fills": INT64_MAX}, (BUY, 1, 1, 0)),
        # trip pnl of the open trip
        ({"qty": 1, "entry_value": 100, "trip_pnl": INT64_MIN + 1, "trip_start_ts": 1, "trip_volume": 1}, (BUY, 1, 1, 5)),
        ({"qty": 1, "entry_value": 0, "trip_pnl": INT64_MAX, "trip_start_ts": 1, "trip_volume": 1}, (SELL, 1, 1, 0)),
        ({"qty": 1, "entry_value": 100, "trip_volume": INT64_MAX, "trip_start_ts": 1}, (BUY, 1, 1, 0)),
        # round-trip counter
        ({"qty": 1, "entry_value": 100, "n_round_trips": INT64_MAX, "n_winning_trips": 0, "trip_start_ts": 1,
          "trip_volume": 1}, (SELL, 1, 1, 0)),
    ],
)  # fmt: skip
def test_overflow_leaves_position_unchanged(start, fill):
    data = position_bytes(**start)
    p = PositionTracker.from_bytes(data, BTCUSDT)
    side, price, qty, fee = fill
    assert p.apply_fill(side, price, qty, fee, 7) is None
    assert p.to_bytes() == data
    r = PositionRef(**{k: start.get(k, 0) for k in POSITION_FIELDS})
    assert ref.apply_fill(r, BTCUSDT, side, price, qty, fee, 7) is None  # the reference agrees


def test_unrealized_refusals():
    p = PositionTracker(BTCUSDT)
    assert p.unrealized(0) == 0 and p.unrealized(-5) == 0  # flat
    p.apply_fill(BUY, 100, 1, 0, 1)
    assert p.unrealized(0) is None
    assert p.unrealized(-1) is None
    big = PositionTracker.from_bytes(
        position_bytes(qty=INT64_MAX, entry_value=0, trip_start_ts=1, trip_volume=1), BTCUSDT
    )
    assert big.unrealized(INT64_MAX) is None  # mark value overflows
    neg = PositionTracker.from_bytes(
        position_bytes(qty=-1, entry_value=INT64_MAX, trip_start_ts=1, trip_volume=1), BTCUSDT
    )
    # short (dir -1) at mark_x2 = 1: value floor(1*1*100/2) = 50 -> -(50 - INT64_MAX)
    assert neg.unrealized(1) == INT64_MAX - 50


def test_position_bytes_round_trip_and_refusals():
    p = PositionTracker(XBTUSD)
    p.apply_fill(BUY, 500_000, 10, 5, 1)
    p.apply_fill(SELL, 501_000, 25, -3, 2)
    data = p.to_bytes()
    assert len(data) == 13 * 8
    assert list(struct.unpack("<13q", data)[1:]) == [p.state()[k] for k in POSITION_FIELDS]
    back = PositionTracker.from_bytes(data, XBTUSD)
    assert back.state() == p.state()
    assert back.apply_fill(BUY, 499_000, 15, 1, 3) == p.apply_fill(BUY, 499_000, 15, 1, 3)
    assert back.to_bytes() == p.to_bytes()
    for bad in (
        data[:-8],
        data + b"\0" * 8,
        b"",
        struct.pack("<13q", 0, *struct.unpack("<13q", data)[1:]),  # magic
        position_bytes(qty=INT64_MIN, entry_value=1),
        position_bytes(qty=1, entry_value=-1),
        position_bytes(qty=0, entry_value=5),  # flat with an entry value
        position_bytes(qty=0, trip_pnl=5),
        position_bytes(n_round_trips=1, n_winning_trips=2),
        position_bytes(volume=-1),
        position_bytes(n_fills=-1),
    ):
        with pytest.raises(ValueError):
            PositionTracker.from_bytes(bad, XBTUSD)


# ---------------------------------------------------------------------------------------------
# property tests against the exact reference

LINEAR_ODD = {"contract_type": 0, "value_num": 7, "value_den": 3}
INVERSE_ODD = {"contract_type": 1, "value_num": 10, "value_den": 1, "inv_num": 10**12 + 7, "inv_den": 3}
INSTRUMENTS = [BTCUSDT, XBTUSD, LINEAR_ODD, INVERSE_ODD]

realistic_fill = st.tuples(
    st.sampled_from([BUY, SELL]),
    st.integers(1, 10_000_000),
    st.one_of(st.sampled_from(range(1, 11)), st.integers(1, 5_000)),  # small lots: exact closes happen
    st.integers(-1_000_000, 1_000_000),
    st.integers(0, 10**18),
)
extreme_fill = st.tuples(
    st.sampled_from([BUY, SELL, 2]),
    st.one_of(st.integers(-2, 2**62), st.sampled_from([1, 2**61, 2**61 + 1, INT64_MAX])),
    st.one_of(st.integers(-2, 2**62), st.sampled_from([1, INT64_MAX])),
    st.one_of(st.integers(INT64_MIN, INT64_MAX), st.sampled_from([INT64_MIN, INT64_MAX, 0])),
    st.integers(INT64_MIN, INT64_MAX),
)


def check_against_reference(ins: dict, fills: list, marks: list[int]) -> None:
    p = PositionTracker(ins)
    r = PositionRef()
    for side, price, qty, fee, ts in fills:
        got = p.apply_fill(side, price, qty, fee, ts)
        want = ref.apply_fill(r, ins, side, price, qty, fee, ts)
        assert got == want, (side, price, qty, fee)
        assert p.state() == r.state()
        for mark in marks:
            assert p.unrealized(mark) == ref.unrealized(r, ins, mark)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ins=st.sampled_from(INSTRUMENTS),
    fills=st.lists(realistic_fill, max_size=40),
    marks=st.lists(st.integers(1, 20_000_001), max_size=3),
)
def test_matches_reference_realistic(ins, fills, marks):
    check_against_reference(ins, fills, marks)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ins=st.sampled_from(INSTRUMENTS),
    fills=st.lists(st.one_of(realistic_fill, extreme_fill), max_size=25),
    marks=st.lists(st.one_of(st.integers(-1, 2**62), st.just(INT64_MAX)), max_size=2),
)
def test_matches_reference_extreme(ins, fills, marks):
    check_against_reference(ins, fills, marks)


@settings(max_examples=200, deadline=None)
@given(
    ins=st.sampled_from(INSTRUMENTS),
    open_side=st.sampled_from([BUY, SELL]),
    open_fills=st.lists(st.tuples(st.integers(1, 10_000_000), st.integers(1, 1_000), st.integers(-999, 999)), min_size=1, max_size=5),
    price=st.integers(1, 10_000_000),
    extra=st.integers(1, 2_000),
    fee=st.integers(-10**6, 10**6),
)  # fmt: skip
def test_flip_equals_close_then_open(ins, open_side, open_fills, price, extra, fee):
    """A flipping fill books exactly like a closing fill plus an opening fill with the fee split."""
    a, b = PositionTracker(ins), PositionTracker(ins)
    for i, (px, q, f) in enumerate(open_fills):
        a.apply_fill(open_side, px, q, f, i)
        b.apply_fill(open_side, px, q, f, i)
    size = abs(a.qty)
    total = size + extra
    flip_side = SELL if open_side == BUY else BUY
    fee_close = Fraction(fee * size, total).__floor__()
    out = a.apply_fill(flip_side, price, total, fee, 100)
    close = b.apply_fill(flip_side, price, size, fee_close, 100)
    b.apply_fill(flip_side, price, extra, fee - fee_close, 100)
    assert out == close
    sa, sb = a.state(), b.state()
    assert sa["n_fills"] + 1 == sb["n_fills"]
    for k in POSITION_FIELDS:
        if k not in ("n_fills", "volume_notional"):
            assert sa[k] == sb[k], k


@settings(max_examples=200, deadline=None)
@given(
    linear=st.booleans(),
    side=st.sampled_from([BUY, SELL]),
    legs=st.lists(st.tuples(st.integers(1, 10_000_000), st.integers(1, 1_000), st.integers(-999, 999)), min_size=1, max_size=6),
    exits=st.lists(st.tuples(st.integers(1, 10_000_000), st.integers(-999, 999)), min_size=1, max_size=6),
)  # fmt: skip
def test_closed_trip_pnl_is_conserved(linear, side, legs, exits):
    """Over a trip that ends flat, the average-cost floors cancel: realized pnl is exactly
    (sells - buys) of the fills' settlement values for linear, (buys - sells) for inverse."""
    ins = BTCUSDT if linear else XBTUSD
    p = PositionTracker(ins)
    value = {BUY: 0, SELL: 0}
    fees = 0
    for i, (px, q, f) in enumerate(legs):
        p.apply_fill(side, px, q, f, i)
        value[side] += ref.inst_settle_value(ins, px, q)
        fees += f
    other = SELL if side == BUY else BUY
    remaining = abs(p.qty)
    result = None
    for j, (px, f) in enumerate(exits):
        q = remaining if j == len(exits) - 1 else max(1, remaining // (len(exits) - j))
        q = min(q, remaining)
        if q == 0:
            break
        result = p.apply_fill(other, px, q, f, 100 + j)
        value[other] += ref.inst_settle_value(ins, px, q)
        fees += f
        remaining -= q
    assert p.qty == 0 and p.entry_value == 0
    expected = value[SELL] - value[BUY] if linear else value[BUY] - value[SELL]
    assert p.realized == expected
    assert result["trip_closed"] == 1
    assert result["trip_pnl"] == expected - fees
    assert p.n_winning_trips == (1 if expected - fees > 0 else 0)
