# Pre-trade risk gate. Every new order passes risk_check before it exists; the verdict is a
# reason code (RR_OK = pass) and every denial is counted per reason.
#
# Fail closed: a zero or negative limit denies everything it governs (the edge refuses such a
# config, and the gate does not trust the edge); any arithmetic overflow denies (RR_OVERFLOW);
# a missing, one-sided, crossed or invalid book denies (RR_NO_MARKET). To disable a limit, set it
# to INT64_MAX. Cancels are never gated: reducing risk must always be possible.
#
# Check order (first failure wins, so the reason is deterministic):
#   state HALTED -> RR_HALTED
#   qty <= 0 -> RR_BAD_QTY; limit order price <= 0 -> RR_BAD_PRICE
#   book invalid/empty/crossed -> RR_NO_MARKET
#   state REDUCING and the order does not reduce exposure -> RR_REDUCE_ONLY
#   qty > max_order_qty -> RR_MAX_ORDER_QTY
#   |position + open same-side leaves + qty| (signed, buys +, sells -) > max_position -> RR_MAX_POSITION
#   limit price outside mid +- collar -> RR_PRICE_COLLAR   (|price*2 - mid_x2| * 1e6 > collar_ppm * mid_x2)
#   best ask - best bid > max_spread_ticks -> RR_SPREAD      (exposure-reducing orders exempt)
#   instrument open orders >= max_open_orders, or all >= max_open_orders_total -> RR_MAX_OPEN_ORDERS
#   symbol notional (position + open orders + this order) > max_notional -> RR_MAX_NOTIONAL
#   total notional over instruments + this order > max_total_notional -> RR_MAX_TOTAL_NOTIONAL
#   drawdown (peak equity - equity) >= max_drawdown and the order adds exposure -> RR_MAX_DRAWDOWN
#   today's loss (day start equity - equity) >= max_daily_loss and it adds exposure -> RR_DAILY_LOSS
#   token bucket empty (event time) -> RR_RATE_LIMIT      (a token is consumed only on RR_OK)
# An order "reduces exposure" if it is on the opposite side of the position and
# qty + open leaves on that side <= |position|.
#
# Circuit breakers are sticky: risk_on_round_trip (consecutive losing trips >= limit) and
# risk_on_fill (>= rapid_fill_count fills within rapid_fill_window_ns) move the state to HALTED
# with their reason; only an explicit risk_set_state (operator RESUME) leaves HALTED.
# Daily loss resets at each day boundary: day = (ts - day_offset_ns) // 86400e9.
from libc.stdint cimport int64_t

from hotpath.instrument cimport Instrument
from hotpath.serial cimport Reader, Writer
from hotpath.types cimport MAX_INSTRUMENTS


cpdef enum TradingState:
    STATE_ACTIVE = 0
    STATE_REDUCING = 1
    STATE_HALTED = 2

cpdef enum RiskReason:
    RR_OK = 0
    RR_HALTED = 1
    RR_REDUCE_ONLY = 2
    RR_BAD_QTY = 3
    RR_BAD_PRICE = 4
    RR_OVERFLOW = 5
    RR_NO_MARKET = 6
    RR_MAX_ORDER_QTY = 7
    RR_MAX_POSITION = 8
    RR_PRICE_COLLAR = 9
    RR_SPREAD = 10
    RR_MAX_OPEN_ORDERS = 11
    RR_MAX_NOTIONAL = 12
    RR_MAX_TOTAL_NOTIONAL = 13
    RR_MAX_DRAWDOWN = 14
    RR_DAILY_LOSS = 15
    RR_RATE_LIMIT = 16
    RR_CIRCUIT_LOSSES = 17          # breaker reasons: used as the HALTED state's reason
    RR_CIRCUIT_RAPID_FILLS = 18
    RR_OPERATOR = 19                # state set by an operator command
    RR_BAD_LIMITS = 20              # a limit <= 0: deny everything it governs
    RR_JOURNAL = 21                 # system halts (CTL_HALT_SYSTEM): the journal cannot keep up
    RR_FEED = 22                    # market data stale or disconnected
    RR_VENUE = 23                   # order gateway disconnected
    RR_RECONCILE = 24               # node and venue disagree after recovery (or not yet compared)
    RR_SHUTDOWN = 25                # the node is stopping: quotes cancelled, nothing new
    N_RISK_REASONS = 26

cdef enum:
    RAPID_FILL_RING = 256           # max rapid_fill_count


cdef struct RiskLimits:             # per instrument
    int64_t max_order_qty           # lots
    int64_t max_position            # lots, absolute, counting open orders on the same side
    int64_t max_notional            # nano quote: |position| + open leaves + order
    int64_t collar_ppm              # max |price - mid| / mid, in 1e-6
    int64_t max_spread_ticks        # quoting gate on the book spread
    int64_t max_open_orders


cdef struct RiskConfig:             # whole engine
    int64_t max_total_notional      # nano quote over all instruments
    int64_t max_open_orders_total
    int64_t rate_capacity           # token bucket burst (orders)
    int64_t rate_per_sec            # refill, orders per second of event time
    int64_t max_drawdown            # nano settlement, peak-to-trough of equity
    int64_t max_daily_loss          # nano settlement, since the day boundary
    int64_t day_offset_ns           # day boundary offset from UTC midnight
    int64_t max_consecutive_losses  # losing round trips in a row -> HALTED
    int64_t rapid_fill_count        # fills ... (<= RAPID_FILL_RING)
    int64_t rapid_fill_window_ns    # ... within this window -> HALTED


cdef struct RiskState:
    int64_t state                   # TradingState
    int64_t state_reason            # RiskReason that put it there (RR_OK when ACTIVE)
    int64_t tokens_e9               # token bucket level * 1e9
    int64_t last_refill_ts
    int64_t equity                  # last equity seen (nano settlement)
    int64_t peak_equity
    int64_t day_index
    int64_t day_start_equity
    int64_t consecutive_losses
    int64_t fill_ts[RAPID_FILL_RING]  # ring of recent fill times
    int64_t fill_head
    int64_t fill_count
    int64_t initialized             # 0 until the first equity/ts seen
    int64_t denials[N_RISK_REASONS] # per reason
    int64_t n_checks


cdef struct OrderIntent:
    int64_t instrument
    int64_t side
    int64_t order_type              # OT_MARKET: price ignored for the collar, notional at the touch
    int64_t price
    int64_t qty


# What the gate needs to know about the world at check time (filled in by the engine).
cdef struct ExposureView:
    int64_t position                # signed lots, real position of the instrument
    int64_t open_buy                # live leaves, instrument
    int64_t open_sell
    int64_t open_orders             # live orders, instrument
    int64_t open_orders_total       # live orders, all instruments
    int64_t open_notional           # nano quote of live leaves, instrument
    int64_t total_notional          # nano quote of positions + live leaves, all instruments
    int64_t best_bid
    int64_t best_ask
    int64_t book_valid


# 0 ok, -1 if any config value is <= 0 (state untouched). Zeroed state in; state = ACTIVE.
# (Implementation note: day_offset_ns is an offset, not a limit: it must lie in [0, 86400e9),
# 0 = UTC midnight; rapid_fill_count must also be <= RAPID_FILL_RING.)
cdef int risk_init(RiskState* s, const RiskConfig* c, int64_t ts) noexcept nogil

cdef int risk_check(const RiskLimits* lim, const RiskConfig* c, RiskState* s, const Instrument* ins,
                    const OrderIntent* o, const ExposureView* x, int64_t ts) noexcept nogil

# Returns the new state if a breaker tripped, else -1.
cdef int risk_on_fill(const RiskConfig* c, RiskState* s, int64_t ts) noexcept nogil
cdef int risk_on_round_trip(const RiskConfig* c, RiskState* s, int64_t trip_pnl) noexcept nogil

# Feed the current equity (nano settlement) at time ts: peak, day rollover.
cdef void risk_on_equity(const RiskConfig* c, RiskState* s, int64_t equity, int64_t ts) noexcept nogil

# Force a state (operator command or engine rule). Returns the previous state.
cdef int risk_set_state(RiskState* s, int64_t state, int64_t reason) noexcept nogil

# 1 if an order of side/qty on a position with the given open leaves reduces exposure.
cdef bint risk_reduces_exposure(int64_t position, int64_t open_same_side, int64_t side, int64_t qty) noexcept nogil

cdef void risk_write(const RiskState* s, Writer* w) noexcept nogil
cdef int risk_read(RiskState* s, Reader* r) noexcept nogil
