# Orders, fills and positions: implementation of hotpath/orders.pxd.
#
# Everything below the Python wrappers is noexcept nogil C: no Python objects, no allocation
# outside orders_init/orders_read, int64 everywhere, checked arithmetic from intmath.pxd.
from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t, uint64_t, uint8_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

from hotpath.instrument cimport (
    CT_INVERSE,
    CT_LINEAR,
    inst_notional,
    inst_settle_value,
    inst_settle_value_x2,
)
from hotpath.intmath cimport am_add, am_muldiv_floor, am_sub
from hotpath.pywrap cimport byte_view, check_read_all, instrument_from_dict, reader_over, writer_take_bytes
from hotpath.serial cimport expect_i64, get_i64, get_i64s, put_i64, put_i64s, writer_init, writer_reserve
from hotpath.types cimport BUY, OT_LIMIT, OT_LIMIT_MAKER, OT_MARKET, SELL, TIF_FOK, TIF_GTC


cdef enum:
    # Section markers of the canonical bytes (ASCII tags; a mismatch fails the read).
    ORDERS_MAGIC = 0x4F524431       # "ORD1"
    ORDERS_END = 0x4F524445         # "ORDE"
    POSITION_MAGIC = 0x504F5331     # "POS1"
    MAX_CAPACITY_LOG2 = 30          # index = 2 * capacity slots must stay addressable


cdef int64_t TRADE_ID_LIMIT = (<int64_t>1) << 58     # dedup key = trade_id * 16 + instrument


# ---------------------------------------------------------------------------------------------
# The state machine table, exactly as drawn in orders.pxd.
# ---------------------------------------------------------------------------------------------

cdef int ORDER_FSM[N_ORDER_STATUS][N_ORDER_EVENTS]

_X = OS_ILLEGAL
_FSM_ROWS = (
    # SUBMIT  ACK                REJECT       PARTIAL              FILL       CXL_REQ            CANCELLED     CXL_REJ     EXPIRE
    (OS_SENT, _X,                OS_REJECTED, _X,                  _X,        OS_CANCELLED,      _X,           _X,         _X),          # NEW
    (_X,      OS_ACKED,          OS_REJECTED, OS_PARTIALLY_FILLED, OS_FILLED, OS_PENDING_CANCEL, OS_CANCELLED, _X,         OS_EXPIRED),  # SENT
    (_X,      _X,                _X,          OS_PARTIALLY_FILLED, OS_FILLED, OS_PENDING_CANCEL, OS_CANCELLED, _X,         OS_EXPIRED),  # ACKED
    (_X,      _X,                _X,          OS_PARTIALLY_FILLED, OS_FILLED, OS_PENDING_CANCEL, OS_CANCELLED, _X,         OS_EXPIRED),  # PARTIAL
    (_X,      OS_PENDING_CANCEL, OS_REJECTED, OS_PENDING_CANCEL,   OS_FILLED, _X,                OS_CANCELLED, OS_RESTORE, OS_EXPIRED),  # PEND_CXL
    (_X,) * N_ORDER_EVENTS,     # FILLED     (terminal: every event illegal)
    (_X,) * N_ORDER_EVENTS,     # CANCELLED
    (_X,) * N_ORDER_EVENTS,     # REJECTED
    (_X,) * N_ORDER_EVENTS,     # EXPIRED
)
for _s in range(N_ORDER_STATUS):
    for _e in range(N_ORDER_EVENTS):
        ORDER_FSM[_s][_e] = _FSM_ROWS[_s][_e]
del _s, _e


cdef int order_fsm_next(int status, int event) noexcept nogil:
    if status < 0 or status >= N_ORDER_STATUS or event < 0 or event >= N_ORDER_EVENTS:
        return OS_ILLEGAL
    return ORDER_FSM[status][event]


cdef inline bint _terminal(int64_t status) noexcept nogil:
    return status >= OS_FILLED


# ---------------------------------------------------------------------------------------------
# Hashing and sorting helpers
# ---------------------------------------------------------------------------------------------

cdef inline uint64_t _mix(int64_t key) noexcept nogil:
    # splitmix64 finalizer: client ids and trade ids are sequential, so spread them before masking.
    cdef uint64_t x = <uint64_t>key
    x ^= x >> 30
    x *= <uint64_t>0xBF58476D1CE4E5B9ULL
    x ^= x >> 27
    x *= <uint64_t>0x94D049BB133111EBULL
    x ^= x >> 31
    return x


cdef inline void _sift_down(int64_t* a, const Order* slots, int64_t start, int64_t n) noexcept nogil:
    # Max-heap on the key: client id of the slot a[i] (slots != NULL) or a[i] itself.
    cdef int64_t root = start, child, tmp, kc, kr
    while True:
        child = 2 * root + 1
        if child >= n:
            return
        if child + 1 < n:
            if slots != NULL:
                if slots[a[child + 1]].client_id > slots[a[child]].client_id:
                    child += 1
            elif a[child + 1] > a[child]:
                child += 1
        if slots != NULL:
            kc = slots[a[child]].client_id
            kr = slots[a[root]].client_id
        else:
            kc = a[child]
            kr = a[root]
        if kc <= kr:
            return
        tmp = a[root]
        a[root] = a[child]
        a[child] = tmp
        root = child


cdef void _heapsort(int64_t* a, const Order* slots, int64_t n) noexcept nogil:
    # In place, O(n log n), no allocation: output ordering must not cost memory on the hot path.
    cdef int64_t i, tmp
    if n < 2:
        return
    i = n // 2 - 1
    while i >= 0:
        _sift_down(a, slots, i, n)
        i -= 1
    i = n - 1
    while i > 0:
        tmp = a[0]
        a[0] = a[i]
        a[i] = tmp
        _sift_down(a, slots, 0, i)
        i -= 1


# ---------------------------------------------------------------------------------------------
# OrderTable: slot pool, free-list stack, client id index
# ---------------------------------------------------------------------------------------------

cdef inline int64_t _index_find_pos(const OrderTable* t, int64_t client_id) noexcept nogil:
    """Index position holding client_id, or -1."""
    cdef int64_t mask = 2 * t.capacity - 1
    cdef int64_t i = <int64_t>(_mix(client_id) & <uint64_t>mask)
    cdef int64_t e
    while True:
        e = t.index[i]
        if e == 0:
            return -1
        if t.slots[e - 1].client_id == client_id:
            return i
        i = (i + 1) & mask


cdef inline void _index_insert(int64_t* index, int64_t mask, int64_t client_id, int64_t slot) noexcept nogil:
    # Load factor <= 1/2 (index has 2 * capacity positions): an empty position always exists.
    cdef int64_t i = <int64_t>(_mix(client_id) & <uint64_t>mask)
    while index[i] != 0:
        i = (i + 1) & mask
    index[i] = slot + 1


cdef void _index_remove(OrderTable* t, int64_t client_id) noexcept nogil:
    # Backward-shift deletion: pull later entries of the probe run into the hole so that no
    # tombstones are needed and every remaining key stays reachable from its home position.
    cdef int64_t mask = 2 * t.capacity - 1
    cdef int64_t i = _index_find_pos(t, client_id)
    cdef int64_t j, e, home
    if i < 0:
        return
    j = i
    while True:
        j = (j + 1) & mask
        e = t.index[j]
        if e == 0:
            break
        home = <int64_t>(_mix(t.slots[e - 1].client_id) & <uint64_t>mask)
        # the entry at j may move to i unless its home lies cyclically in (i, j]
        if ((j - home) & mask) >= ((j - i) & mask):
            t.index[i] = e
            i = j
    t.index[i] = 0


cdef inline bint _owns(const OrderTable* t, const Order* o) noexcept nogil:
    # A pointer into this table's pool that holds a live order.
    return (o != NULL and t.slots != NULL and o >= t.slots and o < t.slots + t.capacity
            and o.client_id > 0)


cdef int orders_init(OrderTable* t, int64_t capacity) noexcept nogil:
    cdef int64_t i
    if capacity < 16 or capacity > ((<int64_t>1) << MAX_CAPACITY_LOG2) or (capacity & (capacity - 1)) != 0:
        return -1
    t.slots = <Order*>calloc(<size_t>capacity, sizeof(Order))
    t.index = <int64_t*>calloc(<size_t>(2 * capacity), sizeof(int64_t))
    t.free_list = <int64_t*>malloc(<size_t>capacity * sizeof(int64_t))
    if t.slots == NULL or t.index == NULL or t.free_list == NULL:
        orders_free(t)
        return -1
    t.capacity = capacity
    # stack: pops hand out slot 0 first (deterministic layout)
    for i in range(capacity):
        t.free_list[i] = capacity - 1 - i
    t.n_free = capacity
    t.n_live = 0
    t.next_client_id = 1
    return 0


cdef void orders_free(OrderTable* t) noexcept nogil:
    free(t.slots)
    free(t.index)
    free(t.free_list)
    t.slots = NULL
    t.index = NULL
    t.free_list = NULL
    t.capacity = 0
    t.n_free = 0
    t.n_live = 0


cdef Order* orders_new(OrderTable* t, int64_t instrument, int64_t side, int64_t order_type,
                       int64_t tif, int64_t flags, int64_t price, int64_t qty, int64_t ts) noexcept nogil:
    cdef int64_t slot, new_open
    cdef Order* o
    if t.slots == NULL or t.n_free <= 0 or t.next_client_id >= INT64_MAX:
        return NULL
    if instrument < 0 or instrument >= MAX_INSTRUMENTS or (side != BUY and side != SELL):
        return NULL
    if order_type != OT_LIMIT and order_type != OT_MARKET and order_type != OT_LIMIT_MAKER:
        return NULL
    if tif < TIF_GTC or tif > TIF_FOK or qty <= 0 or price < 0:
        return NULL
    if order_type != OT_MARKET and price == 0:
        return NULL
    if am_add(t.open_qty[instrument][side], qty, &new_open):
        return NULL                 # exposure no longer representable: refuse the order
    t.n_free -= 1
    slot = t.free_list[t.n_free]
    o = &t.slots[slot]
    memset(o, 0, sizeof(Order))
    o.client_id = t.next_client_id
    o.instrument = instrument
    o.side = side
    o.order_type = order_type
    o.tif = tif
    o.flags = flags
    o.price = price
    o.qty = qty
    o.status = OS_NEW
    o.ts_created = ts
    o.ts_updated = ts
    t.next_client_id += 1
    t.n_live += 1
    _index_insert(t.index, 2 * t.capacity - 1, o.client_id, slot)
    t.open_qty[instrument][side] = new_open
    t.open_count[instrument] += 1
    return o


cdef Order* orders_adopt(OrderTable* t, int64_t client_id, int64_t instrument, int64_t side,
                         int64_t order_type, int64_t price, int64_t qty, int64_t filled, int64_t venue_id,
                         int64_t ts) noexcept nogil:
    cdef Order* o
    if client_id <= 0 or client_id >= INT64_MAX or orders_get(t, client_id) != NULL:
        return NULL
    if order_type != OT_LIMIT and order_type != OT_LIMIT_MAKER:
        return NULL                 # only resting (GTC) orders outlive a restart
    if filled < 0 or filled >= qty:
        return NULL
    # orders_new does all the other validation and bookkeeping; then the record is rewritten
    # to what the venue says, with its leaves (not its original qty) counted as exposure
    o = orders_new(t, instrument, side, order_type, TIF_GTC, 0, price, qty, ts)
    if o == NULL:
        return NULL
    _index_remove(t, o.client_id)
    t.next_client_id -= 1
    o.client_id = client_id
    _index_insert(t.index, 2 * t.capacity - 1, client_id, <int64_t>(o - t.slots))
    if client_id >= t.next_client_id:
        t.next_client_id = client_id + 1   # never hand this id out again
    o.filled = filled
    o.venue_id = venue_id
    o.status = OS_PARTIALLY_FILLED if filled > 0 else OS_ACKED
    o.ts_sent = ts
    o.ts_acked = ts
    t.open_qty[instrument][side] -= filled
    return o


cdef Order* orders_get(OrderTable* t, int64_t client_id) noexcept nogil:
    cdef int64_t pos
    if client_id <= 0 or t.slots == NULL:
        return NULL
    pos = _index_find_pos(t, client_id)
    if pos < 0:
        return NULL
    return &t.slots[t.index[pos] - 1]


cdef inline void _close_exposure(OrderTable* t, Order* o) noexcept nogil:
    # Entering a terminal status: the remaining leaves stop being open exposure.
    t.open_qty[o.instrument][o.side] -= o.qty - o.filled
    t.open_count[o.instrument] -= 1


cdef int orders_apply(OrderTable* t, Order* o, int event, int64_t ts) noexcept nogil:
    cdef int nxt
    if not _owns(t, o):
        t.n_unknown_orders += 1
        return -1
    # Fills change quantities: only orders_fill may apply them.
    if event == OE_PARTIAL_FILL or event == OE_FILL:
        t.n_illegal_transitions += 1
        return -1
    nxt = order_fsm_next(<int>o.status, event)
    if nxt == OS_ILLEGAL:
        t.n_illegal_transitions += 1
        return -1
    if nxt == OS_RESTORE:
        nxt = OS_PARTIALLY_FILLED if o.filled > 0 else OS_ACKED
    if _terminal(nxt):
        _close_exposure(t, o)
    if event == OE_SUBMIT:
        o.ts_sent = ts
    elif event == OE_ACK:
        o.ts_acked = ts
    o.status = nxt
    o.ts_updated = ts
    return nxt


cdef int orders_fill(OrderTable* t, Order* o, int64_t qty, int64_t ts) noexcept nogil:
    cdef int nxt
    cdef int64_t leaves, applied
    if not _owns(t, o):
        t.n_unknown_orders += 1
        return -1
    if qty <= 0 or order_fsm_next(<int>o.status, OE_PARTIAL_FILL) == OS_ILLEGAL:
        t.n_illegal_transitions += 1
        return -1
    leaves = o.qty - o.filled
    applied = qty
    if qty > leaves:
        applied = leaves
        t.n_overfills += 1
    if applied == leaves:
        nxt = order_fsm_next(<int>o.status, OE_FILL)
    else:
        nxt = order_fsm_next(<int>o.status, OE_PARTIAL_FILL)
    if nxt == OS_ILLEGAL:           # not reachable with the drawn table; kept fail-closed
        t.n_illegal_transitions += 1
        return -1
    o.filled += applied
    t.open_qty[o.instrument][o.side] -= applied
    if _terminal(nxt):
        t.open_count[o.instrument] -= 1     # leaves are zero now: nothing else to remove
    o.status = nxt
    o.ts_updated = ts
    return nxt


cdef void orders_release(OrderTable* t, Order* o) noexcept nogil:
    cdef int64_t slot
    if not _owns(t, o) or not _terminal(o.status):
        return                      # a live order keeps its slot: its exposure is still counted
    slot = o - t.slots
    _index_remove(t, o.client_id)
    memset(o, 0, sizeof(Order))
    t.free_list[t.n_free] = slot
    t.n_free += 1
    t.n_live -= 1


cdef int64_t orders_live_ids(const OrderTable* t, int64_t* out, int64_t max_n) noexcept nogil:
    # The max_n smallest ids: a bounded max-heap in out, then sorted in place. No allocation.
    cdef int64_t n = 0, s, cid, tmp
    if max_n <= 0 or t.slots == NULL:
        return 0
    for s in range(t.capacity):
        cid = t.slots[s].client_id
        if cid == 0:
            continue
        if n < max_n:
            out[n] = cid
            n += 1
            # sift up
            tmp = n - 1
            while tmp > 0 and out[(tmp - 1) // 2] < out[tmp]:
                out[(tmp - 1) // 2], out[tmp] = out[tmp], out[(tmp - 1) // 2]
                tmp = (tmp - 1) // 2
        elif cid < out[0]:
            out[0] = cid
            _sift_down(out, NULL, 0, n)
    _heapsort(out, NULL, n)
    return n


# ---------------------------------------------------------------------------------------------
# FillDedup
# ---------------------------------------------------------------------------------------------

cdef inline uint64_t _dedup_slot(int64_t key) noexcept nogil:
    # Fibonacci hashing: one multiply spreads sequential trade ids over the table
    return (<uint64_t>key * <uint64_t>0x9E3779B97F4A7C15ULL) >> (64 - DEDUP_TABLE_LOG2)


cdef inline bint _gen_has(const int64_t* table, int64_t key) noexcept nogil:
    cdef int64_t i = <int64_t>_dedup_slot(key)
    while table[i] != 0:
        if table[i] == key + 1:
            return True
        i = (i + 1) & (DEDUP_TABLE - 1)
    return False


cdef inline void _gen_insert(int64_t* table, int64_t key) noexcept nogil:
    cdef int64_t i = <int64_t>_dedup_slot(key)
    while table[i] != 0:
        i = (i + 1) & (DEDUP_TABLE - 1)
    table[i] = key + 1


cdef inline bint _dedup_has(const FillDedup* d, int64_t key) noexcept nogil:
    return _gen_has(d.table[d.current], key) or _gen_has(d.table[1 - d.current], key)


cdef inline void _dedup_add(FillDedup* d, int64_t key) noexcept nogil:
    # caller checked the key is new
    if d.current_count >= DEDUP_CAPACITY:
        d.current = 1 - d.current
        memset(d.table[d.current], 0, sizeof(d.table[0]))   # the oldest generation goes
        d.count -= DEDUP_CAPACITY if d.count > DEDUP_CAPACITY else 0
        d.current_count = 0
    _gen_insert(d.table[d.current], key)
    d.current_count += 1
    d.ring[d.head] = key
    d.head = (d.head + 1) & (DEDUP_RING - 1)
    d.count += 1


cdef inline int64_t _dedup_key(int64_t instrument, int64_t trade_id) noexcept nogil:
    """Key in [0, 2**62), or -1 if the pair is refused."""
    if trade_id < 0 or trade_id >= TRADE_ID_LIMIT or instrument < 0 or instrument >= MAX_INSTRUMENTS:
        return -1
    return trade_id * 16 + instrument


cdef int fill_dedup_check(FillDedup* d, int64_t instrument, int64_t trade_id) noexcept nogil:
    cdef int64_t key = _dedup_key(instrument, trade_id)
    if key < 0:
        return -1
    if _dedup_has(d, key):
        return 1
    _dedup_add(d, key)
    return 0


cdef int fill_dedup_seen(const FillDedup* d, int64_t instrument, int64_t trade_id) noexcept nogil:
    cdef int64_t key = _dedup_key(instrument, trade_id)
    if key < 0:
        return -1
    return 1 if _dedup_has(d, key) else 0


cdef int orders_dedup_fill(OrderTable* t, int64_t instrument, int64_t trade_id) noexcept nogil:
    cdef int r = fill_dedup_check(&t.dedup, instrument, trade_id)
    if r == 1:
        t.n_duplicate_fills += 1
    return r


# ---------------------------------------------------------------------------------------------
# Positions
# ---------------------------------------------------------------------------------------------

cdef inline int _pos_dir(const Instrument* ins, int64_t qty) noexcept nogil:
    # +1 linear long / inverse short, -1 linear short / inverse long (0 flat)
    cdef int sign = 1 if qty > 0 else (-1 if qty < 0 else 0)
    return sign if ins.contract_type == CT_LINEAR else -sign


cdef int position_apply_fill(Position* p, const Instrument* ins, int side, int64_t price,
                             int64_t qty, int64_t fee, int64_t ts, FillOutcome* out) noexcept nogil:
    # Computed into locals, committed at the end: any failure leaves the position unchanged.
    cdef Position n
    cdef FillOutcome res
    cdef int64_t notional = 0, v = 0, signed_qty, pos_abs, close_q, open_q
    cdef int64_t fee_close, fee_open, removed, delta = 0, v_close = 0, v_open = 0
    cdef int d
    if out != NULL:
        memset(out, 0, sizeof(FillOutcome))
    if p == NULL or ins == NULL:
        return -1
    if ins.contract_type != CT_LINEAR and ins.contract_type != CT_INVERSE:
        return -1
    if (side != BUY and side != SELL) or qty <= 0 or price <= 0 or p.qty == INT64_MIN:
        return -1
    if inst_notional(ins, price, qty, &notional) or notional < 0:
        return -1
    n = p[0]
    memset(&res, 0, sizeof(FillOutcome))
    signed_qty = qty if side == BUY else -qty

    if p.qty == 0 or (p.qty > 0) == (side == BUY):
        # opening or increasing: the fill's value joins the entry value
        if inst_settle_value(ins, price, qty, &v) or v < 0:
            return -1
        if am_add(n.entry_value, v, &n.entry_value):
            return -1
        if am_add(n.qty, signed_qty, &n.qty) or n.qty == INT64_MIN:
            return -1
        if p.qty == 0:
            n.trip_start_ts = ts
            n.trip_pnl = 0
            n.trip_volume = 0
        if am_sub(n.trip_pnl, fee, &n.trip_pnl) or am_add(n.trip_volume, qty, &n.trip_volume):
            return -1
    else:
        # reducing, closing or flipping: close_q lots leave the position, open_q start a new trip
        pos_abs = p.qty if p.qty > 0 else -p.qty
        d = _pos_dir(ins, p.qty)
        close_q = qty if qty < pos_abs else pos_abs
        open_q = qty - close_q
        # the fee is split pro rata by quantity: floor to the closing part, remainder to the new trip
        if am_muldiv_floor(fee, close_q, qty, &fee_close) or am_sub(fee, fee_close, &fee_open):
            return -1
        if inst_settle_value(ins, price, close_q, &v_close) or v_close < 0:
            return -1
        if am_muldiv_floor(p.entry_value, close_q, pos_abs, &removed):
            return -1
        if am_sub(v_close, removed, &delta):
            return -1
        if d < 0:
            if delta == INT64_MIN:
                return -1
            delta = -delta
        n.entry_value = p.entry_value - removed          # 0 <= removed <= entry_value
        n.qty = p.qty + (close_q if side == BUY else -close_q)   # moves toward zero: no overflow
        if am_add(n.trip_pnl, delta, &n.trip_pnl) or am_sub(n.trip_pnl, fee_close, &n.trip_pnl):
            return -1
        if am_add(n.trip_volume, close_q, &n.trip_volume):
            return -1
        if n.qty == 0:
            res.trip_closed = 1
            res.trip_pnl = n.trip_pnl
            res.trip_start_ts = n.trip_start_ts
            res.trip_volume = n.trip_volume
            if am_add(n.n_round_trips, 1, &n.n_round_trips):
                return -1
            if n.trip_pnl > 0 and am_add(n.n_winning_trips, 1, &n.n_winning_trips):
                return -1
            n.trip_pnl = 0
            n.trip_start_ts = 0
            n.trip_volume = 0
            if open_q > 0:
                # flip: the remainder opens the next trip at this fill's price
                if inst_settle_value(ins, price, open_q, &v_open) or v_open < 0:
                    return -1
                if am_sub(0, fee_open, &n.trip_pnl):
                    return -1
                n.entry_value = v_open
                n.qty = open_q if side == BUY else -open_q
                n.trip_start_ts = ts
                n.trip_volume = open_q

    if am_add(n.realized, delta, &n.realized) or am_add(n.fees, fee, &n.fees):
        return -1
    if am_add(n.volume, qty, &n.volume) or am_add(n.volume_notional, notional, &n.volume_notional):
        return -1
    if am_add(n.n_fills, 1, &n.n_fills):
        return -1
    res.realized_delta = delta
    p[0] = n
    if out != NULL:
        out[0] = res
    return 0


cdef int position_unrealized(const Position* p, const Instrument* ins, int64_t mark_x2,
                             int64_t* out) noexcept nogil:
    cdef int64_t v, diff
    if p == NULL or ins == NULL or out == NULL:
        return -1
    if p.qty == 0:
        out[0] = 0
        return 0
    if p.qty == INT64_MIN or (ins.contract_type != CT_LINEAR and ins.contract_type != CT_INVERSE):
        return -1
    if inst_settle_value_x2(ins, mark_x2, p.qty if p.qty > 0 else -p.qty, &v):
        return -1
    if am_sub(v, p.entry_value, &diff):
        return -1
    if _pos_dir(ins, p.qty) < 0:
        if diff == INT64_MIN:
            return -1
        diff = -diff
    out[0] = diff
    return 0


# ---------------------------------------------------------------------------------------------
# Canonical bytes
# ---------------------------------------------------------------------------------------------

cdef void orders_write(const OrderTable* t, Writer* w) noexcept nogil:
    cdef int64_t n = t.n_live, nbytes, k = 0, s, i, start
    cdef int64_t* base
    cdef int64_t* scratch
    put_i64(w, ORDERS_MAGIC)
    put_i64(w, t.capacity)
    put_i64(w, t.next_client_id)
    put_i64(w, n)
    put_i64(w, t.n_illegal_transitions)
    put_i64(w, t.n_duplicate_fills)
    put_i64(w, t.n_unknown_orders)
    put_i64(w, t.n_overfills)
    put_i64s(w, &t.open_qty[0][0], 2 * MAX_INSTRUMENTS)
    put_i64s(w, &t.open_count[0], MAX_INSTRUMENTS)
    # Live orders ascending by client id. The sort runs inside the output region itself: the slot
    # numbers sit in its last n words and are sorted there; order i (ORDER_FIELDS words at i) never
    # overwrites a slot number j > i still to be read (ORDER_FIELDS*i + ORDER_FIELDS-1 < 14n + i + 1).
    if n > 0 and t.slots != NULL:
        nbytes = n * ORDER_FIELDS * 8
        if writer_reserve(w, nbytes) != 0:
            return
        base = <int64_t*>(w.buf + w.len)
        scratch = base + n * (ORDER_FIELDS - 1)
        for s in range(t.capacity):
            if t.slots[s].client_id != 0:
                if k >= n:
                    w.failed = 1        # n_live disagrees with the pool: refuse to write a lie
                    return
                scratch[k] = s
                k += 1
        if k != n:
            w.failed = 1
            return
        _heapsort(scratch, t.slots, n)
        for i in range(n):
            s = scratch[i]
            memcpy(base + i * ORDER_FIELDS, &t.slots[s], ORDER_FIELDS * 8)  # all-int64 struct
        w.len += nbytes
    put_i64(w, t.dedup.count)
    put_i64(w, t.dedup.current_count)
    start = (t.dedup.head - t.dedup.count) & (DEDUP_RING - 1)
    for i in range(t.dedup.count):
        put_i64(w, t.dedup.ring[(start + i) & (DEDUP_RING - 1)])
    put_i64(w, ORDERS_END)


cdef bint _order_valid(const Order* o, int64_t prev_id, int64_t next_id) noexcept nogil:
    if o.client_id <= prev_id or o.client_id >= next_id:
        return False
    if o.instrument < 0 or o.instrument >= MAX_INSTRUMENTS or (o.side != BUY and o.side != SELL):
        return False
    if o.order_type != OT_LIMIT and o.order_type != OT_MARKET and o.order_type != OT_LIMIT_MAKER:
        return False
    if o.tif < TIF_GTC or o.tif > TIF_FOK or o.qty <= 0 or o.price < 0:
        return False
    if o.order_type != OT_MARKET and o.price == 0:
        return False
    if o.status < 0 or o.status >= N_ORDER_STATUS or o.filled < 0 or o.filled > o.qty:
        return False
    if (o.status == OS_FILLED) != (o.filled == o.qty):
        return False
    if o.status == OS_NEW and o.filled != 0:
        return False
    return True


cdef int orders_read(OrderTable* t, Reader* r) noexcept nogil:
    # Builds a complete new table, then swaps it in: on any failure t is untouched.
    # t must be zeroed or orders_init'ed; the stored capacity wins.
    cdef Reader rr = r[0]
    cdef int64_t cap, next_id, n, i, k, prev, leaves, key, count, current_count
    cdef int64_t counters[4]
    cdef int64_t open_qty[MAX_INSTRUMENTS][2]
    cdef int64_t open_count[MAX_INSTRUMENTS]
    cdef int64_t calc_qty[MAX_INSTRUMENTS][2]
    cdef int64_t calc_count[MAX_INSTRUMENTS]
    cdef Order* slots = NULL
    cdef int64_t* index = NULL
    cdef int64_t* free_list = NULL
    cdef FillDedup* dd = NULL
    cdef Order* o
    cdef bint ok = False

    expect_i64(&rr, ORDERS_MAGIC)
    cap = get_i64(&rr)
    next_id = get_i64(&rr)
    n = get_i64(&rr)
    get_i64s(&rr, counters, 4)
    get_i64s(&rr, &open_qty[0][0], 2 * MAX_INSTRUMENTS)
    get_i64s(&rr, open_count, MAX_INSTRUMENTS)
    if rr.failed:
        r.failed = 1
        return -1
    if cap < 16 or cap > ((<int64_t>1) << MAX_CAPACITY_LOG2) or (cap & (cap - 1)) != 0:
        r.failed = 1
        return -1
    if next_id < 1 or n < 0 or n > cap or next_id - 1 < n:
        r.failed = 1
        return -1
    for i in range(4):
        if counters[i] < 0:
            r.failed = 1
            return -1

    slots = <Order*>calloc(<size_t>cap, sizeof(Order))
    index = <int64_t*>calloc(<size_t>(2 * cap), sizeof(int64_t))
    free_list = <int64_t*>malloc(<size_t>cap * sizeof(int64_t))
    dd = <FillDedup*>calloc(1, sizeof(FillDedup))
    if slots == NULL or index == NULL or free_list == NULL or dd == NULL:
        free(slots)
        free(index)
        free(free_list)
        free(dd)
        r.failed = 1
        return -1
    memset(calc_qty, 0, sizeof(calc_qty))
    memset(calc_count, 0, sizeof(calc_count))

    while True:                     # single pass; break = failure
        prev = 0
        for i in range(n):
            o = &slots[i]
            get_i64s(&rr, <int64_t*>o, ORDER_FIELDS)
            if rr.failed or not _order_valid(o, prev, next_id):
                break
            prev = o.client_id
            if not _terminal(o.status):
                leaves = o.qty - o.filled
                if am_add(calc_qty[o.instrument][o.side], leaves, &calc_qty[o.instrument][o.side]):
                    break
                calc_count[o.instrument] += 1
            _index_insert(index, 2 * cap - 1, o.client_id, i)
        else:
            ok = True
        if not ok:
            break
        ok = False
        for i in range(MAX_INSTRUMENTS):
            if (calc_count[i] != open_count[i] or calc_qty[i][0] != open_qty[i][0]
                    or calc_qty[i][1] != open_qty[i][1]):
                break
        else:
            ok = True
        if not ok:
            break
        ok = False
        count = get_i64(&rr)
        current_count = get_i64(&rr)
        # generations: the last current_count keys are the current one, the DEDUP_CAPACITY
        # before them (if any) the previous one
        if (rr.failed or current_count < 0 or current_count > DEDUP_CAPACITY
                or (count != current_count and count != current_count + DEDUP_CAPACITY)):
            break
        for i in range(count):
            key = get_i64(&rr)
            if rr.failed or key < 0 or _dedup_key(key & 15, key >> 4) != key or _dedup_has(dd, key):
                break
            _gen_insert(dd.table[0 if i < count - current_count else 1], key)
            dd.ring[i] = key
        else:
            ok = True
        if not ok:
            break
        dd.current = 1
        dd.current_count = current_count
        dd.count = count
        dd.head = count & (DEDUP_RING - 1)
        expect_i64(&rr, ORDERS_END)
        ok = not rr.failed
        break

    if not ok:
        free(slots)
        free(index)
        free(free_list)
        free(dd)
        r.failed = 1
        return -1

    orders_free(t)
    t.slots = slots
    t.index = index
    t.free_list = free_list
    t.capacity = cap
    k = 0
    i = cap - 1
    while i >= n:                   # pops hand out the lowest free slot first
        free_list[k] = i
        k += 1
        i -= 1
    t.n_free = k
    t.n_live = n
    t.next_client_id = next_id
    t.n_illegal_transitions = counters[0]
    t.n_duplicate_fills = counters[1]
    t.n_unknown_orders = counters[2]
    t.n_overfills = counters[3]
    memcpy(&t.open_qty[0][0], &open_qty[0][0], sizeof(open_qty))
    memcpy(&t.open_count[0], &open_count[0], sizeof(open_count))
    memcpy(&t.dedup, dd, sizeof(FillDedup))
    free(dd)
    r[0] = rr
    return 0


cdef void position_write(const Position* p, Writer* w) noexcept nogil:
    put_i64(w, POSITION_MAGIC)
    put_i64s(w, <const int64_t*>p, POSITION_FIELDS)     # all-int64 struct, declaration order


cdef int position_read(Position* p, Reader* r) noexcept nogil:
    cdef Reader rr = r[0]
    cdef Position n
    expect_i64(&rr, POSITION_MAGIC)
    get_i64s(&rr, <int64_t*>&n, POSITION_FIELDS)
    if (rr.failed or n.qty == INT64_MIN or n.entry_value < 0 or n.volume < 0
            or n.volume_notional < 0 or n.n_fills < 0 or n.n_round_trips < 0
            or n.n_winning_trips < 0 or n.n_winning_trips > n.n_round_trips or n.trip_volume < 0
            or (n.qty == 0 and (n.entry_value != 0 or n.trip_volume != 0 or n.trip_pnl != 0
                                or n.trip_start_ts != 0))):
        r.failed = 1
        return -1
    p[0] = n
    r[0] = rr
    return 0


# ---------------------------------------------------------------------------------------------
# Python wrappers (tests, tools, Python-level callers). Not used by the compiled engine.
# ---------------------------------------------------------------------------------------------

_ORDER_KEYS = (
    "client_id", "venue_id", "instrument", "side", "order_type", "tif", "flags", "price", "qty",
    "filled", "status", "ts_created", "ts_sent", "ts_acked", "ts_updated",
)
_POSITION_KEYS = (
    "qty", "entry_value", "realized", "fees", "volume", "volume_notional", "n_fills",
    "n_round_trips", "n_winning_trips", "trip_pnl", "trip_start_ts", "trip_volume",
)


# Enum members as module attributes for Python callers (hotpath.orders.OS_NEW, OE_FILL, ...).
for _enum in (OrderStatus, OrderEvent):
    for _name, _member in _enum.__members__.items():
        globals()[_name] = _member
del _enum, _name, _member


def order_fsm_table():
    """ORDER_FSM as a list of N_ORDER_STATUS rows of N_ORDER_EVENTS ints (markers included)."""
    return [[order_fsm_next(s, e) for e in range(<int>N_ORDER_EVENTS)] for s in range(<int>N_ORDER_STATUS)]


def fsm_next(int status, int event):
    """order_fsm_next for Python callers (out-of-range inputs give OS_ILLEGAL)."""
    return order_fsm_next(status, event)


cdef class OrderManager:
    """Python face of an OrderTable (tests and tools). Statuses/events are the .pxd enums."""

    cdef OrderTable t

    def __cinit__(self, int64_t capacity=1024):
        # tp_alloc zeroes the object, so t starts as the zeroed struct orders_init expects
        if orders_init(&self.t, capacity) != 0:
            raise ValueError(f"bad capacity {capacity} (power of two, 16 .. 2**30)")

    def __dealloc__(self):
        orders_free(&self.t)

    @property
    def capacity(self):
        return self.t.capacity

    @property
    def n_live(self):
        return self.t.n_live

    @property
    def next_client_id(self):
        return self.t.next_client_id

    def new(self, int64_t instrument, int64_t side, int64_t order_type, int64_t tif, int64_t flags,
            int64_t price, int64_t qty, int64_t ts):
        cdef Order* o = orders_new(&self.t, instrument, side, order_type, tif, flags, price, qty, ts)
        return None if o == NULL else o.client_id

    def get(self, int64_t client_id):
        cdef Order* o = orders_get(&self.t, client_id)
        if o == NULL:
            return None
        cdef int64_t* f = <int64_t*>o
        return {k: f[i] for i, k in enumerate(_ORDER_KEYS)}

    def set_venue_id(self, int64_t client_id, int64_t venue_id):
        cdef Order* o = orders_get(&self.t, client_id)
        if o == NULL:
            return False
        o.venue_id = venue_id
        return True

    def apply(self, int64_t client_id, int event, int64_t ts):
        """New status, or -1 (illegal transition or unknown id; counted)."""
        return orders_apply(&self.t, orders_get(&self.t, client_id), event, ts)

    def fill(self, int64_t client_id, int64_t qty, int64_t ts):
        """New status, or -1 (state does not accept fills, qty <= 0, unknown id; counted)."""
        return orders_fill(&self.t, orders_get(&self.t, client_id), qty, ts)

    def release(self, int64_t client_id):
        """Free a terminal order's slot. True if released."""
        cdef Order* o = orders_get(&self.t, client_id)
        if o == NULL or not _terminal(o.status):
            return False
        orders_release(&self.t, o)
        return True

    def live_ids(self, max_n=None):
        cdef int64_t m = self.t.n_live if max_n is None else max_n
        if m <= 0:
            return []
        cdef int64_t* buf = <int64_t*>malloc(<size_t>m * sizeof(int64_t))
        if buf == NULL:
            raise MemoryError()
        try:
            k = orders_live_ids(&self.t, buf, m)
            return [buf[i] for i in range(k)]
        finally:
            free(buf)

    def open_qty(self, int64_t instrument, int64_t side):
        if instrument < 0 or instrument >= MAX_INSTRUMENTS or (side != BUY and side != SELL):
            raise IndexError("instrument or side out of range")
        return self.t.open_qty[instrument][side]

    def open_count(self, int64_t instrument):
        if instrument < 0 or instrument >= MAX_INSTRUMENTS:
            raise IndexError("instrument out of range")
        return self.t.open_count[instrument]

    def dedup_check(self, int64_t instrument, int64_t trade_id):
        """1 duplicate (counted), 0 new (remembered), -1 refused."""
        return orders_dedup_fill(&self.t, instrument, trade_id)

    @property
    def dedup_count(self):
        return self.t.dedup.count

    @property
    def counters(self):
        return {
            "n_illegal_transitions": self.t.n_illegal_transitions,
            "n_duplicate_fills": self.t.n_duplicate_fills,
            "n_unknown_orders": self.t.n_unknown_orders,
            "n_overfills": self.t.n_overfills,
        }

    def to_bytes(self):
        cdef Writer w
        writer_init(&w)
        orders_write(&self.t, &w)
        return writer_take_bytes(&w, "orders_write failed")

    @classmethod
    def from_bytes(cls, data):
        cdef const uint8_t[::1] view = byte_view(data)
        cdef Reader r
        cdef OrderManager m = cls(16)
        reader_over(&r, view)
        check_read_all(orders_read(&m.t, &r), &r, "invalid order table bytes")
        return m

    def load_bytes(self, data):
        """Replace this table's state from bytes; on failure the table is left unchanged."""
        cdef OrderManager other = OrderManager.from_bytes(data)     # validates everything first
        cdef OrderTable* tmp = <OrderTable*>malloc(sizeof(OrderTable))
        if tmp == NULL:
            raise MemoryError()
        # swap the structs: other now owns (and frees) the old arrays
        memcpy(tmp, &self.t, sizeof(OrderTable))
        memcpy(&self.t, &other.t, sizeof(OrderTable))
        memcpy(&other.t, tmp, sizeof(OrderTable))
        free(tmp)


cdef class PositionTracker:
    """Python face of one Position on one Instrument (tests and tools)."""

    cdef Position p
    cdef Instrument ins

    def __cinit__(self, dict instrument):
        self.ins = instrument_from_dict(instrument)
        memset(&self.p, 0, sizeof(Position))

    def apply_fill(self, int side, int64_t price, int64_t qty, int64_t fee, int64_t ts):
        """FillOutcome as a dict, or None if refused (bad input or overflow; position unchanged)."""
        cdef FillOutcome out
        if position_apply_fill(&self.p, &self.ins, side, price, qty, fee, ts, &out) != 0:
            return None
        return {
            "realized_delta": out.realized_delta,
            "trip_closed": out.trip_closed,
            "trip_pnl": out.trip_pnl,
            "trip_start_ts": out.trip_start_ts,
            "trip_volume": out.trip_volume,
        }

    def unrealized(self, int64_t mark_x2):
        """Unrealized pnl (nano settlement) at mark_x2 = 2 * mark, or None on bad input/overflow."""
        cdef int64_t v = 0
        if position_unrealized(&self.p, &self.ins, mark_x2, &v) != 0:
            return None
        return v

    def state(self):
        cdef int64_t* f = <int64_t*>&self.p
        return {k: f[i] for i, k in enumerate(_POSITION_KEYS)}

    @property
    def qty(self):
        return self.p.qty

    @property
    def entry_value(self):
        return self.p.entry_value

    @property
    def realized(self):
        return self.p.realized

    @property
    def fees(self):
        return self.p.fees

    @property
    def volume(self):
        return self.p.volume

    @property
    def volume_notional(self):
        return self.p.volume_notional

    @property
    def n_fills(self):
        return self.p.n_fills

    @property
    def n_round_trips(self):
        return self.p.n_round_trips

    @property
    def n_winning_trips(self):
        return self.p.n_winning_trips

    @property
    def trip_pnl(self):
        return self.p.trip_pnl

    @property
    def trip_start_ts(self):
        return self.p.trip_start_ts

    @property
    def trip_volume(self):
        return self.p.trip_volume

    def to_bytes(self):
        cdef Writer w
        writer_init(&w)
        position_write(&self.p, &w)
        return writer_take_bytes(&w, "position_write failed")

    @classmethod
    def from_bytes(cls, data, dict instrument):
        cdef const uint8_t[::1] view = byte_view(data)
        cdef Reader r
        cdef PositionTracker t = cls(instrument)
        reader_over(&r, view)
        check_read_all(position_read(&t.p, &r), &r, "invalid position bytes")
        return t
