"""Plain-Python reference of hotpath/signals.pyx (no Cython, no numpy).

Written from the rules in signals.pxd and the module docstring of signals.pyx, independently of the
kernel: the book is a pair of {price: qty} dicts, VPIN cuts trades bucket by bucket in a plain loop,
Python integers are exact (fixed-width behaviour, saturation and overflow refusals are spelled out
where the kernel has them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
E6 = 1_000_000
VPIN_MAX_BUCKETS = 64
BUY, SELL = 0, 1

PARAM_NAMES = (
    "imbalance_levels",
    "vpin_bucket_qty",
    "vpin_window",
    "vol_sample_ns",
    "vol_alpha_e6",
    "intensity_alpha_e6",
)


def fits(v: int) -> bool:
    return INT64_MIN <= v <= INT64_MAX


def saturate(v: int) -> int:
    return max(INT64_MIN, min(INT64_MAX, v))


def round_half_away(num: int, den: int) -> int:
    """num / den rounded to the nearest integer, halves away from zero (den != 0)."""
    q, r = divmod(abs(num), abs(den))
    if 2 * r >= abs(den):
        q += 1
    return q if (num >= 0) == (den > 0) else -q


def ewma_step(value: int, target: int, alpha_e6: int) -> int:
    # floor towards -infinity: Python's // is exactly that
    return value + (alpha_e6 * (target - value)) // E6


def params_valid(p: dict) -> bool:
    return (
        1 <= p["imbalance_levels"] <= 64
        and p["vpin_bucket_qty"] > 0
        and 1 <= p["vpin_window"] <= 64
        and p["vol_sample_ns"] > 0
        and 1 <= p["vol_alpha_e6"] <= E6
        and 1 <= p["intensity_alpha_e6"] <= E6
    )


def microprice_e6(bid: int, bid_qty: int, ask: int, ask_qty: int) -> int:
    """floor((bid*ask_qty + ask*bid_qty) * 1e6 / (bid_qty + ask_qty)); 0 when not representable.

    The kernel evaluates bid*1e6 + floor((ask-bid)*bid_qty*1e6 / den) with checked steps (the
    three-way product in 127 bits); the same refusals are applied here."""
    den = bid_qty + ask_qty
    if not fits(den) or den <= 0:
        return 0
    prod = (ask - bid) * bid_qty * E6
    if not -(2**127) <= prod < 2**127:
        return 0
    frac = prod // den
    base = bid * E6
    if not fits(frac) or not fits(base) or not fits(base + frac):
        return 0
    exact = (bid * ask_qty + ask * bid_qty) * E6 // den
    assert exact == base + frac  # the decomposition is exact whenever it is representable
    return exact


@dataclass
class SignalsRef:
    imbalance_levels: int = 5
    vpin_bucket_qty: int = 100_000
    vpin_window: int = 50
    vol_sample_ns: int = 100_000_000
    vol_alpha_e6: int = 50_000
    intensity_alpha_e6: int = 50_000
    mid_x2: int = 0
    microprice_e6: int = 0
    imbalance_e6: int = 0
    ofi: int = 0
    ofi_last: int = 0
    prev_bid: int = 0
    prev_bid_qty: int = 0
    prev_ask: int = 0
    prev_ask_qty: int = 0
    bucket_buy: int = 0
    bucket_sell: int = 0
    bucket_imbalance: list[int] = field(default_factory=lambda: [0] * VPIN_MAX_BUCKETS)
    bucket_head: int = 0
    bucket_count: int = 0
    vpin_e6: int = 0
    vol_last_mid_x2: int = 0
    vol_last_sample_ts: int = 0
    vol_var_e6: int = 0
    vol_samples: int = 0
    depth_ewma_e6: int = 0
    interarrival_ewma_ns: int = 0
    kappa_e6: int = 0
    rate_e6: int = 0
    last_trade_ts: int = 0
    n_book: int = 0
    n_trades: int = 0

    STATE_FIELDS = (
        "mid_x2",
        "microprice_e6",
        "imbalance_e6",
        "ofi",
        "ofi_last",
        "prev_bid",
        "prev_bid_qty",
        "prev_ask",
        "prev_ask_qty",
        "bucket_buy",
        "bucket_sell",
        "bucket_imbalance",
        "bucket_head",
        "bucket_count",
        "vpin_e6",
        "vol_last_mid_x2",
        "vol_last_sample_ts",
        "vol_var_e6",
        "vol_samples",
        "depth_ewma_e6",
        "interarrival_ewma_ns",
        "kappa_e6",
        "rate_e6",
        "last_trade_ts",
        "n_book",
        "n_trades",
    )

    def state(self) -> dict:
        return {
            name: (list(v) if isinstance(v := getattr(self, name), list) else v) for name in self.STATE_FIELDS
        }

    # ------------------------------------------------------------------ book
    def on_book(self, bids: dict[int, int], asks: dict[int, int], ts_event: int) -> None:
        """bids / asks: {price: qty} of the non-empty levels after a complete book message."""
        bid = max(bids) if bids else 0
        ask = min(asks) if asks else 0
        bid_qty = bids[bid] if bids else 0
        ask_qty = asks[ask] if asks else 0

        if bid > 0 and ask > 0 and bid_qty > 0 and ask_qty > 0:
            self.mid_x2 = saturate(bid + ask)
            self.microprice_e6 = microprice_e6(bid, bid_qty, ask, ask_qty)
        else:
            self.mid_x2 = 0
            self.microprice_e6 = 0

        n = self.imbalance_levels
        sum_bid = sum(bids[p] for p in sorted(bids, reverse=True)[:n])
        sum_ask = sum(asks[p] for p in sorted(asks)[:n])
        self.imbalance_e6 = 0
        if fits(sum_bid) and fits(sum_ask) and fits(sum_bid + sum_ask) and sum_bid + sum_ask > 0:
            self.imbalance_e6 = round_half_away((sum_bid - sum_ask) * E6, sum_bid + sum_ask)

        if self.n_book > 0:
            # Cont-Kukanov-Stoikov e_n; an empty ask is +infinity (an empty bid is 0 already)
            inf = float("inf")
            a_now = ask if ask > 0 else inf
            a_prev = self.prev_ask if self.prev_ask > 0 else inf
            e = 0
            if bid >= self.prev_bid:
                e = saturate(e + bid_qty)
            if bid <= self.prev_bid:
                e = saturate(e - self.prev_bid_qty)
            if a_now <= a_prev:
                e = saturate(e - ask_qty)
            if a_now >= a_prev:
                e = saturate(e + self.prev_ask_qty)
            self.ofi_last = e
            self.ofi = saturate(self.ofi + e)
        self.prev_bid, self.prev_bid_qty, self.prev_ask, self.prev_ask_qty = bid, bid_qty, ask, ask_qty

        if self.mid_x2 > 0:
            if self.vol_last_mid_x2 == 0:
                self.vol_last_mid_x2 = self.mid_x2
                self.vol_last_sample_ts = ts_event
            elif saturate(ts_event - self.vol_last_sample_ts) >= self.vol_sample_ns:
                d = self.mid_x2 - self.vol_last_mid_x2  # half ticks
                x = min(d * d * 250_000, INT64_MAX)  # (d/2)^2 ticks^2 * 1e6
                self.vol_var_e6 = ewma_step(self.vol_var_e6, x, self.vol_alpha_e6)
                self.vol_samples += 1
                self.vol_last_mid_x2 = self.mid_x2
                self.vol_last_sample_ts = ts_event
        self.n_book += 1

    # ------------------------------------------------------------------ trades
    def on_trade(self, side: int, price: int, qty: int, mid_x2: int, ts_event: int) -> None:
        if side not in (BUY, SELL) or price <= 0 or qty <= 0:
            return
        bq, w = self.vpin_bucket_qty, self.vpin_window
        remaining = qty
        completed = False
        while remaining > 0:
            take = min(bq - (self.bucket_buy + self.bucket_sell), remaining)
            if side == BUY:
                self.bucket_buy += take
            else:
                self.bucket_sell += take
            remaining -= take
            if self.bucket_buy + self.bucket_sell == bq:
                self.bucket_imbalance[self.bucket_head] = abs(self.bucket_buy - self.bucket_sell)
                self.bucket_head = (self.bucket_head + 1) % w
                self.bucket_count = min(self.bucket_count + 1, w)
                self.bucket_buy = self.bucket_sell = 0
                completed = True
        if completed:
            total = sum(self.bucket_imbalance[: self.bucket_count])
            self.vpin_e6 = total * E6 // (self.bucket_count * bq)

        if self.n_trades >= 1:
            dt = max(0, saturate(ts_event - self.last_trade_ts))
            if self.n_trades == 1:
                self.interarrival_ewma_ns = dt
            else:
                self.interarrival_ewma_ns = ewma_step(self.interarrival_ewma_ns, dt, self.intensity_alpha_e6)
            self.rate_e6 = 10**15 // max(self.interarrival_ewma_ns, 1)
        self.last_trade_ts = ts_event

        if mid_x2 > 0 and fits(2 * price):
            depth = abs(2 * price - mid_x2) * 500_000 + 500_000
            if fits(abs(2 * price - mid_x2) * 500_000) and fits(depth):
                if self.depth_ewma_e6 == 0:
                    self.depth_ewma_e6 = depth
                else:
                    self.depth_ewma_e6 = ewma_step(self.depth_ewma_e6, depth, self.intensity_alpha_e6)
                self.kappa_e6 = 10**12 // self.depth_ewma_e6
        self.n_trades += 1

    # ------------------------------------------------------------------ read-outs
    @property
    def sigma2_per_sec(self) -> float:
        return (self.vol_var_e6 / 1e6) / (self.vol_sample_ns / 1e9)

    @property
    def kappa(self) -> float:
        return self.kappa_e6 / 1e6

    @property
    def vpin(self) -> float:
        return self.vpin_e6 / 1e6
