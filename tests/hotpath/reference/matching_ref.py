"""Plain-Python reference of hotpath/matching.pyx (the rules are spelled out at the top of that
file). Same constructor and methods as SimulatedVenue, with BookRef books and big-int fee
arithmetic that reproduces the int64/int128 overflow checks of instrument.pxd / intmath.pxd."""

from __future__ import annotations

from collections import deque

from tests.hotpath.reference.book_ref import BUY, SELL, BookRef

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT128_MIN, INT128_MAX = -(2**127), 2**127 - 1
PRICE_LIMIT = 2**61

# types.pxd / matching.pxd values
EV_ORDER_ACK, EV_ORDER_REJECT, EV_ORDER_FILL = 10, 11, 12
EV_ORDER_CANCELED, EV_CANCEL_REJECT, EV_ORDER_EXPIRED = 13, 14, 15
F_SELL, F_MAKER = 1, 4
OT_LIMIT, OT_MARKET, OT_LIMIT_MAKER = 0, 1, 2
TIF_GTC, TIF_IOC, TIF_FOK = 0, 1, 2
CT_LINEAR, CT_INVERSE = 0, 1
CMD_NEW, CMD_CANCEL, CMD_CANCEL_ALL = 1, 2, 3
(
    VR_NONE,
    VR_WOULD_TAKE,
    VR_FOK_UNFILLABLE,
    VR_NO_LIQUIDITY,
    VR_UNKNOWN_ORDER,
    VR_DUPLICATE_ID,
    VR_BAD_PRICE,
    VR_BAD_QTY,
    VR_TOO_MANY_ORDERS,
    VR_BAD_INSTRUMENT,
    VR_BAD_ORDER,
) = range(11)

INSTRUMENT_KEYS = (
    "contract_type",
    "value_num",
    "value_den",
    "inv_num",
    "inv_den",
    "maker_fee_ppm",
    "taker_fee_ppm",
    "book_window_log2",
)


# --- exact integer economics (intmath.pxd / instrument.pxd) ---------------------------------


def _fits64(x: int) -> bool:
    return INT64_MIN <= x <= INT64_MAX


def mul3div_floor(a: int, b: int, c: int, d: int) -> int | None:
    if d == 0:
        return None
    p = a * b * c
    if not INT128_MIN <= p <= INT128_MAX:
        return None
    q = p // d  # Python floors, as am_mul3div_floor does
    return q if _fits64(q) else None


def muldiv_round(a: int, b: int, c: int) -> int | None:
    """round(a*b/c), halves away from zero (am_muldiv_round)."""
    if c == 0:
        return None
    p = a * b
    q = (abs(p) + abs(c) // 2) // abs(c)
    if (p < 0) != (c < 0):
        q = -q
    return q if _fits64(q) else None


def settle_value(ins: dict, price: int, qty: int) -> int | None:
    if price <= 0 or price > PRICE_LIMIT or qty < 0:
        return None
    price_x2 = price * 2
    if ins["contract_type"] == CT_LINEAR:
        den = ins["value_den"] * 2
        if not _fits64(den):
            return None
        return mul3div_floor(price_x2, qty, ins["value_num"], den)
    den = ins["inv_den"] * price_x2
    if not _fits64(den):
        return None
    return mul3div_floor(qty, ins["inv_num"], 2, den)


def fee_of(ins: dict, price: int, qty: int, maker: bool) -> int | None:
    """Fee of a fill, or None when the fill cannot be valued in int64."""
    value = settle_value(ins, price, qty)
    if value is None:
        return None
    return muldiv_round(value, ins["maker_fee_ppm"] if maker else ins["taker_fee_ppm"], 1_000_000)


def _crosses(side: int, order_price: int, market_price: int) -> bool:
    return market_price <= order_price if side == BUY else market_price >= order_price


# --- the venue -------------------------------------------------------------------------------


class VenueRef:
    def __init__(
        self,
        instruments: list[dict],
        entry_latency_ns: int = 0,
        response_latency_ns: int = 0,
        max_resting: int = 1024,
        queue_capacity: int = 4096,
        center_prices: list[int] | None = None,
        window_log2: int = 20,
    ):
        self.instruments = []
        self.books = []
        for i, spec in enumerate(instruments):
            ins = {
                "contract_type": CT_LINEAR,
                "value_num": 1,
                "value_den": 1,
                "inv_num": 0,
                "inv_den": 1,
                "maker_fee_ppm": 0,
                "taker_fee_ppm": 0,
                "book_window_log2": 0,
            }
            ins.update({k: v for k, v in spec.items() if k != "id"})
            ins["book_window_log2"] = ins["book_window_log2"] or window_log2
            self.instruments.append(ins)
            wl = ins["book_window_log2"]
            center = center_prices[i] if center_prices is not None else 1 << (wl - 1)
            self.books.append(BookRef(center, wl))
        self.entry_latency_ns = entry_latency_ns
        self.response_latency_ns = response_latency_ns
        self.max_resting = max_resting
        self.queue_capacity = queue_capacity
        self.orders: dict[int, dict] = {}  # resting, by client id
        self.cmds: deque[dict] = deque()
        self.resp: deque[dict] = deque()
        self.next_venue_id = 1
        self.next_trade_id = 1
        self.n_fills = self.n_maker_fills = self.n_taker_fills = 0
        self.n_rejects = self.n_expired = self.n_dropped = 0

    # responses ----------------------------------------------------------------------------------
    def _respond(self, kind, ts, order_id, instrument, side, price=0, qty=0, venue_seq=0, aux=0, flags=0):
        if len(self.resp) >= self.queue_capacity:
            self.n_dropped += 1
            return
        self.resp.append(
            {
                "kind": kind,
                "ts_event": ts,
                "ts_local": min(ts + self.response_latency_ns, INT64_MAX),
                "order_id": order_id,
                "instrument": instrument if 0 <= instrument <= 0xFFFF else 0xFFFF,
                "price": price,
                "qty": qty,
                "venue_seq": venue_seq,
                "aux": aux,
                "flags": (F_SELL if side == SELL else 0) | flags,
            }
        )

    def _fill(self, client_id, instrument, side, price, qty, maker, ts):
        fee = fee_of(self.instruments[instrument], price, qty, maker)
        assert fee is not None, "fills are valued before they are made"
        self._respond(
            EV_ORDER_FILL,
            ts,
            client_id,
            instrument,
            side,
            price,
            qty,
            self.next_trade_id,
            fee,
            F_MAKER if maker else 0,
        )
        self.next_trade_id += 1
        self.n_fills += 1
        if maker:
            self.n_maker_fills += 1
        else:
            self.n_taker_fills += 1

    # orders ---------------------------------------------------------------------------------------
    def _walk(self, c, has_limit, emit):
        book = self.books[c["instrument"]]
        ins = self.instruments[c["instrument"]]
        opp = SELL if c["side"] == BUY else BUY
        remaining = c["qty"]
        for price, level in book.sorted_levels(opp):
            if remaining <= 0 or (has_limit and not _crosses(c["side"], c["price"], price)):
                break
            q = min(level, remaining)
            if fee_of(ins, price, q, False) is None:
                break
            if emit:
                self._fill(c["client_id"], c["instrument"], c["side"], price, q, False, c["ts_arrival"])
            remaining -= q
        return c["qty"] - remaining

    def _reject_reason(self, c) -> int:
        ot, tif, side = c["order_type"], c["tif"], c["side"]
        if not 0 <= c["instrument"] < len(self.instruments):
            return VR_BAD_INSTRUMENT
        if (
            c["client_id"] <= 0
            or side not in (BUY, SELL)
            or ot not in (OT_LIMIT, OT_MARKET, OT_LIMIT_MAKER)
            or (ot == OT_LIMIT and tif not in (TIF_GTC, TIF_IOC, TIF_FOK))
        ):
            return VR_BAD_ORDER
        if c["client_id"] in self.orders:
            return VR_DUPLICATE_ID
        if c["qty"] <= 0:
            return VR_BAD_QTY
        if ot in (OT_LIMIT, OT_LIMIT_MAKER):
            if c["price"] <= 0 or c["price"] > PRICE_LIMIT:
                return VR_BAD_PRICE
            ins = self.instruments[c["instrument"]]
            if (
                fee_of(ins, c["price"], c["qty"], True) is None
                or fee_of(ins, c["price"], c["qty"], False) is None
            ):
                return VR_BAD_QTY
        may_rest = ot == OT_LIMIT_MAKER or (ot == OT_LIMIT and tif == TIF_GTC)
        if may_rest and len(self.orders) >= self.max_resting:
            return VR_TOO_MANY_ORDERS
        if ot == OT_LIMIT_MAKER:
            book = self.books[c["instrument"]]
            opp_best = book.best_ask if side == BUY else book.best_bid
            if opp_best and _crosses(side, c["price"], opp_best):
                return VR_WOULD_TAKE
        return VR_NONE

    def _rest(self, c, venue_id, leaves):
        self.orders[c["client_id"]] = {
            "client_id": c["client_id"],
            "venue_id": venue_id,
            "instrument": c["instrument"],
            "side": c["side"],
            "price": c["price"],
            "leaves": leaves,
            "queue_ahead": self.books[c["instrument"]].qty(c["side"], c["price"]),
            "ts_arrival": c["ts_arrival"],
        }

    def _new_order(self, c):
        ts = c["ts_arrival"]
        common = (ts, c["client_id"], c["instrument"], c["side"], c["price"])
        reason = self._reject_reason(c)
        if reason != VR_NONE:
            self._respond(EV_ORDER_REJECT, *common, qty=c["qty"], aux=reason)
            self.n_rejects += 1
            return
        venue_id = self.next_venue_id
        self.next_venue_id += 1
        self._respond(EV_ORDER_ACK, *common, qty=c["qty"], aux=venue_id)
        ot, tif = c["order_type"], c["tif"]
        if ot == OT_LIMIT_MAKER:
            self._rest(c, venue_id, c["qty"])
            return
        if ot == OT_LIMIT and tif == TIF_FOK and self._walk(c, True, False) < c["qty"]:
            filled = 0
        else:
            filled = self._walk(c, ot == OT_LIMIT, True)
        if filled == c["qty"]:
            return
        if ot == OT_LIMIT and tif == TIF_GTC:
            self._rest(c, venue_id, c["qty"] - filled)
            return
        self._respond(EV_ORDER_EXPIRED, *common, qty=c["qty"] - filled)
        self.n_expired += 1

    def _cancel(self, c):
        o = self.orders.get(c["client_id"])
        if o is None or o["instrument"] != c["instrument"]:
            self._respond(
                EV_CANCEL_REJECT, c["ts_arrival"], c["client_id"], c["instrument"], 0, aux=VR_UNKNOWN_ORDER
            )
            self.n_rejects += 1
            return
        del self.orders[c["client_id"]]
        self._respond(
            EV_ORDER_CANCELED,
            c["ts_arrival"],
            o["client_id"],
            o["instrument"],
            o["side"],
            o["price"],
            o["leaves"],
        )

    def _cancel_all(self, c):
        if not 0 <= c["instrument"] < len(self.instruments):
            self._respond(EV_CANCEL_REJECT, c["ts_arrival"], 0, c["instrument"], 0, aux=VR_BAD_INSTRUMENT)
            self.n_rejects += 1
            return
        for cid in sorted(self.orders):
            o = self.orders[cid]
            if o["instrument"] == c["instrument"]:
                del self.orders[cid]
                self._respond(
                    EV_ORDER_CANCELED,
                    c["ts_arrival"],
                    cid,
                    o["instrument"],
                    o["side"],
                    o["price"],
                    o["leaves"],
                )

    # commands, time -------------------------------------------------------------------------------
    def _send(self, cmd: dict) -> int:
        if len(self.cmds) >= self.queue_capacity:
            self.n_dropped += 1
            return -1
        self.cmds.append(cmd)
        return 0

    def send_new(self, client_id, instrument, side, order_type, tif, price, qty, ts_sent):
        return self._send(
            {
                "kind": CMD_NEW,
                "ts_arrival": ts_sent + self.entry_latency_ns,
                "client_id": client_id,
                "instrument": instrument,
                "side": side,
                "order_type": order_type,
                "tif": tif,
                "price": price,
                "qty": qty,
            }
        )

    def send_cancel(self, client_id, instrument, ts_sent):
        return self._send(
            {
                "kind": CMD_CANCEL,
                "ts_arrival": ts_sent + self.entry_latency_ns,
                "client_id": client_id,
                "instrument": instrument,
            }
        )

    def send_cancel_all(self, instrument, ts_sent):
        return self._send(
            {
                "kind": CMD_CANCEL_ALL,
                "ts_arrival": ts_sent + self.entry_latency_ns,
                "client_id": 0,
                "instrument": instrument,
            }
        )

    def process(self, t):
        while self.cmds and self.cmds[0]["ts_arrival"] <= t:
            c = self.cmds.popleft()
            if c["kind"] == CMD_NEW:
                self._new_order(c)
            elif c["kind"] == CMD_CANCEL:
                self._cancel(c)
            else:
                self._cancel_all(c)

    def pop_responses(self, t):
        out = []
        while self.resp and self.resp[0]["ts_local"] <= t:
            out.append(self.resp.popleft())
        return out

    @property
    def next_arrival(self):
        return self.cmds[0]["ts_arrival"] if self.cmds else INT64_MAX

    @property
    def next_response(self):
        return self.resp[0]["ts_local"] if self.resp else INT64_MAX

    # market data ----------------------------------------------------------------------------------
    def set_level(self, instrument, side, price, qty, ts):
        self.process(ts)
        prev = self.books[instrument].set(side, price, qty)
        if prev >= 0:
            self._on_depth(instrument, side, price, prev, qty, ts)
        return prev

    def _on_depth(self, instrument, side, price, prev_qty, new_qty, ts):
        for cid in sorted(self.orders):
            o = self.orders[cid]
            if o["instrument"] != instrument:
                continue
            if o["side"] != side:
                if new_qty > 0 and _crosses(o["side"], o["price"], price):
                    self._fill(cid, instrument, o["side"], o["price"], o["leaves"], True, ts)
                    del self.orders[cid]
            elif o["price"] == price and new_qty < prev_qty:
                o["queue_ahead"] = min(o["queue_ahead"], new_qty)

    def trade(self, instrument, aggressor_side, price, qty, ts):
        self.process(ts)
        if aggressor_side not in (BUY, SELL) or price <= 0 or qty <= 0:
            return
        passive = SELL if aggressor_side == BUY else BUY
        budget = qty
        for cid in sorted(self.orders):
            o = self.orders[cid]
            if o["instrument"] != instrument or o["side"] != passive:
                continue
            if o["price"] == price:
                o["queue_ahead"] -= qty
                if o["queue_ahead"] < 0:
                    f = min(o["leaves"], -o["queue_ahead"], budget)
                    o["queue_ahead"] = 0
                    if f > 0:
                        budget -= f
                        self._fill(cid, instrument, passive, price, f, True, ts)
                        o["leaves"] -= f
                        if o["leaves"] == 0:
                            del self.orders[cid]
            elif _crosses(passive, o["price"], price):
                self._fill(cid, instrument, passive, o["price"], o["leaves"], True, ts)
                del self.orders[cid]

    # state ----------------------------------------------------------------------------------------
    def resting(self):
        return [dict(self.orders[cid]) for cid in sorted(self.orders)]

    @property
    def counters(self):
        return {
            "next_venue_id": self.next_venue_id,
            "next_trade_id": self.next_trade_id,
            "n_fills": self.n_fills,
            "n_maker_fills": self.n_maker_fills,
            "n_taker_fills": self.n_taker_fills,
            "n_rejects": self.n_rejects,
            "n_expired": self.n_expired,
            "n_dropped": self.n_dropped,
            "n_resting": len(self.orders),
            "n_commands_in_flight": len(self.cmds),
            "n_responses_in_flight": len(self.resp),
        }
