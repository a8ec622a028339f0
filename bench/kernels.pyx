"""Compiled timing loops for the hot-path micro-benchmarks (ns per operation).

Each benchmark pre-generates its inputs (xorshift, fixed seed), warms up, then times batches
of operations with clock_gettime(CLOCK_MONOTONIC) around each batch and returns the ns/op of
every batch; the caller reports median and p99 over batches. The timer's own cost (~20 ns)
is paid once per batch, not per operation.
"""

import numpy as np

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from hotpath.book cimport Book, book_free, book_init, book_set
from hotpath.instrument cimport Instrument
from hotpath.matching cimport SimParams, SimVenue, sim_free, sim_init, sim_on_trade
from hotpath.orders cimport (
    OE_ACK, OE_SUBMIT, FillOutcome, Order, OrderTable, Position, fill_dedup_check, orders_apply, orders_fill,
    orders_free, orders_get, orders_init, orders_new, orders_release, position_apply_fill,
)
from hotpath.signals cimport SignalParams, Signals, signals_init, signals_on_book, signals_on_trade
from hotpath.strategy.avellaneda cimport AvellanedaParams, AvellanedaState, avellaneda_init, avellaneda_quote
from hotpath.strategy.common cimport QuoteTarget, StrategyInputs
from hotpath.strategy.skewed cimport SkewedParams, SkewedState, skewed_init, skewed_quote
from hotpath.types cimport BUY, OT_LIMIT, SELL, TIF_GTC

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk_id, timespec* tp)
    int CLOCK_MONOTONIC

cdef enum:
    MID = 6_000_000  # the benchmark book's mid, ticks


cdef inline int64_t now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1_000_000_000 + ts.tv_nsec


cdef inline uint64_t xorshift(uint64_t* s) noexcept nogil:
    cdef uint64_t x = s[0]
    x ^= x << 13
    x ^= x >> 7
    x ^= x << 17
    s[0] = x
    return x


cdef Instrument btc_spot():
    # Binance BTCUSDT spot: tick 0.01, lot 0.000001 -> 10 nano-USDT per tick*lot
    cdef Instrument ins
    memset(&ins, 0, sizeof(ins))
    ins.contract_type = 0
    ins.value_num = 10
    ins.value_den = 1
    ins.inv_num = 1
    ins.inv_den = 1
    ins.maker_fee_ppm = 0
    ins.taker_fee_ppm = 0
    ins.book_window_log2 = 22
    return ins


cdef struct BookOps:
    int64_t* side
    int64_t* price
    int64_t* qty
    int64_t n


cdef int make_book_ops(BookOps* ops, int64_t n, int depth, uint64_t seed) noexcept nogil:
    """Level updates within `depth` levels of each side: quantity changes, plus deletions of a
    random level (the best one included) immediately followed by its re-insertion, so the book
    keeps `depth` levels and best-price maintenance is exercised."""
    cdef uint64_t s = seed
    cdef int64_t k, lvl, sd
    ops.side = <int64_t*>malloc(n * sizeof(int64_t))
    ops.price = <int64_t*>malloc(n * sizeof(int64_t))
    ops.qty = <int64_t*>malloc(n * sizeof(int64_t))
    ops.n = n
    if ops.side == NULL or ops.price == NULL or ops.qty == NULL:
        return -1
    k = 0
    while k < n:
        sd = <int64_t>(xorshift(&s) & 1)
        lvl = <int64_t>(xorshift(&s) % <uint64_t>depth)
        ops.side[k] = sd
        ops.price[k] = (MID - 1 - lvl) if sd == BUY else (MID + 1 + lvl)
        if (xorshift(&s) & 7) == 0 and k + 1 < n:
            ops.qty[k] = 0
            ops.side[k + 1] = sd
            ops.price[k + 1] = ops.price[k]
            ops.qty[k + 1] = 1 + <int64_t>(xorshift(&s) % 1_000_000)
            k += 2
        else:
            ops.qty[k] = 1 + <int64_t>(xorshift(&s) % 1_000_000)
            k += 1
    return 0


cdef void free_book_ops(BookOps* ops) noexcept nogil:
    free(ops.side)
    free(ops.price)
    free(ops.qty)


cdef int fill_book(Book* b, int depth) noexcept nogil:
    cdef int k
    if book_init(b, MID, 22) != 0:
        return -1
    for k in range(depth):
        book_set(b, BUY, MID - 1 - k, 100_000 + k)
        book_set(b, SELL, MID + 1 + k, 100_000 + k)
    return 0


def book_update(int depth, int batches=2000, int batch=1000, uint64_t seed=88172645463325252):
    """ns per book_set (absolute level update + best maintenance) on a book of `depth` levels per side."""
    cdef Book b
    cdef BookOps ops
    cdef int64_t n = <int64_t>batches * batch, i, j, t0, sink = 0
    out = np.empty(batches, dtype=np.float64)
    cdef double[::1] res = out
    memset(&b, 0, sizeof(b))
    if fill_book(&b, depth) != 0 or make_book_ops(&ops, n, depth, seed) != 0:
        raise MemoryError()
    with nogil:
        for j in range(n):  # warm-up pass over the same operations
            sink += book_set(&b, <int>ops.side[j], ops.price[j], ops.qty[j])
        for i in range(batches):
            t0 = now_ns()
            for j in range(i * batch, (i + 1) * batch):
                sink += book_set(&b, <int>ops.side[j], ops.price[j], ops.qty[j]) + b.side[0].best
            res[i] = <double>(now_ns() - t0) / batch
    free_book_ops(&ops)
    book_free(&b)
    return out, sink


cdef int signal_params(SignalParams* p) noexcept nogil:
    p.imbalance_levels = 5
    p.vpin_bucket_qty = 1_000_000
    p.vpin_window = 50
    p.vol_sample_ns = 100_000_000
    p.vol_alpha_e6 = 50_000
    p.intensity_alpha_e6 = 50_000
    return 0


def trade_update(int batches=2000, int batch=1000, uint64_t seed=88172645463325252):
    """ns per public trade as the engine handles it: VPIN/intensity update + the venue's check
    of two resting orders against the trade."""
    cdef Book b
    cdef Signals sig
    cdef SignalParams sp
    cdef SimVenue v
    cdef SimParams vp
    cdef Instrument ins = btc_spot()
    cdef uint64_t s = seed
    cdef int64_t i, j, t0, ts = 1_700_000_000_000_000_000
    cdef int64_t n = <int64_t>batches * batch
    cdef int64_t* price = <int64_t*>malloc(n * sizeof(int64_t))
    cdef int64_t* qty = <int64_t*>malloc(n * sizeof(int64_t))
    cdef int* side = <int*>malloc(n * sizeof(int))
    out = np.empty(batches, dtype=np.float64)
    cdef double[::1] res = out
    memset(&b, 0, sizeof(b))
    memset(&sig, 0, sizeof(sig))
    memset(&v, 0, sizeof(v))
    signal_params(&sp)
    vp.entry_latency_ns = 0
    vp.response_latency_ns = 0
    vp.max_resting = 64
    vp.queue_capacity = 1 << 22
    if price == NULL or qty == NULL or side == NULL or fill_book(&b, 20) != 0 or signals_init(&sig, &sp) != 0 \
            or sim_init(&v, &vp, &ins, &b, 1) != 0:
        raise MemoryError()
    for j in range(n):
        side[j] = <int>(xorshift(&s) & 1)
        # prices a few ticks away from the touch: no resting order of ours is hit
        price[j] = MID - 40 - <int64_t>(xorshift(&s) % 10) if side[j] == SELL else MID + 40 + <int64_t>(xorshift(&s) % 10)
        qty[j] = 1 + <int64_t>(xorshift(&s) % 100_000)
    signals_on_book(&sig, &b, ts)
    with nogil:
        for i in range(batches):
            t0 = now_ns()
            for j in range(i * batch, (i + 1) * batch):
                ts += 1000
                signals_on_trade(&sig, side[j], price[j], qty[j], sig.mid_x2, ts)
                sim_on_trade(&v, 0, side[j], price[j], qty[j], ts)
            res[i] = <double>(now_ns() - t0) / batch
    sim_free(&v)
    book_free(&b)
    free(price)
    free(qty)
    free(side)
    return out, sig.vpin_e6


cdef int open_orders(OrderTable* t, int64_t* ids, int64_t count, int64_t ts) noexcept nogil:
    """Create `count` acked orders alternating buy/sell (untimed set-up for the fill loops)."""
    cdef int64_t j, side
    cdef Order* o
    for j in range(count):
        side = j & 1
        o = orders_new(t, 0, side, OT_LIMIT, TIF_GTC, 0, MID + (1 if side else -1), 1000, ts)
        if o == NULL:
            return -1
        orders_apply(t, o, OE_SUBMIT, ts)
        orders_apply(t, o, OE_ACK, ts)
        ids[j] = o.client_id
    return 0


cdef inline int64_t book_fill(OrderTable* t, Position* pos, const Instrument* ins, int64_t client_id,
                              int64_t trade_id, int64_t ts) noexcept nogil:
    # what the engine does with a fill report: dedup, position and PnL, the order's FSM step
    cdef FillOutcome fo
    cdef Order* o = orders_get(t, client_id)
    if o == NULL or fill_dedup_check(&t.dedup, 0, trade_id) != 0:
        return 0
    position_apply_fill(pos, ins, <int>o.side, o.price, 1000, 0, ts, &fo)
    orders_fill(t, o, 1000, ts)
    orders_release(t, o)
    return fo.realized_delta


def fill(int batches=2000, int batch=1000):
    """ns per fill as the engine books it: dedup by trade id, position/PnL (average cost, round
    trips) and the order's FSM step. Orders alternate buy/sell so trips close continuously; the
    orders are created outside the timed region."""
    cdef OrderTable t
    cdef Position pos
    cdef Instrument ins = btc_spot()
    cdef int64_t i, j, t0, trade_id = 1, sink = 0
    cdef int64_t* ids = <int64_t*>malloc(batch * sizeof(int64_t))
    out = np.empty(batches, dtype=np.float64)
    cdef double[::1] res = out
    memset(&t, 0, sizeof(t))
    memset(&pos, 0, sizeof(pos))
    if ids == NULL or orders_init(&t, 4096) != 0:
        raise MemoryError()
    with nogil:
        for i in range(batches):
            if open_orders(&t, ids, batch, i) != 0:
                break
            t0 = now_ns()
            for j in range(batch):
                sink += book_fill(&t, &pos, &ins, ids[j], trade_id, i)
                trade_id += 1
            res[i] = <double>(now_ns() - t0) / batch
    orders_free(&t)
    free(ids)
    return out, sink


cdef void quote_inputs(StrategyInputs* x, Signals* sig, int64_t ts, int64_t pos) noexcept nogil:
    x.ts_event = ts
    x.best_bid = MID - 1
    x.best_ask = MID + 1
    x.best_bid_qty = 50_000
    x.best_ask_qty = 70_000
    x.position = pos
    x.open_buy = 0
    x.open_sell = 0
    x.book_valid = 1
    x.last_quote_change_ts = 0
    x.sig = sig


def quote(str model="avellaneda", int batches=2000, int batch=1000):
    """ns per quote decision (reservation price, spread, inventory skew and bounds, rounding)."""
    cdef AvellanedaParams ap
    cdef AvellanedaState ast
    cdef SkewedParams mp
    cdef SkewedState mst
    cdef Signals sig
    cdef StrategyInputs x
    cdef QuoteTarget q
    cdef int64_t i, j, t0, sink = 0, ts = 1_700_000_000_000_000_000
    cdef bint use_as = model == "avellaneda"
    out = np.empty(batches, dtype=np.float64)
    cdef double[::1] res = out
    memset(&ap, 0, sizeof(ap))
    memset(&mp, 0, sizeof(mp))
    memset(&sig, 0, sizeof(sig))
    signal_params(&sig.p)
    sig.mid_x2 = 2 * MID
    sig.vol_var_e6 = 4_000_000
    sig.kappa_e6 = 500_000
    sig.rate_e6 = 10_000_000
    sig.vpin_e6 = 300_000
    ap.q.order_qty = 1000
    ap.q.max_position = 10_000
    ap.q.post_only = 1
    ap.gamma_e6 = 100_000
    ap.horizon_ns = 1_000_000_000
    ap.min_half_spread_ticks = 1
    ap.max_half_spread_ticks = 1000
    ap.vpin_threshold_e6 = 700_000
    mp.q = ap.q
    mp.half_spread_ticks = 10
    mp.skew_e6 = 500_000
    if avellaneda_init(&ap, &ast) != 0 or skewed_init(&mp, &mst) != 0:
        raise ValueError("benchmark strategy params refused")
    with nogil:
        for i in range(batches):
            t0 = now_ns()
            for j in range(batch):
                ts += 1_000_000
                quote_inputs(&x, &sig, ts, (j & 15) * 500 - 4000)
                if use_as:
                    sink += avellaneda_quote(&ap, &ast, &x, &q) + q.bid_price
                else:
                    sink += skewed_quote(&mp, &mst, &x, &q) + q.bid_price
            res[i] = <double>(now_ns() - t0) / batch
    return out, sink


def full_tick(int depth=20, int batches=2000, int batch=1000, uint64_t seed=88172645463325252):
    """ns per full tick: one book level update, the signals refresh of the complete message
    (microprice, top-5 imbalance, OFI, volatility sample), one trade (VPIN, intensity), one fill
    (dedup, position, FSM) and one Avellaneda-Stoikov quote decision."""
    cdef Book b
    cdef BookOps ops
    cdef Signals sig
    cdef SignalParams sp
    cdef OrderTable t
    cdef Position pos
    cdef Instrument ins = btc_spot()
    cdef AvellanedaParams ap
    cdef AvellanedaState ast
    cdef StrategyInputs x
    cdef QuoteTarget q
    cdef int64_t n = <int64_t>batches * batch, i, j, t0, sink = 0, ts = 1_700_000_000_000_000_000
    cdef int64_t* ids = <int64_t*>malloc(batch * sizeof(int64_t))
    out = np.empty(batches, dtype=np.float64)
    cdef double[::1] res = out
    memset(&b, 0, sizeof(b))
    memset(&sig, 0, sizeof(sig))
    memset(&t, 0, sizeof(t))
    memset(&pos, 0, sizeof(pos))
    memset(&ap, 0, sizeof(ap))
    signal_params(&sp)
    ap.q.order_qty = 1000
    ap.q.max_position = 10_000
    ap.q.post_only = 1
    ap.gamma_e6 = 100_000
    ap.horizon_ns = 1_000_000_000
    ap.min_half_spread_ticks = 1
    ap.max_half_spread_ticks = 1000
    ap.vpin_threshold_e6 = 700_000
    if ids == NULL or fill_book(&b, depth) != 0 or make_book_ops(&ops, n, depth, seed) != 0 \
            or signals_init(&sig, &sp) != 0 or orders_init(&t, 4096) != 0 or avellaneda_init(&ap, &ast) != 0:
        raise MemoryError()
    # give the signals a volatility and an intensity estimate before timing
    for j in range(64):
        ts += 150_000_000
        book_set(&b, BUY, MID - 1, 100_000 + j)
        signals_on_book(&sig, &b, ts)
        signals_on_trade(&sig, <int>(j & 1), MID + (3 if j & 1 == 0 else -3), 1000, sig.mid_x2, ts)
    with nogil:
        for i in range(batches):
            if open_orders(&t, ids, batch, ts) != 0:
                break
            t0 = now_ns()
            for j in range(i * batch, (i + 1) * batch):
                ts += 1_000_000
                book_set(&b, <int>ops.side[j], ops.price[j], ops.qty[j])
                signals_on_book(&sig, &b, ts)
                signals_on_trade(&sig, <int>(j & 1), ops.price[j], 1 + (ops.qty[j] & 1023), sig.mid_x2, ts)
                sink += book_fill(&t, &pos, &ins, ids[j - i * batch], j + 1, ts)
                quote_inputs(&x, &sig, ts, pos.qty)
                x.best_bid = b.side[BUY].best
                x.best_ask = b.side[SELL].best
                sink += avellaneda_quote(&ap, &ast, &x, &q) + q.ask_price
            res[i] = <double>(now_ns() - t0) / batch
    free_book_ops(&ops)
    orders_free(&t)
    book_free(&b)
    free(ids)
    return out, sink
