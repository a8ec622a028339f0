"""Avellaneda-Stoikov market maker with the GLFT closed form and Gueant's bounds (avellaneda.pxd).

The quote is computed in double from integer state and turned back into integers immediately:
prices by floor (bid) / ceil (ask), reservation and half spread by round-half-away to ticks * 1e6.
GLFT quotes are asymmetric around the mid; for them reservation_e6 is the midpoint of the two
(unrounded) quotes, s + (delta_ask - delta_bid) / 2, and half_spread_e6 their half distance.
An all-zero params/state block (a slot never configured: the engine snapshots all strategies of
every instrument) round-trips through write/read, and avellaneda_quote holds on it.
"""

from libc.math cimport ceil, floor, isfinite, llround, log, pow, sqrt
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memset

from hotpath.pywrap cimport check_read_all, reader_over, writer_take_bytes
from hotpath.serial cimport Reader, Writer, expect_i64, get_i64, put_i64, writer_init
from hotpath.signals cimport (
    SignalEngine,
    Signals,
    signals_kappa,
    signals_rate_per_sec,
    signals_sigma2_per_sec,
    signals_vpin,
)
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
    /* canonical bytes start with this section marker: "AVSTOIK1" */
    #define AV_MAGIC INT64_C(0x415653544F494B31)
    /* Quote math stays far inside int64 (also after * 1e6) and where doubles hold fractions of a
       tick: anything beyond (absurd parameters or prices) makes the strategy hold, never wrap. */
    #define AV_PRICE_LIMIT 4.0e12
    """
    const int64_t AV_MAGIC
    const double PRICE_LIMIT "AV_PRICE_LIMIT"


cdef bint _params_valid(const AvellanedaParams* p) noexcept nogil:
    return (quoting_params_valid(&p.q)
            and (p.model == 0 or p.model == 1)
            and p.gamma_e6 > 0
            and p.kappa_e6 >= 0 and p.arrival_a_e6 >= 0 and p.sigma_e6 >= 0
            and p.horizon_ns > 0
            and (p.rolling_horizon == 0 or p.rolling_horizon == 1)
            and p.min_half_spread_ticks >= 0
            and p.max_half_spread_ticks >= 1       # a zero cap could only quote bid == ask
            and p.max_half_spread_ticks >= p.min_half_spread_ticks
            and (p.vpin_widen == 0 or p.vpin_widen == 1)
            and 0 <= p.vpin_threshold_e6 < 1000000
            and p.vpin_widen_e6 >= 0)


cdef int avellaneda_init(const AvellanedaParams* p, AvellanedaState* s) noexcept nogil:
    if not _params_valid(p):
        return -1
    memset(s, 0, sizeof(AvellanedaState))
    return 0


cdef void avellaneda_on_book(AvellanedaState* s) noexcept nogil:
    s.events_seen += 1


cdef inline double _clamp(double v, double lo, double hi) noexcept nogil:
    return lo if v < lo else (hi if v > hi else v)


cdef int avellaneda_quote(const AvellanedaParams* p, AvellanedaState* s, const StrategyInputs* x,
                          QuoteTarget* out) noexcept nogil:
    cdef double mid, q, gamma, sigma2, sigma, kappa, arrival, tau, var_tau, half, c1, c2
    cdef double center, half_bid, half_ask, lo, hi, vpin, thr, widen, bid_d, ask_d, res, hs
    cdef int64_t elapsed
    cdef const Signals* sig = x.sig

    if p.q.order_qty <= 0 or p.gamma_e6 <= 0 or p.horizon_ns <= 0:
        return 0    # never initialised: hold rather than divide by zero
    if not quoting_ready(&p.q, s.events_seen, s.last_decision_ts, x):
        return 0

    # s, q, gamma in the model's units (ticks, quotes of order_qty, per tick)
    mid = 0.5 * (<double>x.best_bid + <double>x.best_ask)
    q = <double>x.position / <double>p.q.order_qty
    gamma = <double>p.gamma_e6 / 1e6

    # estimates: a parameter overrides the signals; a missing or zero estimate means hold
    if p.sigma_e6 > 0:
        sigma = <double>p.sigma_e6 / 1e6
        sigma2 = sigma * sigma
    else:
        if sig == NULL:
            return 0
        sigma2 = signals_sigma2_per_sec(sig)
        sigma = sqrt(sigma2)
    if p.kappa_e6 > 0:
        kappa = <double>p.kappa_e6 / 1e6
    else:
        if sig == NULL:
            return 0
        kappa = signals_kappa(sig)
    if not (sigma2 > 0.0 and isfinite(sigma2) and kappa > 0.0 and isfinite(kappa)):
        return 0

    if p.model == 0:
        if p.rolling_horizon:
            elapsed = x.ts_event % p.horizon_ns
            if elapsed < 0:
                elapsed += p.horizon_ns
            tau = <double>(p.horizon_ns - elapsed) / 1e9
        else:
            tau = <double>p.horizon_ns / 1e9
        var_tau = gamma * sigma2 * tau
        center = mid - q * var_tau                                      # reservation price r
        half = (var_tau + (2.0 / gamma) * log(1.0 + gamma / kappa)) / 2.0
        half_bid = half
        half_ask = half
    else:
        if p.arrival_a_e6 > 0:
            arrival = <double>p.arrival_a_e6 / 1e6
        else:
            if sig == NULL:
                return 0
            arrival = signals_rate_per_sec(sig)
        if not (arrival > 0.0 and isfinite(arrival)):
            return 0
        c1 = (1.0 / gamma) * log(1.0 + gamma / kappa)
        c2 = sqrt(gamma / (2.0 * arrival * kappa) * pow(1.0 + gamma / kappa, kappa / gamma + 1.0))
        center = mid
        half_bid = c1 + sigma * c2 * (q + 0.5)
        half_ask = c1 + sigma * c2 * (0.5 - q)

    lo = <double>p.min_half_spread_ticks
    hi = <double>p.max_half_spread_ticks
    half_bid = _clamp(half_bid, lo, hi)
    half_ask = _clamp(half_ask, lo, hi)

    # toxic flow: widen both sides beyond the clamp, linearly in the VPIN excess
    if p.vpin_widen and sig != NULL:
        vpin = signals_vpin(sig)
        thr = <double>p.vpin_threshold_e6 / 1e6
        if vpin > thr:
            widen = 1.0 + (<double>p.vpin_widen_e6 / 1e6) * (vpin - thr) / (1.0 - thr)
            half_bid = half_bid * widen
            half_ask = half_ask * widen

    bid_d = center - half_bid
    ask_d = center + half_ask
    res = center + (half_ask - half_bid) / 2.0
    hs = (half_bid + half_ask) / 2.0
    if not (isfinite(bid_d) and isfinite(ask_d) and isfinite(res) and isfinite(hs)):
        return 0
    if not (-PRICE_LIMIT < bid_d < PRICE_LIMIT and -PRICE_LIMIT < ask_d < PRICE_LIMIT
            and -PRICE_LIMIT < res < PRICE_LIMIT and hs < PRICE_LIMIT):
        return 0

    quoting_set_target(out, &p.q, x, <int64_t>floor(bid_d), <int64_t>ceil(ask_d),
                       <int64_t>llround(res * 1e6), <int64_t>llround(hs * 1e6))
    s.last_decision_ts = x.ts_event
    s.n_quotes += 1
    s.last_reservation_e6 = out.reservation_e6
    s.last_half_spread_e6 = out.half_spread_e6
    return 1


cdef void avellaneda_write(const AvellanedaParams* p, const AvellanedaState* s, Writer* w) noexcept nogil:
    put_i64(w, AV_MAGIC)
    quoting_params_write(&p.q, w)
    put_i64(w, p.model)
    put_i64(w, p.gamma_e6)
    put_i64(w, p.kappa_e6)
    put_i64(w, p.arrival_a_e6)
    put_i64(w, p.sigma_e6)
    put_i64(w, p.horizon_ns)
    put_i64(w, p.rolling_horizon)
    put_i64(w, p.min_half_spread_ticks)
    put_i64(w, p.max_half_spread_ticks)
    put_i64(w, p.vpin_widen)
    put_i64(w, p.vpin_threshold_e6)
    put_i64(w, p.vpin_widen_e6)
    put_i64(w, s.events_seen)
    put_i64(w, s.last_decision_ts)
    put_i64(w, s.n_quotes)
    put_i64(w, s.last_reservation_e6)
    put_i64(w, s.last_half_spread_e6)


cdef int avellaneda_read(AvellanedaParams* p, AvellanedaState* s, Reader* r) noexcept nogil:
    cdef AvellanedaParams tp
    cdef AvellanedaState ts
    expect_i64(r, AV_MAGIC)
    quoting_params_read(&tp.q, r)
    tp.model = get_i64(r)
    tp.gamma_e6 = get_i64(r)
    tp.kappa_e6 = get_i64(r)
    tp.arrival_a_e6 = get_i64(r)
    tp.sigma_e6 = get_i64(r)
    tp.horizon_ns = get_i64(r)
    tp.rolling_horizon = get_i64(r)
    tp.min_half_spread_ticks = get_i64(r)
    tp.max_half_spread_ticks = get_i64(r)
    tp.vpin_widen = get_i64(r)
    tp.vpin_threshold_e6 = get_i64(r)
    tp.vpin_widen_e6 = get_i64(r)
    ts.events_seen = get_i64(r)
    ts.last_decision_ts = get_i64(r)
    ts.n_quotes = get_i64(r)
    ts.last_reservation_e6 = get_i64(r)
    ts.last_half_spread_e6 = get_i64(r)
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
    "model": 0,
    "gamma_e6": 100_000,
    "kappa_e6": 0,
    "arrival_a_e6": 0,
    "sigma_e6": 0,
    "horizon_ns": 1_000_000_000,
    "rolling_horizon": 0,
    "min_half_spread_ticks": 1,
    "max_half_spread_ticks": 1_000,
    "vpin_widen": 0,
    "vpin_threshold_e6": 700_000,
    "vpin_widen_e6": 1_000_000,
}


cdef class AvellanedaStoikov:
    """AvellanedaStoikov(order_qty=..., max_position=..., **params): the kernel behind a Python
    face. Parameter names are the struct fields (QuotingParams flattened); see DEFAULTS."""

    cdef AvellanedaParams p
    cdef AvellanedaState s

    def __init__(self, **params):
        cdef AvellanedaParams p = quoting_strategy_params(params, DEFAULTS)
        if avellaneda_init(&p, &self.s) != 0:
            raise ValueError(f"invalid Avellaneda-Stoikov parameters: {params}")
        self.p = p

    @property
    def params(self):
        return flat_quoting_params(dict(self.p))

    def state(self):
        return dict(self.s)

    def on_book(self):
        """Count one complete book message (warmup)."""
        avellaneda_on_book(&self.s)

    def quote(self, dict inputs not None, SignalEngine signals=None):
        """The target quote for these inputs, or None when the strategy holds."""
        cdef StrategyInputs x
        cdef QuoteTarget t
        inputs_from_dict(inputs, signals, &x)
        memset(&t, 0, sizeof(QuoteTarget))
        if avellaneda_quote(&self.p, &self.s, &x, &t) == 0:
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

    @property
    def last_reservation_e6(self):
        return self.s.last_reservation_e6

    @property
    def last_half_spread_e6(self):
        return self.s.last_half_spread_e6

    def to_bytes(self):
        cdef Writer w
        writer_init(&w)
        avellaneda_write(&self.p, &self.s, &w)
        return writer_take_bytes(&w, "avellaneda_write")

    @classmethod
    def from_bytes(cls, const uint8_t[::1] data not None):
        """A new strategy restored from canonical bytes; ValueError on malformed or trailing bytes."""
        cdef Reader r
        cdef AvellanedaStoikov st = cls.__new__(cls)
        reader_over(&r, data)
        check_read_all(avellaneda_read(&st.p, &st.s, &r), &r, "malformed Avellaneda-Stoikov snapshot")
        return st
