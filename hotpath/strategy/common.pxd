# What every quoting strategy reads and returns. Strategies are pure functions of these inputs
# and their own state struct: no I/O, no clock, no orders. The engine turns a QuoteTarget into
# order actions (requote threshold, risk gate, order table).
from libc.stdint cimport int64_t, uint8_t
from libc.string cimport memcpy

from hotpath.serial cimport Reader, Writer, get_i64, put_i64
from hotpath.signals cimport Signals


cdef struct QuotingParams:
    int64_t order_qty               # lots per quote, > 0
    int64_t max_position            # lots: never quote the side that would take |position| past it
    int64_t requote_ticks           # replace a live quote only when its wanted price moved >= this
    int64_t cooldown_ns             # event time between two quote changes
    int64_t decision_interval_ns    # decide at most this often (event time); 0 = every message
    int64_t warmup_events           # complete book messages seen before the first quote
    int64_t post_only               # 1: quotes are LIMIT_MAKER and are kept off the opposite touch


cdef struct StrategyInputs:
    int64_t ts_event
    int64_t best_bid                # ticks, 0 if none
    int64_t best_bid_qty
    int64_t best_ask
    int64_t best_ask_qty
    int64_t position                # real, signed lots
    int64_t open_buy                # live leaves
    int64_t open_sell
    int64_t book_valid
    int64_t last_quote_change_ts    # event time the engine last placed/replaced a quote (0 never)
    const Signals* sig


cdef struct QuoteTarget:
    int64_t bid_price               # ticks
    int64_t bid_qty                 # lots, 0 = no bid wanted
    int64_t ask_price
    int64_t ask_qty                 # 0 = no ask wanted
    int64_t reservation_e6          # reservation price, ticks * 1e6 (panels, REC_QUOTE)
    int64_t half_spread_e6          # ticks * 1e6


cdef struct TakeTarget:
    int64_t side                    # BUY / SELL
    int64_t qty                     # lots, > 0
    int64_t price                   # IOC limit in ticks, 0 for a market order
    int64_t signal_e6               # the signal that fired, [-1e6, 1e6]


# Shared decision gating: 1 when a decision may be taken at ts (warmup passed, decision interval
# elapsed since the last decision, cooldown elapsed since the last quote change, market
# two-sided and valid). Implemented inline so every strategy agrees.
cdef inline bint quoting_ready(const QuotingParams* q, int64_t events_seen, int64_t last_decision_ts,
                               const StrategyInputs* x) noexcept nogil:
    if not x.book_valid or x.best_bid <= 0 or x.best_ask <= 0 or x.best_bid >= x.best_ask:
        return 0
    if events_seen < q.warmup_events:
        return 0
    if last_decision_ts != 0 and q.decision_interval_ns > 0 and x.ts_event - last_decision_ts < q.decision_interval_ns:
        return 0
    if x.last_quote_change_ts != 0 and q.cooldown_ns > 0 and x.ts_event - x.last_quote_change_ts < q.cooldown_ns:
        return 0
    return 1


# Post-only quotes must not cross: keep the bid below the best ask and the ask above the best bid.
cdef inline void quoting_keep_passive(QuoteTarget* t, const StrategyInputs* x) noexcept nogil:
    if t.bid_qty > 0 and t.bid_price >= x.best_ask:
        t.bid_price = x.best_ask - 1
    if t.ask_qty > 0 and t.ask_price <= x.best_bid:
        t.ask_price = x.best_bid + 1
    if t.bid_qty > 0 and t.bid_price <= 0:
        t.bid_qty = 0
    if t.ask_qty > 0 and t.ask_price <= 0:
        t.ask_qty = 0


# Inventory bound (Gueant): no quote on a side whose fill would take |position| past max.
cdef inline void quoting_bound_inventory(QuoteTarget* t, const QuotingParams* q, int64_t position) noexcept nogil:
    if t.bid_qty > 0 and position + t.bid_qty > q.max_position:
        t.bid_qty = 0
    if t.ask_qty > 0 and position - t.ask_qty < -q.max_position:
        t.ask_qty = 0


# The common end of a quote: order_qty on both sides at the given prices, kept passive when
# post_only, a side priced <= 0 dropped, then the inventory bound.
cdef inline void quoting_set_target(QuoteTarget* t, const QuotingParams* q, const StrategyInputs* x,
                                    int64_t bid_price, int64_t ask_price, int64_t reservation_e6,
                                    int64_t half_spread_e6) noexcept nogil:
    t.bid_price = bid_price
    t.ask_price = ask_price
    t.bid_qty = q.order_qty
    t.ask_qty = q.order_qty
    t.reservation_e6 = reservation_e6
    t.half_spread_e6 = half_spread_e6
    if q.post_only:
        quoting_keep_passive(t, x)
    if t.bid_price <= 0:
        t.bid_qty = 0
    if t.ask_price <= 0:
        t.ask_qty = 0
    quoting_bound_inventory(t, q, x.position)


# --- additions (strategies engineer) ---
# Shared validation of QuotingParams, so every quoting strategy refuses the same configurations:
# order_qty > 0, max_position > 0, requote_ticks / cooldown_ns / decision_interval_ns /
# warmup_events >= 0, post_only 0 or 1.
cdef inline bint quoting_params_valid(const QuotingParams* q) noexcept nogil:
    return (q.order_qty > 0 and q.max_position > 0 and q.requote_ticks >= 0 and q.cooldown_ns >= 0
            and q.decision_interval_ns >= 0 and q.warmup_events >= 0
            and (q.post_only == 0 or q.post_only == 1))


# Canonical bytes of QuotingParams (a quoting strategy writes them right after its section marker):
# the seven fields in declaration order. A short read sets r.failed, as get_i64 does.
cdef inline void quoting_params_write(const QuotingParams* q, Writer* w) noexcept nogil:
    put_i64(w, q.order_qty)
    put_i64(w, q.max_position)
    put_i64(w, q.requote_ticks)
    put_i64(w, q.cooldown_ns)
    put_i64(w, q.decision_interval_ns)
    put_i64(w, q.warmup_events)
    put_i64(w, q.post_only)


cdef inline void quoting_params_read(QuotingParams* q, Reader* r) noexcept nogil:
    q.order_qty = get_i64(r)
    q.max_position = get_i64(r)
    q.requote_ticks = get_i64(r)
    q.cooldown_ns = get_i64(r)
    q.decision_interval_ns = get_i64(r)
    q.warmup_events = get_i64(r)
    q.post_only = get_i64(r)


cdef inline bint _all_zero(const void* block, size_t size) noexcept nogil:
    cdef const uint8_t* b = <const uint8_t*>block
    cdef size_t i
    for i in range(size):
        if b[i] != 0:
            return 0
    return 1


# The end of every strategy's *_read: the params and state read into tp / ts are copied to p / s
# when valid, or when both are all zero (a slot never configured: the engine snapshots the
# strategies of every instrument). Otherwise, or if the read already failed, r.failed is set,
# p / s are untouched and the result is -1.
cdef inline int strategy_read_commit(Reader* r, bint valid, void* p, const void* tp, size_t p_size,
                                     void* s, const void* ts, size_t s_size) noexcept nogil:
    if r.failed:
        return -1
    if not (valid or (_all_zero(tp, p_size) and _all_zero(ts, s_size))):
        r.failed = 1
        return -1
    memcpy(p, tp, p_size)
    memcpy(s, ts, s_size)
    return 0
