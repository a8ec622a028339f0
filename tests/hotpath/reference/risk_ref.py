"""Plain-Python reference for hotpath.risk: the same rules over Python ints.

int64 overflow of the compiled code's checked arithmetic is modelled explicitly (``fits``); the
token bucket saturates at INT64_MAX like the compiled one. Written from risk.pxd, sharing no code
with hotpath/risk.pyx.
"""

from __future__ import annotations

from tests.hotpath.reference.orders_ref import (
    BUY,
    CT_INVERSE,
    CT_LINEAR,
    INT64_MAX,
    INT64_MIN,
    OT_LIMIT,
    OT_LIMIT_MAKER,
    OT_MARKET,
    SELL,
    fits,
    inst_notional,
    inst_settle_value_x2,
    muldiv_floor,
)

STATE_ACTIVE, STATE_REDUCING, STATE_HALTED = 0, 1, 2
(RR_OK, RR_HALTED, RR_REDUCE_ONLY, RR_BAD_QTY, RR_BAD_PRICE, RR_OVERFLOW, RR_NO_MARKET,
 RR_MAX_ORDER_QTY, RR_MAX_POSITION, RR_PRICE_COLLAR, RR_SPREAD, RR_MAX_OPEN_ORDERS,
 RR_MAX_NOTIONAL, RR_MAX_TOTAL_NOTIONAL, RR_MAX_DRAWDOWN, RR_DAILY_LOSS, RR_RATE_LIMIT,
 RR_CIRCUIT_LOSSES, RR_CIRCUIT_RAPID_FILLS, RR_OPERATOR, RR_BAD_LIMITS, RR_JOURNAL, RR_FEED, RR_VENUE,
 RR_RECONCILE, RR_SHUTDOWN) = range(26)  # fmt: skip
N_RISK_REASONS = 26
RAPID_FILL_RING = 256
TOKEN = 10**9
DAY_NS = 86_400 * 10**9

CONFIG_KEYS = (
    "max_total_notional", "max_open_orders_total", "rate_capacity", "rate_per_sec", "max_drawdown",
    "max_daily_loss", "day_offset_ns", "max_consecutive_losses", "rapid_fill_count",
    "rapid_fill_window_ns",
)  # fmt: skip


def sat(v: int) -> int:
    return min(v, INT64_MAX)


def config_ok(c: dict) -> bool:
    positive = [k for k in CONFIG_KEYS if k != "day_offset_ns"]
    return (
        all(c[k] > 0 for k in positive)
        and 0 <= c["day_offset_ns"] < DAY_NS
        and c["rapid_fill_count"] <= RAPID_FILL_RING
    )


def day_index(ts: int, offset: int) -> int:
    return (ts - offset) // DAY_NS


def reduces_exposure(position: int, open_same: int, side: int, qty: int) -> bool:
    if qty <= 0 or open_same < 0 or position == 0 or position == INT64_MIN:
        return False
    if side == BUY and position > 0 or side == SELL and position < 0 or side not in (BUY, SELL):
        return False
    total = qty + open_same
    if not fits(total):
        return False
    return total <= abs(position)


class RiskRef:
    def __init__(self, limits: list[dict], config: dict, ts: int = 0) -> None:
        if not config_ok(config):
            raise ValueError("bad config")
        self.limits = list(limits)
        self.config = dict(config)
        self.state = STATE_ACTIVE
        self.state_reason = RR_OK
        self.tokens_e9 = sat(config["rate_capacity"] * TOKEN)
        self.last_refill_ts = ts
        self.equity = 0
        self.peak_equity = 0
        self.day_index = day_index(ts, config["day_offset_ns"])
        self.day_start_equity = 0
        self.consecutive_losses = 0
        self.fills: list[int] = []  # oldest first, at most RAPID_FILL_RING
        self.initialized = 0
        self.denials = [0] * N_RISK_REASONS
        self.n_checks = 0

    def snapshot(self) -> dict:
        return {
            "state": self.state,
            "state_reason": self.state_reason,
            "tokens_e9": self.tokens_e9,
            "last_refill_ts": self.last_refill_ts,
            "equity": self.equity,
            "peak_equity": self.peak_equity,
            "day_index": self.day_index,
            "day_start_equity": self.day_start_equity,
            "consecutive_losses": self.consecutive_losses,
            "initialized": self.initialized,
            "fill_times": list(self.fills),
            "denials": list(self.denials),
            "n_checks": self.n_checks,
        }

    # --- time ---------------------------------------------------------------------------------

    def _offset_ok(self) -> bool:
        return 0 <= self.config["day_offset_ns"] < DAY_NS

    def _refill(self, ts: int) -> None:
        c = self.config
        if ts <= self.last_refill_ts:
            return
        if c["rate_capacity"] > 0 and c["rate_per_sec"] > 0:
            cap = sat(c["rate_capacity"] * TOKEN)
            dt = sat(ts - self.last_refill_ts)
            self.tokens_e9 = min(cap, sat(self.tokens_e9 + sat(dt * c["rate_per_sec"])))
        self.last_refill_ts = ts

    def _rollover(self, equity: int, ts: int) -> None:
        if not self._offset_ok():
            return
        d = day_index(ts, self.config["day_offset_ns"])
        if d > self.day_index:
            self.day_index = d
            self.day_start_equity = equity

    def _trip(self, reason: int) -> int:
        if self.state == STATE_HALTED:
            return -1
        self.state = STATE_HALTED
        self.state_reason = reason
        return STATE_HALTED

    # --- the gate -----------------------------------------------------------------------------

    def check(self, ins: dict, intent: dict, x: dict, ts: int) -> int:
        self._refill(ts)
        self._rollover(self.equity, ts)
        intent = {"instrument": 0, "order_type": OT_LIMIT, **intent}
        reason = self._check(self.limits[intent["instrument"]], ins, intent, x)
        self.n_checks += 1
        if reason == RR_OK:
            self.tokens_e9 -= TOKEN
        else:
            self.denials[reason] += 1
        return reason

    def _check(self, lim: dict, ins: dict, o: dict, x: dict) -> int:
        c = self.config
        if self.state not in (STATE_ACTIVE, STATE_REDUCING):
            return RR_HALTED
        side, qty, price, otype = o["side"], o["qty"], o["price"], o["order_type"]
        if qty <= 0 or side not in (BUY, SELL):
            return RR_BAD_QTY
        market = otype == OT_MARKET
        if not market and (otype not in (OT_LIMIT, OT_LIMIT_MAKER) or price <= 0):
            return RR_BAD_PRICE
        bid, ask = x["best_bid"], x["best_ask"]
        if not x["book_valid"] or bid <= 0 or ask <= 0 or bid >= ask:
            return RR_NO_MARKET
        pos = x["position"]
        if (
            min(x["open_buy"], x["open_sell"], x["open_orders"], x["open_orders_total"]) < 0
            or min(x["open_notional"], x["total_notional"]) < 0
            or pos == INT64_MIN
        ):
            return RR_OVERFLOW
        open_same = x["open_buy"] if side == BUY else x["open_sell"]
        reduces = reduces_exposure(pos, open_same, side, qty)
        if self.state == STATE_REDUCING and not reduces:
            return RR_REDUCE_ONLY

        if lim["max_order_qty"] <= 0:
            return RR_BAD_LIMITS
        if qty > lim["max_order_qty"]:
            return RR_MAX_ORDER_QTY

        if lim["max_position"] <= 0:
            return RR_BAD_LIMITS
        if side == BUY:
            step = pos + x["open_buy"]
            projected = step + qty
        else:
            step = pos - x["open_sell"]
            projected = step - qty
        if not fits(step) or not fits(projected):
            return RR_OVERFLOW
        if abs(projected) > lim["max_position"]:
            return RR_MAX_POSITION

        if not market:
            if lim["collar_ppm"] <= 0:
                return RR_BAD_LIMITS
            mid2 = bid + ask
            if not fits(mid2) or not fits(price * 2):
                return RR_OVERFLOW
            bound = muldiv_floor(lim["collar_ppm"], mid2, 10**6)
            if bound is not None and abs(2 * price - mid2) > bound:
                return RR_PRICE_COLLAR

        if not reduces:
            if lim["max_spread_ticks"] <= 0:
                return RR_BAD_LIMITS
            if ask - bid > lim["max_spread_ticks"]:
                return RR_SPREAD

        if lim["max_open_orders"] <= 0:
            return RR_BAD_LIMITS
        if x["open_orders"] >= lim["max_open_orders"]:
            return RR_MAX_OPEN_ORDERS
        if c["max_open_orders_total"] <= 0:
            return RR_BAD_LIMITS
        if x["open_orders_total"] >= c["max_open_orders_total"]:
            return RR_MAX_OPEN_ORDERS

        if lim["max_notional"] <= 0:
            return RR_BAD_LIMITS
        if (
            ins["contract_type"] not in (CT_LINEAR, CT_INVERSE)
            or ins["value_num"] <= 0
            or ins["value_den"] <= 0
        ):
            return RR_BAD_LIMITS
        price_for = price if not market else (ask if side == BUY else bid)
        order_n = inst_notional(ins, price_for, qty)
        if order_n is None:
            return RR_OVERFLOW
        mid2 = bid + ask
        if not fits(mid2):
            return RR_OVERFLOW
        if ins["contract_type"] == CT_LINEAR:
            pos_n = inst_settle_value_x2(ins, mid2, abs(pos))
        else:
            pos_n = inst_notional(ins, 1, abs(pos))
        if pos_n is None:
            return RR_OVERFLOW
        step = pos_n + x["open_notional"]
        sym = step + order_n
        if not fits(step) or not fits(sym):
            return RR_OVERFLOW
        if sym > lim["max_notional"]:
            return RR_MAX_NOTIONAL

        if c["max_total_notional"] <= 0:
            return RR_BAD_LIMITS
        tot = x["total_notional"] + order_n
        if not fits(tot):
            return RR_OVERFLOW
        if tot > c["max_total_notional"]:
            return RR_MAX_TOTAL_NOTIONAL

        if not reduces:
            if c["max_drawdown"] <= 0:
                return RR_BAD_LIMITS
            dd = self.peak_equity - self.equity
            if not fits(dd):
                return RR_OVERFLOW
            if dd >= c["max_drawdown"]:
                return RR_MAX_DRAWDOWN
            if c["max_daily_loss"] <= 0:
                return RR_BAD_LIMITS
            loss = self.day_start_equity - self.equity
            if not fits(loss):
                return RR_OVERFLOW
            if loss >= c["max_daily_loss"]:
                return RR_DAILY_LOSS

        if c["rate_capacity"] <= 0 or c["rate_per_sec"] <= 0:
            return RR_BAD_LIMITS
        if self.tokens_e9 < TOKEN:
            return RR_RATE_LIMIT
        return RR_OK

    # --- breakers, equity, state --------------------------------------------------------------

    def on_fill(self, ts: int) -> int:
        c = self.config
        self.fills.append(ts)
        del self.fills[:-RAPID_FILL_RING]
        n, window = c["rapid_fill_count"], c["rapid_fill_window_ns"]
        if n <= 0 or n > RAPID_FILL_RING or window <= 0:
            return self._trip(RR_BAD_LIMITS)
        if len(self.fills) < n:
            return -1
        oldest = self.fills[-n]
        if ts <= oldest or (fits(ts - oldest) and ts - oldest <= window):
            return self._trip(RR_CIRCUIT_RAPID_FILLS)
        return -1

    def on_round_trip(self, pnl: int) -> int:
        if pnl < 0:
            self.consecutive_losses = min(self.consecutive_losses + 1, INT64_MAX)
        elif pnl > 0:
            self.consecutive_losses = 0
        if self.config["max_consecutive_losses"] <= 0:
            return self._trip(RR_BAD_LIMITS)
        if self.consecutive_losses >= self.config["max_consecutive_losses"]:
            return self._trip(RR_CIRCUIT_LOSSES)
        return -1

    def on_equity(self, equity: int, ts: int) -> None:
        self.equity = equity
        if not self.initialized:
            self.initialized = 1
            self.peak_equity = equity
            self.day_start_equity = equity
            if self._offset_ok():
                self.day_index = day_index(ts, self.config["day_offset_ns"])
            return
        self.peak_equity = max(self.peak_equity, equity)
        self._rollover(equity, ts)

    def set_state(self, state: int, reason: int) -> int:
        if state not in (STATE_ACTIVE, STATE_REDUCING, STATE_HALTED) or not 0 <= reason < N_RISK_REASONS:
            return -1
        prev = self.state
        if prev == STATE_HALTED and state != STATE_HALTED:
            self.consecutive_losses = 0
            self.fills = []
        self.state = state
        self.state_reason = RR_OK if state == STATE_ACTIVE else reason
        return prev
