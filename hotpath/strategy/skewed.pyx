"""Skewed market maker (skewed.pxd), exact integer arithmetic.

With D = 2 * order_qty * 1e12 every quantity of the formula is an integer multiple of 1 / D:

    R = r * D    = mid_x2 * order_qty * 1e12 - 2 * position * skew_e6 * 1e6
    H = half * D = 2 * order_qty * (half_spread_ticks * 1e12 + half_spread_ticks * widen_e6 * |imb_e6|)

so bid = floor((R - H) / D) and ask = ceil((R + H) / D) are exact (no intermediate rounding);
reservation_e6 and half_spread_e6 are R and H in ticks * 1e6, rounded half away from zero.
|imbalance| is the signals' top-N imbalance, clamped to 1 (0 without signals). Any overflow of the
128-bit intermediates makes the strategy hold. An all-zero params/state block (a slot never
configured: the engine snapshots all strategies of every instrument) round-trips through
write/read, and skewed_quote holds on it.
"""

from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memset

from hotpath.intmath cimport am_add
from hotpath.pywrap cimport check_read_all, reader_over, writer_take_bytes
from hotpath.serial cimport Reader, Writer, expect_i64, get_i64, put_i64, writer_init
from hotpath.signals cimport SignalEngine
from hotpath.strategy.common cimport (
    QuoteTarget,
    QuotingParams,
    StrategyInputs,
    quoting_params_read,
    quoting_params_valid,
    quoting_params_write,
    quoting_ready,
    quoting_set_target,
    strategy_read_commit,
)
from hotpath.strategy.pywrap cimport (
    flat_quoting_params,
    input_fields,
    inputs_from_dict,
    quoting_fields,
    quoting_strategy_params,
)

cdef extern from *:
    """
    #include <stdint.h>
    /* canonical bytes start with this section marker: "SKEWMM01" */
    #define SK_MAGIC INT64_C(0x534B45574D4D3031)

    /* floor / ceil / round-half-away of n / d for d > 0; 1 if the result does not fit int64 */
    static inline int sk_fits(__int128 q, int64_t *out) {
        if (q > (__int128)INT64_MAX || q < (__int128)INT64_MIN) return 1;
        *out = (int64_t)q; return 0;
    }
    static inline int sk_floor_div(__int128 n, __int128 d, int64_t *out) {
        __int128 q = n / d, r = n % d;
        if (r < 0) q -= 1;
        return sk_fits(q, out);
    }
    static inline int sk_ceil_div(__int128 n, __int128 d, int64_t *out) {
        __int128 q = n / d, r = n % d;
        if (r > 0) q += 1;
        return sk_fits(q, out);
    }
    static inline int sk_round_div(__int128 n, __int128 d, int64_t *out) {
        int neg = n < 0;
        __int128 an = neg ? -n : n;          /* n > -2^127: the callers' checked ranges */
        __int128 q = (an + d / 2) / d;
        return sk_fits(neg ? -q : q, out);
    }

    /* 0 and the four outputs, or 1 on overflow (see the module docstring for R, H, D) */
    static inline int sk_compute(int64_t mid_x2, int64_t position, int64_t order_qty, int64_t skew_e6,
                                 int64_t half_ticks, int64_t widen_e6, int64_t abs_imb_e6,
                                 int64_t *bid, int64_t *ask, int64_t *res_e6, int64_t *half_e6) {
        const __int128 e12 = (__int128)1000000000000LL;
        const __int128 lim = ((__int128)1) << 125;   /* keeps R +/- H and negation in range */
        __int128 t1, t2, w, R, H, D, lo, hi;
        if (__builtin_mul_overflow((__int128)mid_x2 * order_qty, e12, &t1)) return 1;
        if (__builtin_mul_overflow((__int128)position * skew_e6, (__int128)2000000, &t2)) return 1;
        if (__builtin_sub_overflow(t1, t2, &R)) return 1;
        if (__builtin_mul_overflow((__int128)widen_e6 * abs_imb_e6, (__int128)half_ticks, &w)) return 1;
        if (__builtin_add_overflow((__int128)half_ticks * e12, w, &H)) return 1;
        if (__builtin_mul_overflow(H, (__int128)2 * order_qty, &H)) return 1;
        if (R > lim || R < -lim || H > lim || H < 0) return 1;
        D = (__int128)2 * order_qty * e12;
        lo = R - H;
        hi = R + H;
        if (sk_floor_div(lo, D, bid) || sk_ceil_div(hi, D, ask)) return 1;
        if (sk_round_div(R, D / 1000000, res_e6) || sk_round_div(H, D / 1000000, half_e6)) return 1;
        return 0;
    }
    """
    const int64_t SK_MAGIC
    int sk_compute(int64_t mid_x2, int64_t position, int64_t order_qty, int64_t skew_e6,
                   int64_t half_ticks, int64_t widen_e6, int64_t abs_imb_e6,
                   int64_t* bid, int64_t* ask, int64_t* res_e6, int64_t* half_e6) noexcept nogil


cdef bint _params_valid(const SkewedParams* p) noexcept nogil:
    return (quoting_params_valid(&p.q) and p.half_spread_ticks >= 1 and p.skew_e6 >= 0
            and p.imbalance_widen_e6 >= 0)


cdef int skewed_init(const SkewedParams* p, SkewedState* s) noexcept nogil:
    if not _params_valid(p):
        return -1
    memset(s, 0, sizeof(SkewedState))
    return 0


cdef void skewed_on_book(SkewedState* s) noexcept nogil:
    s.events_seen += 1


cdef int skewed_quote(const SkewedParams* p, SkewedState* s, const StrategyInputs* x,
                      QuoteTarget* out) noexcept nogil:
    cdef int64_t mid_x2, imb = 0
    cdef int64_t bid, ask, res_e6, half_e6
    if p.q.order_qty <= 0:
        return 0    # never initialised: D would be 0
    if not quoting_ready(&p.q, s.events_seen, s.last_decision_ts, x):
        return 0
    if am_add(x.best_bid, x.best_ask, &mid_x2):
        return 0
    if x.sig != NULL:
        imb = x.sig.imbalance_e6
        if imb < 0:
            imb = -imb if imb > -1000000 else 1000000
        if imb > 1000000:
            imb = 1000000
    if sk_compute(mid_x2, x.position, p.q.order_qty, p.skew_e6, p.half_spread_ticks,
                  p.imbalance_widen_e6, imb, &bid, &ask, &res_e6, &half_e6):
        return 0
    quoting_set_target(out, &p.q, x, bid, ask, res_e6, half_e6)
    s.last_decision_ts = x.ts_event
    s.n_quotes += 1
    return 1


cdef void skewed_write(const SkewedParams* p, const SkewedState* s, Writer* w) noexcept nogil:
    put_i64(w, SK_MAGIC)
    quoting_params_write(&p.q, w)
    put_i64(w, p.half_spread_ticks)
    put_i64(w, p.skew_e6)
    put_i64(w, p.imbalance_widen_e6)
    put_i64(w, s.events_seen)
    put_i64(w, s.last_decision_ts)
    put_i64(w, s.n_quotes)


cdef int skewed_read(SkewedParams* p, SkewedState* s, Reader* r) noexcept nogil:
    cdef SkewedParams tp
    cdef SkewedState ts
    expect_i64(r, SK_MAGIC)
    quoting_params_read(&tp.q, r)
    tp.half_spread_ticks = get_i64(r)
    tp.skew_e6 = get_i64(r)
    tp.imbalance_widen_e6 = get_i64(r)
    ts.events_seen = get_i64(r)
    ts.last_decision_ts = get_i64(r)
    ts.n_quotes = get_i64(r)
    return strategy_read_commit(r, _params_valid(&tp) and ts.events_seen >= 0 and ts.n_quotes >= 0,
                                p, &tp, sizeof(tp), s, &ts, sizeof(ts))


# ----------------------------------------------------------------------------------------------
# Python wrapper

INPUT_FIELDS = input_fields()
QUOTING_FIELDS = quoting_fields()
DEFAULTS = {
    "requote_ticks": 1,
    "cooldown_ns": 0,
    "decision_interval_ns": 0,
    "warmup_events": 0,
    "post_only": 1,
    "half_spread_ticks": 10,
    "skew_e6": 0,
    "imbalance_widen_e6": 0,
}


cdef class SkewedMarketMaker:
    """SkewedMarketMaker(order_qty=..., max_position=..., **params): parameter names are the struct
    fields (QuotingParams flattened); see DEFAULTS."""

    cdef SkewedParams p
    cdef SkewedState s

    def __init__(self, **params):
        cdef SkewedParams p = quoting_strategy_params(params, DEFAULTS)
        if skewed_init(&p, &self.s) != 0:
            raise ValueError(f"invalid skewed market maker parameters: {params}")
        self.p = p

    @property
    def params(self):
        return flat_quoting_params(dict(self.p))

    def state(self):
        return dict(self.s)

    def on_book(self):
        """Count one complete book message (warmup)."""
        skewed_on_book(&self.s)

    def quote(self, dict inputs not None, SignalEngine signals=None):
        """The target quote for these inputs, or None when the strategy holds."""
        cdef StrategyInputs x
        cdef QuoteTarget t
        inputs_from_dict(inputs, signals, &x)
        memset(&t, 0, sizeof(QuoteTarget))
        if skewed_quote(&self.p, &self.s, &x, &t) == 0:
            return None
        return dict(t)

    @property
    def events_seen(self):
        return self.s.events_seen

    @property
    def last_decision_ts(self):
        return self.s.last_decision_ts

    @property
    def n_quotes(self):
        return self.s.n_quotes

    def to_bytes(self):
        cdef Writer w
        writer_init(&w)
        skewed_write(&self.p, &self.s, &w)
        return writer_take_bytes(&w, "skewed_write")

    @classmethod
    def from_bytes(cls, const uint8_t[::1] data not None):
        """A new strategy restored from canonical bytes; ValueError on malformed or trailing bytes."""
        cdef Reader r
        cdef SkewedMarketMaker st = cls.__new__(cls)
        reader_over(&r, data)
        check_read_all(skewed_read(&st.p, &st.s, &r), &r, "malformed skewed market maker snapshot")
        return st
