# The engine wires book -> signals -> strategy -> risk -> orders -> venue for up to
# MAX_INSTRUMENTS instruments, over one stream of MarketEvent inputs, in compiled code.
#
# Inputs are market data, execution reports, operator commands and timers (types.pxd). Outputs
# are JournalRecords with a contiguous seq (orders, fills, denials, state changes, hashes, ...).
# With a simulated venue attached (backtests) the venue's responses are merged into the input
# stream by time inside the loop; without one (a live node) the runtime sends the orders found
# in REC_ORDER_SENT / REC_CANCEL_SENT records and feeds the venue's reports back as inputs.
#
# Determinism: single-threaded, time only from the events, integer state only; state_hash() is
# xxh3-64 of snapshot(), the canonical bytes of every module's state.
from libc.stdint cimport int64_t

from hotpath.book cimport Book
from hotpath.instrument cimport Instrument
from hotpath.matching cimport SimParams, SimVenue
from hotpath.orders cimport OrderTable, Position
from hotpath.risk cimport RiskConfig, RiskLimits, RiskState
from hotpath.serial cimport Reader, Writer
from hotpath.signals cimport Signals
from hotpath.strategy.avellaneda cimport AvellanedaParams, AvellanedaState
from hotpath.strategy.skewed cimport SkewedParams, SkewedState
from hotpath.strategy.taker cimport TakerParams, TakerState
from hotpath.types cimport MAX_INSTRUMENTS, JournalRecord, MarketEvent


cpdef enum StrategyKind:
    STRAT_NONE = 0
    STRAT_AVELLANEDA = 1
    STRAT_SKEWED = 2
    STRAT_TAKER = 3


cdef struct EngineParams:
    int64_t journal_inputs      # 1: every input is also journaled as REC_INPUT (node mode)
    int64_t hash_every          # REC_STATE_HASH every N inputs, 0 = never
    int64_t equity_sample_ns    # REC_EQUITY every N ns of event time, 0 = never
    int64_t md_latency_ns       # strategy reaction delay: our commands reach the venue
                                # md_latency + entry latency after the data that caused them
    int64_t stale_order_ns      # on EV_TIMER: cancel orders acked longer ago than this, 0 = off
    int64_t ack_timeout_ns      # on EV_TIMER: cancel orders unacknowledged this long, 0 = off
    int64_t order_capacity      # order table slots (power of two)
    int64_t record_features     # 1: keep a FeatureRow per complete depth message
    int64_t record_quotes       # 1: REC_QUOTE whenever the quote manager acts


cdef struct FeatureRow:
    int64_t ts_event
    int64_t venue_seq
    int64_t bid
    int64_t bid_qty
    int64_t ask
    int64_t ask_qty
    int64_t microprice_e6
    int64_t imbalance_e6


cdef struct InstrumentSlot:
    Instrument ins
    RiskLimits limits
    Position pos
    Signals sig
    int64_t strategy_kind       # StrategyKind
    AvellanedaParams as_p
    AvellanedaState as_s
    SkewedParams mm_p
    SkewedState mm_s
    TakerParams tk_p
    TakerState tk_s
    int64_t quote_id[2]         # client id of the strategy's live quote per side, 0 = none
    int64_t last_quote_change_ts
    int64_t crossed             # 1 while the book stays crossed after complete messages
    int64_t last_mid_x2         # last valid mid, for marks when the book is unusable
    int64_t n_messages          # complete depth messages
    int64_t n_trades
    int64_t n_bbo
    int64_t n_decisions
    int64_t n_targets


cdef class Engine:
    cdef EngineParams p
    cdef int64_t n_instruments
    cdef Book books[MAX_INSTRUMENTS]
    cdef InstrumentSlot slots[MAX_INSTRUMENTS]
    cdef OrderTable orders
    cdef RiskConfig risk_cfg
    cdef RiskState risk
    cdef SimVenue sim
    cdef SimParams sim_p
    cdef bint has_sim
    cdef int64_t seq                # seq of the next journal record
    cdef int64_t n_inputs
    cdef int64_t now_local          # engine clock: ts_local of the input (or response) in hand
    cdef int64_t now_event
    cdef int64_t last_equity_sample_ts
    cdef int64_t peak_equity
    cdef int64_t max_drawdown
    cdef int64_t n_bad_events
    cdef int64_t n_alerts
    cdef int64_t n_denied
    cdef int64_t n_orders
    cdef int64_t n_fills
    cdef int64_t n_duplicate_fills
    cdef int64_t n_unknown_reports
    cdef int64_t n_late_reports     # answers to cancels of orders that had already finished
    cdef int64_t state_before_system_halt  # restored by CTL_RESUME_SYSTEM
    # output buffers (not part of the state: drained by the caller)
    cdef JournalRecord* out
    cdef int64_t out_len
    cdef int64_t out_cap
    cdef int64_t out_soft_limit
    cdef FeatureRow* feat
    cdef int64_t feat_len
    cdef int64_t feat_cap
    cdef int64_t* scratch_ids       # order_capacity ids for ordered iteration
    cdef Instrument packed[MAX_INSTRUMENTS]  # contiguous copy of the instruments for the venue
    cdef bint failed                # allocation failure: the engine refuses further input

    cdef JournalRecord* _rec(self, int kind, int64_t instrument) noexcept nogil
    cdef int64_t _run(self, const MarketEvent* evs, int64_t start, int64_t end) noexcept nogil
    cdef void _step(self, const MarketEvent* ev) noexcept nogil
    cdef void _advance_sim(self, int64_t t) noexcept nogil
    cdef void _on_depth(self, const MarketEvent* ev) noexcept nogil
    cdef void _on_book_message(self, int64_t i, const MarketEvent* ev) noexcept nogil
    cdef void _on_trade(self, const MarketEvent* ev) noexcept nogil
    cdef void _on_exec(self, const MarketEvent* ev) noexcept nogil
    cdef void _on_control(self, const MarketEvent* ev) noexcept nogil
    cdef void _on_adopt(self, const MarketEvent* ev) noexcept nogil
    cdef void _on_timer(self, const MarketEvent* ev) noexcept nogil
    cdef void _decide(self, int64_t i) noexcept nogil
    cdef void _pursue(self, int64_t i, const void* target, int64_t requote_ticks, int64_t post_only) noexcept nogil
    cdef int64_t _place(self, int64_t i, int64_t side, int64_t order_type, int64_t tif, int64_t flags,
                        int64_t price, int64_t qty) noexcept nogil
    cdef void _cancel(self, int64_t client_id) noexcept nogil
    cdef void _cancel_all(self, int64_t instrument) noexcept nogil
    cdef void _cancel_quotes(self, int64_t i) noexcept nogil
    cdef void _enter_state(self, int64_t state, int64_t reason) noexcept nogil
    cdef void _breaker_tripped(self, int64_t prev) noexcept nogil
    cdef void _forget_quote(self, int64_t i, int64_t client_id) noexcept nogil
    cdef int64_t _equity(self) noexcept nogil
    cdef void _mark(self) noexcept nogil
    cdef void _emit_equity(self) noexcept nogil
    cdef void _emit_hash(self) noexcept nogil
    cdef void _alert(self, int64_t instrument, int reason, int64_t a, int64_t b) noexcept nogil
    cdef int64_t _best_qty(self, int64_t i, int side) noexcept nogil
    cdef void _center_window(self, int64_t i) noexcept nogil
    cdef void _write_state(self, Writer* w) noexcept nogil
    cdef int _read_state(self, Reader* rd) noexcept nogil
