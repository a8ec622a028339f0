"""Liquidity taker (taker.pxd), integer e6 arithmetic.

    taker_on_book:  two-sided valid book only (counted in events_seen); mid_e6 = mid_x2 * 500000;
                    fv_e6 = mid_e6 on the first message, then fv_e6 += floor(alpha * (mid_e6 - fv_e6) / 1e6)
    taker_decide:   fv_signal_e6 = clamp(round((fv_e6 - mid_e6) / spread_ticks), +-1e6)
                    signal_e6 = clamp(round((w_fv * fv_signal_e6 + w_imb * imbalance_e6) / 1e6), +-1e6)
                    (round = half away from zero, so the signal is odd-symmetric; imbalance_e6 is
                    the signals' top-N imbalance, 0 without signals). last_signal_e6 is refreshed
                    on every evaluation past the warmup, also during the cooldown.
    quantity:       buy min(order_qty, max_position - position), sell min(order_qty,
                    max_position + position); an order that would only grow |position| past
                    max_position is never sent, a reducing one always may be.
    price:          IOC limit best_ask + slippage / max(1, best_bid - slippage), 0 with use_market.

An all-zero params/state block (a slot never configured: the engine snapshots all strategies of
every instrument) round-trips through write/read; the kernels do nothing on it.
"""

from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memset

from hotpath.intmath cimport am_add, am_mul, am_muldiv_floor, am_muldiv_round, am_sub
from hotpath.pywrap cimport check_read_all, reader_over, writer_take_bytes
from hotpath.serial cimport Reader, Writer, expect_i64, get_i64, put_i64, writer_init
from hotpath.signals cimport SignalEngine
from hotpath.strategy.common cimport StrategyInputs, TakeTarget, strategy_read_commit
from hotpath.strategy.pywrap cimport input_fields, inputs_from_dict, strategy_params
from hotpath.types cimport BUY, SELL

cdef extern from *:
    """
    /* canonical bytes start with this section marker: "TAKER001" */
    #define TK_MAGIC INT64_C(0x54414B4552303031)
    """
    const int64_t TK_MAGIC

cdef enum:
    E6 = 1000000
    WEIGHT_LIMIT = 1000000000       # |weight| <= 1000: keeps weight * signal far inside int64


cdef bint _params_valid(const TakerParams* p) noexcept nogil:
    return (p.order_qty > 0 and p.max_position > 0
            and 0 < p.threshold_e6 <= E6
            and 0 < p.fv_alpha_e6 <= E6
            and -WEIGHT_LIMIT <= p.weight_fv_e6 <= WEIGHT_LIMIT
            and -WEIGHT_LIMIT <= p.weight_imbalance_e6 <= WEIGHT_LIMIT
            and p.cooldown_ns >= 0 and p.slippage_ticks >= 0
            and (p.use_market == 0 or p.use_market == 1)
            and p.warmup_events >= 0)


cdef int taker_init(const TakerParams* p, TakerState* s) noexcept nogil:
    if not _params_valid(p):
        return -1
    memset(s, 0, sizeof(TakerState))
    return 0


cdef inline bint _two_sided(const StrategyInputs* x) noexcept nogil:
    return x.book_valid != 0 and x.best_bid > 0 and x.best_ask > 0 and x.best_bid < x.best_ask


cdef inline bint _mid_e6(const StrategyInputs* x, int64_t* out) noexcept nogil:
    # 0 on success (checked: absurd prices are refused, never wrapped)
    cdef int64_t m
    if am_add(x.best_bid, x.best_ask, &m) or am_mul(m, 500000, out):
        return 1
    return 0


cdef inline int64_t _clamp_e6(int64_t v) noexcept nogil:
    return -E6 if v < -E6 else (E6 if v > E6 else v)


cdef void taker_on_book(const TakerParams* p, TakerState* s, const StrategyInputs* x) noexcept nogil:
    cdef int64_t mid_e6, inc = 0
    if p.order_qty <= 0 or not _two_sided(x) or _mid_e6(x, &mid_e6):
        return      # never initialised, or no two-sided market
    if s.fv_e6 == 0:
        s.fv_e6 = mid_e6
    else:
        # both positive: the difference fits and the new value lies between the two
        am_muldiv_floor(p.fv_alpha_e6, mid_e6 - s.fv_e6, E6, &inc)
        s.fv_e6 += inc
    s.events_seen += 1


cdef int taker_decide(const TakerParams* p, TakerState* s, const StrategyInputs* x, TakeTarget* out) noexcept nogil:
    cdef int64_t mid_e6, diff, fv_signal = 0, imb = 0, signal = 0, qty, price, combined
    cdef int64_t side, elapsed
    if p.order_qty <= 0 or not _two_sided(x) or _mid_e6(x, &mid_e6):
        return 0
    if s.events_seen < p.warmup_events or s.fv_e6 <= 0:
        return 0

    if am_sub(s.fv_e6, mid_e6, &diff) or am_muldiv_round(diff, 1, x.best_ask - x.best_bid, &fv_signal):
        return 0
    fv_signal = _clamp_e6(fv_signal)
    if x.sig != NULL:
        imb = _clamp_e6(x.sig.imbalance_e6)
    # |w| <= 1e9 and |signals| <= 1e6: each product and the sum stay below 2.1e15
    combined = p.weight_fv_e6 * fv_signal + p.weight_imbalance_e6 * imb
    am_muldiv_round(combined, 1, E6, &signal)
    signal = _clamp_e6(signal)
    s.last_signal_e6 = signal

    if p.cooldown_ns > 0 and s.last_order_ts != 0:
        if am_sub(x.ts_event, s.last_order_ts, &elapsed):
            elapsed = -1 if x.ts_event < s.last_order_ts else p.cooldown_ns   # saturated
        if elapsed < p.cooldown_ns:
            return 0
    if signal >= p.threshold_e6:
        side = BUY
        if am_sub(p.max_position, x.position, &qty):
            return 0
        if p.use_market:
            price = 0
        elif am_add(x.best_ask, p.slippage_ticks, &price):
            return 0
    elif signal <= -p.threshold_e6:
        side = SELL
        if am_add(p.max_position, x.position, &qty):
            return 0
        if p.use_market:
            price = 0
        else:
            price = x.best_bid - p.slippage_ticks     # both >= 0: cannot overflow
            if price < 1:
                price = 1
    else:
        return 0
    if qty > p.order_qty:
        qty = p.order_qty
    if qty <= 0:
        return 0        # already at the limit on this side
    out.side = side
    out.qty = qty
    out.price = price
    out.signal_e6 = signal
    s.last_order_ts = x.ts_event
    s.n_signals += 1
    return 1


cdef void taker_write(const TakerParams* p, const TakerState* s, Writer* w) noexcept nogil:
    put_i64(w, TK_MAGIC)
    put_i64(w, p.order_qty)
    put_i64(w, p.max_position)
    put_i64(w, p.threshold_e6)
    put_i64(w, p.fv_alpha_e6)
    put_i64(w, p.weight_fv_e6)
    put_i64(w, p.weight_imbalance_e6)
    put_i64(w, p.cooldown_ns)
    put_i64(w, p.slippage_ticks)
    put_i64(w, p.use_market)
    put_i64(w, p.warmup_events)
    put_i64(w, s.fv_e6)
    put_i64(w, s.events_seen)
    put_i64(w, s.last_order_ts)
    put_i64(w, s.last_signal_e6)
    put_i64(w, s.n_signals)


cdef int taker_read(TakerParams* p, TakerState* s, Reader* r) noexcept nogil:
    cdef TakerParams tp
    cdef TakerState ts
    cdef bint valid
    expect_i64(r, TK_MAGIC)
    tp.order_qty = get_i64(r)
    tp.max_position = get_i64(r)
    tp.threshold_e6 = get_i64(r)
    tp.fv_alpha_e6 = get_i64(r)
    tp.weight_fv_e6 = get_i64(r)
    tp.weight_imbalance_e6 = get_i64(r)
    tp.cooldown_ns = get_i64(r)
    tp.slippage_ticks = get_i64(r)
    tp.use_market = get_i64(r)
    tp.warmup_events = get_i64(r)
    ts.fv_e6 = get_i64(r)
    ts.events_seen = get_i64(r)
    ts.last_order_ts = get_i64(r)
    ts.last_signal_e6 = get_i64(r)
    ts.n_signals = get_i64(r)
    valid = (_params_valid(&tp) and ts.fv_e6 >= 0 and ts.events_seen >= 0 and ts.n_signals >= 0
             and -E6 <= ts.last_signal_e6 <= E6)
    return strategy_read_commit(r, valid, p, &tp, sizeof(tp), s, &ts, sizeof(ts))


# ----------------------------------------------------------------------------------------------
# Python wrapper

INPUT_FIELDS = input_fields()
DEFAULTS = {
    "threshold_e6": 300_000,
    "fv_alpha_e6": 100_000,
    "weight_fv_e6": 700_000,
    "weight_imbalance_e6": 300_000,
    "cooldown_ns": 0,
    "slippage_ticks": 0,
    "use_market": 0,
    "warmup_events": 0,
}


cdef class LiquidityTaker:
    """LiquidityTaker(order_qty=..., max_position=..., **params): parameter names are the struct
    fields; see DEFAULTS."""

    cdef TakerParams p
    cdef TakerState s

    def __init__(self, **params):
        cdef TakerParams p = strategy_params(params, DEFAULTS)
        if taker_init(&p, &self.s) != 0:
            raise ValueError(f"invalid liquidity taker parameters: {params}")
        self.p = p

    @property
    def params(self):
        return dict(self.p)

    def state(self):
        return dict(self.s)

    def on_book(self, dict inputs not None):
        """Update the fair value from a complete book message."""
        cdef StrategyInputs x
        inputs_from_dict(inputs, None, &x)
        taker_on_book(&self.p, &self.s, &x)

    def decide(self, dict inputs not None, SignalEngine signals=None):
        """{side, qty, price, signal_e6} of the order to send now, or None."""
        cdef StrategyInputs x
        cdef TakeTarget t
        inputs_from_dict(inputs, signals, &x)
        memset(&t, 0, sizeof(TakeTarget))
        if taker_decide(&self.p, &self.s, &x, &t) == 0:
            return None
        return dict(t)

    @property
    def fv_e6(self):
        return self.s.fv_e6

    @property
    def events_seen(self):
        return self.s.events_seen

    @property
    def last_order_ts(self):
        return self.s.last_order_ts

    @property
    def last_signal_e6(self):
        return self.s.last_signal_e6

    @property
    def n_signals(self):
        return self.s.n_signals

    def to_bytes(self):
        cdef Writer w
        writer_init(&w)
        taker_write(&self.p, &self.s, &w)
        return writer_take_bytes(&w, "taker_write")

    @classmethod
    def from_bytes(cls, const uint8_t[::1] data not None):
        """A new taker restored from canonical bytes; ValueError on malformed or trailing bytes."""
        cdef Reader r
        cdef LiquidityTaker st = cls.__new__(cls)
        reader_over(&r, data)
        check_read_all(taker_read(&st.p, &st.s, &r), &r, "malformed liquidity taker snapshot")
        return st
