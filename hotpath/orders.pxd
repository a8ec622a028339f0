# Orders, fills and positions.
#
# Order state machine as a transition table (orders.pyx: ORDER_FSM[status][event]):
#
#   NEW ──submit──► SENT ──ack──► ACKED ──partial──► PARTIALLY_FILLED ──fill──► FILLED
#                    │              │                     │
#                    │              └──cancel request──► PENDING_CANCEL ◄──┘
#                    └──reject──► REJECTED        PENDING_CANCEL ──cancelled──► CANCELLED
#   any live state ──cancelled (unsolicited)──► CANCELLED, ──expire──► EXPIRED
#
# Full table (rows = status, columns = events; "-" = illegal: status unchanged, counted):
#
#                 SUBMIT ACK     REJECT   PARTIAL  FILL    CXL_REQ  CANCELLED CXL_REJ  EXPIRE
#   NEW           SENT   -       REJECTED -        -       CANCELLED -        -        -
#   SENT          -      ACKED   REJECTED PARTIAL  FILLED  PEND_CXL CANCELLED -        EXPIRED
#   ACKED         -      -       -        PARTIAL  FILLED  PEND_CXL CANCELLED -        EXPIRED
#   PARTIAL       -      -       -        PARTIAL  FILLED  PEND_CXL CANCELLED -        EXPIRED
#   PEND_CXL      -      PEND    REJECTED PEND     FILLED  -        CANCELLED RESTORE  EXPIRED
#   FILLED/CANCELLED/REJECTED/EXPIRED: terminal, every event illegal.
#
# RESTORE (cancel rejected) returns the order to ACKED, or PARTIALLY_FILLED if it has fills.
# A fill whose trade id was already seen is a duplicate: ignored, counted, never double-booked.
#
# Positions use average cost on settlement value (instrument.pxd): increasing fills add their
# value to entry_value; a reducing fill of d lots removes entry_value * d / |qty| (floor) and
# realizes dir * (exit value - removed value), dir = +1 for linear longs and inverse shorts,
# -1 for linear shorts and inverse longs. A round trip starts when the position leaves zero and
# ends when it returns to zero or flips (the flipping fill's fee is split pro rata by quantity).
from libc.stdint cimport int64_t

from hotpath.instrument cimport Instrument
from hotpath.serial cimport Reader, Writer
from hotpath.types cimport MAX_INSTRUMENTS


cpdef enum OrderStatus:
    OS_NEW = 0
    OS_SENT = 1
    OS_ACKED = 2
    OS_PARTIALLY_FILLED = 3
    OS_PENDING_CANCEL = 4
    OS_FILLED = 5
    OS_CANCELLED = 6
    OS_REJECTED = 7
    OS_EXPIRED = 8
    N_ORDER_STATUS = 9
    OS_RESTORE = 254        # table marker only: ACKED or PARTIALLY_FILLED by fills
    OS_ILLEGAL = 255        # table marker only: illegal transition

cpdef enum OrderEvent:
    OE_SUBMIT = 0
    OE_ACK = 1
    OE_REJECT = 2
    OE_PARTIAL_FILL = 3
    OE_FILL = 4             # the fill that completes the order
    OE_CANCEL_REQUEST = 5
    OE_CANCELLED = 6
    OE_CANCEL_REJECT = 7
    OE_EXPIRE = 8
    N_ORDER_EVENTS = 9


# Every field int64 so that an order's canonical bytes are its struct, field by field.
cdef struct Order:
    int64_t client_id       # > 0; 0 marks a free slot
    int64_t venue_id        # 0 until acked
    int64_t instrument
    int64_t side            # BUY / SELL
    int64_t order_type      # OrderType
    int64_t tif             # TimeInForce
    int64_t flags           # F_REDUCE_ONLY | F_OPERATOR
    int64_t price           # ticks (0 for market orders)
    int64_t qty             # original lots
    int64_t filled          # cumulative filled lots
    int64_t status          # OrderStatus
    int64_t ts_created      # ts_local of creation
    int64_t ts_sent
    int64_t ts_acked
    int64_t ts_updated

cdef enum:
    ORDER_FIELDS = 15       # int64 fields in Order
    DEDUP_CAPACITY = 8192   # fills per generation (power of two): at least this many are remembered
    DEDUP_TABLE = 16384     # hash slots per generation, 2 * DEDUP_CAPACITY (load <= 1/2)
    DEDUP_TABLE_LOG2 = 14
    DEDUP_RING = 16384      # 2 * DEDUP_CAPACITY: every remembered key, in insertion order


# Set of recently seen (instrument, trade id) keys in two generations: new keys go into the
# current one; when it holds DEDUP_CAPACITY keys the previous generation is dropped (one
# memset) and the current one becomes the previous. Between DEDUP_CAPACITY and
# 2 * DEDUP_CAPACITY most recent keys are remembered, and no key is ever deleted on the fill
# path (open addressing without deletions: a lookup is one or two short probes).
cdef struct FillDedup:
    int64_t table[2][DEDUP_TABLE]   # per generation: key + 1, 0 = empty
    int64_t current                 # index of the current generation, 0 or 1
    int64_t current_count           # keys in the current generation (< DEDUP_CAPACITY after an insert)
    int64_t ring[DEDUP_RING]        # remembered keys in insertion order (canonical bytes)
    int64_t head                    # next ring write position
    int64_t count                   # keys held = current_count + keys of the previous generation


cdef struct OrderTable:
    Order* slots
    int64_t capacity                # power of two
    int64_t* index                  # open addressing: client_id -> slot + 1 (0 = empty), 2*capacity
    int64_t* free_list              # stack of free slot numbers
    int64_t n_free
    int64_t n_live
    int64_t next_client_id          # the next id handed out (starts at 1, never reused)
    int64_t open_qty[MAX_INSTRUMENTS][2]       # leaves of live orders per instrument and side
    int64_t open_count[MAX_INSTRUMENTS]        # live orders per instrument
    FillDedup dedup
    int64_t n_illegal_transitions
    int64_t n_duplicate_fills
    int64_t n_unknown_orders
    int64_t n_overfills             # fills larger than leaves (clamped)


cdef struct Position:
    int64_t qty                     # signed lots, from fills only (the real position)
    int64_t entry_value             # nano settlement value at entry of the open position, >= 0
    int64_t realized                # nano settlement, gross of fees, cumulative
    int64_t fees                    # nano settlement paid (rebates negative), cumulative
    int64_t volume                  # lots, cumulative
    int64_t volume_notional         # nano quote, cumulative
    int64_t n_fills
    int64_t n_round_trips
    int64_t n_winning_trips
    int64_t trip_pnl                # realized - fees of the current trip so far
    int64_t trip_start_ts
    int64_t trip_volume

cdef enum:
    POSITION_FIELDS = 12


cdef struct FillOutcome:
    int64_t realized_delta          # gross realized pnl of this fill
    int64_t trip_closed             # 1 if this fill ended a round trip
    int64_t trip_pnl                # that trip's pnl net of fees
    int64_t trip_start_ts
    int64_t trip_volume


# The table itself: ORDER_FSM[status][event] -> next status, OS_RESTORE or OS_ILLEGAL.
cdef int order_fsm_next(int status, int event) noexcept nogil

# capacity: power of two >= 16. 0 ok, -1 bad capacity / allocation failure. Zeroed struct in.
cdef int orders_init(OrderTable* t, int64_t capacity) noexcept nogil
cdef void orders_free(OrderTable* t) noexcept nogil

# Create an order in status NEW with the next client id; counts its qty in open_qty/open_count.
# NULL if the table is full or arguments are invalid (instrument >= MAX_INSTRUMENTS, side not
# BUY/SELL, qty <= 0, price < 0, limit price == 0).
cdef Order* orders_new(OrderTable* t, int64_t instrument, int64_t side, int64_t order_type,
                       int64_t tif, int64_t flags, int64_t price, int64_t qty, int64_t ts) noexcept nogil

# Reconciliation after a restart: put a resting order the venue reports (and the journal lacks)
# into the table under its own client id, ACKED or PARTIALLY_FILLED by `filled`, its leaves
# counted as open exposure; next_client_id moves past the id. NULL if the id is taken or the
# order is not a live LIMIT/LIMIT_MAKER order (filled must be in [0, qty)).
cdef Order* orders_adopt(OrderTable* t, int64_t client_id, int64_t instrument, int64_t side,
                         int64_t order_type, int64_t price, int64_t qty, int64_t filled, int64_t venue_id,
                         int64_t ts) noexcept nogil

cdef Order* orders_get(OrderTable* t, int64_t client_id) noexcept nogil

# Apply a non-fill event (SUBMIT, ACK, REJECT, CANCEL_REQUEST, CANCELLED, CANCEL_REJECT, EXPIRE).
# Returns the new status, or -1 if illegal (order unchanged, n_illegal_transitions += 1).
# Entering a terminal status removes the order's leaves from open_qty/open_count.
cdef int orders_apply(OrderTable* t, Order* o, int event, int64_t ts) noexcept nogil

# Apply a fill of qty lots: filled += min(qty, leaves) (excess counted in n_overfills), open
# exposure reduced, then PARTIAL_FILL or FILL by the remaining leaves. Returns the new status or
# -1 if the order's state does not accept fills (exposure untouched).
cdef int orders_fill(OrderTable* t, Order* o, int64_t qty, int64_t ts) noexcept nogil

# Free the slot of a terminal order (its id is never reused).
cdef void orders_release(OrderTable* t, Order* o) noexcept nogil

# Live client ids in ascending order (the only iteration order used for output). Returns count.
# (Implementation note: "live" = holding a slot, i.e. terminal orders not yet released are
# included; with max_n < n_live the max_n smallest ids are returned.)
cdef int64_t orders_live_ids(const OrderTable* t, int64_t* out, int64_t max_n) noexcept nogil

# 1 if (instrument, trade_id) was already seen; otherwise remembers it and returns 0.
# trade_id must be in [0, 2**58); anything else returns -1 (refused, not remembered).
cdef int fill_dedup_check(FillDedup* d, int64_t instrument, int64_t trade_id) noexcept nogil
# 1 if (instrument, trade_id) is remembered, 0 if not, -1 if refused; remembers nothing.
cdef int fill_dedup_seen(const FillDedup* d, int64_t instrument, int64_t trade_id) noexcept nogil

# Addition: fill_dedup_check on the table's dedup that also counts duplicates in
# n_duplicate_fills (fill_dedup_check alone cannot reach the table's counter). Same returns.
cdef int orders_dedup_fill(OrderTable* t, int64_t instrument, int64_t trade_id) noexcept nogil

# Position accounting. 0 ok, -1 bad input or overflow (position unchanged).
cdef int position_apply_fill(Position* p, const Instrument* ins, int side, int64_t price,
                             int64_t qty, int64_t fee, int64_t ts, FillOutcome* out) noexcept nogil
# Unrealized pnl (nano settlement) marked at mark_x2 = 2 * mark price (mid = bid + ask).
cdef int position_unrealized(const Position* p, const Instrument* ins, int64_t mark_x2,
                             int64_t* out) noexcept nogil

# Canonical bytes: table header, live orders ascending by client id, dedup ring oldest first.
cdef void orders_write(const OrderTable* t, Writer* w) noexcept nogil
# (Implementation note: t must be zeroed or orders_init'ed; the stored capacity wins and the table
# is rebuilt atomically: on -1 it is untouched.)
cdef int orders_read(OrderTable* t, Reader* r) noexcept nogil
cdef void position_write(const Position* p, Writer* w) noexcept nogil
cdef int position_read(Position* p, Reader* r) noexcept nogil
