"""Plain-Python reference for hotpath.orders: FSM table, order table, fill dedup, positions.

Values are exact rationals (``fractions.Fraction``) floored exactly where orders.pxd /
instrument.pxd floor; int64 overflow is modelled explicitly (``None`` = the C helper reported
overflow). Nothing here is shared with the compiled code: the FSM table is re-typed from the
drawing in orders.pxd.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from fractions import Fraction

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INT128_MIN = -(2**127)
INT128_MAX = 2**127 - 1

BUY, SELL = 0, 1
OT_LIMIT, OT_MARKET, OT_LIMIT_MAKER = 0, 1, 2
TIF_GTC, TIF_IOC, TIF_FOK = 0, 1, 2
CT_LINEAR, CT_INVERSE = 0, 1
MAX_INSTRUMENTS = 16

(
    OS_NEW,
    OS_SENT,
    OS_ACKED,
    OS_PARTIALLY_FILLED,
    OS_PENDING_CANCEL,
    OS_FILLED,
    OS_CANCELLED,
    OS_REJECTED,
    OS_EXPIRED,
) = range(9)
OS_RESTORE, OS_ILLEGAL = 254, 255
(
    OE_SUBMIT,
    OE_ACK,
    OE_REJECT,
    OE_PARTIAL_FILL,
    OE_FILL,
    OE_CANCEL_REQUEST,
    OE_CANCELLED,
    OE_CANCEL_REJECT,
    OE_EXPIRE,
) = range(9)
TERMINAL = {OS_FILLED, OS_CANCELLED, OS_REJECTED, OS_EXPIRED}

DEDUP_CAPACITY = 8192
TRADE_ID_LIMIT = 2**58

_ = OS_ILLEGAL
# Re-typed from the drawing in orders.pxd (rows = status, columns = events).
FSM_REF = [
    # SUBMIT  ACK                REJECT       PARTIAL              FILL       CXL_REQ            CANCELLED     CXL_REJ     EXPIRE
    [OS_SENT, _,                 OS_REJECTED, _,                   _,         OS_CANCELLED,      _,            _,          _],           # NEW
    [_,       OS_ACKED,          OS_REJECTED, OS_PARTIALLY_FILLED, OS_FILLED, OS_PENDING_CANCEL, OS_CANCELLED, _,          OS_EXPIRED],  # SENT
    [_,       _,                 _,           OS_PARTIALLY_FILLED, OS_FILLED, OS_PENDING_CANCEL, OS_CANCELLED, _,          OS_EXPIRED],  # ACKED
    [_,       _,                 _,           OS_PARTIALLY_FILLED, OS_FILLED, OS_PENDING_CANCEL, OS_CANCELLED, _,          OS_EXPIRED],  # PARTIAL
    [_,       OS_PENDING_CANCEL, OS_REJECTED, OS_PENDING_CANCEL,   OS_FILLED, _,                 OS_CANCELLED, OS_RESTORE, OS_EXPIRED],  # PEND_CXL
    [_] * 9,  # FILLED
    [_] * 9,  # CANCELLED
    [_] * 9,  # REJECTED
    [_] * 9,  # EXPIRED
]  # fmt: skip
del _


def fits(v: int) -> bool:
    return INT64_MIN <= v <= INT64_MAX


def checked(v: int) -> int | None:
    """v if it is an int64, else None (overflow)."""
    return v if fits(v) else None


def floor_div_exact(num: int, den: int) -> int:
    """floor(num / den) through an exact rational."""
    return math.floor(Fraction(num, den))


# --- intmath.pxd ------------------------------------------------------------------------------


def muldiv_floor(a: int, b: int, c: int) -> int | None:
    if c == 0:
        return None
    return checked(floor_div_exact(a * b, c))


def mul3div_floor(a: int, b: int, c: int, d: int) -> int | None:
    if d == 0:
        return None
    p = a * b * c
    if not INT128_MIN <= p <= INT128_MAX:
        return None
    return checked(floor_div_exact(p, d))


# --- instrument.pxd ---------------------------------------------------------------------------


def inst_notional(ins: dict, price: int, qty: int) -> int | None:
    if qty < 0:
        return None
    if ins["contract_type"] == CT_LINEAR:
        if price <= 0:
            return None
        return mul3div_floor(price, qty, ins["value_num"], ins["value_den"])
    return muldiv_floor(qty, ins["value_num"], ins["value_den"])


def inst_settle_value_x2(ins: dict, price_x2: int, qty: int) -> int | None:
    if qty < 0 or price_x2 <= 0:
        return None
    if ins["contract_type"] == CT_LINEAR:
        den = checked(ins["value_den"] * 2)
        if den is None:
            return None
        return mul3div_floor(price_x2, qty, ins["value_num"], den)
    den = checked(ins.get("inv_den", 0) * price_x2)
    if den is None:
        return None
    return mul3div_floor(qty, ins.get("inv_num", 0), 2, den)


def inst_settle_value(ins: dict, price: int, qty: int) -> int | None:
    if price <= 0 or price > 2**61:
        return None
    return inst_settle_value_x2(ins, price * 2, qty)


# --- FSM and order table ----------------------------------------------------------------------


def fsm_next(status: int, event: int) -> int:
    if not (0 <= status < 9 and 0 <= event < 9):
        return OS_ILLEGAL
    return FSM_REF[status][event]


class DedupRef:
    """Two generations of (instrument, trade_id) keys: a full current generation (capacity keys)
    becomes the previous one and the older previous one is forgotten."""

    def __init__(self, capacity: int = DEDUP_CAPACITY) -> None:
        self.capacity = capacity
        self.current: list[tuple[int, int]] = []
        self.previous: list[tuple[int, int]] = []

    @property
    def ring(self) -> list[tuple[int, int]]:
        return self.previous + self.current

    def check(self, instrument: int, trade_id: int) -> int:
        if not (0 <= trade_id < TRADE_ID_LIMIT and 0 <= instrument < MAX_INSTRUMENTS):
            return -1
        key = (instrument, trade_id)
        if key in self.current or key in self.previous:
            return 1
        if len(self.current) >= self.capacity:
            self.previous, self.current = self.current, []
        self.current.append(key)
        return 0


class OrderTableRef:
    """Dict-based order table with the C API's return conventions."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.orders: dict[int, dict] = {}
        self.next_client_id = 1
        self.dedup = DedupRef()
        self.counters = {
            "n_illegal_transitions": 0,
            "n_duplicate_fills": 0,
            "n_unknown_orders": 0,
            "n_overfills": 0,
        }

    def new(self, instrument, side, order_type, tif, flags, price, qty, ts) -> int | None:
        if len(self.orders) >= self.capacity:
            return None
        if not (0 <= instrument < MAX_INSTRUMENTS) or side not in (BUY, SELL):
            return None
        if order_type not in (OT_LIMIT, OT_MARKET, OT_LIMIT_MAKER) or tif not in (0, 1, 2):
            return None
        if qty <= 0 or price < 0 or (order_type != OT_MARKET and price == 0):
            return None
        if not fits(self.open_qty(instrument, side) + qty):
            return None
        cid = self.next_client_id
        self.next_client_id += 1
        self.orders[cid] = {
            "client_id": cid, "venue_id": 0, "instrument": instrument, "side": side,
            "order_type": order_type, "tif": tif, "flags": flags, "price": price, "qty": qty,
            "filled": 0, "status": OS_NEW, "ts_created": ts, "ts_sent": 0, "ts_acked": 0,
            "ts_updated": ts,
        }  # fmt: skip
        return cid

    def get(self, cid: int) -> dict | None:
        o = self.orders.get(cid)
        return None if o is None else dict(o)

    def apply(self, cid: int, event: int, ts: int) -> int:
        o = self.orders.get(cid)
        if o is None:
            self.counters["n_unknown_orders"] += 1
            return -1
        if event in (OE_PARTIAL_FILL, OE_FILL):
            self.counters["n_illegal_transitions"] += 1
            return -1
        nxt = fsm_next(o["status"], event)
        if nxt == OS_ILLEGAL:
            self.counters["n_illegal_transitions"] += 1
            return -1
        if nxt == OS_RESTORE:
            nxt = OS_PARTIALLY_FILLED if o["filled"] > 0 else OS_ACKED
        if event == OE_SUBMIT:
            o["ts_sent"] = ts
        elif event == OE_ACK:
            o["ts_acked"] = ts
        o["status"] = nxt
        o["ts_updated"] = ts
        return nxt

    def fill(self, cid: int, qty: int, ts: int) -> int:
        o = self.orders.get(cid)
        if o is None:
            self.counters["n_unknown_orders"] += 1
            return -1
        if qty <= 0 or fsm_next(o["status"], OE_PARTIAL_FILL) == OS_ILLEGAL:
            self.counters["n_illegal_transitions"] += 1
            return -1
        leaves = o["qty"] - o["filled"]
        if qty > leaves:
            self.counters["n_overfills"] += 1
        applied = min(qty, leaves)
        o["filled"] += applied
        nxt = fsm_next(o["status"], OE_FILL if o["filled"] == o["qty"] else OE_PARTIAL_FILL)
        o["status"] = nxt
        o["ts_updated"] = ts
        return nxt

    def release(self, cid: int) -> bool:
        o = self.orders.get(cid)
        if o is None or o["status"] not in TERMINAL:
            return False
        del self.orders[cid]
        return True

    def live_ids(self) -> list[int]:
        return sorted(self.orders)

    def open_qty(self, instrument: int, side: int) -> int:
        return sum(
            o["qty"] - o["filled"]
            for o in self.orders.values()
            if o["instrument"] == instrument and o["side"] == side and o["status"] not in TERMINAL
        )

    def open_count(self, instrument: int) -> int:
        return sum(
            1 for o in self.orders.values() if o["instrument"] == instrument and o["status"] not in TERMINAL
        )

    def dedup_check(self, instrument: int, trade_id: int) -> int:
        r = self.dedup.check(instrument, trade_id)
        if r == 1:
            self.counters["n_duplicate_fills"] += 1
        return r


# --- positions --------------------------------------------------------------------------------


@dataclass
class PositionRef:
    """orders.pxd Position, same field order."""

    qty: int = 0
    entry_value: int = 0
    realized: int = 0
    fees: int = 0
    volume: int = 0
    volume_notional: int = 0
    n_fills: int = 0
    n_round_trips: int = 0
    n_winning_trips: int = 0
    trip_pnl: int = 0
    trip_start_ts: int = 0
    trip_volume: int = 0

    def state(self) -> dict:
        return asdict(self)


POSITION_FIELDS = [f.name for f in fields(PositionRef)]


def _dir(ins: dict, qty: int) -> int:
    sign = (qty > 0) - (qty < 0)
    return sign if ins["contract_type"] == CT_LINEAR else -sign


def apply_fill(p: PositionRef, ins: dict, side: int, price: int, qty: int, fee: int, ts: int) -> dict | None:
    """position_apply_fill: outcome dict, or None with p unchanged."""
    if ins["contract_type"] not in (CT_LINEAR, CT_INVERSE):
        return None
    if side not in (BUY, SELL) or qty <= 0 or price <= 0 or p.qty == INT64_MIN:
        return None
    notional = inst_notional(ins, price, qty)
    if notional is None or notional < 0:
        return None
    n = PositionRef(**p.state())
    out = {"realized_delta": 0, "trip_closed": 0, "trip_pnl": 0, "trip_start_ts": 0, "trip_volume": 0}
    signed = qty if side == BUY else -qty
    delta = 0
    if p.qty == 0 or (p.qty > 0) == (side == BUY):
        v = inst_settle_value(ins, price, qty)
        if v is None or v < 0:
            return None
        n.entry_value += v
        n.qty += signed
        if not fits(n.entry_value) or not fits(n.qty) or n.qty == INT64_MIN:
            return None
        if p.qty == 0:
            n.trip_start_ts, n.trip_pnl, n.trip_volume = ts, 0, 0
        n.trip_pnl -= fee
        n.trip_volume += qty
        if not fits(n.trip_pnl) or not fits(n.trip_volume):
            return None
    else:
        pos_abs = abs(p.qty)
        close_q = min(qty, pos_abs)
        open_q = qty - close_q
        fee_close = math.floor(Fraction(fee * close_q, qty))  # pro rata, floor to the closing part
        fee_open = fee - fee_close
        if not fits(fee_open):
            return None
        v_close = inst_settle_value(ins, price, close_q)
        if v_close is None or v_close < 0:
            return None
        removed = math.floor(Fraction(p.entry_value * close_q, pos_abs))
        delta = checked(v_close - removed)
        if delta is None:
            return None
        delta = checked(_dir(ins, p.qty) * delta)
        if delta is None:
            return None
        n.entry_value = p.entry_value - removed
        n.qty = p.qty + (close_q if side == BUY else -close_q)
        n.trip_pnl += delta
        if not fits(n.trip_pnl):
            return None
        n.trip_pnl -= fee_close
        n.trip_volume += close_q
        if not fits(n.trip_pnl) or not fits(n.trip_volume):
            return None
        if n.qty == 0:
            out.update(
                trip_closed=1, trip_pnl=n.trip_pnl, trip_start_ts=n.trip_start_ts, trip_volume=n.trip_volume
            )
            n.n_round_trips += 1
            if n.trip_pnl > 0:
                n.n_winning_trips += 1
            if not fits(n.n_round_trips) or not fits(n.n_winning_trips):
                return None
            n.trip_pnl, n.trip_start_ts, n.trip_volume = 0, 0, 0
            if open_q > 0:
                v_open = inst_settle_value(ins, price, open_q)
                if v_open is None or v_open < 0 or not fits(-fee_open):
                    return None
                n.entry_value = v_open
                n.qty = open_q if side == BUY else -open_q
                n.trip_start_ts, n.trip_pnl, n.trip_volume = ts, -fee_open, open_q
    n.realized += delta
    n.fees += fee
    n.volume += qty
    n.volume_notional += notional
    n.n_fills += 1
    if not all(fits(getattr(n, k)) for k in ("realized", "fees", "volume", "volume_notional", "n_fills")):
        return None
    out["realized_delta"] = delta
    for k in POSITION_FIELDS:
        setattr(p, k, getattr(n, k))
    return out


def unrealized(p: PositionRef, ins: dict, mark_x2: int) -> int | None:
    if p.qty == 0:
        return 0
    if p.qty == INT64_MIN or ins["contract_type"] not in (CT_LINEAR, CT_INVERSE):
        return None
    v = inst_settle_value_x2(ins, mark_x2, abs(p.qty))
    if v is None:
        return None
    d = checked(v - p.entry_value)
    if d is None:
        return None
    return checked(_dir(ins, p.qty) * d)
