"""Market signals (contract: signals.pxd).

Integer rules that the plain-Python reference (tests/hotpath/reference/signals_ref.py) mirrors:

* microprice_e6 = floor((bid*ask_qty + ask*bid_qty) * 1e6 / (bid_qty + ask_qty)); 0 with mid_x2 = 0
  when a side is empty (or a best level has no quantity), 0 if the value does not fit in int64.
* imbalance_e6 = round_half_away((sum_bid - sum_ask) * 1e6 / (sum_bid + sum_ask)) over the top
  imbalance_levels of each side; 0 when both sums are 0.
* OFI (Cont-Kukanov-Stoikov) at the best level; an empty bid counts as price 0, an empty ask as
  +infinity, so a side appearing or vanishing is an order-flow event. The first book message only
  records. Sums saturate at the int64 limits.
* VPIN: a trade is cut exactly across bucket boundaries; a completed bucket pushes |buy - sell|
  into the ring; vpin_e6 = floor(sum(ring) * 1e6 / (count * bucket_qty)) after each completion.
* volatility: only two-sided books are sampled; the first only records. A sample with
  d = mid_x2 - last_mid_x2 (half ticks) uses x = d*d*250000 (ticks^2 * 1e6, saturated at INT64_MAX)
  and var += floor(alpha * (x - var) / 1e6) (floor towards -infinity).
* intensity: every valid trade (price > 0, qty > 0, side BUY/SELL) updates the inter-arrival EWMA
  from the second trade on (the first interval initialises it, negative intervals count as 0)
  and rate_e6 = floor(1e15 / max(ewma_ns, 1)). Trade depth needs the mid (mid_x2 > 0):
  depth_e6 = |2*price - mid_x2| * 500000 + 500000, EWMA initialised by the first depth, then
  ewma += floor(alpha * (depth - ewma) / 1e6); kappa_e6 = floor(1e12 / ewma).
  Invalid trades change nothing at all.
* An all-zero Signals (never signals_init'ed: the engine snapshots every instrument slot) is inert
  (on_book / on_trade do nothing) and round-trips through signals_write / signals_read.
"""

from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t, uint8_t
from libc.string cimport memcmp, memcpy, memset

from hotpath.book cimport Book, L2Book, book_depth_qty, book_qty
from hotpath.intmath cimport am_add, am_mul, am_mul3div_floor, am_muldiv_floor, am_muldiv_round, am_sub
from hotpath.pywrap cimport check_read_all, reader_over, writer_take_bytes
from hotpath.serial cimport Reader, Writer, expect_i64, get_i64, get_i64s, put_i64, put_i64s, writer_init
from hotpath.types cimport BUY, SELL

cdef extern from *:
    """
    #include <stdint.h>
    /* floor(sum(ring[0:n]) * 1e6 / (n * bucket_qty)); the sum can exceed 64 bits for huge buckets */
    static inline int64_t sg_vpin_e6(const int64_t *ring, int64_t n, int64_t bucket_qty) {
        if (n <= 0 || bucket_qty <= 0) return 0;
        __int128 sum = 0;
        for (int64_t i = 0; i < n; i++) sum += ring[i];
        return (int64_t)((sum * 1000000) / ((__int128)n * (__int128)bucket_qty));
    }
    """
    int64_t sg_vpin_e6(const int64_t* ring, int64_t n, int64_t bucket_qty) noexcept nogil

cdef extern from *:
    """
    /* canonical bytes start with this section marker: "SIGNALS1" */
    #define SG_MAGIC INT64_C(0x5349474E414C5331)
    """
    const int64_t SG_MAGIC

cdef enum:
    E6 = 1000000


cdef inline int64_t _sat_add(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t r
    if am_add(a, b, &r):
        return INT64_MAX if b > 0 else INT64_MIN
    return r


cdef inline int64_t _sat_sub(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t r
    if am_sub(a, b, &r):
        return INT64_MIN if b > 0 else INT64_MAX
    return r


cdef inline int64_t _ewma_step(int64_t value, int64_t target, int64_t alpha_e6) noexcept nogil:
    # value + floor(alpha * (target - value) / 1e6); callers keep both operands >= 0, so the
    # difference fits and the result lies between value and target.
    cdef int64_t inc = 0
    am_muldiv_floor(alpha_e6, target - value, E6, &inc)
    return value + inc


cdef bint _params_valid(const SignalParams* p) noexcept nogil:
    return (1 <= p.imbalance_levels <= VPIN_MAX_BUCKETS and p.vpin_bucket_qty > 0
            and 1 <= p.vpin_window <= VPIN_MAX_BUCKETS and p.vol_sample_ns > 0
            and 1 <= p.vol_alpha_e6 <= E6 and 1 <= p.intensity_alpha_e6 <= E6)


cdef int signals_init(Signals* s, const SignalParams* p) noexcept nogil:
    if not _params_valid(p):
        return -1
    cdef SignalParams copy = p[0]   # p may point into s
    memset(s, 0, sizeof(Signals))
    s.p = copy
    return 0


cdef inline int64_t _microprice_e6(int64_t bid, int64_t bid_qty, int64_t ask, int64_t ask_qty) noexcept nogil:
    # bid*1e6 + floor((ask - bid) * bid_qty * 1e6 / (bid_qty + ask_qty)) is the exact floor of the
    # weighted mid (bid*1e6 is an integer); every step is checked, overflow gives 0.
    cdef int64_t den, frac, base, out
    if am_add(bid_qty, ask_qty, &den) or den <= 0:
        return 0
    if am_mul3div_floor(ask - bid, bid_qty, E6, den, &frac):
        return 0
    if am_mul(bid, E6, &base) or am_add(base, frac, &out):
        return 0
    return out


cdef void signals_on_book(Signals* s, const Book* b, int64_t ts_event) noexcept nogil:
    if s.p.vpin_bucket_qty <= 0:
        return      # never initialised
    cdef int64_t bid = b.side[<int>BUY].best
    cdef int64_t ask = b.side[<int>SELL].best
    cdef int64_t bid_qty = book_qty(b, BUY, bid) if bid > 0 else 0
    cdef int64_t ask_qty = book_qty(b, SELL, ask) if ask > 0 else 0
    cdef int64_t sum_bid, sum_ask, den, e, ask_eff, prev_ask_eff, d, x, elapsed
    cdef int n = <int>s.p.imbalance_levels

    # mid and microprice: need both sides with quantity
    if bid > 0 and ask > 0 and bid_qty > 0 and ask_qty > 0:
        s.mid_x2 = _sat_add(bid, ask)
        s.microprice_e6 = _microprice_e6(bid, bid_qty, ask, ask_qty)
    else:
        s.mid_x2 = 0
        s.microprice_e6 = 0

    # imbalance over the top N levels
    sum_bid = book_depth_qty(b, BUY, n)
    sum_ask = book_depth_qty(b, SELL, n)
    s.imbalance_e6 = 0
    if sum_bid >= 0 and sum_ask >= 0 and not am_add(sum_bid, sum_ask, &den) and den > 0:
        am_muldiv_round(sum_bid - sum_ask, E6, den, &s.imbalance_e6)

    # OFI: the first message has no predecessor
    if s.n_book > 0:
        ask_eff = ask if ask > 0 else INT64_MAX
        prev_ask_eff = s.prev_ask if s.prev_ask > 0 else INT64_MAX
        e = 0
        if bid >= s.prev_bid:
            e = _sat_add(e, bid_qty)
        if bid <= s.prev_bid:
            e = _sat_sub(e, s.prev_bid_qty)
        if ask_eff <= prev_ask_eff:
            e = _sat_sub(e, ask_qty)
        if ask_eff >= prev_ask_eff:
            e = _sat_add(e, s.prev_ask_qty)
        s.ofi_last = e
        s.ofi = _sat_add(s.ofi, e)
    s.prev_bid = bid
    s.prev_bid_qty = bid_qty
    s.prev_ask = ask
    s.prev_ask_qty = ask_qty

    # volatility: sample the mid every vol_sample_ns of event time
    if s.mid_x2 > 0:
        if s.vol_last_mid_x2 == 0:
            s.vol_last_mid_x2 = s.mid_x2
            s.vol_last_sample_ts = ts_event
        else:
            elapsed = _sat_sub(ts_event, s.vol_last_sample_ts)
            if elapsed >= s.p.vol_sample_ns:
                d = s.mid_x2 - s.vol_last_mid_x2       # both positive: fits
                if am_mul3div_floor(d, d, 250000, 1, &x):
                    x = INT64_MAX
                s.vol_var_e6 = _ewma_step(s.vol_var_e6, x, s.p.vol_alpha_e6)
                s.vol_samples += 1
                s.vol_last_mid_x2 = s.mid_x2
                s.vol_last_sample_ts = ts_event

    s.n_book += 1


cdef inline void _push_bucket(Signals* s, int64_t imbalance) noexcept nogil:
    s.bucket_imbalance[s.bucket_head] = imbalance
    s.bucket_head += 1
    if s.bucket_head >= s.p.vpin_window:
        s.bucket_head = 0
    if s.bucket_count < s.p.vpin_window:
        s.bucket_count += 1


cdef void _vpin_add(Signals* s, int side, int64_t qty) noexcept nogil:
    cdef int64_t bq = s.p.vpin_bucket_qty
    cdef int64_t w = s.p.vpin_window
    cdef int64_t room = bq - (s.bucket_buy + s.bucket_sell)
    cdef int64_t take = qty if qty < room else room
    cdef int64_t k, m, i
    if side == BUY:
        s.bucket_buy += take
    else:
        s.bucket_sell += take
    qty -= take
    if take < room:
        return      # the trade fit in the current bucket
    _push_bucket(s, s.bucket_buy - s.bucket_sell if s.bucket_buy >= s.bucket_sell else s.bucket_sell - s.bucket_buy)
    s.bucket_buy = 0
    s.bucket_sell = 0
    # Whole buckets of one side: only the last min(k, window) survive in the ring, so the work is
    # bounded by the window, never by qty / bucket_qty.
    k = qty // bq
    if k > 0:
        m = k if k < w else w
        s.bucket_head = (s.bucket_head + (k - m) % w) % w
        for i in range(m):
            s.bucket_imbalance[s.bucket_head] = bq
            s.bucket_head += 1
            if s.bucket_head >= w:
                s.bucket_head = 0
        s.bucket_count = w if k >= w - s.bucket_count else s.bucket_count + k
        qty -= k * bq
    if side == BUY:
        s.bucket_buy = qty
    else:
        s.bucket_sell = qty
    s.vpin_e6 = sg_vpin_e6(s.bucket_imbalance, s.bucket_count, bq)


cdef void signals_on_trade(Signals* s, int aggressor_side, int64_t price, int64_t qty,
                           int64_t mid_x2, int64_t ts_event) noexcept nogil:
    cdef int64_t dt, p2, diff, depth
    if (aggressor_side != BUY and aggressor_side != SELL) or price <= 0 or qty <= 0:
        return
    if s.p.vpin_bucket_qty <= 0:
        return      # never initialised: no division by a zero bucket
    _vpin_add(s, aggressor_side, qty)

    # arrival rate: every trade counts, the mid is not needed
    if s.n_trades >= 1:
        dt = _sat_sub(ts_event, s.last_trade_ts)
        if dt < 0:
            dt = 0      # out-of-order venue timestamps: simultaneous, not negative time
        if s.n_trades == 1:
            s.interarrival_ewma_ns = dt
        else:
            s.interarrival_ewma_ns = _ewma_step(s.interarrival_ewma_ns, dt, s.p.intensity_alpha_e6)
        s.rate_e6 = (<int64_t>1000000000000000) // (s.interarrival_ewma_ns if s.interarrival_ewma_ns > 0 else 1)
    s.last_trade_ts = ts_event

    # trade depth from the mid, half a tick added (a trade at the touch of a 1-tick market is
    # half a tick away); skipped when the mid is unknown or the depth does not fit
    if mid_x2 > 0 and not am_mul(price, 2, &p2):
        diff = p2 - mid_x2      # p2 >= 2, mid_x2 >= 1: cannot overflow
        if diff < 0:
            diff = -diff
        if not am_mul(diff, 500000, &depth) and not am_add(depth, 500000, &depth):
            if s.depth_ewma_e6 == 0:
                s.depth_ewma_e6 = depth
            else:
                s.depth_ewma_e6 = _ewma_step(s.depth_ewma_e6, depth, s.p.intensity_alpha_e6)
            s.kappa_e6 = (<int64_t>1000000000000) // s.depth_ewma_e6
    s.n_trades += 1


cdef double signals_sigma2_per_sec(const Signals* s) noexcept nogil:
    if s.p.vol_sample_ns <= 0:
        return 0.0
    return (<double>s.vol_var_e6 / 1e6) / (<double>s.p.vol_sample_ns / 1e9)


cdef double signals_kappa(const Signals* s) noexcept nogil:
    return <double>s.kappa_e6 / 1e6


cdef double signals_vpin(const Signals* s) noexcept nogil:
    return <double>s.vpin_e6 / 1e6


cdef double signals_rate_per_sec(const Signals* s) noexcept nogil:
    return <double>s.rate_e6 / 1e6


cdef void signals_write(const Signals* s, Writer* w) noexcept nogil:
    put_i64(w, SG_MAGIC)
    put_i64(w, s.p.imbalance_levels)
    put_i64(w, s.p.vpin_bucket_qty)
    put_i64(w, s.p.vpin_window)
    put_i64(w, s.p.vol_sample_ns)
    put_i64(w, s.p.vol_alpha_e6)
    put_i64(w, s.p.intensity_alpha_e6)
    put_i64(w, s.mid_x2)
    put_i64(w, s.microprice_e6)
    put_i64(w, s.imbalance_e6)
    put_i64(w, s.ofi)
    put_i64(w, s.ofi_last)
    put_i64(w, s.prev_bid)
    put_i64(w, s.prev_bid_qty)
    put_i64(w, s.prev_ask)
    put_i64(w, s.prev_ask_qty)
    put_i64(w, s.bucket_buy)
    put_i64(w, s.bucket_sell)
    put_i64s(w, s.bucket_imbalance, VPIN_MAX_BUCKETS)
    put_i64(w, s.bucket_head)
    put_i64(w, s.bucket_count)
    put_i64(w, s.vpin_e6)
    put_i64(w, s.vol_last_mid_x2)
    put_i64(w, s.vol_last_sample_ts)
    put_i64(w, s.vol_var_e6)
    put_i64(w, s.vol_samples)
    put_i64(w, s.depth_ewma_e6)
    put_i64(w, s.interarrival_ewma_ns)
    put_i64(w, s.kappa_e6)
    put_i64(w, s.rate_e6)
    put_i64(w, s.last_trade_ts)
    put_i64(w, s.n_book)
    put_i64(w, s.n_trades)


cdef bint _state_consistent(const Signals* s) noexcept nogil:
    # What the kernels rely on (ring indices in range, the open bucket below one bucket), so that
    # hostile bytes can never make them write out of bounds or loop.
    cdef int64_t i
    if s.bucket_head < 0 or s.bucket_head >= s.p.vpin_window:
        return 0
    if s.bucket_count < 0 or s.bucket_count > s.p.vpin_window:
        return 0
    if s.bucket_buy < 0 or s.bucket_sell < 0 or s.bucket_buy >= s.p.vpin_bucket_qty - s.bucket_sell:
        return 0
    for i in range(VPIN_MAX_BUCKETS):
        if s.bucket_imbalance[i] < 0 or s.bucket_imbalance[i] > s.p.vpin_bucket_qty:
            return 0
        if i >= s.p.vpin_window and s.bucket_imbalance[i] != 0:
            return 0
    if (s.vol_var_e6 < 0 or s.depth_ewma_e6 < 0 or s.interarrival_ewma_ns < 0 or s.n_book < 0
            or s.n_trades < 0 or s.vol_samples < 0):
        return 0
    return 1


cdef int signals_read(Signals* s, Reader* r) noexcept nogil:
    cdef Signals t, zero
    memset(&t, 0, sizeof(Signals))
    expect_i64(r, SG_MAGIC)
    t.p.imbalance_levels = get_i64(r)
    t.p.vpin_bucket_qty = get_i64(r)
    t.p.vpin_window = get_i64(r)
    t.p.vol_sample_ns = get_i64(r)
    t.p.vol_alpha_e6 = get_i64(r)
    t.p.intensity_alpha_e6 = get_i64(r)
    t.mid_x2 = get_i64(r)
    t.microprice_e6 = get_i64(r)
    t.imbalance_e6 = get_i64(r)
    t.ofi = get_i64(r)
    t.ofi_last = get_i64(r)
    t.prev_bid = get_i64(r)
    t.prev_bid_qty = get_i64(r)
    t.prev_ask = get_i64(r)
    t.prev_ask_qty = get_i64(r)
    t.bucket_buy = get_i64(r)
    t.bucket_sell = get_i64(r)
    get_i64s(r, t.bucket_imbalance, VPIN_MAX_BUCKETS)
    t.bucket_head = get_i64(r)
    t.bucket_count = get_i64(r)
    t.vpin_e6 = get_i64(r)
    t.vol_last_mid_x2 = get_i64(r)
    t.vol_last_sample_ts = get_i64(r)
    t.vol_var_e6 = get_i64(r)
    t.vol_samples = get_i64(r)
    t.depth_ewma_e6 = get_i64(r)
    t.interarrival_ewma_ns = get_i64(r)
    t.kappa_e6 = get_i64(r)
    t.rate_e6 = get_i64(r)
    t.last_trade_ts = get_i64(r)
    t.n_book = get_i64(r)
    t.n_trades = get_i64(r)
    if r.failed:
        return -1
    if not _params_valid(&t.p):
        # the one acceptable invalid block: an unconfigured (all-zero) slot
        memset(&zero, 0, sizeof(Signals))
        if memcmp(&t, &zero, sizeof(Signals)) != 0:
            r.failed = 1
            return -1
    elif not _state_consistent(&t):
        r.failed = 1
        return -1
    memcpy(s, &t, sizeof(Signals))
    return 0


# ----------------------------------------------------------------------------------------------
# Python wrapper

_PARAM_NAMES = (
    "imbalance_levels",
    "vpin_bucket_qty",
    "vpin_window",
    "vol_sample_ns",
    "vol_alpha_e6",
    "intensity_alpha_e6",
)

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


cdef class SignalEngine:
    """Python face of the Signals kernel: SignalEngine(imbalance_levels=5, vpin_bucket_qty=100_000,
    vpin_window=50, vol_sample_ns=100_000_000, vol_alpha_e6=50_000, intensity_alpha_e6=50_000).

    Invalid parameters raise ValueError (the kernel's signals_init refused them)."""

    def __init__(self, *, int64_t imbalance_levels=5, int64_t vpin_bucket_qty=100_000,
                 int64_t vpin_window=50, int64_t vol_sample_ns=100_000_000,
                 int64_t vol_alpha_e6=50_000, int64_t intensity_alpha_e6=50_000):
        cdef SignalParams p
        p.imbalance_levels = imbalance_levels
        p.vpin_bucket_qty = vpin_bucket_qty
        p.vpin_window = vpin_window
        p.vol_sample_ns = vol_sample_ns
        p.vol_alpha_e6 = vol_alpha_e6
        p.intensity_alpha_e6 = intensity_alpha_e6
        if signals_init(&self.sig, &p) != 0:
            raise ValueError(f"invalid signal parameters: {p}")

    def on_book(self, L2Book book not None, int64_t ts_event):
        """Refresh the book signals after a complete book message."""
        signals_on_book(&self.sig, &book.book, ts_event)

    def on_trade(self, int side, int64_t price, int64_t qty, int64_t mid_x2, int64_t ts_event):
        """A public trade; side = aggressor side (BUY 0 / SELL 1)."""
        signals_on_trade(&self.sig, side, price, qty, mid_x2, ts_event)

    @property
    def params(self):
        return dict(self.sig.p)

    def state(self):
        """Every state field by name (the ring as a list of VPIN_MAX_BUCKETS ints)."""
        d = dict(self.sig)
        del d["p"]
        return d

    def set_state(self, **fields):
        """Overwrite state fields by name (tests of dependent modules). Parameters cannot be set;
        the result must be a consistent state (ValueError otherwise, nothing changed)."""
        cdef Signals t
        d = dict(self.sig)
        for name, value in fields.items():
            if name not in STATE_FIELDS:
                raise ValueError(f"unknown signal state field: {name!r}")
            if name == "bucket_imbalance":
                value = list(value)
                if len(value) > VPIN_MAX_BUCKETS:
                    raise ValueError("bucket_imbalance longer than the ring")
                value = value + [0] * (VPIN_MAX_BUCKETS - len(value))
            d[name] = value
        t = d
        if not _state_consistent(&t):
            raise ValueError("inconsistent signal state")
        self.sig = t

    # float read-outs (what the strategies see)
    @property
    def sigma2_per_sec(self):
        return signals_sigma2_per_sec(&self.sig)

    @property
    def kappa(self):
        return signals_kappa(&self.sig)

    @property
    def vpin(self):
        return signals_vpin(&self.sig)

    @property
    def rate_per_sec(self):
        return signals_rate_per_sec(&self.sig)

    # state, read-only
    @property
    def mid_x2(self):
        return self.sig.mid_x2

    @property
    def microprice_e6(self):
        return self.sig.microprice_e6

    @property
    def imbalance_e6(self):
        return self.sig.imbalance_e6

    @property
    def ofi(self):
        return self.sig.ofi

    @property
    def ofi_last(self):
        return self.sig.ofi_last

    @property
    def prev_bid(self):
        return self.sig.prev_bid

    @property
    def prev_bid_qty(self):
        return self.sig.prev_bid_qty

    @property
    def prev_ask(self):
        return self.sig.prev_ask

    @property
    def prev_ask_qty(self):
        return self.sig.prev_ask_qty

    @property
    def bucket_buy(self):
        return self.sig.bucket_buy

    @property
    def bucket_sell(self):
        return self.sig.bucket_sell

    @property
    def bucket_imbalance(self):
        return [self.sig.bucket_imbalance[i] for i in range(VPIN_MAX_BUCKETS)]

    @property
    def bucket_head(self):
        return self.sig.bucket_head

    @property
    def bucket_count(self):
        return self.sig.bucket_count

    @property
    def vpin_e6(self):
        return self.sig.vpin_e6

    @property
    def vol_last_mid_x2(self):
        return self.sig.vol_last_mid_x2

    @property
    def vol_last_sample_ts(self):
        return self.sig.vol_last_sample_ts

    @property
    def vol_var_e6(self):
        return self.sig.vol_var_e6

    @property
    def vol_samples(self):
        return self.sig.vol_samples

    @property
    def depth_ewma_e6(self):
        return self.sig.depth_ewma_e6

    @property
    def interarrival_ewma_ns(self):
        return self.sig.interarrival_ewma_ns

    @property
    def kappa_e6(self):
        return self.sig.kappa_e6

    @property
    def rate_e6(self):
        return self.sig.rate_e6

    @property
    def last_trade_ts(self):
        return self.sig.last_trade_ts

    @property
    def n_book(self):
        return self.sig.n_book

    @property
    def n_trades(self):
        return self.sig.n_trades

    def to_bytes(self):
        """Canonical bytes (signals_write)."""
        cdef Writer w
        writer_init(&w)
        signals_write(&self.sig, &w)
        return writer_take_bytes(&w, "signals_write")

    @classmethod
    def from_bytes(cls, const uint8_t[::1] data not None):
        """A new engine restored from canonical bytes; ValueError on malformed or trailing bytes."""
        cdef Reader r
        cdef SignalEngine eng = cls.__new__(cls)
        reader_over(&r, data)
        check_read_all(signals_read(&eng.sig, &r), &r, "malformed signals snapshot")
        return eng
