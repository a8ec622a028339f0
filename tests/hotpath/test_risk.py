"""hotpath.risk: the pre-trade gate. Boundary table for every limit, hostile inputs, check order,
trading states, token bucket, drawdown/daily loss, breakers, snapshots, and a Hypothesis
comparison with tests/hotpath/reference/risk_ref.py."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotpath import risk as rk
from hotpath.risk import RiskGate, config_valid, reduces_exposure
from tests.hotpath.reference import risk_ref as rr
from tests.hotpath.reference.orders_ref import INT64_MAX, INT64_MIN

BUY, SELL = 0, 1
OT_LIMIT, OT_MARKET, OT_LIMIT_MAKER = 0, 1, 2
ACTIVE, REDUCING, HALTED = 0, 1, 2
SEC = 10**9
DAY = 86_400 * SEC
T0 = 1_723_075_200 * SEC  # 2024-08-08 00:00:00 UTC

# BTCUSDT spot: tick 0.01, lot 0.00001 -> 100 nano-USDT per tick*lot
INS = {"contract_type": 0, "value_num": 100, "value_den": 1}
INVERSE = {"contract_type": 1, "value_num": 10**9, "value_den": 1, "inv_num": 10**10, "inv_den": 1}

LIMITS = {
    "max_order_qty": 1_000,
    "max_position": 5_000,
    "max_notional": 10**12,  # 1000 USDT
    "collar_ppm": 1_000,  # 0.1 %
    "max_spread_ticks": 10,
    "max_open_orders": 5,
}
CONFIG = {
    "max_total_notional": 2 * 10**12,
    "max_open_orders_total": 20,
    "rate_capacity": 1_000,
    "rate_per_sec": 1_000,
    "max_drawdown": 10**9,
    "max_daily_loss": 5 * 10**8,
    "day_offset_ns": 0,
    "max_consecutive_losses": 3,
    "rapid_fill_count": 5,
    "rapid_fill_window_ns": SEC,
}
BID, ASK = 4_999_995, 5_000_005  # spread 10 ticks, mid_x2 = 10_000_000
EXPO = {
    "position": 0,
    "open_buy": 0,
    "open_sell": 0,
    "open_orders": 0,
    "open_orders_total": 0,
    "open_notional": 0,
    "total_notional": 0,
    "best_bid": BID,
    "best_ask": ASK,
    "book_valid": 1,
}
INTENT = {"side": BUY, "order_type": OT_LIMIT, "price": 5_000_000, "qty": 10}
ORDER_N = 5_000_000 * 10 * 100  # notional of INTENT: 5e9 nano-USDT
ALL_OFF = dict.fromkeys(LIMITS, INT64_MAX)


def gate(lim=None, cfg=None, ts=T0, equity=None) -> RiskGate:
    g = RiskGate({**LIMITS, **(lim or {})}, {**CONFIG, **(cfg or {})}, ts)
    for eq in equity or []:
        g.on_equity(eq, ts)
    return g


def check(g: RiskGate, ts=T0, ins=INS, **kw) -> int:
    intent = {**INTENT, **{k: v for k, v in kw.items() if k in INTENT}}
    expo = {**EXPO, **{k: v for k, v in kw.items() if k in EXPO}}
    unknown = set(kw) - set(INTENT) - set(EXPO)
    assert not unknown, unknown
    return g.check(ins, intent, expo, ts)


def test_enums_exported():
    assert (rk.RR_OK, rk.RR_RATE_LIMIT, rk.RR_BAD_LIMITS, rk.RR_SHUTDOWN, rk.N_RISK_REASONS) == (
        0,
        16,
        20,
        25,
        26,
    )
    assert (rk.STATE_ACTIVE, rk.STATE_REDUCING, rk.STATE_HALTED) == (0, 1, 2)


def test_baseline_passes_and_counts():
    g = gate()
    assert check(g) == rk.RR_OK
    assert g.n_checks == 1
    assert g.denials == [0] * rk.N_RISK_REASONS
    assert g.tokens_e9 == (1_000 - 1) * SEC


# ---------------------------------------------------------------------------------------------
# boundary table: at the limit passes, one tick / lot / nano beyond is denied with its reason

BIG = {"max_notional": INT64_MAX}
BIG_CFG = {"max_total_notional": INT64_MAX}

BOUNDARIES = [
    # name, limits, config, equity path, passing case, failing case, reason
    ("order qty", {}, {}, [], {"qty": 1_000}, {"qty": 1_001}, rk.RR_MAX_ORDER_QTY),
    ("position long", BIG, BIG_CFG, [], {"position": 3_000, "open_buy": 1_000, "qty": 1_000},
     {"position": 3_000, "open_buy": 1_001, "qty": 1_000}, rk.RR_MAX_POSITION),
    ("position long by qty", BIG, BIG_CFG, [], {"position": 4_000, "qty": 1_000},
     {"position": 4_001, "qty": 1_000}, rk.RR_MAX_POSITION),
    ("position short", BIG, BIG_CFG, [], {"side": SELL, "position": -3_000, "open_sell": 1_000, "qty": 1_000},
     {"side": SELL, "position": -3_000, "open_sell": 1_001, "qty": 1_000}, rk.RR_MAX_POSITION),
    ("position: other side leaves ignored", BIG, BIG_CFG, [], {"position": 4_000, "open_sell": 10**6, "qty": 1_000},
     {"position": 4_000, "open_sell": 10**6, "qty": 1_000, "open_buy": 1}, rk.RR_MAX_POSITION),
    # |2p - mid_x2| * 1e6 <= 1000 * 10_000_000  <=>  |2p - 10_000_000| <= 10_000
    ("collar above", {}, {}, [], {"price": 5_005_000}, {"price": 5_005_001}, rk.RR_PRICE_COLLAR),
    ("collar below", {}, {}, [], {"price": 4_995_000}, {"price": 4_994_999}, rk.RR_PRICE_COLLAR),
    ("collar sell", {}, {}, [], {"side": SELL, "price": 5_005_000}, {"side": SELL, "price": 5_005_001},
     rk.RR_PRICE_COLLAR),
    ("spread", {}, {}, [], {"best_ask": ASK}, {"best_ask": ASK + 1}, rk.RR_SPREAD),
    ("open orders", {}, {}, [], {"open_orders": 4}, {"open_orders": 5}, rk.RR_MAX_OPEN_ORDERS),
    ("open orders total", {}, {}, [], {"open_orders_total": 19}, {"open_orders_total": 20},
     rk.RR_MAX_OPEN_ORDERS),
    ("notional", {}, {}, [], {"open_notional": 10**12 - ORDER_N}, {"open_notional": 10**12 - ORDER_N + 1},
     rk.RR_MAX_NOTIONAL),
    # position 100 lots at mid 5_000_000: 10_000_000 * 100 * 100 / 2 = 5e10
    ("notional with position", {}, {}, [], {"position": 100, "open_notional": 10**12 - ORDER_N - 5 * 10**10},
     {"position": 100, "open_notional": 10**12 - ORDER_N - 5 * 10**10 + 1}, rk.RR_MAX_NOTIONAL),
    ("notional short position", {}, {}, [], {"position": -100, "open_notional": 10**12 - ORDER_N - 5 * 10**10},
     {"position": -100, "open_notional": 10**12 - ORDER_N - 5 * 10**10 + 1}, rk.RR_MAX_NOTIONAL),
    # half-tick mid (ask + 1): 10_000_001 * 100 * 100 / 2 = 50_000_005_000 exactly
    ("notional half-tick mid", {"max_spread_ticks": 11}, {}, [],
     {"position": 100, "best_ask": ASK + 1, "open_notional": 10**12 - ORDER_N - 50_000_005_000},
     {"position": 100, "best_ask": ASK + 1, "open_notional": 10**12 - ORDER_N - 50_000_004_999},
     rk.RR_MAX_NOTIONAL),
    # market buy valued at the ask: 5_000_005 * 10 * 100
    ("notional market buy", {}, {}, [],
     {"order_type": OT_MARKET, "price": 0, "open_notional": 10**12 - 5_000_005_000},
     {"order_type": OT_MARKET, "price": 0, "open_notional": 10**12 - 5_000_005_000 + 1}, rk.RR_MAX_NOTIONAL),
    ("notional market sell", {}, {}, [],
     {"side": SELL, "order_type": OT_MARKET, "price": 0, "open_notional": 10**12 - 4_999_995_000},
     {"side": SELL, "order_type": OT_MARKET, "price": 0, "open_notional": 10**12 - 4_999_995_000 + 1},
     rk.RR_MAX_NOTIONAL),
    ("total notional", {}, {}, [], {"total_notional": 2 * 10**12 - ORDER_N},
     {"total_notional": 2 * 10**12 - ORDER_N + 1}, rk.RR_MAX_TOTAL_NOTIONAL),
]  # fmt: skip
# drawdown / daily loss deny at >= their limit: see test_drawdown_boundary, test_daily_loss_*


@pytest.mark.parametrize(
    ("name", "lim", "cfg", "eq", "ok", "bad", "reason"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES]
)
def test_boundary(name, lim, cfg, eq, ok, bad, reason):
    g = gate(lim, cfg, equity=eq)
    assert check(g, **ok) == rk.RR_OK
    assert check(g, **bad) == reason
    assert g.denials[reason] == 1
    assert g.n_checks == 2


def test_drawdown_boundary():
    g = gate(cfg={"max_daily_loss": INT64_MAX})
    g.on_equity(10 * SEC, T0)  # peak 10e9 nano
    g.on_equity(9 * SEC + 1, T0)  # drawdown 1e9 - 1 < limit
    assert check(g) == rk.RR_OK
    g.on_equity(9 * SEC, T0)  # drawdown == 1e9: denied
    assert check(g) == rk.RR_MAX_DRAWDOWN
    assert check(g, side=SELL, position=10, qty=10) == rk.RR_OK  # reducing orders pass
    g.on_equity(10 * SEC + 5, T0)  # new peak
    g.on_equity(9 * SEC + 6, T0)  # 1e9 - 1 below the new peak
    assert check(g) == rk.RR_OK
    g.on_equity(9 * SEC + 5, T0)
    assert check(g) == rk.RR_MAX_DRAWDOWN


def test_daily_loss_boundary_and_rollover():
    g = gate(cfg={"max_drawdown": INT64_MAX})
    g.on_equity(10 * SEC, T0 + 3_600 * SEC)
    g.on_equity(10 * SEC - 5 * 10**8 + 1, T0 + 7_200 * SEC)
    assert check(g, ts=T0 + 7_200 * SEC) == rk.RR_OK
    g.on_equity(10 * SEC - 5 * 10**8, T0 + 7_201 * SEC)
    assert check(g, ts=T0 + 7_202 * SEC) == rk.RR_DAILY_LOSS
    assert check(g, ts=T0 + 7_202 * SEC, side=SELL, position=10, qty=10) == rk.RR_OK  # reducing
    assert check(g, ts=T0 + DAY - 1) == rk.RR_DAILY_LOSS  # last nanosecond of the day
    snap = g.snapshot()
    assert snap["day_index"] == T0 // DAY
    # first check of the next day: the day starts at the current equity, the loss budget resets
    assert check(g, ts=T0 + DAY) == rk.RR_OK
    snap = g.snapshot()
    assert (snap["day_index"], snap["day_start_equity"]) == (T0 // DAY + 1, 10 * SEC - 5 * 10**8)
    # an event from the previous day never restores the old baseline
    g.on_equity(10 * SEC - 10**9, T0 + DAY - 10)
    assert g.snapshot()["day_index"] == T0 // DAY + 1
    assert check(g, ts=T0 + DAY + 1) == rk.RR_DAILY_LOSS


def test_day_offset_moves_the_boundary():
    off = 8 * 3_600 * SEC  # trading day starts 08:00 UTC
    g = gate(cfg={"day_offset_ns": off, "max_drawdown": INT64_MAX}, ts=T0)
    g.on_equity(10 * SEC, T0 + off - 10)  # 07:59:59.99999999 belongs to the previous day
    assert g.snapshot()["day_index"] == T0 // DAY - 1
    g.on_equity(9 * SEC, T0 + off - 1)
    assert check(g, ts=T0 + off - 1) == rk.RR_DAILY_LOSS
    g.on_equity(9 * SEC, T0 + off)  # 08:00: new day via the equity feed
    assert g.snapshot()["day_start_equity"] == 9 * SEC
    assert check(g, ts=T0 + off) == rk.RR_OK


def test_day_index_before_epoch_floors():
    g = gate(ts=-1)
    assert g.snapshot()["day_index"] == -1
    g = gate(ts=-DAY)
    assert g.snapshot()["day_index"] == -1
    g = gate(ts=-DAY - 1)
    assert g.snapshot()["day_index"] == -2
    g = gate(ts=INT64_MIN, cfg={"day_offset_ns": DAY - 1})
    assert g.snapshot()["day_index"] == (INT64_MIN - (DAY - 1)) // DAY


def test_rate_limit_boundary():
    g = gate(cfg={"rate_capacity": 3, "rate_per_sec": 2})
    assert [check(g) for _ in range(4)] == [0, 0, 0, rk.RR_RATE_LIMIT]


# ---------------------------------------------------------------------------------------------
# hostile inputs (the hot path is integer: no NaN, but zero, negative and extreme values)


@pytest.mark.parametrize("qty", [0, -1, INT64_MIN, -(10**12)])
def test_bad_qty(qty):
    g = gate()
    assert check(g, qty=qty) == rk.RR_BAD_QTY
    assert check(g, qty=qty, order_type=OT_MARKET) == rk.RR_BAD_QTY
    assert g.denials[rk.RR_BAD_QTY] == 2
    assert g.tokens_e9 == 1_000 * SEC  # denials never consume a token


@pytest.mark.parametrize("price", [0, -1, INT64_MIN])
def test_bad_price(price):
    g = gate()
    assert check(g, price=price) == rk.RR_BAD_PRICE
    assert check(g, price=price, order_type=OT_LIMIT_MAKER) == rk.RR_BAD_PRICE
    assert check(g, price=price, order_type=OT_MARKET) == rk.RR_OK  # market: price unused


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("side", 2, rk.RR_BAD_QTY), ("side", -1, rk.RR_BAD_QTY),
    ("order_type", 3, rk.RR_BAD_PRICE), ("order_type", -1, rk.RR_BAD_PRICE),
])  # fmt: skip
def test_malformed_intent(field, value, reason):
    assert check(gate(), **{field: value}) == reason


def test_extreme_quantities_and_prices():
    g = gate()
    assert check(g, qty=INT64_MAX) == rk.RR_MAX_ORDER_QTY
    off = gate(ALL_OFF, {"max_total_notional": INT64_MAX})
    # position + open + qty: INT64_MAX alone fits, one more lot overflows
    assert check(off, qty=INT64_MAX, price=5_000_000) == rk.RR_OVERFLOW  # its notional overflows
    assert check(off, qty=INT64_MAX, position=1) == rk.RR_OVERFLOW
    assert check(off, qty=INT64_MAX, side=SELL, position=-2) == rk.RR_OVERFLOW
    assert check(off, qty=INT64_MAX, side=SELL, position=-1) == rk.RR_MAX_POSITION  # exactly INT64_MIN
    assert check(off, qty=1, side=SELL, position=INT64_MIN + 1) == rk.RR_MAX_POSITION  # |INT64_MIN|
    # limit prices: 2 * price overflowing is an overflow, a merely absurd one is outside the collar
    assert check(g, price=INT64_MAX) == rk.RR_OVERFLOW
    assert check(g, price=2**62) == rk.RR_OVERFLOW
    assert check(g, price=2**62 - 1) == rk.RR_PRICE_COLLAR
    # with the collar off, an absurd price reaches the notional check and overflows there
    assert check(off, price=2**61, qty=1_000) == rk.RR_OVERFLOW
    assert check(off, price=INT64_MAX // 2, qty=1) == rk.RR_OVERFLOW
    # market order at an absurd touch
    assert check(off, order_type=OT_MARKET, price=0, best_bid=2**62, best_ask=2**62 + 1) == rk.RR_OVERFLOW
    # the collar itself never overflows: disabled (INT64_MAX ppm) with a huge mid
    assert check(off, price=2**62 - 10, best_bid=2**62 - 11, best_ask=2**62 - 9, qty=1) == rk.RR_OVERFLOW
    assert check(off, price=10**12, best_bid=10**12 - 1, best_ask=10**12 + 1, qty=1) == rk.RR_OK
    # book sum overflows: mid cannot be formed
    assert check(off, best_bid=INT64_MAX - 1, best_ask=INT64_MAX) == rk.RR_OVERFLOW
    # notional sums overflow
    assert check(off, open_notional=INT64_MAX) == rk.RR_OVERFLOW
    assert check(off, total_notional=INT64_MAX) == rk.RR_OVERFLOW


@pytest.mark.parametrize("book", [
    {"book_valid": 0}, {"best_bid": 0}, {"best_ask": 0}, {"best_bid": -5}, {"best_ask": INT64_MIN},
    {"best_bid": ASK}, {"best_bid": ASK + 1}, {"best_bid": 0, "best_ask": 0},
])  # fmt: skip
def test_no_market(book):
    g = gate()
    assert check(g, **book) == rk.RR_NO_MARKET
    assert check(g, order_type=OT_MARKET, price=0, **book) == rk.RR_NO_MARKET


@pytest.mark.parametrize(
    "field", ["open_buy", "open_sell", "open_orders", "open_orders_total", "open_notional", "total_notional"]
)
def test_negative_exposure_view_fails_closed(field):
    assert check(gate(), **{field: -1}) == rk.RR_OVERFLOW
    assert check(gate(), position=INT64_MIN) == rk.RR_OVERFLOW


@pytest.mark.parametrize("ins", [
    {"contract_type": 2, "value_num": 100, "value_den": 1},
    {"contract_type": 0, "value_num": 0, "value_den": 1},
    {"contract_type": 0, "value_num": 100, "value_den": 0},
    {"contract_type": 1, "value_num": -1, "value_den": 1},
])  # fmt: skip
def test_bad_instrument_spec(ins):
    assert check(gate(), ins=ins) == rk.RR_BAD_LIMITS


def test_inverse_notional_is_price_independent():
    # XBTUSD: 1 contract = 1 USD = 1e9 nano quote, whatever the price
    g = gate({"max_notional": 1_000 * 10**9})
    kw = {"best_bid": 499_995, "best_ask": 500_005, "price": 500_000}
    assert check(g, ins=INVERSE, qty=400, position=600, **kw) == rk.RR_OK
    assert check(g, ins=INVERSE, qty=401, position=600, **kw) == rk.RR_MAX_NOTIONAL
    assert check(g, ins=INVERSE, qty=400, position=-600, **kw) == rk.RR_OK  # |position|


# ---------------------------------------------------------------------------------------------
# fail closed on limits <= 0


@pytest.mark.parametrize("value", [0, -1, INT64_MIN])
@pytest.mark.parametrize("key", list(LIMITS))
def test_bad_limit_denies_what_it_governs(key, value):
    g = gate({key: value})
    assert check(g) == rk.RR_BAD_LIMITS
    assert g.denials[rk.RR_BAD_LIMITS] == 1
    if key == "collar_ppm":
        assert check(g, order_type=OT_MARKET, price=0) == rk.RR_OK  # the collar governs limit prices only
    if key == "max_spread_ticks":
        assert check(g, side=SELL, position=20, qty=10) == rk.RR_OK  # reducing orders are exempt


@pytest.mark.parametrize("value", [0, -1])
@pytest.mark.parametrize(
    "key",
    [
        "max_total_notional",
        "max_open_orders_total",
        "rate_capacity",
        "rate_per_sec",
        "max_drawdown",
        "max_daily_loss",
    ],
)
def test_bad_config_at_check_time(key, value):
    # the edge validates configs, but a reloaded config is not trusted either
    g = gate()
    g.set_config({**CONFIG, key: value})
    assert check(g) == rk.RR_BAD_LIMITS
    reducing = check(g, side=SELL, position=20, qty=10)
    assert reducing == (rk.RR_OK if key in ("max_drawdown", "max_daily_loss") else rk.RR_BAD_LIMITS)


@pytest.mark.parametrize(
    ("key", "value"),
    [(k, v) for k in CONFIG if k != "day_offset_ns" for v in (0, -1)]
    + [
        ("rapid_fill_count", 257),
        ("day_offset_ns", -1),
        ("day_offset_ns", DAY),
        ("day_offset_ns", INT64_MIN),
    ],
)
def test_bad_config_refused_at_init(key, value):
    bad = {**CONFIG, key: value}
    assert not config_valid(bad)
    with pytest.raises(ValueError):
        RiskGate(LIMITS, bad, T0)
    assert not rr.config_ok(bad)


def test_config_edges_accepted():
    ok = {**CONFIG, "rapid_fill_count": 256, "day_offset_ns": DAY - 1}
    assert config_valid(ok) and rr.config_ok(ok)
    off = {k: INT64_MAX for k in CONFIG} | {"day_offset_ns": 0, "rapid_fill_count": 256}
    g = RiskGate(ALL_OFF, off, T0)
    assert g.tokens_e9 == INT64_MAX  # saturated bucket: effectively unlimited
    for i in range(100):
        assert check(g, ts=T0 + i) == rk.RR_OK
    with pytest.raises(KeyError):
        RiskGate(LIMITS, {k: v for k, v in CONFIG.items() if k != "rate_capacity"}, T0)
    with pytest.raises(KeyError):
        RiskGate({**LIMITS, "typo": 1}, CONFIG, T0)


def test_breaker_with_bad_config_trips():
    g = gate()
    g.set_config({**CONFIG, "max_consecutive_losses": 0})
    assert g.on_round_trip(5) == HALTED
    assert (g.state, g.state_reason) == (HALTED, rk.RR_BAD_LIMITS)
    g = gate()
    g.set_config({**CONFIG, "rapid_fill_count": 300})
    assert g.on_fill(T0) == HALTED
    assert g.state_reason == rk.RR_BAD_LIMITS
    g = gate()
    g.set_config({**CONFIG, "rapid_fill_window_ns": 0})
    assert g.on_fill(T0) == HALTED


# ---------------------------------------------------------------------------------------------
# trading states


def test_halted_denies_everything():
    g = gate()
    assert g.set_state(HALTED, rk.RR_OPERATOR) == ACTIVE
    assert (g.state, g.state_reason) == (HALTED, rk.RR_OPERATOR)
    cases = [
        {},
        {"qty": 0},
        {"side": SELL, "position": 100, "qty": 1},
        {"book_valid": 0},
        {"order_type": OT_MARKET},
    ]
    for kw in cases:
        assert check(g, **kw) == rk.RR_HALTED
    assert g.denials[rk.RR_HALTED] == len(cases)
    assert g.tokens_e9 == 1_000 * SEC


def test_reducing_allows_only_reducing_orders():
    g = gate()
    assert g.set_state(REDUCING, rk.RR_OPERATOR) == ACTIVE
    assert (g.state, g.state_reason) == (REDUCING, rk.RR_OPERATOR)
    assert check(g, side=SELL, position=100, qty=100) == rk.RR_OK
    assert check(g, side=SELL, position=100, qty=101) == rk.RR_REDUCE_ONLY
    assert check(g, side=SELL, position=100, qty=60, open_sell=40) == rk.RR_OK
    assert check(g, side=SELL, position=100, qty=60, open_sell=41) == rk.RR_REDUCE_ONLY
    assert check(g, side=BUY, position=100, qty=1) == rk.RR_REDUCE_ONLY
    assert check(g, side=BUY, position=-100, qty=100) == rk.RR_OK
    assert check(g, side=SELL, position=0, qty=1) == rk.RR_REDUCE_ONLY
    assert check(g, side=BUY, position=0, qty=1) == rk.RR_REDUCE_ONLY
    # reducing orders skip the spread gate but not the collar
    assert check(g, side=SELL, position=100, qty=10, best_ask=ASK + 100) == rk.RR_OK
    assert check(g, side=SELL, position=100, qty=10, price=5_005_001) == rk.RR_PRICE_COLLAR
    assert g.set_state(ACTIVE, rk.RR_OPERATOR) == REDUCING
    assert (g.state, g.state_reason) == (ACTIVE, rk.RR_OK)
    assert check(g, side=BUY, position=0, qty=1) == rk.RR_OK


def test_spread_exempts_reducing_orders_when_active():
    g = gate()
    wide = {"best_ask": ASK + 20}
    assert check(g, side=SELL, position=100, qty=50, **wide) == rk.RR_OK
    assert check(g, side=BUY, position=100, qty=50, **wide) == rk.RR_SPREAD
    assert check(g, side=SELL, position=100, qty=50, open_sell=51, **wide) == rk.RR_SPREAD


@pytest.mark.parametrize(("position", "open_same", "side", "qty", "expected"), [
    (100, 0, SELL, 100, True), (100, 0, SELL, 101, False), (100, 50, SELL, 50, True),
    (100, 51, SELL, 50, False), (100, 0, BUY, 1, False), (-100, 0, BUY, 100, True),
    (-100, 0, SELL, 1, False), (0, 0, BUY, 1, False), (0, 0, SELL, 1, False),
    (100, 0, SELL, 0, False), (100, 0, SELL, -1, False), (100, -1, SELL, 1, False),
    (100, 0, 2, 1, False), (INT64_MAX, INT64_MAX, SELL, 1, False), (INT64_MIN, 0, BUY, 1, False),
    (-INT64_MAX, 0, BUY, INT64_MAX, True),
])  # fmt: skip
def test_reduces_exposure(position, open_same, side, qty, expected):
    assert reduces_exposure(position, open_same, side, qty) is expected
    assert rr.reduces_exposure(position, open_same, side, qty) is expected


def test_set_state_refuses_out_of_range():
    g = gate()
    for state, reason in [(3, 0), (-1, 0), (HALTED, 26), (HALTED, -1)]:
        assert g.set_state(state, reason) == -1
    assert (g.state, g.state_reason) == (ACTIVE, rk.RR_OK)


# ---------------------------------------------------------------------------------------------
# check order: when two checks fail, the documented earlier one is reported

ORDER_PAIRS = [
    ("halted over bad qty", {"state": HALTED}, {}, {"qty": 0}, rk.RR_HALTED),
    ("bad qty over bad price", {}, {}, {"qty": 0, "price": 0}, rk.RR_BAD_QTY),
    ("bad price over no market", {}, {}, {"price": -1, "book_valid": 0}, rk.RR_BAD_PRICE),
    ("no market over reduce only", {"state": REDUCING}, {}, {"book_valid": 0}, rk.RR_NO_MARKET),
    ("no market over exposure view", {}, {}, {"book_valid": 0, "open_buy": -1}, rk.RR_NO_MARKET),
    ("exposure view over reduce only", {"state": REDUCING}, {}, {"open_buy": -1}, rk.RR_OVERFLOW),
    ("reduce only over order qty", {"state": REDUCING}, {}, {"qty": 5_000}, rk.RR_REDUCE_ONLY),
    ("order qty over position", {}, {}, {"qty": 1_001, "position": 4_500}, rk.RR_MAX_ORDER_QTY),
    ("bad order qty limit over position", {}, {"max_order_qty": 0}, {"position": 10_000}, rk.RR_BAD_LIMITS),
    ("position over collar", {}, {}, {"position": 5_000, "price": 6_000_000}, rk.RR_MAX_POSITION),
    ("position overflow over collar", {}, {}, {"position": INT64_MAX, "price": 6_000_000}, rk.RR_OVERFLOW),
    ("collar over spread", {}, {}, {"price": 6_000_000, "best_ask": ASK + 1}, rk.RR_PRICE_COLLAR),
    ("spread over open orders", {}, {}, {"best_ask": ASK + 1, "open_orders": 5}, rk.RR_SPREAD),
    ("open orders over notional", {}, {}, {"open_orders": 5, "open_notional": 10**12}, rk.RR_MAX_OPEN_ORDERS),
    ("open orders total over notional", {}, {}, {"open_orders_total": 20, "open_notional": 10**12},
     rk.RR_MAX_OPEN_ORDERS),
    ("notional over total", {}, {}, {"open_notional": 10**12, "total_notional": 2 * 10**12}, rk.RR_MAX_NOTIONAL),
    ("total over drawdown", {"equity": [10**10, 0]}, {}, {"total_notional": 2 * 10**12}, rk.RR_MAX_TOTAL_NOTIONAL),
    ("drawdown over daily loss", {"equity": [10**10, 0]}, {}, {}, rk.RR_MAX_DRAWDOWN),
    ("daily loss over rate", {"equity": [10**10, 10**10 - 6 * 10**8], "drain": True}, {}, {}, rk.RR_DAILY_LOSS),
    ("rate alone", {"drain": True}, {}, {}, rk.RR_RATE_LIMIT),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "setup", "lim", "kw", "reason"), ORDER_PAIRS, ids=[p[0] for p in ORDER_PAIRS]
)
def test_check_order(name, setup, lim, kw, reason):
    g = gate(lim, {"rate_capacity": 2, "rate_per_sec": 1})
    if setup.get("drain"):
        assert [check(g), check(g)] == [rk.RR_OK, rk.RR_OK]
    for eq in setup.get("equity", []):
        g.on_equity(eq, T0)
    if "state" in setup:
        g.set_state(setup["state"], rk.RR_OPERATOR)
    assert check(g, **kw) == reason


# ---------------------------------------------------------------------------------------------
# token bucket


def test_token_bucket_burst_refill_and_cap():
    g = gate(cfg={"rate_capacity": 3, "rate_per_sec": 2})
    assert [check(g, ts=T0) for _ in range(4)] == [0, 0, 0, rk.RR_RATE_LIMIT]
    assert g.tokens_e9 == 0
    assert check(g, ts=T0 + 499_999_999) == rk.RR_RATE_LIMIT  # 0.999999998 tokens
    assert g.tokens_e9 == 999_999_998
    assert check(g, ts=T0 + SEC // 2) == rk.RR_OK  # exactly one token after 0.5 s at 2/s
    assert g.tokens_e9 == 0
    assert check(g, ts=T0 + 100 * SEC) == rk.RR_OK  # refill capped at capacity 3
    assert g.tokens_e9 == 2 * SEC
    assert g.tokens == 2


def test_token_bucket_time_going_backwards():
    g = gate(cfg={"rate_capacity": 2, "rate_per_sec": 1})
    check(g, ts=T0 + 10 * SEC)
    check(g, ts=T0 + 10 * SEC)
    assert g.tokens_e9 == 0
    assert check(g, ts=T0 + 5 * SEC) == rk.RR_RATE_LIMIT  # earlier event: no tokens
    assert g.snapshot()["last_refill_ts"] == T0 + 10 * SEC  # the refill clock never goes back
    assert check(g, ts=T0 + 10 * SEC + SEC // 2) == rk.RR_RATE_LIMIT  # only 0.5 s elapsed
    assert check(g, ts=T0 + 11 * SEC) == rk.RR_OK
    assert check(g, ts=T0) == rk.RR_RATE_LIMIT


def test_denials_do_not_consume_tokens():
    g = gate(cfg={"rate_capacity": 1, "rate_per_sec": 1})
    for _ in range(5):
        assert check(g, qty=2_000) == rk.RR_MAX_ORDER_QTY
    assert g.tokens_e9 == SEC
    assert check(g) == rk.RR_OK
    assert check(g) == rk.RR_RATE_LIMIT
    assert g.denials[rk.RR_MAX_ORDER_QTY] == 5
    assert g.denials[rk.RR_RATE_LIMIT] == 1
    assert g.n_checks == 7


def test_refill_is_exact_fixed_point():
    g = gate(cfg={"rate_capacity": 1, "rate_per_sec": 3})
    check(g)
    assert g.tokens_e9 == 0
    check(g, ts=T0 + 1, qty=0)  # a denial still refills: 1 ns at 3/s = 3e-9 tokens
    assert g.tokens_e9 == 3
    check(g, ts=T0 + 333_333_334, qty=0)
    assert g.tokens_e9 == SEC  # capped exactly at one token


# ---------------------------------------------------------------------------------------------
# breakers


def test_rapid_fill_breaker_window_inclusive_and_sticky():
    g = gate()
    for i in range(4):
        assert g.on_fill(T0 + i * SEC // 4) == -1
    assert g.on_fill(T0 + SEC) == HALTED  # 5 fills spanning exactly the window
    assert (g.state, g.state_reason) == (HALTED, rk.RR_CIRCUIT_RAPID_FILLS)
    g.on_equity(10**12, T0 + 10 * DAY)
    assert check(g, ts=T0 + 10 * DAY) == rk.RR_HALTED  # sticky across time
    assert g.on_fill(T0 + 20 * DAY) == -1  # already halted: nothing new
    assert g.set_state(ACTIVE, rk.RR_OPERATOR) == HALTED
    assert g.fill_times == []  # resuming restarts the breaker
    assert g.on_fill(T0 + 20 * DAY) == -1
    assert check(g, ts=T0 + 20 * DAY) == rk.RR_OK


def test_rapid_fill_breaker_just_outside_the_window():
    g = gate()
    for i in range(4):
        g.on_fill(T0 + i)
    assert g.on_fill(T0 + SEC + 1) == -1  # oldest of the last 5 (T0) is 1 ns too old
    assert g.on_fill(T0 + SEC + 1) == HALTED  # last 5 now start at T0 + 1: span exactly SEC
    assert g.state == HALTED


def test_rapid_fill_breaker_out_of_order_times_count_as_rapid():
    g = gate(cfg={"rapid_fill_count": 2})
    assert g.on_fill(T0 + 100 * SEC) == -1
    assert g.on_fill(T0) == HALTED


def test_losing_streak_breaker():
    g = gate()
    assert g.on_round_trip(-1) == -1
    assert g.on_round_trip(-5) == -1
    assert g.on_round_trip(0) == -1  # a flat trip neither extends nor breaks the streak
    assert g.on_round_trip(1) == -1  # a win resets it
    assert g.on_round_trip(-1) == -1
    assert g.on_round_trip(-1) == -1
    assert g.state == ACTIVE
    assert g.on_round_trip(INT64_MIN) == HALTED
    assert (g.state, g.state_reason) == (HALTED, rk.RR_CIRCUIT_LOSSES)
    assert g.on_round_trip(10**9) == -1  # sticky: a win does not resume trading
    assert g.state == HALTED
    assert [g.on_round_trip(-1), g.on_round_trip(-1)] == [-1, -1]  # counted, nothing new trips
    assert g.snapshot()["consecutive_losses"] == 2
    g.set_state(REDUCING, rk.RR_OPERATOR)
    assert g.snapshot()["consecutive_losses"] == 0
    assert g.on_round_trip(-1) == -1


def test_flat_trip_does_not_break_the_streak():
    g = gate()
    assert [g.on_round_trip(-1), g.on_round_trip(0), g.on_round_trip(-1)] == [-1, -1, -1]
    assert g.snapshot()["consecutive_losses"] == 2
    assert g.on_round_trip(-1) == HALTED


def test_breaker_does_not_overwrite_an_operator_halt():
    g = gate()
    g.set_state(HALTED, rk.RR_OPERATOR)
    for _ in range(3):
        g.on_round_trip(-1)
    assert (g.state, g.state_reason) == (HALTED, rk.RR_OPERATOR)


def test_breaker_trips_from_reducing():
    g = gate()
    g.set_state(REDUCING, rk.RR_OPERATOR)
    for _ in range(2):
        g.on_round_trip(-1)
    assert g.on_round_trip(-1) == HALTED
    assert g.state_reason == rk.RR_CIRCUIT_LOSSES


# ---------------------------------------------------------------------------------------------
# snapshots


def busy_gate() -> RiskGate:
    g = gate(cfg={"rate_capacity": 3, "rate_per_sec": 1})
    g.on_equity(10**10, T0)
    for i in range(300):  # the fill ring wraps
        g.on_fill(T0 + i * 10 * SEC)
    g.on_round_trip(-3)
    g.on_equity(10**10 - 4 * 10**8, T0 + DAY + 5)
    for q in (10, 0, 2_000, 10, 10, 10):
        check(g, ts=T0 + DAY + 6, qty=q)
    return g


def test_snapshot_round_trip():
    g = busy_gate()
    data = g.to_bytes()
    back = RiskGate.from_bytes(data, LIMITS, {**CONFIG, "rate_capacity": 3, "rate_per_sec": 1})
    assert back.to_bytes() == data
    assert back.snapshot() == g.snapshot()
    assert len(g.fill_times) == 256
    for ts in (T0 + DAY + 7, T0 + DAY + SEC + 7, T0 + 2 * DAY):
        assert check(back, ts=ts) == check(g, ts=ts)
        assert back.on_fill(ts) == g.on_fill(ts)
    assert back.on_round_trip(-1) == g.on_round_trip(-1)
    assert back.to_bytes() == g.to_bytes()


def test_snapshot_layout_and_corruption():
    g = busy_gate()
    data = g.to_bytes()
    w = list(struct.unpack(f"<{len(data) // 8}q", data))
    assert w[0] == 0x52534B31
    assert w[1:4] == [g.state, g.state_reason, g.tokens_e9]
    assert w[11] == 256  # fill count, then the ring oldest first
    assert w[12 : 12 + 256] == g.fill_times
    assert w[12 + 256 : 12 + 256 + rk.N_RISK_REASONS] == g.denials
    assert w[-2] == g.n_checks

    def tamper(i, v):
        x = list(w)
        x[i] = v
        return struct.pack(f"<{len(x)}q", *x)

    target = gate()
    before = target.to_bytes()
    for bad in (
        data[:-8], data + b"\0" * 8, b"", tamper(0, 0), tamper(1, 3), tamper(1, -1), tamper(2, 26),
        tamper(3, -1), tamper(9, -1), tamper(10, 2), tamper(11, 257), tamper(11, -1), tamper(12 + 256, -1),
        tamper(len(w) - 2, -1), tamper(len(w) - 1, 0),
    ):  # fmt: skip
        with pytest.raises(ValueError):
            target.load_bytes(bad)
        assert target.to_bytes() == before


# ---------------------------------------------------------------------------------------------
# property test against the reference


# Most records are sane and land near the limits (so every check gets to decide); one record in
# ten mixes in hostile fields (zero, negative, extreme, crossed) to exercise the fail-closed paths.
def weighted(*pairs):
    """Choose a strategy by weight (st.one_of does not weight its branches evenly)."""
    total = sum(w for w, _ in pairs)

    def pick(k):
        for w, strategy in pairs:
            if k < w:
                return strategy
            k -= w
        raise AssertionError(k)

    return st.integers(0, total - 1).flatmap(pick)


def sane_or(sane, hostile):
    return weighted((3, sane), (1, hostile))


def mostly(sane, hostile):
    return weighted((9, sane), (1, hostile))


def limits_of(qty, position, notional, collar, spread, orders):
    return st.fixed_dictionaries(
        {
            "max_order_qty": qty,
            "max_position": position,
            "max_notional": notional,
            "collar_ppm": collar,
            "max_spread_ticks": spread,
            "max_open_orders": orders,
        }
    )


SANE_LIMITS = limits_of(
    st.integers(3, 40),
    st.integers(20, 80),
    st.integers(1_000, 10_000),
    st.integers(10_000, 200_000),
    st.integers(2, 8),
    st.integers(2, 8),
)
limits_st = mostly(
    SANE_LIMITS,
    limits_of(
        sane_or(st.integers(1, 40), st.sampled_from([0, -1, INT64_MAX])),
        sane_or(st.integers(1, 80), st.sampled_from([0, -1, INT64_MAX])),
        sane_or(st.integers(500, 6_000), st.sampled_from([0, INT64_MAX])),
        sane_or(st.integers(10_000, 100_000), st.sampled_from([0, 1, INT64_MAX])),
        sane_or(st.integers(1, 6), st.sampled_from([0, INT64_MAX])),
        sane_or(st.integers(1, 6), st.just(0)),
    ),
)
config_st = st.fixed_dictionaries(
    {
        "max_total_notional": sane_or(st.integers(1_000, 20_000), st.just(INT64_MAX)),
        "max_open_orders_total": st.integers(1, 15),
        "rate_capacity": sane_or(st.integers(1, 5), st.just(INT64_MAX)),
        "rate_per_sec": sane_or(st.integers(1, 5), st.just(INT64_MAX)),
        "max_drawdown": sane_or(st.integers(100, 3_000), st.just(INT64_MAX)),
        "max_daily_loss": sane_or(st.integers(100, 3_000), st.just(INT64_MAX)),
        "day_offset_ns": st.one_of(st.just(0), st.integers(0, DAY - 1)),
        "max_consecutive_losses": st.integers(1, 6),
        "rapid_fill_count": st.integers(1, 8),
        "rapid_fill_window_ns": st.integers(1, 3 * SEC),
    }
)
instrument_st = mostly(
    st.sampled_from(
        [
            {"contract_type": 0, "value_num": 1, "value_den": 1},
            {"contract_type": 0, "value_num": 3, "value_den": 2},
            {"contract_type": 1, "value_num": 50, "value_den": 1, "inv_num": 10**6, "inv_den": 1},
        ]
    ),
    st.sampled_from(
        [
            {"contract_type": 0, "value_num": 0, "value_den": 1},
            {"contract_type": 3, "value_num": 1, "value_den": 1},
        ]
    ),
)


def intent_of(side, order_type, price, qty):
    return st.fixed_dictionaries({"side": side, "order_type": order_type, "price": price, "qty": qty})


SIDES = st.sampled_from([BUY, SELL])
TYPES = st.sampled_from([OT_LIMIT, OT_LIMIT, OT_MARKET, OT_LIMIT_MAKER])
intent_st = mostly(
    intent_of(SIDES, TYPES, st.integers(92, 108), st.integers(1, 10)),
    intent_of(
        sane_or(SIDES, st.sampled_from([2, -1])),
        sane_or(TYPES, st.just(3)),
        sane_or(st.integers(92, 108), st.sampled_from([0, -1, 1, 2**61, 2**62, INT64_MAX, INT64_MIN])),
        sane_or(st.integers(1, 20), st.sampled_from([0, -1, INT64_MAX, INT64_MIN, 2**40])),
    ),
)


@st.composite
def exposure_st(draw, hostile: bool):
    def pick(sane, bad):
        return draw(sane_or(sane, bad) if hostile else sane)

    bid = pick(st.integers(97, 100), st.sampled_from([0, -1, 2**62, INT64_MAX - 1]))
    if bid >= 2**62:
        ask = pick(st.just(INT64_MAX), st.just(bid))
    else:
        ask = bid + pick(st.integers(1, 6), st.integers(-1, 0))
    return {
        "position": pick(st.integers(-30, 30), st.sampled_from([INT64_MAX, INT64_MIN, -INT64_MAX])),
        "open_buy": pick(st.integers(0, 10), st.sampled_from([-1, INT64_MAX])),
        "open_sell": pick(st.integers(0, 10), st.sampled_from([-1, INT64_MAX])),
        "open_orders": pick(st.integers(0, 5), st.just(-1)),
        "open_orders_total": draw(st.integers(0, 8)),
        "open_notional": pick(st.integers(0, 1_500), st.sampled_from([-1, INT64_MAX])),
        "total_notional": pick(st.integers(0, 10_000), st.just(INT64_MAX)),
        "best_bid": bid,
        "best_ask": ask,
        "book_valid": pick(st.just(1), st.just(0)),
    }


exposures = mostly(exposure_st(False), exposure_st(True))
time_step = sane_or(
    st.integers(0, SEC // 2),
    st.one_of(
        st.integers(-2 * SEC, 0),  # time going backwards
        st.sampled_from([DAY, DAY // 2, -DAY, 3 * SEC, INT64_MAX // 4]),
    ),
)


@st.composite
def check_op(draw):
    x = draw(exposures)
    intent = draw(intent_st)
    bid, ask = x["best_bid"], x["best_ask"]
    if draw(st.integers(0, 3)) and 0 < bid < ask < 10**6 and 0 < intent["price"] < 10**6:
        intent["price"] = draw(st.integers(bid - 3, ask + 3))  # near the touch: collar decides
    return ("check", draw(instrument_st), intent, x, draw(time_step))


op_st = weighted(
    (10, check_op()),
    (2, st.tuples(st.just("fill"), time_step)),
    (2, st.tuples(st.just("trip"), sane_or(st.integers(-3, 3), st.sampled_from([INT64_MIN, INT64_MAX])))),
    (
        2,
        st.tuples(
            st.just("equity"),
            sane_or(st.integers(-2_000, 2_000), st.sampled_from([INT64_MIN, INT64_MAX])),
            time_step,
        ),
    ),
    (
        1,
        st.tuples(
            st.just("state"),
            sane_or(st.sampled_from([ACTIVE, ACTIVE, REDUCING]), st.integers(-1, 3)),
            st.sampled_from([0, 19, 21]),
        ),
    ),
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    limits=limits_st,
    config=config_st,
    start=st.integers(-DAY, 4 * DAY),
    ops=st.lists(op_st, min_size=5, max_size=50),
)
def test_matches_reference(limits, config, start, ops):
    g = RiskGate(limits, config, start)
    ref = rr.RiskRef([limits], config, start)
    assert g.snapshot() == ref.snapshot()
    ts = start
    for op in ops:
        kind = op[0]
        if kind == "check":
            _, ins, intent, expo, dt = op
            ts = max(INT64_MIN, min(INT64_MAX, ts + dt))
            assert g.check(ins, intent, expo, ts) == ref.check(ins, intent, expo, ts), (intent, expo)
        elif kind == "fill":
            ts = max(INT64_MIN, min(INT64_MAX, ts + op[1]))
            assert g.on_fill(ts) == ref.on_fill(ts)
        elif kind == "trip":
            assert g.on_round_trip(op[1]) == ref.on_round_trip(op[1])
        elif kind == "equity":
            ts = max(INT64_MIN, min(INT64_MAX, ts + op[2]))
            g.on_equity(op[1], ts)
            ref.on_equity(op[1], ts)
        else:
            assert g.set_state(op[1], op[2]) == ref.set_state(op[1], op[2])
        assert g.snapshot() == ref.snapshot()
    back = RiskGate.from_bytes(g.to_bytes(), limits, config)
    assert back.snapshot() == g.snapshot()


# Static limits generous and inputs sane: the verdicts come from the stateful part of the gate
# (token bucket, drawdown, daily loss across day boundaries, breakers, trading states).
GENEROUS = {**ALL_OFF, "max_order_qty": 10, "max_position": 100}
sane_check = st.tuples(
    st.just("check"),
    st.just({"contract_type": 0, "value_num": 1, "value_den": 1}),
    intent_of(SIDES, TYPES, st.integers(99, 101), st.integers(1, 10)),
    st.fixed_dictionaries(
        {
            "position": st.integers(-20, 20),
            "open_buy": st.integers(0, 10),
            "open_sell": st.integers(0, 10),
            "open_orders": st.just(0),
            "open_orders_total": st.just(0),
            "open_notional": st.just(0),
            "total_notional": st.just(0),
            "best_bid": st.just(99),
            "best_ask": st.just(101),
            "book_valid": st.just(1),
        }
    ),
    st.sampled_from(range(0, SEC // 2, SEC // 20)),
)
stateful_op = weighted(
    (8, sane_check),
    (2, st.tuples(st.just("fill"), st.sampled_from(range(0, SEC, SEC // 10)))),
    (2, st.tuples(st.just("trip"), st.integers(-2, 2))),
    (3, st.tuples(st.just("equity"), st.integers(-800, 800), st.sampled_from([0, SEC, DAY // 3, DAY, -SEC]))),
    (1, st.tuples(st.just("state"), st.sampled_from([ACTIVE, ACTIVE, REDUCING, HALTED]), st.just(19))),
)
stateful_config = st.fixed_dictionaries(
    {
        "max_total_notional": st.just(INT64_MAX),
        "max_open_orders_total": st.just(INT64_MAX),
        "rate_capacity": st.sampled_from(range(1, 6)),
        "rate_per_sec": st.sampled_from(range(1, 6)),
        "max_drawdown": st.sampled_from(range(500, 6_000, 100)),
        "max_daily_loss": st.sampled_from(range(100, 2_000, 100)),
        "day_offset_ns": st.sampled_from([0, DAY // 3, DAY - 1]),
        "max_consecutive_losses": st.sampled_from(range(1, 7)),
        "rapid_fill_count": st.sampled_from(range(1, 9)),
        "rapid_fill_window_ns": st.sampled_from(range(SEC // 10, 3 * SEC, SEC // 10)),
    }
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=stateful_config, start=st.integers(0, 3 * DAY), ops=st.lists(stateful_op, min_size=10, max_size=60)
)
def test_matches_reference_stateful(config, start, ops):
    test_matches_reference.hypothesis.inner_test(GENEROUS, config, start, ops)
