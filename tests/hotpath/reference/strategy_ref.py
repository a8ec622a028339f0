"""Plain-Python references of the quoting strategies (hotpath/strategy/*.pyx).

* Avellaneda-Stoikov (2008) and the GLFT (2013) closed form in Python floats and `math`, written
  from the papers' formulas as quoted in avellaneda.pxd.
* The skewed market maker in exact rational arithmetic (fractions.Fraction).
* The liquidity taker in Python integers.

The shared post-processing of common.pxd (post-only passivity, inventory bound) is `finalize`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

E6 = 1_000_000
BUY, SELL = 0, 1


def round_half_away(x: Fraction | int) -> int:
    x = Fraction(x)
    r = math.floor(abs(x) + Fraction(1, 2))
    return r if x >= 0 else -r


# --------------------------------------------------------------------------- gating / finishing
def ready(p: dict, events_seen: int, last_decision_ts: int, x: dict) -> bool:
    """common.pxd quoting_ready."""
    bid, ask = x.get("best_bid", 0), x.get("best_ask", 0)
    if not x.get("book_valid", 1) or bid <= 0 or ask <= 0 or bid >= ask:
        return False
    if events_seen < p["warmup_events"]:
        return False
    ts = x.get("ts_event", 0)
    if (
        last_decision_ts != 0
        and p["decision_interval_ns"] > 0
        and ts - last_decision_ts < p["decision_interval_ns"]
    ):
        return False
    last_change = x.get("last_quote_change_ts", 0)
    return not (last_change != 0 and p["cooldown_ns"] > 0 and ts - last_change < p["cooldown_ns"])


def finalize(p: dict, x: dict, bid: int, ask: int) -> dict:
    """Quantities, post-only passivity, no non-positive prices, Gueant inventory bound."""
    t = {"bid_price": bid, "bid_qty": p["order_qty"], "ask_price": ask, "ask_qty": p["order_qty"]}
    if p["post_only"]:
        if t["bid_price"] >= x["best_ask"]:
            t["bid_price"] = x["best_ask"] - 1
        if t["ask_price"] <= x["best_bid"]:
            t["ask_price"] = x["best_bid"] + 1
    if t["bid_price"] <= 0:
        t["bid_qty"] = 0
    if t["ask_price"] <= 0:
        t["ask_qty"] = 0
    pos = x.get("position", 0)
    if pos + t["bid_qty"] > p["max_position"]:
        t["bid_qty"] = 0
    if pos - t["ask_qty"] < -p["max_position"]:
        t["ask_qty"] = 0
    return t


# --------------------------------------------------------------------------- Avellaneda-Stoikov
def as_reservation(s: float, q: float, gamma: float, sigma2: float, tau: float) -> float:
    """r = s - q gamma sigma^2 (T - t)   (A-S 2008, eq. 29)"""
    return s - q * gamma * sigma2 * tau


def as_spread(gamma: float, sigma2: float, tau: float, kappa: float) -> float:
    """delta_a + delta_b = gamma sigma^2 (T - t) + (2 / gamma) ln(1 + gamma / k)   (A-S 2008, eq. 30)"""
    return gamma * sigma2 * tau + 2.0 / gamma * math.log(1.0 + gamma / kappa)


def glft_deltas(q: float, gamma: float, kappa: float, sigma: float, a: float) -> tuple[float, float]:
    """Gueant-Lehalle-Fernandez-Tapia closed-form approximation: (bid distance, ask distance)."""
    c1 = math.log(1.0 + gamma / kappa) / gamma
    c2 = math.sqrt(gamma / (2.0 * a * kappa) * (1.0 + gamma / kappa) ** (1.0 + kappa / gamma))
    return c1 + (q + 0.5) * sigma * c2, c1 + (0.5 - q) * sigma * c2


@dataclass
class ASQuote:
    bid: float  # unrounded quotes, ticks
    ask: float
    reservation: float
    half_spread: float


def avellaneda_raw(
    p: dict,
    x: dict,
    sigma2: float | None = None,
    kappa: float | None = None,
    a: float | None = None,
    vpin: float = 0.0,
) -> ASQuote | None:
    """Unrounded A-S / GLFT quotes; parameters override the given estimates (signals read-outs).
    None when an estimate is missing or zero."""
    s = (x["best_bid"] + x["best_ask"]) / 2
    q = x.get("position", 0) / p["order_qty"]
    gamma = p["gamma_e6"] / 1e6
    if p["sigma_e6"]:
        sigma2 = (p["sigma_e6"] / 1e6) ** 2
    if p["kappa_e6"]:
        kappa = p["kappa_e6"] / 1e6
    if not sigma2 or not kappa or sigma2 <= 0 or kappa <= 0:
        return None
    if p["model"] == 0:
        if p["rolling_horizon"]:
            tau = (p["horizon_ns"] - x.get("ts_event", 0) % p["horizon_ns"]) / 1e9
        else:
            tau = p["horizon_ns"] / 1e9
        center = as_reservation(s, q, gamma, sigma2, tau)
        half_bid = half_ask = as_spread(gamma, sigma2, tau, kappa) / 2
    else:
        if p["arrival_a_e6"]:
            a = p["arrival_a_e6"] / 1e6
        if not a or a <= 0:
            return None
        center = s
        half_bid, half_ask = glft_deltas(q, gamma, kappa, math.sqrt(sigma2), a)
    lo, hi = p["min_half_spread_ticks"], p["max_half_spread_ticks"]
    half_bid = min(max(half_bid, lo), hi)
    half_ask = min(max(half_ask, lo), hi)
    threshold = p["vpin_threshold_e6"] / 1e6
    if p["vpin_widen"] and vpin > threshold:
        factor = 1 + p["vpin_widen_e6"] / 1e6 * (vpin - threshold) / (1 - threshold)
        half_bid *= factor
        half_ask *= factor
    return ASQuote(
        bid=center - half_bid,
        ask=center + half_ask,
        reservation=center + (half_ask - half_bid) / 2,
        half_spread=(half_bid + half_ask) / 2,
    )


def near_integer(v: float) -> bool:
    """Within rounding noise of a whole tick (1e-9 absolute, a few ulps for large prices)."""
    return abs(v - round(v)) <= max(1e-9, 8 * math.ulp(v))


def avellaneda_candidates(p: dict, x: dict, quote: ASQuote) -> list[dict]:
    """Every final target the kernel may legitimately produce: floor(bid) / ceil(ask), with the
    neighbouring tick allowed only when the reference value is within rounding noise of a tick."""
    bids = {math.floor(quote.bid)}
    asks = {math.ceil(quote.ask)}
    if near_integer(quote.bid):
        bids |= {round(quote.bid), round(quote.bid) - 1}
    if near_integer(quote.ask):
        asks |= {round(quote.ask), round(quote.ask) + 1}
    return [finalize(p, x, b, a) for b in sorted(bids) for a in sorted(asks)]


# --------------------------------------------------------------------------- skewed market maker
def skewed_reference(p: dict, x: dict, imbalance_e6: int = 0) -> dict:
    """Exact: r = mid - position/order_qty * skew, half = half_spread * (1 + widen * |imbalance|)."""
    mid = Fraction(x["best_bid"] + x["best_ask"], 2)
    r = mid - Fraction(x.get("position", 0), p["order_qty"]) * Fraction(p["skew_e6"], E6)
    imbalance = Fraction(min(abs(imbalance_e6), E6), E6)
    half = p["half_spread_ticks"] * (1 + Fraction(p["imbalance_widen_e6"], E6) * imbalance)
    t = finalize(p, x, math.floor(r - half), math.ceil(r + half))
    t["reservation_e6"] = round_half_away(r * E6)
    t["half_spread_e6"] = round_half_away(half * E6)
    return t


# --------------------------------------------------------------------------- liquidity taker
@dataclass
class TakerRef:
    order_qty: int
    max_position: int
    threshold_e6: int = 300_000
    fv_alpha_e6: int = 100_000
    weight_fv_e6: int = 700_000
    weight_imbalance_e6: int = 300_000
    cooldown_ns: int = 0
    slippage_ticks: int = 0
    use_market: int = 0
    warmup_events: int = 0
    fv_e6: int = 0
    events_seen: int = 0
    last_order_ts: int = 0
    last_signal_e6: int = 0
    n_signals: int = 0

    def state(self) -> dict:
        return {
            "fv_e6": self.fv_e6,
            "events_seen": self.events_seen,
            "last_order_ts": self.last_order_ts,
            "last_signal_e6": self.last_signal_e6,
            "n_signals": self.n_signals,
        }

    @staticmethod
    def _two_sided(x: dict) -> bool:
        return bool(x.get("book_valid", 1)) and 0 < x["best_bid"] < x["best_ask"]

    def on_book(self, x: dict) -> None:
        if not self._two_sided(x):
            return
        mid_e6 = (x["best_bid"] + x["best_ask"]) * E6 // 2
        if self.fv_e6 == 0:
            self.fv_e6 = mid_e6
        else:
            self.fv_e6 += math.floor(Fraction(self.fv_alpha_e6 * (mid_e6 - self.fv_e6), E6))
        self.events_seen += 1

    def decide(self, x: dict, imbalance_e6: int = 0) -> dict | None:
        if not self._two_sided(x) or self.events_seen < self.warmup_events or self.fv_e6 <= 0:
            return None
        bid, ask = x["best_bid"], x["best_ask"]
        mid_e6 = (bid + ask) * E6 // 2

        def clamp(v: int) -> int:
            return max(-E6, min(E6, v))

        fv_signal = clamp(round_half_away(Fraction(self.fv_e6 - mid_e6, ask - bid)))
        combined = self.weight_fv_e6 * fv_signal + self.weight_imbalance_e6 * clamp(imbalance_e6)
        signal = clamp(round_half_away(Fraction(combined, E6)))
        self.last_signal_e6 = signal
        ts = x.get("ts_event", 0)
        if self.cooldown_ns > 0 and self.last_order_ts != 0 and ts - self.last_order_ts < self.cooldown_ns:
            return None
        pos = x.get("position", 0)
        if signal >= self.threshold_e6:
            side, room = BUY, self.max_position - pos
            price = 0 if self.use_market else ask + self.slippage_ticks
        elif signal <= -self.threshold_e6:
            side, room = SELL, self.max_position + pos
            price = 0 if self.use_market else max(1, bid - self.slippage_ticks)
        else:
            return None
        qty = min(self.order_qty, room)
        if qty <= 0:
            return None
        self.last_order_ts = ts
        self.n_signals += 1
        return {"side": side, "qty": qty, "price": price, "signal_e6": signal}
