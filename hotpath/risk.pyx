# Pre-trade risk gate: implementation of hotpath/risk.pxd.
#
# Kernels are noexcept nogil C over int64 with checked arithmetic (intmath.pxd). The verdict is
# the first failing check in the order documented in risk.pxd; every denial is counted.
from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t, uint8_t
from libc.string cimport memset

from hotpath.instrument cimport CT_INVERSE, CT_LINEAR, inst_notional, inst_settle_value_x2
from hotpath.intmath cimport am_add, am_mul, am_muldiv_floor, am_sub
from hotpath.pywrap cimport byte_view, check_read_all, instrument_from_dict, reader_over, writer_take_bytes
from hotpath.serial cimport expect_i64, get_i64, get_i64s, put_i64, put_i64s, writer_init
from hotpath.types cimport BUY, OT_LIMIT, OT_LIMIT_MAKER, OT_MARKET, SELL


cdef enum:
    RISK_MAGIC = 0x52534B31         # "RSK1": section marker of the canonical bytes
    RISK_END = 0x52534B45           # "RSKE"

cdef int64_t TOKEN_E9 = 1000000000              # one token in the bucket's 1e9 fixed point
cdef int64_t DAY_NS = 86400000000000
cdef int64_t PPM = 1000000


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------

cdef inline int64_t _sat_mul(int64_t a, int64_t b) noexcept nogil:
    # Token bucket only (operands >= 0): a bucket "disabled" with INT64_MAX saturates instead of
    # failing; the level is capped at capacity anyway.
    cdef int64_t r
    if am_mul(a, b, &r):
        return INT64_MAX
    return r


cdef inline int64_t _sat_add(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t r
    if am_add(a, b, &r):
        return INT64_MAX
    return r


cdef inline int64_t _day_index(int64_t ts, int64_t offset) noexcept nogil:
    # floor((ts - offset) / DAY) for offset in [0, DAY), without forming ts - offset (no overflow)
    cdef int64_t q = ts / DAY_NS
    cdef int64_t r = ts % DAY_NS
    if r < 0:
        q -= 1
        r += DAY_NS
    if r < offset:
        q -= 1
    return q


cdef inline bint _offset_ok(const RiskConfig* c) noexcept nogil:
    return c.day_offset_ns >= 0 and c.day_offset_ns < DAY_NS


cdef bint _config_ok(const RiskConfig* c) noexcept nogil:
    return (c.max_total_notional > 0 and c.max_open_orders_total > 0 and c.rate_capacity > 0
            and c.rate_per_sec > 0 and c.max_drawdown > 0 and c.max_daily_loss > 0
            and _offset_ok(c) and c.max_consecutive_losses > 0 and c.rapid_fill_count > 0
            and c.rapid_fill_count <= RAPID_FILL_RING and c.rapid_fill_window_ns > 0)


cdef void _refill(const RiskConfig* c, RiskState* s, int64_t ts) noexcept nogil:
    # Event time only; a timestamp at or before the last refill adds nothing and the refill
    # clock never moves backwards (so going back and forth cannot mint tokens).
    cdef int64_t dt, cap, tokens
    if ts <= s.last_refill_ts:
        return
    if c.rate_capacity > 0 and c.rate_per_sec > 0:
        cap = _sat_mul(c.rate_capacity, TOKEN_E9)
        if am_sub(ts, s.last_refill_ts, &dt):
            dt = INT64_MAX
        # dt ns * rate tokens/s = rate * dt * 1e-9 tokens = exactly rate * dt in 1e9 fixed point
        tokens = _sat_add(s.tokens_e9, _sat_mul(dt, c.rate_per_sec))
        s.tokens_e9 = cap if tokens > cap else tokens
    s.last_refill_ts = ts


cdef inline void _rollover(const RiskConfig* c, RiskState* s, int64_t equity, int64_t ts) noexcept nogil:
    # Forward only: an event from an earlier day never hands out a fresh loss budget.
    cdef int64_t d
    if not _offset_ok(c):
        return
    d = _day_index(ts, c.day_offset_ns)
    if d > s.day_index:
        s.day_index = d
        s.day_start_equity = equity


cdef inline int _trip(RiskState* s, int64_t reason) noexcept nogil:
    if s.state == STATE_HALTED:
        return -1                   # already halted: keep the reason that halted it
    s.state = STATE_HALTED
    s.state_reason = reason
    return STATE_HALTED


# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------

cdef int risk_init(RiskState* s, const RiskConfig* c, int64_t ts) noexcept nogil:
    if s == NULL or c == NULL or not _config_ok(c):
        return -1
    memset(s, 0, sizeof(RiskState))
    s.state = STATE_ACTIVE
    s.state_reason = RR_OK
    s.tokens_e9 = _sat_mul(c.rate_capacity, TOKEN_E9)      # start with a full bucket
    s.last_refill_ts = ts
    s.day_index = _day_index(ts, c.day_offset_ns)
    return 0


cdef bint risk_reduces_exposure(int64_t position, int64_t open_same_side, int64_t side,
                                int64_t qty) noexcept nogil:
    cdef int64_t total
    if qty <= 0 or open_same_side < 0 or position == 0 or position == INT64_MIN:
        return False
    if side == BUY:
        if position > 0:
            return False
    elif side == SELL:
        if position < 0:
            return False
    else:
        return False
    if am_add(qty, open_same_side, &total):
        return False
    return total <= (position if position > 0 else -position)


cdef int _check(const RiskLimits* lim, const RiskConfig* c, RiskState* s, const Instrument* ins,
                const OrderIntent* o, const ExposureView* x) noexcept nogil:
    cdef bint market, reduces
    cdef int64_t open_same, projected, mid2, p2, dev, bound, price_for, order_n, pos_abs
    cdef int64_t pos_n, sym_n, tot_n, loss

    if s.state != STATE_ACTIVE and s.state != STATE_REDUCING:
        return RR_HALTED            # HALTED (or a state value we do not know: fail closed)
    if o.qty <= 0 or (o.side != BUY and o.side != SELL):
        return RR_BAD_QTY
    market = o.order_type == OT_MARKET
    if not market and ((o.order_type != OT_LIMIT and o.order_type != OT_LIMIT_MAKER) or o.price <= 0):
        return RR_BAD_PRICE
    if not x.book_valid or x.best_bid <= 0 or x.best_ask <= 0 or x.best_bid >= x.best_ask:
        return RR_NO_MARKET
    # An exposure view with negative leaves/counts/notionals cannot be reasoned about.
    if (x.open_buy < 0 or x.open_sell < 0 or x.open_orders < 0 or x.open_orders_total < 0
            or x.open_notional < 0 or x.total_notional < 0 or x.position == INT64_MIN):
        return RR_OVERFLOW
    open_same = x.open_buy if o.side == BUY else x.open_sell
    reduces = risk_reduces_exposure(x.position, open_same, o.side, o.qty)
    if s.state == STATE_REDUCING and not reduces:
        return RR_REDUCE_ONLY

    if lim.max_order_qty <= 0:
        return RR_BAD_LIMITS
    if o.qty > lim.max_order_qty:
        return RR_MAX_ORDER_QTY

    if lim.max_position <= 0:
        return RR_BAD_LIMITS
    if o.side == BUY:
        if am_add(x.position, x.open_buy, &projected) or am_add(projected, o.qty, &projected):
            return RR_OVERFLOW
    else:
        if am_sub(x.position, x.open_sell, &projected) or am_sub(projected, o.qty, &projected):
            return RR_OVERFLOW
    if projected == INT64_MIN or (projected if projected > 0 else -projected) > lim.max_position:
        return RR_MAX_POSITION

    if not market:
        if lim.collar_ppm <= 0:
            return RR_BAD_LIMITS
        if am_add(x.best_bid, x.best_ask, &mid2) or am_mul(o.price, 2, &p2):
            return RR_OVERFLOW
        dev = p2 - mid2             # both positive: cannot overflow
        if dev < 0:
            dev = -dev
        # |2p - mid2| * 1e6 > ppm * mid2  <=>  |2p - mid2| > floor(ppm * mid2 / 1e6); a bound
        # beyond int64 exceeds any deviation, so that "overflow" means inside the collar.
        if not am_muldiv_floor(lim.collar_ppm, mid2, PPM, &bound) and dev > bound:
            return RR_PRICE_COLLAR

    if not reduces:
        if lim.max_spread_ticks <= 0:
            return RR_BAD_LIMITS
        if x.best_ask - x.best_bid > lim.max_spread_ticks:
            return RR_SPREAD

    if lim.max_open_orders <= 0:
        return RR_BAD_LIMITS
    if x.open_orders >= lim.max_open_orders:
        return RR_MAX_OPEN_ORDERS
    if c.max_open_orders_total <= 0:
        return RR_BAD_LIMITS
    if x.open_orders_total >= c.max_open_orders_total:
        return RR_MAX_OPEN_ORDERS

    if lim.max_notional <= 0:
        return RR_BAD_LIMITS
    if ((ins.contract_type != CT_LINEAR and ins.contract_type != CT_INVERSE)
            or ins.value_num <= 0 or ins.value_den <= 0):
        return RR_BAD_LIMITS        # an instrument spec that cannot value anything
    # market orders are valued at the touch they would take
    price_for = o.price if not market else (x.best_ask if o.side == BUY else x.best_bid)
    if inst_notional(ins, price_for, o.qty, &order_n):
        return RR_OVERFLOW
    # the position is valued at the mid (half ticks exact); inverse notional ignores price
    pos_abs = x.position if x.position > 0 else -x.position
    if am_add(x.best_bid, x.best_ask, &mid2):
        return RR_OVERFLOW
    if ins.contract_type == CT_LINEAR:
        if inst_settle_value_x2(ins, mid2, pos_abs, &pos_n):
            return RR_OVERFLOW
    elif inst_notional(ins, 1, pos_abs, &pos_n):
        return RR_OVERFLOW
    if am_add(pos_n, x.open_notional, &sym_n) or am_add(sym_n, order_n, &sym_n):
        return RR_OVERFLOW
    if sym_n > lim.max_notional:
        return RR_MAX_NOTIONAL

    if c.max_total_notional <= 0:
        return RR_BAD_LIMITS
    if am_add(x.total_notional, order_n, &tot_n):
        return RR_OVERFLOW
    if tot_n > c.max_total_notional:
        return RR_MAX_TOTAL_NOTIONAL

    if not reduces:
        if c.max_drawdown <= 0:
            return RR_BAD_LIMITS
        if am_sub(s.peak_equity, s.equity, &loss):
            return RR_OVERFLOW
        if loss >= c.max_drawdown:
            return RR_MAX_DRAWDOWN
        if c.max_daily_loss <= 0:
            return RR_BAD_LIMITS
        if am_sub(s.day_start_equity, s.equity, &loss):
            return RR_OVERFLOW
        if loss >= c.max_daily_loss:
            return RR_DAILY_LOSS

    if c.rate_capacity <= 0 or c.rate_per_sec <= 0:
        return RR_BAD_LIMITS
    if s.tokens_e9 < TOKEN_E9:
        return RR_RATE_LIMIT
    return RR_OK


cdef int risk_check(const RiskLimits* lim, const RiskConfig* c, RiskState* s, const Instrument* ins,
                    const OrderIntent* o, const ExposureView* x, int64_t ts) noexcept nogil:
    cdef int reason
    if s == NULL:
        return RR_HALTED
    # time maintenance first, whatever the verdict: refill the bucket, roll the trading day
    if c != NULL:
        _refill(c, s, ts)
        _rollover(c, s, s.equity, ts)
    if lim == NULL or c == NULL or ins == NULL or o == NULL or x == NULL:
        reason = RR_BAD_LIMITS
    else:
        reason = _check(lim, c, s, ins, o, x)
    s.n_checks += 1
    if reason == RR_OK:
        s.tokens_e9 -= TOKEN_E9
    else:
        s.denials[reason] += 1
    return reason


cdef int risk_on_fill(const RiskConfig* c, RiskState* s, int64_t ts) noexcept nogil:
    cdef int64_t n, oldest, span
    s.fill_ts[s.fill_head] = ts
    s.fill_head = (s.fill_head + 1) & (RAPID_FILL_RING - 1)
    if s.fill_count < RAPID_FILL_RING:
        s.fill_count += 1
    n = c.rapid_fill_count
    if n <= 0 or n > RAPID_FILL_RING or c.rapid_fill_window_ns <= 0:
        return _trip(s, RR_BAD_LIMITS)     # a breaker we cannot evaluate is a tripped breaker
    if s.fill_count < n:
        return -1
    oldest = s.fill_ts[(s.fill_head - n) & (RAPID_FILL_RING - 1)]
    # n fills (this one included) within the window, both ends inclusive; out-of-order
    # timestamps (ts <= oldest) count as within it
    if ts <= oldest or (not am_sub(ts, oldest, &span) and span <= c.rapid_fill_window_ns):
        return _trip(s, RR_CIRCUIT_RAPID_FILLS)
    return -1


cdef int risk_on_round_trip(const RiskConfig* c, RiskState* s, int64_t trip_pnl) noexcept nogil:
    if trip_pnl < 0:
        if s.consecutive_losses < INT64_MAX:
            s.consecutive_losses += 1
    elif trip_pnl > 0:
        s.consecutive_losses = 0
    if c.max_consecutive_losses <= 0:
        return _trip(s, RR_BAD_LIMITS)
    if s.consecutive_losses >= c.max_consecutive_losses:
        return _trip(s, RR_CIRCUIT_LOSSES)
    return -1


cdef void risk_on_equity(const RiskConfig* c, RiskState* s, int64_t equity, int64_t ts) noexcept nogil:
    s.equity = equity
    if not s.initialized:
        # the first equity is the baseline for both the peak and the day
        s.initialized = 1
        s.peak_equity = equity
        s.day_start_equity = equity
        if _offset_ok(c):
            s.day_index = _day_index(ts, c.day_offset_ns)
        return
    if equity > s.peak_equity:
        s.peak_equity = equity
    _rollover(c, s, equity, ts)


cdef int risk_set_state(RiskState* s, int64_t state, int64_t reason) noexcept nogil:
    cdef int prev
    if state < STATE_ACTIVE or state > STATE_HALTED or reason < 0 or reason >= N_RISK_REASONS:
        return -1
    prev = <int>s.state
    if prev == STATE_HALTED and state != STATE_HALTED:
        # leaving HALTED is an operator decision: the breakers start counting afresh
        s.consecutive_losses = 0
        s.fill_count = 0
        s.fill_head = 0
        memset(s.fill_ts, 0, sizeof(s.fill_ts))
    s.state = state
    s.state_reason = RR_OK if state == STATE_ACTIVE else reason
    return prev


# ---------------------------------------------------------------------------------------------
# Canonical bytes: scalars, the fill-time ring oldest first, counters.
# ---------------------------------------------------------------------------------------------

cdef void risk_write(const RiskState* s, Writer* w) noexcept nogil:
    cdef int64_t i, start
    put_i64(w, RISK_MAGIC)
    put_i64(w, s.state)
    put_i64(w, s.state_reason)
    put_i64(w, s.tokens_e9)
    put_i64(w, s.last_refill_ts)
    put_i64(w, s.equity)
    put_i64(w, s.peak_equity)
    put_i64(w, s.day_index)
    put_i64(w, s.day_start_equity)
    put_i64(w, s.consecutive_losses)
    put_i64(w, s.initialized)
    put_i64(w, s.fill_count)
    start = (s.fill_head - s.fill_count) & (RAPID_FILL_RING - 1)
    for i in range(s.fill_count):
        put_i64(w, s.fill_ts[(start + i) & (RAPID_FILL_RING - 1)])
    put_i64s(w, s.denials, N_RISK_REASONS)
    put_i64(w, s.n_checks)
    put_i64(w, RISK_END)


cdef int risk_read(RiskState* s, Reader* r) noexcept nogil:
    # Into a local first: on failure the state is untouched.
    cdef Reader rr = r[0]
    cdef RiskState n
    cdef int64_t i
    memset(&n, 0, sizeof(RiskState))
    expect_i64(&rr, RISK_MAGIC)
    n.state = get_i64(&rr)
    n.state_reason = get_i64(&rr)
    n.tokens_e9 = get_i64(&rr)
    n.last_refill_ts = get_i64(&rr)
    n.equity = get_i64(&rr)
    n.peak_equity = get_i64(&rr)
    n.day_index = get_i64(&rr)
    n.day_start_equity = get_i64(&rr)
    n.consecutive_losses = get_i64(&rr)
    n.initialized = get_i64(&rr)
    n.fill_count = get_i64(&rr)
    if rr.failed or n.fill_count < 0 or n.fill_count > RAPID_FILL_RING:
        r.failed = 1
        return -1
    get_i64s(&rr, n.fill_ts, n.fill_count)
    n.fill_head = n.fill_count & (RAPID_FILL_RING - 1)
    get_i64s(&rr, n.denials, N_RISK_REASONS)
    n.n_checks = get_i64(&rr)
    expect_i64(&rr, RISK_END)
    if (rr.failed or n.state < STATE_ACTIVE or n.state > STATE_HALTED or n.state_reason < 0
            or n.state_reason >= N_RISK_REASONS or n.tokens_e9 < 0 or n.consecutive_losses < 0
            or (n.initialized != 0 and n.initialized != 1) or n.n_checks < 0):
        r.failed = 1
        return -1
    for i in range(N_RISK_REASONS):
        if n.denials[i] < 0:
            r.failed = 1
            return -1
    s[0] = n
    r[0] = rr
    return 0


# ---------------------------------------------------------------------------------------------
# Python wrapper (tests, tools, Python-level callers). Not used by the compiled engine.
# ---------------------------------------------------------------------------------------------

for _enum in (TradingState, RiskReason):
    for _name, _member in _enum.__members__.items():
        globals()[_name] = _member
del _enum, _name, _member

LIMIT_KEYS = ("max_order_qty", "max_position", "max_notional", "collar_ppm", "max_spread_ticks",
              "max_open_orders")
CONFIG_KEYS = ("max_total_notional", "max_open_orders_total", "rate_capacity", "rate_per_sec",
               "max_drawdown", "max_daily_loss", "day_offset_ns", "max_consecutive_losses",
               "rapid_fill_count", "rapid_fill_window_ns")
INTENT_KEYS = ("instrument", "side", "order_type", "price", "qty")
EXPOSURE_KEYS = ("position", "open_buy", "open_sell", "open_orders", "open_orders_total",
                 "open_notional", "total_notional", "best_bid", "best_ask", "book_valid")
_STATE_KEYS = ("state", "state_reason", "tokens_e9", "last_refill_ts", "equity", "peak_equity",
               "day_index", "day_start_equity", "consecutive_losses", "initialized")


def _fields(d, keys, what, required=True):
    unknown = set(d) - set(keys)
    if unknown:
        raise KeyError(f"unknown {what} fields: {sorted(unknown)}")
    if required:
        missing = set(keys) - set(d)
        if missing:
            raise KeyError(f"missing {what} fields: {sorted(missing)}")
    return [d.get(k, 0) for k in keys]


cdef RiskLimits _limits_from_dict(dict d) except *:
    cdef RiskLimits lim
    (lim.max_order_qty, lim.max_position, lim.max_notional, lim.collar_ppm, lim.max_spread_ticks,
     lim.max_open_orders) = _fields(d, LIMIT_KEYS, "limit")
    return lim


cdef RiskConfig _config_from_dict(dict d) except *:
    cdef RiskConfig c
    (c.max_total_notional, c.max_open_orders_total, c.rate_capacity, c.rate_per_sec,
     c.max_drawdown, c.max_daily_loss, c.day_offset_ns, c.max_consecutive_losses,
     c.rapid_fill_count, c.rapid_fill_window_ns) = _fields(d, CONFIG_KEYS, "config")
    return c


def reduces_exposure(int64_t position, int64_t open_same_side, int64_t side, int64_t qty):
    """risk_reduces_exposure for Python callers."""
    return bool(risk_reduces_exposure(position, open_same_side, side, qty))


def config_valid(dict config):
    """True if risk_init accepts this config."""
    cdef RiskConfig c = _config_from_dict(config)
    return bool(_config_ok(&c))


cdef class RiskGate:
    """Python face of the gate: per-instrument limits, one config, one RiskState.

    limits: a dict (instrument 0) or a list of dicts (instrument i = position in the list).
    """

    cdef RiskLimits lim[MAX_INSTRUMENTS]
    cdef int64_t n_lim
    cdef RiskConfig cfg
    cdef RiskState s

    def __cinit__(self, limits, dict config, int64_t ts=0):
        cdef RiskConfig c = _config_from_dict(config)
        self.set_limits(limits)
        if risk_init(&self.s, &c, ts) != 0:
            raise ValueError("bad risk config (a value <= 0, day_offset_ns outside [0, 1 day) "
                             "or rapid_fill_count > RAPID_FILL_RING)")
        self.cfg = c

    def set_limits(self, limits):
        """Swap per-instrument limits (not validated: the gate fails closed on its own)."""
        seq = [limits] if isinstance(limits, dict) else list(limits)
        if not 1 <= len(seq) <= MAX_INSTRUMENTS:
            raise ValueError("1 .. MAX_INSTRUMENTS limit dicts")
        for i, d in enumerate(seq):
            self.lim[i] = _limits_from_dict(d)
        self.n_lim = len(seq)

    def set_config(self, dict config):
        """Swap the config like a reload would: state kept, values not validated."""
        self.cfg = _config_from_dict(config)

    def check(self, dict instrument, dict intent, dict exposure, int64_t ts):
        cdef Instrument ins = instrument_from_dict(instrument)
        cdef OrderIntent o
        cdef ExposureView x
        (o.instrument, o.side, o.order_type, o.price, o.qty) = _fields(
            {"instrument": 0, "order_type": OT_LIMIT, **intent}, INTENT_KEYS, "intent")
        (x.position, x.open_buy, x.open_sell, x.open_orders, x.open_orders_total, x.open_notional,
         x.total_notional, x.best_bid, x.best_ask, x.book_valid) = _fields(
            exposure, EXPOSURE_KEYS, "exposure", required=False)
        if o.instrument < 0 or o.instrument >= self.n_lim:
            raise IndexError(f"no limits for instrument {o.instrument}")
        return risk_check(&self.lim[o.instrument], &self.cfg, &self.s, &ins, &o, &x, ts)

    def on_fill(self, int64_t ts):
        """New state if a breaker tripped, else -1."""
        return risk_on_fill(&self.cfg, &self.s, ts)

    def on_round_trip(self, int64_t pnl):
        return risk_on_round_trip(&self.cfg, &self.s, pnl)

    def on_equity(self, int64_t equity, int64_t ts):
        risk_on_equity(&self.cfg, &self.s, equity, ts)

    def set_state(self, int64_t state, int64_t reason):
        """Previous state, or -1 if state/reason is out of range (nothing changed)."""
        return risk_set_state(&self.s, state, reason)

    @property
    def state(self):
        return self.s.state

    @property
    def state_reason(self):
        return self.s.state_reason

    @property
    def denials(self):
        return [self.s.denials[i] for i in range(<int>N_RISK_REASONS)]

    @property
    def n_checks(self):
        return self.s.n_checks

    @property
    def tokens_e9(self):
        return self.s.tokens_e9

    @property
    def tokens(self):
        """Whole tokens available."""
        return self.s.tokens_e9 // TOKEN_E9

    @property
    def fill_times(self):
        """Recorded fill times, oldest first."""
        start = (self.s.fill_head - self.s.fill_count) & (RAPID_FILL_RING - 1)
        return [self.s.fill_ts[(start + i) & (RAPID_FILL_RING - 1)] for i in range(self.s.fill_count)]

    def snapshot(self):
        """Every state field as a dict (fill ring oldest first)."""
        d = dict(zip(_STATE_KEYS, (
            self.s.state, self.s.state_reason, self.s.tokens_e9, self.s.last_refill_ts,
            self.s.equity, self.s.peak_equity, self.s.day_index, self.s.day_start_equity,
            self.s.consecutive_losses, self.s.initialized)))
        d["fill_times"] = self.fill_times
        d["denials"] = self.denials
        d["n_checks"] = self.s.n_checks
        return d

    def to_bytes(self):
        cdef Writer w
        writer_init(&w)
        risk_write(&self.s, &w)
        return writer_take_bytes(&w, "risk_write failed")

    def load_bytes(self, data):
        """Replace the state from bytes; on failure the state is left unchanged."""
        cdef const uint8_t[::1] view = byte_view(data)
        cdef Reader r
        cdef RiskState tmp
        reader_over(&r, view)
        # read into a scratch state: trailing bytes must refuse the whole load, not half of it
        check_read_all(risk_read(&tmp, &r), &r, "invalid risk state bytes")
        self.s = tmp

    @classmethod
    def from_bytes(cls, data, limits, dict config):
        cdef RiskGate g = cls(limits, config)
        g.load_bytes(data)
        return g
