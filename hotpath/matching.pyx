# Simulated venue (contract: matching.pxd). The rules below are the precise reading of the
# contract; tests/hotpath/reference/matching_ref.py implements the same rules in plain Python.
#
# New order, checks in this order (first failure answers with EV_ORDER_REJECT, aux = reason):
#   instrument outside [0, n_instruments)                                   VR_BAD_INSTRUMENT
#   client id <= 0, side not BUY/SELL, unknown order type, LIMIT with an unknown time in force
#                                                                            VR_BAD_ORDER
#   client id of a resting order (ids are venue-wide, any instrument)       VR_DUPLICATE_ID
#   qty <= 0                                                                 VR_BAD_QTY
#   LIMIT / LIMIT_MAKER price <= 0 or > 2**61 (the valuation bound)          VR_BAD_PRICE
#   LIMIT / LIMIT_MAKER whose settlement value or maker/taker fee at (price, qty) overflows int64
#                                                                            VR_BAD_QTY
#   order that may rest (LIMIT GTC, LIMIT_MAKER) while the table is full    VR_TOO_MANY_ORDERS
#   LIMIT_MAKER at or through the opposite best                             VR_WOULD_TAKE
# MARKET ignores price and tif; LIMIT_MAKER ignores tif. Otherwise EV_ORDER_ACK (aux = venue id
# from a counter starting at 1), then the taker walk and/or resting as matching.pxd says. The
# walk reads the opposite side best-first (book_next/book_qty) and never changes the book: one
# taker FILL per level, qty = min(remaining, level qty), at the level price. A level whose fill
# value or fee cannot be computed in int64 ends the walk (the rest expires / rests), so no fill
# ever carries a made-up fee; FOK counts fillable quantity with the same walk (dry run).
# Resting orders get queue_ahead = book qty at their price on their side at that moment. A GTC
# remainder may rest at a price the unchanged recorded book still crosses: the next crossing
# depth update fills it (no market impact is modelled).
#
# Resting-order output is always in ascending client id: the table is kept sorted by client id
# (insertion by binary search; ids are usually increasing, so it is an append).
#
# A public trade (aggressor side a, price P, qty Q) against our orders on the other side:
#   orders strictly through P (a SELL below our bid, a BUY above our ask) fill their whole leaves;
#   orders at P: every one of them has queue_ahead -= Q (the trade consumed the market queue
#   ahead of each of them); the excess below zero can fill that order, but all fills at P from
#   one trade share a budget of Q lots, handed out in ascending client id: an order fills
#   min(leaves, its excess, budget left). queue_ahead is then 0 whether or not it filled.
# A depth update of side s at price P with new qty q (prev qty p):
#   our orders on the other side with P at or through their price and q > 0 fill their whole
#   leaves (the market crossed them), each order once, ascending client id;
#   our orders on side s at exactly P with q < p: queue_ahead = min(queue_ahead, q).
# Every resting fill is maker, at the order's price, ts_event = the market event's ts.
#
# Cancels: CMD_CANCEL of a resting order with the same instrument -> EV_ORDER_CANCELED (qty =
# leaves); otherwise EV_CANCEL_REJECT (aux = VR_UNKNOWN_ORDER). CMD_CANCEL_ALL cancels every
# resting order of the instrument in ascending client id (nothing to cancel: no response); an
# instrument outside the table -> EV_CANCEL_REJECT (order_id 0, aux = VR_BAD_INSTRUMENT).
#
# Response fields: order_id = client id, instrument, flags F_SELL for sell orders (| F_MAKER on
# maker fills), ts_event = venue time, ts_local = ts_event + response latency (saturating).
#   ACK / REJECT / EXPIRED / CANCELED: price = the order's price as sent; qty = order qty (ACK,
#   REJECT), leaves (CANCELED), expired leaves (EXPIRED). FILL: price, qty, venue_seq = trade id,
#   aux = fee. Unused fields are 0. The instrument field of a bad-instrument answer is 0xFFFF
#   when the id does not fit in 16 bits.
# Counters: n_rejects counts EV_ORDER_REJECT and EV_CANCEL_REJECT; n_expired EV_ORDER_EXPIRED;
# fills count even if their response is dropped because the response ring is full (the venue
# did trade; n_dropped records the loss).
#
# Canonical bytes (sim_write): params (entry latency, response latency, max_resting,
# queue_capacity, n_instruments), counters (next_venue_id, next_trade_id, n_fills, n_maker_fills,
# n_taker_fills, n_rejects, n_expired, n_dropped), resting orders ascending by client id (count,
# then 8 fields each in struct order), commands oldest first (count, 9 fields each), responses
# oldest first (count, 11 fields each in struct order, the uint16 fields widened to int64).
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport INT64_MAX, int64_t, uint8_t, uint16_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memmove, memset

from hotpath.book cimport Book, book_free, book_init, book_next, book_qty, book_read, book_set, book_write
from hotpath.instrument cimport CT_INVERSE, CT_LINEAR, Instrument, inst_fee, inst_settle_value
from hotpath.serial cimport (
    Reader,
    Writer,
    get_i64,
    put_i64,
    reader_init,
    writer_free,
    writer_init,
)
from hotpath.types cimport (
    BUY,
    EV_CANCEL_REJECT,
    EV_ORDER_ACK,
    EV_ORDER_CANCELED,
    EV_ORDER_EXPIRED,
    EV_ORDER_FILL,
    EV_ORDER_REJECT,
    F_MAKER,
    F_SELL,
    OT_LIMIT,
    OT_LIMIT_MAKER,
    OT_MARKET,
    SELL,
    TIF_FOK,
    TIF_GTC,
    TIF_IOC,
    MarketEvent,
)

cdef enum:
    ORDER_FIELDS = 8
    COMMAND_FIELDS = 9
    EVENT_FIELDS = 11
    PRICE_LIMIT_LOG2 = 61       # inst_settle_value refuses prices above 2**61
    MAX_SIM_INSTRUMENTS = 65535 # MarketEvent.instrument is 16 bits


# ---------------------------------------------------------------------------------------------
# small helpers

cdef inline int64_t _sat_add(int64_t a, int64_t b) noexcept nogil:
    # b >= 0 (latencies): clamp at INT64_MAX instead of wrapping.
    return INT64_MAX if a > INT64_MAX - b else a + b


cdef inline int64_t _min3(int64_t a, int64_t b, int64_t c) noexcept nogil:
    if b < a:
        a = b
    return c if c < a else a


cdef inline bint _fee_of(const Instrument* ins, int64_t price, int64_t qty, bint maker, int64_t* fee) noexcept nogil:
    """1 if the fill of qty at price can be valued and its fee computed (into *fee)."""
    cdef int64_t value
    if inst_settle_value(ins, price, qty, &value):
        return 0
    return not inst_fee(ins, value, maker, fee)


cdef inline bint _crosses(int64_t side, int64_t order_price, int64_t market_price) noexcept nogil:
    """1 if an opposite-side price is at or through our order price."""
    return market_price <= order_price if side == BUY else market_price >= order_price


cdef int64_t _find(const SimVenue* v, int64_t client_id, bint* found) noexcept nogil:
    """Index of client_id in the sorted resting table, or where it would be inserted."""
    cdef int64_t lo = 0
    cdef int64_t hi = v.n_resting
    cdef int64_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if v.resting[mid].client_id < client_id:
            lo = mid + 1
        else:
            hi = mid
    found[0] = lo < v.n_resting and v.resting[lo].client_id == client_id
    return lo


cdef void _respond(SimVenue* v, int kind, int64_t ts, int64_t order_id, int64_t instrument, int64_t side,
                   int64_t price, int64_t qty, int64_t venue_seq, int64_t aux, int extra_flags) noexcept nogil:
    cdef MarketEvent* e
    if v.resp_count >= v.p.queue_capacity:
        v.n_dropped += 1
        return
    e = &v.resp[(v.resp_head + v.resp_count) & (v.p.queue_capacity - 1)]
    e.ts_event = ts
    e.ts_local = _sat_add(ts, v.p.response_latency_ns)
    e.price = price
    e.qty = qty
    e.venue_seq = venue_seq
    e.aux = aux
    e.order_id = order_id
    e.kind = <uint16_t>kind
    e.flags = <uint16_t>((F_SELL if side == SELL else 0) | extra_flags)
    e.instrument = <uint16_t>(instrument if 0 <= instrument <= 0xFFFF else 0xFFFF)
    e.reserved = 0
    v.resp_count += 1


cdef void _fill(SimVenue* v, int64_t client_id, int64_t instrument, int64_t side, int64_t price,
                int64_t qty, bint maker, int64_t ts) noexcept nogil:
    cdef int64_t fee = 0
    # Resting fills were valued at entry (same price, qty <= order qty) and taker fills are
    # checked before they are made, so this cannot fail; fee stays 0 if it ever did.
    _fee_of(&v.instruments[instrument], price, qty, maker, &fee)
    _respond(v, EV_ORDER_FILL, ts, client_id, instrument, side, price, qty, v.next_trade_id, fee,
             F_MAKER if maker else 0)
    v.next_trade_id += 1
    v.n_fills += 1
    if maker:
        v.n_maker_fills += 1
    else:
        v.n_taker_fills += 1


# ---------------------------------------------------------------------------------------------
# taker side

cdef int64_t _walk(SimVenue* v, const VenueCommand* c, bint has_limit, bint emit) noexcept nogil:
    """Take the opposite side best-first (up to the limit if has_limit). Returns the qty filled;
    with emit = 0 nothing is produced (FOK dry run)."""
    cdef const Book* b = &v.books[c.instrument]
    cdef const Instrument* ins = &v.instruments[c.instrument]
    cdef int opp = SELL if c.side == BUY else BUY
    cdef int64_t remaining = c.qty
    cdef int64_t p = b.side[opp].best
    cdef int64_t level, q, fee
    while remaining > 0 and p != 0:
        if has_limit and not _crosses(c.side, c.price, p):
            break
        level = book_qty(b, opp, p)
        q = level if level < remaining else remaining
        if not _fee_of(ins, p, q, 0, &fee):
            break
        if emit:
            _fill(v, c.client_id, c.instrument, c.side, p, q, 0, c.ts_arrival)
        remaining -= q
        p = book_next(b, opp, p)
    return c.qty - remaining


cdef void _rest(SimVenue* v, const VenueCommand* c, int64_t venue_id, int64_t leaves) noexcept nogil:
    cdef bint found
    cdef int64_t k = _find(v, c.client_id, &found)
    cdef SimOrder* o
    memmove(&v.resting[k + 1], &v.resting[k], <size_t>(v.n_resting - k) * sizeof(SimOrder))
    o = &v.resting[k]
    o.client_id = c.client_id
    o.venue_id = venue_id
    o.instrument = c.instrument
    o.side = c.side
    o.price = c.price
    o.leaves = leaves
    o.queue_ahead = book_qty(&v.books[c.instrument], <int>c.side, c.price)
    o.ts_arrival = c.ts_arrival
    v.n_resting += 1


cdef int64_t _new_order_reject(const SimVenue* v, const VenueCommand* c) noexcept nogil:
    cdef bint found
    cdef bint limit_priced = c.order_type == OT_LIMIT or c.order_type == OT_LIMIT_MAKER
    cdef bint may_rest = c.order_type == OT_LIMIT_MAKER or (c.order_type == OT_LIMIT and c.tif == TIF_GTC)
    cdef int64_t fee, opp_best
    if c.instrument < 0 or c.instrument >= v.n_instruments:
        return VR_BAD_INSTRUMENT
    if (c.client_id <= 0 or (c.side != BUY and c.side != SELL)
            or (c.order_type != OT_LIMIT and c.order_type != OT_MARKET and c.order_type != OT_LIMIT_MAKER)
            or (c.order_type == OT_LIMIT and c.tif != TIF_GTC and c.tif != TIF_IOC and c.tif != TIF_FOK)):
        return VR_BAD_ORDER
    _find(v, c.client_id, &found)
    if found:
        return VR_DUPLICATE_ID
    if c.qty <= 0:
        return VR_BAD_QTY
    if limit_priced:
        if c.price <= 0 or c.price > (<int64_t>1 << PRICE_LIMIT_LOG2):
            return VR_BAD_PRICE
        if not _fee_of(&v.instruments[c.instrument], c.price, c.qty, 1, &fee) or \
                not _fee_of(&v.instruments[c.instrument], c.price, c.qty, 0, &fee):
            return VR_BAD_QTY
    if may_rest and v.n_resting >= v.p.max_resting:
        return VR_TOO_MANY_ORDERS
    if c.order_type == OT_LIMIT_MAKER:
        opp_best = v.books[c.instrument].side[SELL if c.side == BUY else BUY].best
        if opp_best != 0 and _crosses(c.side, c.price, opp_best):
            return VR_WOULD_TAKE
    return VR_NONE


cdef void _new_order(SimVenue* v, const VenueCommand* c) noexcept nogil:
    cdef int64_t reason = _new_order_reject(v, c)
    cdef int64_t venue_id, filled
    cdef int64_t ts = c.ts_arrival
    if reason != VR_NONE:
        _respond(v, EV_ORDER_REJECT, ts, c.client_id, c.instrument, c.side, c.price, c.qty, 0, reason, 0)
        v.n_rejects += 1
        return
    venue_id = v.next_venue_id
    v.next_venue_id += 1
    _respond(v, EV_ORDER_ACK, ts, c.client_id, c.instrument, c.side, c.price, c.qty, 0, venue_id, 0)
    if c.order_type == OT_LIMIT_MAKER:
        _rest(v, c, venue_id, c.qty)
        return
    if c.order_type == OT_LIMIT and c.tif == TIF_FOK and _walk(v, c, 1, 0) < c.qty:
        filled = 0
    else:
        filled = _walk(v, c, c.order_type == OT_LIMIT, 1)
    if filled == c.qty:
        return
    if c.order_type == OT_LIMIT and c.tif == TIF_GTC:
        _rest(v, c, venue_id, c.qty - filled)
        return
    _respond(v, EV_ORDER_EXPIRED, ts, c.client_id, c.instrument, c.side, c.price, c.qty - filled, 0, 0, 0)
    v.n_expired += 1


cdef void _cancel(SimVenue* v, const VenueCommand* c) noexcept nogil:
    cdef bint found
    cdef int64_t k = _find(v, c.client_id, &found)
    cdef SimOrder* o
    if not found or v.resting[k].instrument != c.instrument:
        _respond(v, EV_CANCEL_REJECT, c.ts_arrival, c.client_id, c.instrument, 0, 0, 0, 0, VR_UNKNOWN_ORDER, 0)
        v.n_rejects += 1
        return
    o = &v.resting[k]
    _respond(v, EV_ORDER_CANCELED, c.ts_arrival, o.client_id, o.instrument, o.side, o.price, o.leaves, 0, 0, 0)
    memmove(&v.resting[k], &v.resting[k + 1], <size_t>(v.n_resting - k - 1) * sizeof(SimOrder))
    v.n_resting -= 1


cdef void _cancel_all(SimVenue* v, const VenueCommand* c) noexcept nogil:
    cdef int64_t i
    cdef int64_t kept = 0
    cdef SimOrder* o
    if c.instrument < 0 or c.instrument >= v.n_instruments:
        _respond(v, EV_CANCEL_REJECT, c.ts_arrival, 0, c.instrument, 0, 0, 0, 0, VR_BAD_INSTRUMENT, 0)
        v.n_rejects += 1
        return
    for i in range(v.n_resting):
        o = &v.resting[i]
        if o.instrument == c.instrument:
            _respond(v, EV_ORDER_CANCELED, c.ts_arrival, o.client_id, o.instrument, o.side, o.price,
                     o.leaves, 0, 0, 0)
        else:
            if kept != i:
                v.resting[kept] = o[0]
            kept += 1
    v.n_resting = kept


# ---------------------------------------------------------------------------------------------
# lifecycle, rings

cdef bint _params_ok(const SimParams* p) noexcept nogil:
    return (p.entry_latency_ns >= 0 and p.response_latency_ns >= 0 and p.max_resting > 0
            and p.queue_capacity > 0 and (p.queue_capacity & (p.queue_capacity - 1)) == 0
            and p.max_resting <= (INT64_MAX // <int64_t>sizeof(SimOrder))
            and p.queue_capacity <= (INT64_MAX // <int64_t>sizeof(MarketEvent)))


cdef int _alloc_tables(SimVenue* v, const SimParams* p) noexcept nogil:
    v.resting = <SimOrder*>calloc(<size_t>p.max_resting, sizeof(SimOrder))
    v.cmds = <VenueCommand*>calloc(<size_t>p.queue_capacity, sizeof(VenueCommand))
    v.resp = <MarketEvent*>calloc(<size_t>p.queue_capacity, sizeof(MarketEvent))
    if v.resting == NULL or v.cmds == NULL or v.resp == NULL:
        free(v.resting)
        free(v.cmds)
        free(v.resp)
        v.resting = NULL
        v.cmds = NULL
        v.resp = NULL
        return -1
    return 0


cdef int sim_init(SimVenue* v, const SimParams* p, const Instrument* instruments, const Book* books,
                  int64_t n_instruments) noexcept nogil:
    if (not _params_ok(p) or instruments == NULL or books == NULL or n_instruments <= 0
            or n_instruments > MAX_SIM_INSTRUMENTS):
        return -1
    if _alloc_tables(v, p) != 0:
        return -1
    v.p = p[0]
    v.instruments = instruments
    v.books = books
    v.n_instruments = n_instruments
    v.next_venue_id = 1
    v.next_trade_id = 1
    return 0


cdef void sim_free(SimVenue* v) noexcept nogil:
    free(v.resting)
    free(v.cmds)
    free(v.resp)
    memset(v, 0, sizeof(SimVenue))


cdef int sim_send(SimVenue* v, const VenueCommand* c) noexcept nogil:
    if v.cmd_count >= v.p.queue_capacity:
        v.n_dropped += 1
        return -1
    v.cmds[(v.cmd_head + v.cmd_count) & (v.p.queue_capacity - 1)] = c[0]
    v.cmd_count += 1
    return 0


cdef int64_t sim_next_arrival(const SimVenue* v) noexcept nogil:
    return v.cmds[v.cmd_head].ts_arrival if v.cmd_count > 0 else INT64_MAX


cdef int64_t sim_next_response(const SimVenue* v) noexcept nogil:
    return v.resp[v.resp_head].ts_local if v.resp_count > 0 else INT64_MAX


cdef void sim_process_arrivals(SimVenue* v, int64_t t) noexcept nogil:
    cdef VenueCommand c
    while v.cmd_count > 0 and v.cmds[v.cmd_head].ts_arrival <= t:
        c = v.cmds[v.cmd_head]          # copy: the slot is reusable once popped
        v.cmd_head = (v.cmd_head + 1) & (v.p.queue_capacity - 1)
        v.cmd_count -= 1
        if c.kind == CMD_NEW:
            _new_order(v, &c)
        elif c.kind == CMD_CANCEL:
            _cancel(v, &c)
        elif c.kind == CMD_CANCEL_ALL:
            _cancel_all(v, &c)
        # an unknown kind is dropped: there is no order id to answer to


cdef int sim_pop_response(SimVenue* v, int64_t t, MarketEvent* out) noexcept nogil:
    if v.resp_count == 0 or v.resp[v.resp_head].ts_local > t:
        return 0
    out[0] = v.resp[v.resp_head]
    v.resp_head = (v.resp_head + 1) & (v.p.queue_capacity - 1)
    v.resp_count -= 1
    return 1


# ---------------------------------------------------------------------------------------------
# market data

cdef void sim_on_depth(SimVenue* v, int64_t instrument, int side, int64_t price, int64_t prev_qty,
                       int64_t new_qty, int64_t ts) noexcept nogil:
    cdef int64_t i
    cdef int64_t kept = 0
    cdef SimOrder* o
    if instrument < 0 or instrument >= v.n_instruments or (side != BUY and side != SELL) or price <= 0:
        return
    for i in range(v.n_resting):
        o = &v.resting[i]
        if o.instrument == instrument:
            if o.side != side:
                if new_qty > 0 and _crosses(o.side, o.price, price):
                    _fill(v, o.client_id, o.instrument, o.side, o.price, o.leaves, 1, ts)
                    continue            # filled: dropped from the table
            elif o.price == price and new_qty < prev_qty and new_qty < o.queue_ahead:
                o.queue_ahead = new_qty if new_qty > 0 else 0
        if kept != i:
            v.resting[kept] = o[0]
        kept += 1
    v.n_resting = kept


cdef void sim_on_trade(SimVenue* v, int64_t instrument, int aggressor_side, int64_t price, int64_t qty,
                       int64_t ts) noexcept nogil:
    cdef int64_t i, f
    cdef int64_t kept = 0
    cdef int64_t budget = qty           # lots one trade can give our orders at its price
    cdef int64_t passive
    cdef SimOrder* o
    if (instrument < 0 or instrument >= v.n_instruments or (aggressor_side != BUY and aggressor_side != SELL)
            or price <= 0 or qty <= 0):
        return
    passive = SELL if aggressor_side == BUY else BUY
    for i in range(v.n_resting):
        o = &v.resting[i]
        if o.instrument == instrument and o.side == passive:
            if o.price == price:
                o.queue_ahead -= qty
                if o.queue_ahead < 0:
                    f = _min3(o.leaves, -o.queue_ahead, budget)
                    o.queue_ahead = 0
                    if f > 0:
                        budget -= f
                        _fill(v, o.client_id, o.instrument, o.side, o.price, f, 1, ts)
                        o.leaves -= f
                        if o.leaves == 0:
                            continue
            elif _crosses(o.side, o.price, price):
                # traded through our price: everything at our price went first
                _fill(v, o.client_id, o.instrument, o.side, o.price, o.leaves, 1, ts)
                continue
        if kept != i:
            v.resting[kept] = o[0]
        kept += 1
    v.n_resting = kept


# ---------------------------------------------------------------------------------------------
# canonical bytes

cdef void sim_write(const SimVenue* v, Writer* w) noexcept nogil:
    cdef int64_t i, k
    cdef const SimOrder* o
    cdef const VenueCommand* c
    cdef const MarketEvent* e
    put_i64(w, v.p.entry_latency_ns)
    put_i64(w, v.p.response_latency_ns)
    put_i64(w, v.p.max_resting)
    put_i64(w, v.p.queue_capacity)
    put_i64(w, v.n_instruments)
    put_i64(w, v.next_venue_id)
    put_i64(w, v.next_trade_id)
    put_i64(w, v.n_fills)
    put_i64(w, v.n_maker_fills)
    put_i64(w, v.n_taker_fills)
    put_i64(w, v.n_rejects)
    put_i64(w, v.n_expired)
    put_i64(w, v.n_dropped)
    put_i64(w, v.n_resting)
    for i in range(v.n_resting):        # the table is sorted by client id
        o = &v.resting[i]
        put_i64(w, o.client_id)
        put_i64(w, o.venue_id)
        put_i64(w, o.instrument)
        put_i64(w, o.side)
        put_i64(w, o.price)
        put_i64(w, o.leaves)
        put_i64(w, o.queue_ahead)
        put_i64(w, o.ts_arrival)
    put_i64(w, v.cmd_count)
    for i in range(v.cmd_count):
        c = &v.cmds[(v.cmd_head + i) & (v.p.queue_capacity - 1)]
        put_i64(w, c.ts_arrival)
        put_i64(w, c.kind)
        put_i64(w, c.client_id)
        put_i64(w, c.instrument)
        put_i64(w, c.side)
        put_i64(w, c.order_type)
        put_i64(w, c.tif)
        put_i64(w, c.price)
        put_i64(w, c.qty)
    put_i64(w, v.resp_count)
    for i in range(v.resp_count):
        e = &v.resp[(v.resp_head + i) & (v.p.queue_capacity - 1)]
        put_i64(w, e.ts_event)
        put_i64(w, e.ts_local)
        put_i64(w, e.price)
        put_i64(w, e.qty)
        put_i64(w, e.venue_seq)
        put_i64(w, e.aux)
        put_i64(w, e.order_id)
        put_i64(w, e.kind)
        put_i64(w, e.flags)
        put_i64(w, e.instrument)
        put_i64(w, e.reserved)


cdef inline bint _u16(int64_t x) noexcept nogil:
    return 0 <= x <= 0xFFFF


cdef int sim_read(SimVenue* v, Reader* r) noexcept nogil:
    # Everything is read and checked into fresh tables first: a failed read leaves v untouched.
    cdef SimVenue t
    cdef int64_t i, n, fee
    cdef SimOrder* o
    cdef VenueCommand* c
    cdef MarketEvent* e
    cdef int64_t f[EVENT_FIELDS]
    cdef int k
    memset(&t, 0, sizeof(SimVenue))
    t.p.entry_latency_ns = get_i64(r)
    t.p.response_latency_ns = get_i64(r)
    t.p.max_resting = get_i64(r)
    t.p.queue_capacity = get_i64(r)
    n = get_i64(r)
    t.next_venue_id = get_i64(r)
    t.next_trade_id = get_i64(r)
    t.n_fills = get_i64(r)
    t.n_maker_fills = get_i64(r)
    t.n_taker_fills = get_i64(r)
    t.n_rejects = get_i64(r)
    t.n_expired = get_i64(r)
    t.n_dropped = get_i64(r)
    if (r.failed or not _params_ok(&t.p) or n != v.n_instruments or t.next_venue_id < 1
            or t.next_trade_id < 1 or t.n_fills < 0 or t.n_maker_fills < 0 or t.n_taker_fills < 0
            or t.n_rejects < 0 or t.n_expired < 0 or t.n_dropped < 0):
        r.failed = 1
        return -1
    # Counts are bounded by what the reader still holds before anything is allocated.
    n = get_i64(r)
    if r.failed or n < 0 or n > t.p.max_resting or n > (r.len - r.pos) // (8 * ORDER_FIELDS):
        r.failed = 1
        return -1
    if _alloc_tables(&t, &t.p) != 0:
        return -1
    t.instruments = v.instruments
    t.books = v.books
    t.n_instruments = v.n_instruments
    for i in range(n):
        o = &t.resting[i]
        o.client_id = get_i64(r)
        o.venue_id = get_i64(r)
        o.instrument = get_i64(r)
        o.side = get_i64(r)
        o.price = get_i64(r)
        o.leaves = get_i64(r)
        o.queue_ahead = get_i64(r)
        o.ts_arrival = get_i64(r)
        if (r.failed or o.client_id <= 0 or (i > 0 and o.client_id <= t.resting[i - 1].client_id)
                or o.venue_id < 1 or o.venue_id >= t.next_venue_id
                or o.instrument < 0 or o.instrument >= t.n_instruments
                or (o.side != BUY and o.side != SELL)
                or o.price <= 0 or o.price > (<int64_t>1 << PRICE_LIMIT_LOG2)
                or o.leaves <= 0 or o.queue_ahead < 0
                or not _fee_of(&t.instruments[o.instrument], o.price, o.leaves, 1, &fee)):
            r.failed = 1
            break
    t.n_resting = n
    n = get_i64(r)
    if r.failed or n < 0 or n > t.p.queue_capacity or n > (r.len - r.pos) // (8 * COMMAND_FIELDS):
        r.failed = 1
    else:
        for i in range(n):
            c = &t.cmds[i]
            c.ts_arrival = get_i64(r)
            c.kind = get_i64(r)
            c.client_id = get_i64(r)
            c.instrument = get_i64(r)
            c.side = get_i64(r)
            c.order_type = get_i64(r)
            c.tif = get_i64(r)
            c.price = get_i64(r)
            c.qty = get_i64(r)
            if c.kind != CMD_NEW and c.kind != CMD_CANCEL and c.kind != CMD_CANCEL_ALL:
                r.failed = 1
        t.cmd_count = n
    n = get_i64(r)
    if r.failed or n < 0 or n > t.p.queue_capacity or n > (r.len - r.pos) // (8 * EVENT_FIELDS):
        r.failed = 1
    else:
        for i in range(n):
            for k in range(EVENT_FIELDS):
                f[k] = get_i64(r)
            if not (_u16(f[7]) and _u16(f[8]) and _u16(f[9]) and f[10] == 0):
                r.failed = 1
                break
            e = &t.resp[i]
            e.ts_event = f[0]
            e.ts_local = f[1]
            e.price = f[2]
            e.qty = f[3]
            e.venue_seq = f[4]
            e.aux = f[5]
            e.order_id = f[6]
            e.kind = <uint16_t>f[7]
            e.flags = <uint16_t>f[8]
            e.instrument = <uint16_t>f[9]
            e.reserved = 0
        t.resp_count = n
    if r.failed:
        free(t.resting)
        free(t.cmds)
        free(t.resp)
        return -1
    free(v.resting)
    free(v.cmds)
    free(v.resp)
    memcpy(v, &t, sizeof(SimVenue))
    return 0


# ---------------------------------------------------------------------------------------------
# Python wrapper

_INSTRUMENT_KEYS = (
    "contract_type",
    "value_num",
    "value_den",
    "inv_num",
    "inv_den",
    "maker_fee_ppm",
    "taker_fee_ppm",
    "book_window_log2",
)
_VENUE_MAGIC = 0x53494D56454E5545   # "SIMVENUE": to_bytes() of the wrapper, before the tables


cdef dict _event_dict(const MarketEvent* e):
    return {
        "kind": e.kind,
        "ts_event": e.ts_event,
        "ts_local": e.ts_local,
        "order_id": e.order_id,
        "instrument": e.instrument,
        "price": e.price,
        "qty": e.qty,
        "venue_seq": e.venue_seq,
        "aux": e.aux,
        "flags": e.flags,
    }


# Wrapper helpers are module-level cdef functions: C methods of a class declared in a .pxd
# would have to be declared there too, and they are no part of the contract.
cdef void _release(SimulatedVenue self):
    cdef int64_t i
    sim_free(&self.v)
    if self.books != NULL:
        for i in range(self.n_books):
            book_free(&self.books[i])
    free(self.books)
    free(self.instruments)
    self.books = NULL
    self.instruments = NULL
    self.n_books = 0


cdef int _require(SimulatedVenue self) except -1:
    if self.v.resp == NULL:
        raise RuntimeError("venue not initialised")
    return 0


cdef int64_t _instrument(SimulatedVenue self, int64_t instrument) except -1:
    _require(self)
    if instrument < 0 or instrument >= self.v.n_instruments:
        raise ValueError(f"instrument {instrument} out of range")
    return instrument


cdef int _send(SimulatedVenue self, int64_t kind, int64_t client_id, int64_t instrument, int64_t side,
               int64_t order_type, int64_t tif, int64_t price, int64_t qty, int64_t ts_sent) except -2:
    cdef VenueCommand c
    _require(self)
    if ts_sent > INT64_MAX - self.v.p.entry_latency_ns:
        raise OverflowError("ts_sent + entry latency overflows int64")
    c.ts_arrival = ts_sent + self.v.p.entry_latency_ns
    c.kind = kind
    c.client_id = client_id
    c.instrument = instrument
    c.side = side
    c.order_type = order_type
    c.tif = tif
    c.price = price
    c.qty = qty
    return sim_send(&self.v, &c)


cdef class SimulatedVenue:
    """Simulated venue over its own books (one per instrument); see matching.pxd for the rules.

    set_level() and trade() first execute the commands that arrived by their ts, then apply the
    market event, exactly as the engine does (sim_process_arrivals before each market event).
    """

    def __init__(self, instruments, int64_t entry_latency_ns=0, int64_t response_latency_ns=0,
                 int64_t max_resting=1024, int64_t queue_capacity=4096, center_prices=None,
                 int64_t window_log2=20):
        cdef SimParams p
        cdef int64_t i, wl, center
        _release(self)
        instruments = list(instruments)
        n = len(instruments)
        if n == 0 or n > MAX_SIM_INSTRUMENTS:
            raise ValueError("between 1 and 65535 instruments are required")
        if center_prices is not None and len(center_prices) != n:
            raise ValueError("center_prices must have one entry per instrument")
        self.instruments = <Instrument*>calloc(<size_t>n, sizeof(Instrument))
        self.books = <Book*>calloc(<size_t>n, sizeof(Book))
        if self.instruments == NULL or self.books == NULL:
            _release(self)
            raise MemoryError()
        self.n_books = n
        for i in range(n):
            spec = dict(instruments[i])
            unknown = set(spec) - set(_INSTRUMENT_KEYS) - {"id"}
            if unknown or spec.get("id", i) != i:
                _release(self)
                raise ValueError(f"instrument {i}: unknown keys {sorted(unknown)} or id != index")
            self.instruments[i].id = i
            self.instruments[i].contract_type = spec.get("contract_type", 0)  # CT_LINEAR
            self.instruments[i].value_num = spec.get("value_num", 1)
            self.instruments[i].value_den = spec.get("value_den", 1)
            self.instruments[i].inv_num = spec.get("inv_num", 0)
            self.instruments[i].inv_den = spec.get("inv_den", 1)
            self.instruments[i].maker_fee_ppm = spec.get("maker_fee_ppm", 0)
            self.instruments[i].taker_fee_ppm = spec.get("taker_fee_ppm", 0)
            wl = spec.get("book_window_log2", 0) or window_log2
            self.instruments[i].book_window_log2 = wl
            # compared in C: hotpath.instrument has no module to import the enum class from
            if self.instruments[i].contract_type != CT_LINEAR and self.instruments[i].contract_type != CT_INVERSE:
                _release(self)
                raise ValueError(f"instrument {i}: bad contract_type")
            center = center_prices[i] if center_prices is not None else (<int64_t>1) << (wl - 1)
            if book_init(&self.books[i], center, wl) != 0:
                _release(self)
                raise ValueError(f"instrument {i}: bad book center {center} / window_log2 {wl}")
        p.entry_latency_ns = entry_latency_ns
        p.response_latency_ns = response_latency_ns
        p.max_resting = max_resting
        p.queue_capacity = queue_capacity
        if sim_init(&self.v, &p, self.instruments, self.books, n) != 0:
            _release(self)
            raise ValueError("bad venue parameters (latencies >= 0, max_resting > 0, "
                             "queue_capacity a power of two) or allocation failure")

    def __dealloc__(self):
        _release(self)

    # market data -------------------------------------------------------------------------------
    def set_level(self, int64_t instrument, int side, int64_t price, int64_t qty, int64_t ts):
        """Set a level of the venue's book and show the change to the venue. Returns the previous
        qty, or book_set's -1 / -2 (then the venue sees nothing)."""
        cdef int64_t prev
        _require(self)
        _instrument(self, instrument)
        sim_process_arrivals(&self.v, ts)
        prev = book_set(&self.books[instrument], side, price, qty)
        if prev >= 0:
            sim_on_depth(&self.v, instrument, side, price, prev, qty, ts)
        return prev

    def trade(self, int64_t instrument, int aggressor_side, int64_t price, int64_t qty, int64_t ts):
        _require(self)
        _instrument(self, instrument)
        sim_process_arrivals(&self.v, ts)
        sim_on_trade(&self.v, instrument, aggressor_side, price, qty, ts)

    def level(self, int64_t instrument, int side, int64_t price):
        _require(self)
        return book_qty(&self.books[_instrument(self, instrument)], side, price)

    def best(self, int64_t instrument, int side):
        _require(self)
        if side != BUY and side != SELL:
            raise ValueError("side must be BUY (0) or SELL (1)")
        return self.books[_instrument(self, instrument)].side[side].best

    # commands ----------------------------------------------------------------------------------
    def send_new(self, int64_t client_id, int64_t instrument, int64_t side, int64_t order_type,
                 int64_t tif, int64_t price, int64_t qty, int64_t ts_sent):
        """Queue a new order arriving at ts_sent + entry latency. 0 queued, -1 ring full."""
        return _send(self, CMD_NEW, client_id, instrument, side, order_type, tif, price, qty, ts_sent)

    def send_cancel(self, int64_t client_id, int64_t instrument, int64_t ts_sent):
        return _send(self, CMD_CANCEL, client_id, instrument, 0, 0, 0, 0, 0, ts_sent)

    def send_cancel_all(self, int64_t instrument, int64_t ts_sent):
        return _send(self, CMD_CANCEL_ALL, 0, instrument, 0, 0, 0, 0, 0, ts_sent)

    def process(self, int64_t t):
        """Execute every command that arrived by venue time t."""
        _require(self)
        sim_process_arrivals(&self.v, t)

    def pop_responses(self, int64_t t):
        """Responses delivered by node time t, oldest first, as dicts."""
        cdef MarketEvent e
        _require(self)
        out = []
        while sim_pop_response(&self.v, t, &e):
            out.append(_event_dict(&e))
        return out

    # state -------------------------------------------------------------------------------------
    def resting(self):
        """Resting orders, ascending client id."""
        cdef int64_t i
        cdef const SimOrder* o
        _require(self)
        out = []
        for i in range(self.v.n_resting):
            o = &self.v.resting[i]
            out.append({
                "client_id": o.client_id,
                "venue_id": o.venue_id,
                "instrument": o.instrument,
                "side": o.side,
                "price": o.price,
                "leaves": o.leaves,
                "queue_ahead": o.queue_ahead,
                "ts_arrival": o.ts_arrival,
            })
        return out

    @property
    def next_arrival(self):
        _require(self)
        return sim_next_arrival(&self.v)

    @property
    def next_response(self):
        _require(self)
        return sim_next_response(&self.v)

    @property
    def counters(self):
        _require(self)
        return {
            "next_venue_id": self.v.next_venue_id,
            "next_trade_id": self.v.next_trade_id,
            "n_fills": self.v.n_fills,
            "n_maker_fills": self.v.n_maker_fills,
            "n_taker_fills": self.v.n_taker_fills,
            "n_rejects": self.v.n_rejects,
            "n_expired": self.v.n_expired,
            "n_dropped": self.v.n_dropped,
            "n_resting": self.v.n_resting,
            "n_commands_in_flight": self.v.cmd_count,
            "n_responses_in_flight": self.v.resp_count,
        }

    def to_bytes(self):
        """Instruments, every book (book_write) and the venue (sim_write)."""
        cdef Writer w
        cdef int64_t i
        cdef const Instrument* ins
        _require(self)
        writer_init(&w)
        put_i64(&w, _VENUE_MAGIC)
        put_i64(&w, self.v.n_instruments)
        for i in range(self.v.n_instruments):
            ins = &self.instruments[i]
            put_i64(&w, ins.contract_type)
            put_i64(&w, ins.value_num)
            put_i64(&w, ins.value_den)
            put_i64(&w, ins.inv_num)
            put_i64(&w, ins.inv_den)
            put_i64(&w, ins.maker_fee_ppm)
            put_i64(&w, ins.taker_fee_ppm)
            put_i64(&w, ins.book_window_log2)
        for i in range(self.v.n_instruments):
            book_write(&self.books[i], &w)
        sim_write(&self.v, &w)
        try:
            if w.failed:
                raise MemoryError()
            return PyBytes_FromStringAndSize(<char*>w.buf, w.len)
        finally:
            writer_free(&w)

    @staticmethod
    def from_bytes(data):
        """A new SimulatedVenue restored from to_bytes(); ValueError if the bytes are not valid."""
        cdef bytes raw = bytes(data)
        cdef Reader r
        cdef int64_t n, i
        cdef SimulatedVenue out
        reader_init(&r, <const uint8_t*><const char*>raw, len(raw))
        if get_i64(&r) != _VENUE_MAGIC:
            raise ValueError("not simulated venue bytes")
        n = get_i64(&r)
        if r.failed or n <= 0 or n > MAX_SIM_INSTRUMENTS or n > (r.len - r.pos) // 64:
            raise ValueError("bad instrument count")
        specs = []
        for i in range(n):
            specs.append({key: get_i64(&r) for key in _INSTRUMENT_KEYS})
        if r.failed:
            raise ValueError("truncated instrument table")
        try:
            out = SimulatedVenue(specs, max_resting=1, queue_capacity=1)
        except ValueError as exc:
            raise ValueError("bad instrument table") from exc
        for i in range(n):
            if book_read(&out.books[i], &r) != 0:
                raise ValueError(f"invalid book bytes for instrument {i}")
        if sim_read(&out.v, &r) != 0:
            raise ValueError("invalid venue bytes")
        if r.pos != r.len:
            raise ValueError("trailing bytes after the venue")
        return out
