"""hotpath.strategy.avellaneda against the float reference of the A-S / GLFT formulas."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotpath.signals import SignalEngine
from hotpath.strategy.avellaneda import AvellanedaStoikov
from tests.hotpath.reference.strategy_ref import (
    avellaneda_candidates,
    avellaneda_raw,
    finalize,
    ready,
)

BASE = {
    "order_qty": 100,
    "max_position": 10**12,
    "requote_ticks": 1,
    "cooldown_ns": 0,
    "decision_interval_ns": 0,
    "warmup_events": 0,
    "post_only": 0,
    "model": 0,
    "gamma_e6": 100_000,
    "kappa_e6": 1_000_000,
    "arrival_a_e6": 0,
    "sigma_e6": 2_000_000,
    "horizon_ns": 1_000_000_000,
    "rolling_horizon": 0,
    "min_half_spread_ticks": 0,
    "max_half_spread_ticks": 10**9,
    "vpin_widen": 0,
    "vpin_threshold_e6": 700_000,
    "vpin_widen_e6": 1_000_000,
}


def params(**over) -> dict:
    p = dict(BASE)
    p.update(over)
    return p


def inputs(bid=1_000_000, ask=1_000_001, position=0, ts=1_000, **over) -> dict:
    x = {"ts_event": ts, "best_bid": bid, "best_bid_qty": 5, "best_ask": ask, "best_ask_qty": 5}
    x["position"] = position
    x.update(over)
    return x


def check_against_reference(p: dict, x: dict, sig: SignalEngine | None = None, **estimates) -> dict:
    strat = AvellanedaStoikov(**p)
    got = strat.quote(x, sig)
    quote = avellaneda_raw(p, x, **estimates)
    assert quote is not None and got is not None
    prices = {k: got[k] for k in ("bid_price", "bid_qty", "ask_price", "ask_qty")}
    assert prices in avellaneda_candidates(p, x, quote), (got, quote)
    assert abs(got["reservation_e6"] - quote.reservation * 1e6) <= 0.51
    assert abs(got["half_spread_e6"] - quote.half_spread * 1e6) <= 0.51
    assert strat.n_quotes == 1 and strat.last_decision_ts == x["ts_event"]
    assert (strat.last_reservation_e6, strat.last_half_spread_e6) == (
        got["reservation_e6"],
        got["half_spread_e6"],
    )
    return got


# --------------------------------------------------------------------------- formulas
def test_as_worked_example():
    # s = 1_000_000.5, q = 3, gamma = 0.1, sigma^2 = 4, tau = 1, kappa = 1:
    # r = s - 3 * 0.1 * 4 = s - 1.2 ; spread = 0.4 + 20 ln 1.1 = 2.3062036..; half = 1.1531018..
    x = inputs(position=300)
    got = AvellanedaStoikov(**params()).quote(x)
    r = 1_000_000.5 - 1.2
    half = (0.4 + 20 * math.log(1.1)) / 2
    assert got == {
        "bid_price": math.floor(r - half),
        "bid_qty": 100,
        "ask_price": math.ceil(r + half),
        "ask_qty": 100,
        "reservation_e6": round(r * 1e6),
        "half_spread_e6": round(half * 1e6),
    }
    assert (got["bid_price"], got["ask_price"]) == (999_998, 1_000_001)


@settings(max_examples=400, deadline=None)
@given(
    bid=st.integers(1, 10_000_000),
    spread=st.integers(1, 50),
    order_qty=st.integers(1, 1_000),
    q=st.integers(-20, 20),
    extra=st.integers(0, 99),
    gamma_e6=st.integers(1_000, 5_000_000),
    kappa_e6=st.integers(10_000, 50_000_000),
    sigma_e6=st.integers(1_000, 20_000_000),
    horizon_ns=st.integers(1_000_000, 100_000_000_000),
    post_only=st.integers(0, 1),
)
def test_as_matches_reference(
    bid, spread, order_qty, q, extra, gamma_e6, kappa_e6, sigma_e6, horizon_ns, post_only
):
    p = params(
        order_qty=order_qty,
        gamma_e6=gamma_e6,
        kappa_e6=kappa_e6,
        sigma_e6=sigma_e6,
        horizon_ns=horizon_ns,
        post_only=post_only,
    )
    position = q * order_qty + (extra * order_qty) // 100  # fractional inventories too
    check_against_reference(p, inputs(bid, bid + spread, position))


@settings(max_examples=400, deadline=None)
@given(
    bid=st.integers(1, 10_000_000),
    spread=st.integers(1, 50),
    q=st.integers(-20, 20),
    gamma_e6=st.integers(1_000, 5_000_000),
    kappa_e6=st.integers(10_000, 50_000_000),
    sigma_e6=st.integers(1_000, 20_000_000),
    a_e6=st.integers(1_000, 100_000_000),
)
def test_glft_matches_reference(bid, spread, q, gamma_e6, kappa_e6, sigma_e6, a_e6):
    p = params(model=1, gamma_e6=gamma_e6, kappa_e6=kappa_e6, sigma_e6=sigma_e6, arrival_a_e6=a_e6)
    check_against_reference(p, inputs(bid, bid + spread, q * 100))


def test_glft_worked_example():
    # gamma = 0.1, kappa = 1, A = 2, sigma = 2, q = 1:
    # c1 = 10 ln 1.1, c2 = sqrt(0.1 / 4 * 1.1 ** 11), bid at s - (c1 + 1.5 sigma c2), ask s + (c1 - 0.5 sigma c2)
    p = params(model=1, arrival_a_e6=2_000_000)
    got = AvellanedaStoikov(**p).quote(inputs(position=100))
    c1 = 10 * math.log(1.1)
    c2 = math.sqrt(0.1 / 4 * 1.1**11)
    s = 1_000_000.5
    assert got["bid_price"] == math.floor(s - (c1 + 1.5 * 2 * c2)) == 999_998
    assert got["ask_price"] == math.ceil(s + (c1 - 0.5 * 2 * c2)) == 1_000_002
    # GLFT reservation = midpoint of the two quotes = s - sigma c2 q
    assert got["reservation_e6"] == round((s - 2 * c2) * 1e6)
    assert got["half_spread_e6"] == round((c1 + 2 * c2 * 0.5) * 1e6)


def test_estimates_from_signals():
    sig = SignalEngine(vol_sample_ns=100_000_000)
    sig.set_state(vol_var_e6=250_000, kappa_e6=400_000, rate_e6=3_500_000)
    sigma2 = 0.25 / 0.1  # var per sample / sample length in seconds = 2.5 ticks^2/s
    assert sig.sigma2_per_sec == pytest.approx(sigma2)
    for model in (0, 1):
        p = params(model=model, sigma_e6=0, kappa_e6=0, arrival_a_e6=0)
        for position in (-700, 0, 250):
            check_against_reference(p, inputs(position=position), sig, sigma2=sigma2, kappa=0.4, a=3.5)
    # a parameter overrides the corresponding estimate
    p = params(model=1, sigma_e6=0, kappa_e6=900_000, arrival_a_e6=0)
    check_against_reference(p, inputs(position=100), sig, sigma2=sigma2, kappa=0.4, a=3.5)


@pytest.mark.parametrize(
    "over,state",
    [
        ({"sigma_e6": 0}, None),  # needs signals, none given
        ({"kappa_e6": 0}, None),
        ({"sigma_e6": 0}, {"vol_var_e6": 0, "kappa_e6": 1}),  # no volatility yet
        ({"kappa_e6": 0}, {"vol_var_e6": 5, "kappa_e6": 0}),  # no trade depth yet
        ({"model": 1, "arrival_a_e6": 0}, None),
        ({"model": 1, "arrival_a_e6": 0}, {"rate_e6": 0}),  # fewer than two trades
    ],
)
def test_holds_without_usable_estimates(over, state):
    sig = None
    if state is not None:
        sig = SignalEngine()
        sig.set_state(**state)
    strat = AvellanedaStoikov(**params(**over))
    assert strat.quote(inputs(), sig) is None
    assert (strat.n_quotes, strat.last_decision_ts, strat.last_reservation_e6) == (0, 0, 0)


def test_rolling_horizon_uses_time_left_in_session():
    p = params(rolling_horizon=1, horizon_ns=10_000_000_000)
    for ts in (1, 2_500_000_000, 7_500_000_000, 9_999_999_999, 10_000_000_000, 123_456_789_012):
        got = check_against_reference(p, inputs(position=500, ts=ts))
        tau = (10_000_000_000 - ts % 10_000_000_000) / 1e9
        assert got["reservation_e6"] == round((1_000_000.5 - 5 * 0.1 * 4 * tau) * 1e6)


# --------------------------------------------------------------------------- shape of the quotes
def test_inventory_skews_both_quotes():
    strat = lambda: AvellanedaStoikov(**params(sigma_e6=5_000_000))  # noqa: E731
    flat = strat().quote(inputs(position=0))
    long = strat().quote(inputs(position=500))
    short = strat().quote(inputs(position=-500))
    assert flat["reservation_e6"] == 1_000_000_500_000  # r = s when flat
    assert long["bid_price"] < flat["bid_price"] and long["ask_price"] < flat["ask_price"]
    assert short["bid_price"] > flat["bid_price"] and short["ask_price"] > flat["ask_price"]
    assert long["reservation_e6"] < flat["reservation_e6"] < short["reservation_e6"]
    # symmetric: long and short mirror around the mid
    assert long["reservation_e6"] + short["reservation_e6"] == 2 * flat["reservation_e6"]
    assert long["half_spread_e6"] == flat["half_spread_e6"] == short["half_spread_e6"]


def test_glft_inventory_skew_is_asymmetric():
    p = params(model=1, arrival_a_e6=1_000_000, sigma_e6=5_000_000)
    flat = AvellanedaStoikov(**p).quote(inputs(position=0))
    long = AvellanedaStoikov(**p).quote(inputs(position=300))
    assert long["bid_price"] < flat["bid_price"] and long["ask_price"] < flat["ask_price"]
    assert long["reservation_e6"] < flat["reservation_e6"]


def test_gueant_inventory_bound():
    p = params(max_position=1_000)
    a = AvellanedaStoikov(**p)
    got = a.quote(inputs(position=1_000))
    assert got["bid_qty"] == 0 and got["ask_qty"] == 100
    got = AvellanedaStoikov(**p).quote(inputs(position=901))  # a bid fill would reach 1001
    assert got["bid_qty"] == 0 and got["ask_qty"] == 100
    got = AvellanedaStoikov(**p).quote(inputs(position=900))  # exactly to the limit is allowed
    assert got["bid_qty"] == 100 and got["ask_qty"] == 100
    got = AvellanedaStoikov(**p).quote(inputs(position=-1_000))
    assert got["bid_qty"] == 100 and got["ask_qty"] == 0
    got = AvellanedaStoikov(**params(max_position=50)).quote(inputs(position=0))  # qty > limit
    assert got["bid_qty"] == 0 and got["ask_qty"] == 0


def test_half_spread_clamps():
    # formula half spread ~1.15 ticks
    lo = AvellanedaStoikov(**params(min_half_spread_ticks=5, max_half_spread_ticks=9)).quote(inputs())
    assert lo["half_spread_e6"] == 5_000_000
    assert (lo["bid_price"], lo["ask_price"]) == (999_995, 1_000_006)
    hi = AvellanedaStoikov(**params(sigma_e6=100_000_000, max_half_spread_ticks=3)).quote(inputs())
    assert hi["half_spread_e6"] == 3_000_000
    assert (hi["bid_price"], hi["ask_price"]) == (999_997, 1_000_004)
    # GLFT: each side clamped on its own
    p = params(
        model=1,
        arrival_a_e6=1_000_000,
        sigma_e6=20_000_000,
        min_half_spread_ticks=2,
        max_half_spread_ticks=40,
    )
    got = AvellanedaStoikov(**p).quote(inputs(position=-5_000))  # deep short: bid distance negative
    quote = avellaneda_raw(p, inputs(position=-5_000))
    assert quote.bid == 1_000_000.5 - 2 and got["bid_price"] == 999_998
    assert quote.ask == 1_000_000.5 + 40 and got["ask_price"] == 1_000_041


def test_vpin_widening():
    p = params(min_half_spread_ticks=4, max_half_spread_ticks=4, vpin_widen=1, vpin_threshold_e6=500_000)
    sig = SignalEngine()
    sig.set_state(vpin_e6=750_000)  # factor 1 + 1.0 * 0.25 / 0.5 = 1.5 -> half 6 ticks (beyond the clamp)
    got = AvellanedaStoikov(**p).quote(inputs(), sig)
    assert got["half_spread_e6"] == 6_000_000 and (got["bid_price"], got["ask_price"]) == (999_994, 1_000_007)
    sig.set_state(vpin_e6=1_000_000)
    assert (
        AvellanedaStoikov(**{**p, "vpin_widen_e6": 3_000_000}).quote(inputs(), sig)["half_spread_e6"]
        == 16_000_000
    )
    sig.set_state(vpin_e6=500_000)  # at the threshold: no widening
    assert AvellanedaStoikov(**p).quote(inputs(), sig)["half_spread_e6"] == 4_000_000
    sig.set_state(vpin_e6=900_000)
    assert AvellanedaStoikov(**{**p, "vpin_widen": 0}).quote(inputs(), sig)["half_spread_e6"] == 4_000_000
    assert AvellanedaStoikov(**p).quote(inputs(), None)["half_spread_e6"] == 4_000_000
    check_against_reference(p, inputs(position=123), sig, vpin=0.9)


def test_post_only_keeps_quotes_passive():
    # a deep short puts the reservation far above the market: the bid would cross the ask
    p = params(sigma_e6=10_000_000, max_half_spread_ticks=2)
    x = inputs(position=-10_000)
    taking = AvellanedaStoikov(**p).quote(x)
    assert taking["bid_price"] > x["best_ask"]
    passive = AvellanedaStoikov(**{**p, "post_only": 1}).quote(x)
    assert passive["bid_price"] == x["best_ask"] - 1 and passive["ask_price"] == taking["ask_price"]
    x = inputs(position=10_000)
    passive = AvellanedaStoikov(**{**p, "post_only": 1}).quote(x)
    assert passive["ask_price"] == x["best_bid"] + 1 and passive["bid_price"] < x["best_bid"]


def test_non_positive_prices_are_not_quoted():
    got = AvellanedaStoikov(**params(min_half_spread_ticks=50)).quote(inputs(bid=10, ask=12))
    assert got["bid_qty"] == 0 and got["ask_qty"] == 100 and got["ask_price"] == 61


def test_absurd_results_hold_instead_of_wrapping():
    p = params(sigma_e6=10**12, gamma_e6=10**12, horizon_ns=10**15)
    assert AvellanedaStoikov(**p).quote(inputs(position=10**9)) is None


# --------------------------------------------------------------------------- gating
def test_warmup_counts_book_messages():
    a = AvellanedaStoikov(**params(warmup_events=3))
    for _ in range(3):
        assert a.quote(inputs()) is None
        a.on_book()
    assert a.events_seen == 3 and a.quote(inputs()) is not None


def test_decision_interval_and_cooldown():
    a = AvellanedaStoikov(**params(decision_interval_ns=100, cooldown_ns=50))
    assert a.quote(inputs(ts=1_000)) is not None
    assert a.quote(inputs(ts=1_099)) is None
    assert a.quote(inputs(ts=1_100)) is not None and a.last_decision_ts == 1_100
    # cooldown from the engine's last quote change
    assert a.quote(inputs(ts=1_200, last_quote_change_ts=1_160)) is None
    assert a.quote(inputs(ts=1_210, last_quote_change_ts=1_160)) is not None
    assert a.n_quotes == 3
    # a fresh strategy: only the cooldown applies; the kernel agrees with the reference gating
    p = params(decision_interval_ns=100, cooldown_ns=50)
    outcomes = []
    for ts, change in ((1, 0), (50, 0), (101, 60), (109, 60), (110, 60), (500, 450)):
        x = inputs(ts=ts, last_quote_change_ts=change)
        outcomes.append(AvellanedaStoikov(**p).quote(x) is not None)
        assert outcomes[-1] == ready(p, 0, 0, x)
    assert outcomes == [True, True, False, False, True, True]


@pytest.mark.parametrize(
    "over",
    [
        {"book_valid": 0},
        {"best_bid": 0},
        {"best_ask": 0},
        {"best_bid": 1_000_001},  # locked
        {"best_bid": 1_000_002},  # crossed
    ],
)
def test_no_quote_without_a_valid_two_sided_market(over):
    a = AvellanedaStoikov(**params())
    assert a.quote(inputs(**over)) is None and a.n_quotes == 0


# --------------------------------------------------------------------------- params / snapshot
@pytest.mark.parametrize(
    "over",
    [
        {"order_qty": 0},
        {"max_position": 0},
        {"requote_ticks": -1},
        {"cooldown_ns": -1},
        {"decision_interval_ns": -1},
        {"warmup_events": -1},
        {"post_only": 2},
        {"model": 2},
        {"gamma_e6": 0},
        {"kappa_e6": -1},
        {"arrival_a_e6": -1},
        {"sigma_e6": -1},
        {"horizon_ns": 0},
        {"rolling_horizon": 2},
        {"min_half_spread_ticks": -1},
        {"max_half_spread_ticks": 0, "min_half_spread_ticks": 0},
        {"min_half_spread_ticks": 5, "max_half_spread_ticks": 4},
        {"vpin_widen": -1},
        {"vpin_threshold_e6": 1_000_000},
        {"vpin_threshold_e6": -1},
        {"vpin_widen_e6": -1},
    ],
)
def test_invalid_params_refused(over):
    with pytest.raises(ValueError):
        AvellanedaStoikov(**params(**over))


def test_param_names_and_defaults():
    with pytest.raises(TypeError):
        AvellanedaStoikov(order_qty=1, max_position=1, gama_e6=5)
    with pytest.raises(TypeError):
        AvellanedaStoikov(order_qty=1)
    a = AvellanedaStoikov(order_qty=7, max_position=70)
    assert a.params["order_qty"] == 7 and a.params["post_only"] == 1 and a.params["model"] == 0
    assert AvellanedaStoikov(**params()).params == params()
    with pytest.raises(ValueError):
        a.quote({"ts": 1})


def test_snapshot_round_trip():
    a = AvellanedaStoikov(**params(decision_interval_ns=100, warmup_events=1))
    a.on_book()
    first = a.quote(inputs(position=200, ts=500))
    blob = a.to_bytes()
    assert len(blob) == 8 * (1 + 19 + 5)
    b = AvellanedaStoikov.from_bytes(blob)
    assert b.params == a.params and b.state() == a.state() and b.to_bytes() == blob
    assert b.quote(inputs(ts=550)) is None  # the interval survived the restore
    assert b.quote(inputs(position=200, ts=600)) == first
    for bad in (blob[:-1], blob + b"\0" * 8, b"\0" * len(blob), b""):
        with pytest.raises(ValueError):
            AvellanedaStoikov.from_bytes(bad)
    hostile = bytearray(blob)
    hostile[8 * 9 : 8 * 10] = (0).to_bytes(8, "little")  # gamma_e6 = 0
    with pytest.raises(ValueError):
        AvellanedaStoikov.from_bytes(bytes(hostile))


def test_finalize_reference_agrees_on_plain_case():
    # guards the reference itself: a symmetric quote inside the market is untouched
    p = params(post_only=1, max_position=1_000)
    x = inputs(bid=100, ask=110)
    assert finalize(p, x, 101, 109) == {"bid_price": 101, "bid_qty": 100, "ask_price": 109, "ask_qty": 100}


def test_unconfigured_slot_holds_and_round_trips():
    # the engine snapshots all strategies of every instrument: all-zero blocks must read back
    a = AvellanedaStoikov.__new__(AvellanedaStoikov)
    assert a.quote(inputs()) is None and a.quote(inputs(), SignalEngine()) is None
    blob = a.to_bytes()
    assert AvellanedaStoikov.from_bytes(blob).to_bytes() == blob
    hostile = bytearray(blob)
    hostile[-8 * 3 : -8 * 2] = (1).to_bytes(8, "little")  # n_quotes = 1 with zero params
    with pytest.raises(ValueError):
        AvellanedaStoikov.from_bytes(bytes(hostile))
