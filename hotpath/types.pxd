# The hot path's shared vocabulary: the market/input event record, the journal/output record,
# and the enums every module agrees on. hotpath/types.pyx builds the matching numpy dtypes and
# a test keeps the two in sync (size and every field offset).
#
# Units everywhere in the hot path:
#   price  int64 ticks of the instrument (price = ticks * tick_size); 0 means "no price"
#   qty    int64 lots of the instrument (qty = lots * lot_size); never negative in events
#   time   int64 nanoseconds since the Unix epoch; ts_event = venue clock, ts_local = receipt
#   money  int64 nano-units (1e-9) of the relevant currency (see instrument.pxd)
#   ratios int64 scaled by 1e6 ("_e6") when they must be state (hashable, no floats)
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t

# Capacity of per-instrument tables inside one engine (a node trades at most this many symbols).
cpdef enum Limits:
    MAX_INSTRUMENTS = 16

# Side index into two-sided arrays. A bid/buy is 0, an ask/sell is 1.
cpdef enum:  # Side (anonymous so the values index C arrays directly)
    BUY = 0
    SELL = 1

# MarketEvent.kind: every input of the engine is one of these.
cpdef enum EventKind:
    EV_NONE = 0
    EV_DEPTH = 1            # set one level: side (F_SELL), price, qty = absolute qty (0 removes)
                            # venue_seq = final update id of the message (Binance u),
                            # aux = first update id (Binance U) or previous final id (futures pu)
    EV_DEPTH_CLEAR = 2      # clear both sides; starts a snapshot (venue_seq = snapshot lastUpdateId)
    EV_DEPTH_SNAPSHOT = 3   # set one level from a snapshot; the record with F_LAST ends the snapshot
    EV_TRADE = 4            # public trade: price, qty; F_SELL = the aggressor sold; venue_seq = trade id
    EV_BBO = 5              # venue best level (bookTicker): side, price, qty; venue_seq = update id
    EV_BOOK_INVALID = 6     # sequence gap or resync: the book is untrusted until a snapshot completes
    # execution reports (live venue or simulated venue); order_id = our client order id
    EV_ORDER_ACK = 10       # aux = venue order id
    EV_ORDER_REJECT = 11    # aux = venue reject reason (matching.pxd VenueReject)
    EV_ORDER_FILL = 12      # price, qty of this fill; venue_seq = venue trade id; aux = fee in nano
                            # settlement currency (negative = rebate); F_MAKER if we provided liquidity
    EV_ORDER_CANCELED = 13  # the venue cancelled the order (on request or unsolicited)
    EV_CANCEL_REJECT = 14   # aux = reason
    EV_ORDER_EXPIRED = 15   # IOC/FOK/market remainder expired, or venue expiry
    EV_ORDER_ADOPT = 16     # reconciliation: an order of ours the venue has and the journal lacks:
                            # order_id = its client id, price, qty (original), venue_seq = filled
                            # lots, aux = venue order id, F_SELL, F_POST_ONLY (else LIMIT GTC)
    # operator commands and timers
    EV_CONTROL = 20         # aux = ControlCommand, order_id = operator id, venue_seq = nonce,
                            # qty = system reason (CTL_*_SYSTEM) or config version (CTL_RELOAD_CONFIG)
    EV_TIMER = 21           # a clock tick from the runtime (only ts matters)

# MarketEvent.flags and JournalRecord.flags bits.
cpdef enum EventFlag:
    F_SELL = 1              # side is ask / sell (absent: bid / buy)
    F_LAST = 2              # last record of one venue message: the book is consistent after it
    F_MAKER = 4             # fill: we were the maker
    F_REDUCE_ONLY = 8       # order may only reduce exposure
    F_OPERATOR = 16         # order or action originated from an operator, not the strategy
    F_REFUSED = 32          # EV_CONTROL the runtime refused (stale, replayed, unauthorised): journaled only
    F_POST_ONLY = 64        # EV_ORDER_ADOPT: the adopted order is LIMIT_MAKER

# Operator / runtime control commands carried by EV_CONTROL.aux.
cpdef enum ControlCommand:
    CTL_NONE = 0
    CTL_KILL = 1            # HALTED + cancel every open order
    CTL_CANCEL_ALL = 2      # cancel every open order, state unchanged
    CTL_REDUCE_ONLY = 3     # REDUCING: only exposure-reducing orders pass
    CTL_DISCONNECT = 4      # runtime disconnects the venue; engine goes HALTED and cancels
    CTL_RESUME = 5          # back to ACTIVE (the console enforces the two-person rule)
    CTL_RELOAD_CONFIG = 6   # runtime swaps configuration; journaled as a marker (qty = version)
    CTL_HALT_SYSTEM = 7     # the runtime halts trading (journal backlog, stale feed, venue down,
                            # reconciliation): HALTED + cancel all, reason = qty (a RiskReason)
    CTL_RESUME_SYSTEM = 8   # the runtime's condition cleared: ACTIVE again, but only if the current
                            # state was set by the same system reason (qty) - never over an operator

# Order types and time in force.
cpdef enum OrderType:
    OT_LIMIT = 0
    OT_MARKET = 1
    OT_LIMIT_MAKER = 2      # post-only: rejected if it would take liquidity

cpdef enum TimeInForce:
    TIF_GTC = 0
    TIF_IOC = 1
    TIF_FOK = 2

# JournalRecord.kind: everything the engine reports. Field use per kind is documented next to
# each kind; unused fields are zero so that the canonical bytes are stable.
cpdef enum RecordKind:
    REC_NONE = 0
    REC_ORDER_NEW = 1       # order_id, price, qty, flags(side, reduce-only, operator), a=order type, b=tif
    REC_ORDER_SENT = 2      # order_id: handed to the venue gateway (a = venue arrival ts in backtests)
    REC_ORDER_ACKED = 3     # order_id, a = venue order id
    REC_ORDER_REJECTED = 4  # order_id, a = venue reason (e.g. Binance -2010), reason = a & 0xFFFF
    REC_RISK_DENIED = 5     # order_id = 0, price, qty, flags(side), reason = risk.pxd RiskReason
    REC_CANCEL_SENT = 6     # order_id
    REC_ORDER_CANCELED = 7  # order_id, qty = leaves at cancel
    REC_CANCEL_REJECTED = 8 # order_id, a = venue reason (full), reason = a & 0xFFFF
    REC_ORDER_EXPIRED = 9   # order_id, qty = leaves at expiry
    REC_FILL = 10           # order_id, price, qty, flags(side, maker), a = position after (lots),
                            # b = realized pnl after (nano, gross), c = fee of this fill (nano),
                            # d = venue trade id, e = mid_x2 at the fill (for unrealized marks)
    REC_TRADING_STATE = 11  # a = old state, b = new state, reason = cause (risk reason or control)
    REC_ROUND_TRIP = 12     # a = trip pnl net of fees (nano), b = trip start ts, c = trip volume (lots)
    REC_EQUITY = 13         # a = realized, b = unrealized, c = fees, d = position, e = equity (nano)
    REC_STATE_HASH = 14     # a = xxh3-64 of the canonical state (bit pattern), b = inputs processed
    REC_BOOK_STATE = 15     # a = 1 valid / 0 invalid, reason = BookStateReason
    REC_QUOTE = 16          # price = bid, qty = bid qty, a = ask, b = ask qty,
                            # c = reservation price (ticks*1e6), d = half spread (ticks*1e6)
    REC_CONTROL = 17        # a = ControlCommand, order_id = operator id, d = nonce, b = state after,
                            # c = qty of the input (system reason or config version), F_REFUSED when refused
                            # (reason = 1 if the command was refused by the engine itself)
    REC_ALERT = 18          # reason = AlertReason, a/b = detail
    REC_INPUT = 19          # an input event, journaled in node mode: reason = its EventKind,
                            # price, qty, order_id, flags as in the event, a = venue_seq, b = aux
    REC_ORDER_ADOPTED = 20  # order_id, price, qty, flags(side), a = filled, b = venue order id,
                            # c = order type

cpdef enum BookStateReason:
    BSR_NONE = 0
    BSR_SNAPSHOT = 1        # valid: a snapshot completed
    BSR_GAP = 2             # invalid: sequence gap reported by the feed
    BSR_CROSSED = 3         # crossed book observed after a complete message
    BSR_UNCROSSED = 4       # valid again: a previously crossed book uncrossed

cpdef enum AlertReason:
    AL_NONE = 0
    AL_OUTPUT_FULL = 1
    AL_ORDER_TABLE_FULL = 2
    AL_INVALID_TRANSITION = 3
    AL_UNKNOWN_ORDER = 4
    AL_DUPLICATE_FILL = 5
    AL_OVERFLOW = 6
    AL_BAD_EVENT = 7

# One input record (64 bytes, 8-byte aligned). Matches types.MARKET_EVENT_DTYPE.
cdef struct MarketEvent:
    int64_t ts_event
    int64_t ts_local
    int64_t price
    int64_t qty
    int64_t venue_seq
    int64_t aux
    int64_t order_id
    uint16_t kind
    uint16_t flags
    uint16_t instrument     # index into the engine's instrument table
    uint16_t reserved       # zero

# One output record (96 bytes). Matches types.JOURNAL_RECORD_DTYPE.
cdef struct JournalRecord:
    int64_t seq             # contiguous, assigned by the engine (never by PostgreSQL)
    int64_t ts_event
    int64_t ts_local
    int64_t order_id
    int64_t price
    int64_t qty
    int64_t a
    int64_t b
    int64_t c
    int64_t d
    int64_t e
    uint16_t kind
    uint16_t flags
    uint16_t instrument
    uint16_t reason
