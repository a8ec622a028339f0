# Simulated venue: matches our orders against the recorded market, with latency, queue
# position and fees. It never changes the recorded book (no market impact is modelled).
#
# Time: commands take effect at ts_arrival = send time + entry_latency_ns; every response is
# delivered to the node at venue time + response_latency_ns. Both latencies are constant, so
# both queues are FIFO and deterministic.
#
# On a new order (at its arrival):
#   duplicate live client id -> REJECT(VR_DUPLICATE_ID); bad qty/price -> REJECT(VR_BAD_QTY /
#   VR_BAD_PRICE); resting table full -> REJECT(VR_TOO_MANY_ORDERS); otherwise ACK (aux =
#   venue id, assigned from a counter), then:
#   MARKET          walk the opposite side best-first, one taker FILL per level touched, until
#                   done; an unfilled remainder EXPIRES (empty book: EXPIRED with no fill)
#   LIMIT IOC       same walk, only levels at or better than the limit; remainder EXPIRES
#   LIMIT FOK       if the levels at or better than the limit hold >= qty: walk; else EXPIRED
#                   with no fill
#   LIMIT_MAKER     if it would cross the opposite best -> REJECT(VR_WOULD_TAKE) instead of the
#                   ACK; else rests
#   LIMIT GTC       walks what crosses (taker fills), the remainder rests
# A resting order starts with queue_ahead = the book's quantity at its price on its side.
#
# Resting orders fill (maker, at the order's price):
#   trade at our price by an aggressor on the other side: queue_ahead -= trade qty; the excess
#       below zero fills min(leaves, excess) and queue_ahead becomes 0
#   trade through our price (a sell aggressor below our bid, a buy aggressor above our ask):
#       the whole leaves fill
#   book update of the opposite side at or through our price with qty > 0 (the market crossed
#       our order): the whole leaves fill
#   book update of our side at our price lowering the level to q: queue_ahead = min(queue_ahead, q)
#       (risk-averse: the queue ahead only shrinks by trades and by level reductions)
# Cancels: a resting order -> CANCELED (qty = leaves); an unknown/finished one -> CANCEL_REJECT
# (VR_UNKNOWN_ORDER). CMD_CANCEL_ALL cancels every resting order of the instrument, ascending
# client id.
# Fees: instrument maker/taker ppm of the fill's settlement value (instrument.pxd), in the FILL's
# aux. Trade ids come from a counter starting at 1.
from libc.stdint cimport int64_t

from hotpath.book cimport Book
from hotpath.instrument cimport Instrument
from hotpath.serial cimport Reader, Writer
from hotpath.types cimport MarketEvent


cpdef enum VenueReject:
    VR_NONE = 0
    VR_WOULD_TAKE = 1
    VR_FOK_UNFILLABLE = 2
    VR_NO_LIQUIDITY = 3
    VR_UNKNOWN_ORDER = 4
    VR_DUPLICATE_ID = 5
    VR_BAD_PRICE = 6
    VR_BAD_QTY = 7
    VR_TOO_MANY_ORDERS = 8
    VR_BAD_INSTRUMENT = 9
    VR_BAD_ORDER = 10           # addition: side, order type, time in force or client id (<= 0) invalid

cpdef enum VenueCommandKind:
    CMD_NEW = 1
    CMD_CANCEL = 2
    CMD_CANCEL_ALL = 3


cdef struct VenueCommand:
    int64_t ts_arrival          # venue time the command takes effect
    int64_t kind                # VenueCommandKind
    int64_t client_id
    int64_t instrument
    int64_t side
    int64_t order_type
    int64_t tif
    int64_t price
    int64_t qty


cdef struct SimOrder:
    int64_t client_id
    int64_t venue_id
    int64_t instrument
    int64_t side
    int64_t price
    int64_t leaves
    int64_t queue_ahead
    int64_t ts_arrival


cdef struct SimParams:
    int64_t entry_latency_ns    # >= 0
    int64_t response_latency_ns # >= 0
    int64_t max_resting         # capacity of the resting table, > 0
    int64_t queue_capacity      # capacity of each in-flight ring (power of two), > 0


cdef struct SimVenue:
    SimParams p
    const Instrument* instruments   # owned by the engine
    const Book* books               # owned by the engine: the venue's view of the market
    int64_t n_instruments
    SimOrder* resting               # unordered; iteration for output sorts by client id
    int64_t n_resting
    VenueCommand* cmds              # ring of commands in flight to the venue
    int64_t cmd_head
    int64_t cmd_count
    MarketEvent* resp               # ring of responses in flight to the node
    int64_t resp_head
    int64_t resp_count
    int64_t next_venue_id
    int64_t next_trade_id
    int64_t n_fills
    int64_t n_maker_fills
    int64_t n_taker_fills
    int64_t n_rejects
    int64_t n_expired
    int64_t n_dropped               # commands/responses refused because a ring was full


# 0 ok, -1 bad params or allocation failure. Zeroed struct in.
cdef int sim_init(SimVenue* v, const SimParams* p, const Instrument* instruments, const Book* books,
                  int64_t n_instruments) noexcept nogil
cdef void sim_free(SimVenue* v) noexcept nogil

# Queue a command (its ts_arrival already set). 0 ok, -1 ring full (n_dropped += 1).
cdef int sim_send(SimVenue* v, const VenueCommand* c) noexcept nogil

# Venue time of the next command arrival / node time of the next response; INT64_MAX if none.
cdef int64_t sim_next_arrival(const SimVenue* v) noexcept nogil
cdef int64_t sim_next_response(const SimVenue* v) noexcept nogil

# Execute every command with ts_arrival <= t against the current books.
cdef void sim_process_arrivals(SimVenue* v, int64_t t) noexcept nogil

# Market data as the venue sees it (call after the book itself was updated).
cdef void sim_on_depth(SimVenue* v, int64_t instrument, int side, int64_t price, int64_t prev_qty,
                       int64_t new_qty, int64_t ts) noexcept nogil
cdef void sim_on_trade(SimVenue* v, int64_t instrument, int aggressor_side, int64_t price, int64_t qty,
                       int64_t ts) noexcept nogil

# Pop the next response if its delivery time <= t. 1 if *out was filled, else 0.
cdef int sim_pop_response(SimVenue* v, int64_t t, MarketEvent* out) noexcept nogil

# Canonical bytes: counters, resting orders ascending by client id, both rings oldest first.
cdef void sim_write(const SimVenue* v, Writer* w) noexcept nogil
cdef int sim_read(SimVenue* v, Reader* r) noexcept nogil


# --- additions (matching engineer) ---
# Python-visible wrapper (tests, tools): owns its Instrument table and one Book per instrument.
# Constructor: SimulatedVenue(instruments: list[dict], entry_latency_ns=0, response_latency_ns=0,
# max_resting=1024, queue_capacity=4096, center_prices=None, window_log2=20).
cdef class SimulatedVenue:
    cdef SimVenue v
    cdef Instrument* instruments
    cdef Book* books
    cdef int64_t n_books        # books allocated (each book_init'ed or zeroed), freed on dealloc
