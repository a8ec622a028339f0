"""The compiled engine: one loop over MarketEvent inputs, no Python call per event.

Python-level methods configure the engine (instruments, limits, strategy, risk, simulated
venue), feed it numpy arrays of events (`process`), and read what came out (`drain`,
`drain_features`, accessors). Everything between is nogil C: see engine.pxd.
"""

import numpy as np

from libc.stdint cimport INT64_MAX, int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memcpy, memset

from hotpath.book cimport (
    Book, BookSide, book_clear, book_crossed, book_depth, book_free, book_init, book_read, book_recenter, book_set,
    book_write,
)
from hotpath.hashing cimport XXH3_64bits
from hotpath.instrument cimport CT_LINEAR, Instrument, inst_notional, inst_settle_value_x2
from hotpath.intmath cimport am_abs, am_add
from hotpath.matching cimport (
    CMD_CANCEL, CMD_NEW, VR_TOO_MANY_ORDERS, SimParams, VenueCommand, sim_free, sim_init, sim_next_arrival,
    sim_next_response, sim_on_depth, sim_on_trade, sim_pop_response, sim_process_arrivals, sim_read,
    sim_send, sim_write,
)
from hotpath.orders cimport (
    OE_ACK, OE_CANCEL_REJECT, OE_CANCEL_REQUEST, OE_CANCELLED, OE_EXPIRE, OE_REJECT, OE_SUBMIT, OS_ACKED,
    OS_CANCELLED, OS_EXPIRED, OS_FILLED, OS_NEW, OS_PARTIALLY_FILLED, OS_PENDING_CANCEL, OS_REJECTED,
    OS_SENT, FillOutcome, Order, fill_dedup_seen, orders_adopt, orders_apply, orders_dedup_fill, orders_fill, orders_free, orders_get,
    orders_init, orders_live_ids, orders_new, orders_read, orders_release, orders_write, position_apply_fill,
    position_read, position_unrealized, position_write,
)
from hotpath.risk cimport (
    N_RISK_REASONS, RAPID_FILL_RING, RR_JOURNAL, RR_OK, RR_OPERATOR, RR_OVERFLOW, RR_SHUTDOWN, STATE_ACTIVE, STATE_HALTED, STATE_REDUCING, ExposureView, OrderIntent, risk_check,
    risk_init, risk_on_equity, risk_on_fill, risk_on_round_trip, risk_read, risk_set_state, risk_write,
)
from hotpath.serial cimport (
    Reader, Writer, get_i64, get_i64s, put_i64, put_i64s, reader_init, writer_free, writer_init,
)
from hotpath.signals cimport Signals, signals_init, signals_on_book, signals_on_trade, signals_read, signals_write
from hotpath.strategy.avellaneda cimport (
    avellaneda_init, avellaneda_on_book, avellaneda_quote, avellaneda_read, avellaneda_write,
)
from hotpath.strategy.common cimport QuoteTarget, StrategyInputs, TakeTarget
from hotpath.strategy.skewed cimport skewed_init, skewed_on_book, skewed_quote, skewed_read, skewed_write
from hotpath.strategy.taker cimport taker_decide, taker_init, taker_on_book, taker_read, taker_write
from hotpath.types cimport (
    AL_BAD_EVENT, AL_DUPLICATE_FILL, AL_INVALID_TRANSITION, AL_ORDER_TABLE_FULL, AL_OVERFLOW, AL_UNKNOWN_ORDER,
    BSR_CROSSED, BSR_GAP, BSR_SNAPSHOT, BSR_UNCROSSED, BUY, CTL_CANCEL_ALL, CTL_DISCONNECT, CTL_HALT_SYSTEM,
    CTL_KILL, CTL_REDUCE_ONLY, CTL_RELOAD_CONFIG, CTL_RESUME, CTL_RESUME_SYSTEM, EV_BBO, EV_BOOK_INVALID, EV_CANCEL_REJECT, EV_CONTROL, EV_DEPTH,
    EV_DEPTH_CLEAR, EV_DEPTH_SNAPSHOT, EV_ORDER_ACK, EV_ORDER_ADOPT, EV_ORDER_CANCELED, EV_ORDER_EXPIRED, EV_ORDER_FILL,
    EV_ORDER_REJECT, EV_TIMER, EV_TRADE, F_LAST, F_MAKER, F_OPERATOR, F_POST_ONLY, F_REFUSED, F_SELL,
    MAX_INSTRUMENTS,
    OT_LIMIT, OT_LIMIT_MAKER, OT_MARKET, REC_BOOK_STATE, REC_CANCEL_REJECTED, REC_CANCEL_SENT, REC_CONTROL,
    REC_EQUITY, REC_FILL, REC_INPUT, REC_ORDER_ACKED, REC_ORDER_ADOPTED, REC_ORDER_CANCELED, REC_ORDER_EXPIRED, REC_ORDER_NEW,
    REC_ORDER_REJECTED, REC_ORDER_SENT, REC_QUOTE, REC_RISK_DENIED, REC_ROUND_TRIP, REC_STATE_HASH,
    REC_TRADING_STATE, REC_ALERT, SELL, TIF_GTC, TIF_IOC, JournalRecord, MarketEvent,
)

from hotpath.risk import RiskReason, TradingState
from hotpath.types import JOURNAL_RECORD_DTYPE, MARKET_EVENT_DTYPE

cdef extern from *:
    """
    #define AM_ENGINE_STATE_VERSION 1
    """
    int64_t AM_ENGINE_STATE_VERSION

FEATURE_DTYPE = np.dtype(
    [
        ("ts_event", "<i8"),
        ("venue_seq", "<i8"),
        ("bid", "<i8"),
        ("bid_qty", "<i8"),
        ("ask", "<i8"),
        ("ask_qty", "<i8"),
        ("microprice_e6", "<i8"),
        ("imbalance_e6", "<i8"),
    ]
)

ENGINE_PARAM_DEFAULTS = {
    "journal_inputs": 0,
    "hash_every": 0,
    "equity_sample_ns": 1_000_000_000,
    "md_latency_ns": 0,
    "stale_order_ns": 0,
    "ack_timeout_ns": 0,
    "order_capacity": 1024,
    "record_features": 0,
    "record_quotes": 1,
}

STRATEGY_KINDS = {"none": STRAT_NONE, "avellaneda": STRAT_AVELLANEDA, "mm": STRAT_SKEWED, "taker": STRAT_TAKER}

cdef enum:
    PREFETCH_AHEAD = 8          # events; enough to cover a DRAM miss at ~10 ns per event
    OUT_INITIAL = 65536
    OUT_RESERVE = 8192          # process() returns early when fewer free records remain...
    OUT_SOFT_LIMIT = 1 << 22    # ...past this many buffered records (the caller drains)


cdef extern from *:
    """
    #define am_prefetch_write(p) __builtin_prefetch((const void *)(p), 1, 3)
    """
    void prefetch_write "am_prefetch_write"(const void* p) noexcept nogil


cdef inline void memcpy_records(uint8_t* dst, const uint8_t* src, int64_t nbytes) noexcept nogil:
    memcpy(dst, src, <size_t>nbytes)


cdef inline bint _is_live(int64_t status) noexcept nogil:
    return status == OS_NEW or status == OS_SENT or status == OS_ACKED or status == OS_PARTIALLY_FILLED \
        or status == OS_PENDING_CANCEL


cdef inline bint _is_terminal(int64_t status) noexcept nogil:
    return status == OS_FILLED or status == OS_CANCELLED or status == OS_REJECTED or status == OS_EXPIRED


class EngineError(ValueError):
    """Bad engine configuration or input array."""


cdef class Engine:
    """Engine(instruments, risk_config, params=None, sim=None).

    instruments: list of dicts with the hotpath Instrument fields (see instrument.pxd; id is set
    from the position) plus optional "center_price" (ticks) for the book window.
    risk_config: RiskConfig fields (risk.pxd). params: EngineParams fields (defaults in
    ENGINE_PARAM_DEFAULTS). sim: SimParams fields to attach a simulated venue (backtests).
    Per instrument, call set_limits(), set_signal_params() and set_strategy() before process().
    """

    def __cinit__(self):
        memset(&self.p, 0, sizeof(self.p))
        memset(self.books, 0, sizeof(self.books))
        memset(self.slots, 0, sizeof(self.slots))
        memset(&self.orders, 0, sizeof(self.orders))
        memset(&self.risk, 0, sizeof(self.risk))
        memset(&self.risk_cfg, 0, sizeof(self.risk_cfg))
        memset(&self.sim, 0, sizeof(self.sim))
        memset(&self.sim_p, 0, sizeof(self.sim_p))
        self.out = NULL
        self.feat = NULL
        self.scratch_ids = NULL

    def __init__(self, instruments, risk_config, params=None, sim=None):
        cdef int64_t i
        cdef dict merged = dict(ENGINE_PARAM_DEFAULTS)
        if params:
            unknown = set(params) - set(ENGINE_PARAM_DEFAULTS)
            if unknown:
                raise EngineError(f"unknown engine params: {sorted(unknown)}")
            merged.update(params)
        self.p = merged
        if self.p.order_capacity < 16 or (self.p.order_capacity & (self.p.order_capacity - 1)) != 0:
            raise EngineError("order_capacity must be a power of two >= 16")
        for name in ("hash_every", "equity_sample_ns", "md_latency_ns", "stale_order_ns", "ack_timeout_ns"):
            if merged[name] < 0:
                raise EngineError(f"{name} must be >= 0")
        if not 1 <= len(instruments) <= MAX_INSTRUMENTS:
            raise EngineError(f"between 1 and {MAX_INSTRUMENTS} instruments are supported")
        self.n_instruments = len(instruments)
        for i, spec in enumerate(instruments):
            spec = dict(spec)
            center = int(spec.pop("center_price", 1 << 20))
            spec["id"] = i
            self.slots[i].ins = spec
            if self.slots[i].ins.value_den <= 0 or self.slots[i].ins.value_num <= 0:
                raise EngineError(f"instrument {i}: value_num/value_den must be positive")
            if book_init(&self.books[i], max(center, 1), self.slots[i].ins.book_window_log2) != 0:
                raise EngineError(f"instrument {i}: cannot allocate the book (window_log2 in [12, 26])")
            self.packed[i] = self.slots[i].ins
        self.risk_cfg = risk_config
        if risk_init(&self.risk, &self.risk_cfg, 0) != 0:
            raise EngineError("risk config refused: every value must be > 0")
        if orders_init(&self.orders, self.p.order_capacity) != 0:
            raise EngineError("cannot allocate the order table")
        self.scratch_ids = <int64_t*>calloc(self.p.order_capacity, sizeof(int64_t))
        self.out = <JournalRecord*>calloc(OUT_INITIAL, sizeof(JournalRecord))
        if self.scratch_ids == NULL or self.out == NULL:
            raise MemoryError()
        self.out_cap = OUT_INITIAL
        self.out_soft_limit = OUT_SOFT_LIMIT
        self.seq = 1
        if sim is not None:
            self.sim_p = sim
            # the venue reads instruments from a contiguous table (slots are not): self.packed
            if sim_init(&self.sim, &self.sim_p, &self.packed[0], &self.books[0], self.n_instruments) != 0:
                raise EngineError("simulated venue refused its params")
            self.has_sim = True

    def __dealloc__(self):
        cdef int64_t i
        for i in range(MAX_INSTRUMENTS):
            book_free(&self.books[i])
        orders_free(&self.orders)
        if self.has_sim:
            sim_free(&self.sim)
        free(self.out)
        free(self.feat)
        free(self.scratch_ids)

    # ------------------------------------------------------------------ configuration

    def set_risk_config(self, config):
        """Replace the engine-wide risk config (a config reload); the risk state is kept."""
        cdef RiskConfig candidate = config
        cdef RiskState probe
        memset(&probe, 0, sizeof(probe))
        if risk_init(&probe, &candidate, 0) != 0:
            raise EngineError("risk config refused: every value must be > 0")
        self.risk_cfg = candidate

    def set_limits(self, int64_t instrument, limits):
        self._check_instrument(instrument)
        self.slots[instrument].limits = limits

    def set_signal_params(self, int64_t instrument, params):
        self._check_instrument(instrument)
        cdef Signals tmp
        memset(&tmp, 0, sizeof(tmp))
        tmp.p = params
        if signals_init(&self.slots[instrument].sig, &tmp.p) != 0:
            raise EngineError(f"signal params refused: {params}")

    def set_strategy(self, int64_t instrument, kind, params):
        self._check_instrument(instrument)
        cdef InstrumentSlot* s = &self.slots[instrument]
        if kind not in STRATEGY_KINDS:
            raise EngineError(f"unknown strategy {kind!r}; choose one of {sorted(STRATEGY_KINDS)}")
        code = STRATEGY_KINDS[kind]
        if code == STRAT_AVELLANEDA:
            s.as_p = params
            if avellaneda_init(&s.as_p, &s.as_s) != 0:
                raise EngineError("avellaneda params refused")
        elif code == STRAT_SKEWED:
            s.mm_p = params
            if skewed_init(&s.mm_p, &s.mm_s) != 0:
                raise EngineError("mm params refused")
        elif code == STRAT_TAKER:
            s.tk_p = params
            if taker_init(&s.tk_p, &s.tk_s) != 0:
                raise EngineError("taker params refused")
        s.strategy_kind = code

    def _check_configured(self):
        cdef int64_t i
        for i in range(self.n_instruments):
            if self.slots[i].sig.p.imbalance_levels <= 0:
                raise EngineError(f"instrument {i}: set_signal_params() was not called")
            if self.slots[i].strategy_kind != STRAT_NONE and self.slots[i].limits.max_order_qty <= 0:
                raise EngineError(f"instrument {i}: set_limits() was not called (or max_order_qty <= 0)")

    def _check_instrument(self, int64_t instrument):
        if not 0 <= instrument < self.n_instruments:
            raise EngineError(f"instrument index {instrument} out of range")

    # ------------------------------------------------------------------ processing

    def process(self, events, Py_ssize_t start=0, Py_ssize_t end=-1):
        """Run events[start:end] through the engine; returns the index it stopped at (== end
        unless the output buffer needs draining first)."""
        if not isinstance(events, np.ndarray) or events.dtype != MARKET_EVENT_DTYPE:
            raise EngineError("events must be a numpy array of MARKET_EVENT_DTYPE")
        if events.ndim != 1 or not events.flags.c_contiguous:
            raise EngineError("events must be a 1-d C-contiguous array")
        cdef Py_ssize_t n = events.shape[0]
        if end < 0 or end > n:
            end = n
        if start < 0 or start > end:
            raise EngineError("bad start index")
        if self.failed:
            raise MemoryError("the engine ran out of memory earlier and refuses input")
        self._check_configured()
        if start == end:
            return end
        cdef const uint8_t[::1] raw = events.view(np.uint8).reshape(-1)
        cdef const MarketEvent* evs = <const MarketEvent*>&raw[0]
        cdef int64_t stopped
        with nogil:
            stopped = self._run(evs, start, end)
        if self.failed:
            raise MemoryError("engine output buffer allocation failed")
        return stopped

    def drain(self):
        """Output records since the last drain, as a numpy array of JOURNAL_RECORD_DTYPE."""
        out = np.empty(self.out_len, dtype=JOURNAL_RECORD_DTYPE)
        cdef uint8_t[::1] raw
        cdef int64_t nbytes = self.out_len * sizeof(JournalRecord)
        if self.out_len:
            raw = out.view(np.uint8).reshape(-1)
            with nogil:
                memcpy_records(&raw[0], <const uint8_t*>self.out, nbytes)
        self.out_len = 0
        return out

    def drain_features(self):
        out = np.empty(self.feat_len, dtype=FEATURE_DTYPE)
        cdef uint8_t[::1] raw
        if self.feat_len:
            raw = out.view(np.uint8).reshape(-1)
            memcpy_records(&raw[0], <const uint8_t*>self.feat, self.feat_len * sizeof(FeatureRow))
        self.feat_len = 0
        return out

    cdef int64_t _run(self, const MarketEvent* evs, int64_t start, int64_t end) noexcept nogil:
        cdef int64_t i, idx
        cdef const MarketEvent* ahead
        cdef const Book* b
        cdef const BookSide* bs
        for i in range(start, end):
            if self.failed or self.out_len > self.out_soft_limit:
                return i
            # The book is a large sparse array: a level update far from the touch is a cache
            # miss. The events to come are known, so fetch their book slots ahead of time.
            if i + PREFETCH_AHEAD < end:
                ahead = &evs[i + PREFETCH_AHEAD]
                if (ahead.kind == EV_DEPTH or ahead.kind == EV_DEPTH_SNAPSHOT) and ahead.instrument < self.n_instruments:
                    b = &self.books[ahead.instrument]
                    idx = ahead.price - b.base
                    if <uint64_t>idx < <uint64_t>b.cap:
                        bs = &b.side[1 if ahead.flags & F_SELL else 0]
                        prefetch_write(&bs.qty[idx])
                        prefetch_write(&bs.l0[idx >> 6])
            self._step(&evs[i])
        return end

    cdef JournalRecord* _rec(self, int kind, int64_t instrument) noexcept nogil:
        cdef JournalRecord* grown
        cdef int64_t cap
        cdef JournalRecord* r
        if self.out_len >= self.out_cap:
            cap = self.out_cap * 2
            grown = <JournalRecord*>realloc(self.out, cap * sizeof(JournalRecord))
            if grown == NULL:
                # Nowhere to journal: refuse all further input rather than lose a record.
                self.failed = True
                self.out_len = self.out_cap - 1
            else:
                self.out = grown
                self.out_cap = cap
        r = &self.out[self.out_len]
        self.out_len += 1
        memset(r, 0, sizeof(JournalRecord))
        r.seq = self.seq
        self.seq += 1
        r.ts_event = self.now_event
        r.ts_local = self.now_local
        r.kind = kind
        r.instrument = instrument
        return r

    cdef void _alert(self, int64_t instrument, int reason, int64_t a, int64_t b) noexcept nogil:
        cdef JournalRecord* r = self._rec(REC_ALERT, instrument)
        r.reason = reason
        r.a = a
        r.b = b
        self.n_alerts += 1

    cdef void _step(self, const MarketEvent* ev) noexcept nogil:
        cdef int64_t i = ev.instrument
        cdef JournalRecord* r
        if self.has_sim and ((self.sim.cmd_count > 0 and self.sim.cmds[self.sim.cmd_head].ts_arrival <= ev.ts_local)
                             or (self.sim.resp_count > 0 and self.sim.resp[self.sim.resp_head].ts_local <= ev.ts_local)):
            self._advance_sim(ev.ts_local)
        if ev.ts_local > self.now_local:
            self.now_local = ev.ts_local
        self.now_event = ev.ts_event
        self.n_inputs += 1
        if self.p.journal_inputs:
            r = self._rec(REC_INPUT, i)
            r.reason = ev.kind
            r.flags = ev.flags
            r.price = ev.price
            r.qty = ev.qty
            r.order_id = ev.order_id
            r.a = ev.venue_seq
            r.b = ev.aux
            r.ts_event = ev.ts_event
            r.ts_local = ev.ts_local
        if i >= self.n_instruments:
            self.n_bad_events += 1
            self._alert(i, AL_BAD_EVENT, ev.kind, 0)
        elif ev.kind == EV_DEPTH or ev.kind == EV_DEPTH_SNAPSHOT:
            self._on_depth(ev)
        elif ev.kind == EV_TRADE:
            self._on_trade(ev)
        elif ev.kind == EV_BBO:
            self.slots[i].n_bbo += 1
        elif ev.kind == EV_DEPTH_CLEAR:
            book_clear(&self.books[i])
            self.books[i].valid = 0
            self.books[i].last_update_id = ev.venue_seq
            self._cancel_quotes(i)
        elif ev.kind == EV_BOOK_INVALID:
            self.books[i].n_gaps += 1
            if self.books[i].valid:
                self.books[i].valid = 0
                r = self._rec(REC_BOOK_STATE, i)
                r.a = 0
                r.reason = BSR_GAP
            self._cancel_quotes(i)
        elif EV_ORDER_ACK <= ev.kind <= EV_ORDER_EXPIRED:
            self._on_exec(ev)
        elif ev.kind == EV_CONTROL:
            self._on_control(ev)
        elif ev.kind == EV_ORDER_ADOPT:
            self._on_adopt(ev)
        elif ev.kind == EV_TIMER:
            self._on_timer(ev)
        else:
            self.n_bad_events += 1
            self._alert(i, AL_BAD_EVENT, ev.kind, 0)
        if self.p.hash_every > 0 and self.n_inputs % self.p.hash_every == 0:
            self._emit_hash()
        if self.p.equity_sample_ns > 0 and self.now_event - self.last_equity_sample_ts >= self.p.equity_sample_ns:
            self.last_equity_sample_ts = self.now_event
            self._emit_equity()

    cdef void _advance_sim(self, int64_t t) noexcept nogil:
        # Merge the venue's queues into the input stream by time; at equal times the venue acts
        # before its responses reach us.
        cdef int64_t ta, tr
        cdef MarketEvent resp
        cdef int64_t saved_local = self.now_local, saved_event = self.now_event
        while True:
            ta = sim_next_arrival(&self.sim)
            tr = sim_next_response(&self.sim)
            if ta <= t and ta <= tr:
                sim_process_arrivals(&self.sim, ta)
            elif tr <= t:
                if not sim_pop_response(&self.sim, tr, &resp):
                    break
                if resp.ts_local > self.now_local:
                    self.now_local = resp.ts_local
                self.now_event = resp.ts_event
                self._on_exec(&resp)
            else:
                break

    # ------------------------------------------------------------------ market data

    cdef void _on_depth(self, const MarketEvent* ev) noexcept nogil:
        cdef int64_t i = ev.instrument
        cdef int side = SELL if ev.flags & F_SELL else BUY
        cdef int64_t prev = book_set(&self.books[i], side, ev.price, ev.qty)
        if prev < 0:
            self.n_bad_events += 1
            self._alert(i, AL_BAD_EVENT, ev.kind, prev)
        elif self.has_sim and self.sim.n_resting > 0:
            sim_on_depth(&self.sim, i, side, ev.price, prev, ev.qty, ev.ts_local)
        if ev.flags & F_LAST:
            self._on_book_message(i, ev)

    cdef void _on_book_message(self, int64_t i, const MarketEvent* ev) noexcept nogil:
        cdef Book* b = &self.books[i]
        cdef InstrumentSlot* s = &self.slots[i]
        cdef JournalRecord* r
        cdef FeatureRow* f
        cdef FeatureRow* grown
        b.ts_event = ev.ts_event
        b.ts_local = ev.ts_local
        if ev.kind == EV_DEPTH_SNAPSHOT:
            b.last_update_id = ev.venue_seq
            self._center_window(i)
            if not b.valid:
                b.valid = 1
                r = self._rec(REC_BOOK_STATE, i)
                r.a = 1
                r.reason = BSR_SNAPSHOT
        else:
            b.last_update_id = ev.venue_seq
        s.n_messages += 1
        if book_crossed(b):
            b.n_crossed += 1
            if not s.crossed:
                s.crossed = 1
                r = self._rec(REC_BOOK_STATE, i)
                r.a = 0
                r.reason = BSR_CROSSED
        elif s.crossed:
            s.crossed = 0
            r = self._rec(REC_BOOK_STATE, i)
            r.a = 1
            r.reason = BSR_UNCROSSED
        signals_on_book(&s.sig, b, ev.ts_event)
        if s.sig.mid_x2 > 0 and b.valid and not s.crossed:
            s.last_mid_x2 = s.sig.mid_x2
        if self.p.record_features and ev.kind == EV_DEPTH:
            if self.feat_len >= self.feat_cap:
                grown = <FeatureRow*>realloc(self.feat, (self.feat_cap * 2 + 4096) * sizeof(FeatureRow))
                if grown == NULL:
                    self.failed = True
                    return
                self.feat = grown
                self.feat_cap = self.feat_cap * 2 + 4096
            f = &self.feat[self.feat_len]
            self.feat_len += 1
            f.ts_event = ev.ts_event
            f.venue_seq = ev.venue_seq
            f.bid = b.side[BUY].best
            f.bid_qty = self._best_qty(i, BUY)
            f.ask = b.side[SELL].best
            f.ask_qty = self._best_qty(i, SELL)
            f.microprice_e6 = s.sig.microprice_e6
            f.imbalance_e6 = s.sig.imbalance_e6
        self._decide(i)

    cdef void _center_window(self, int64_t i) noexcept nogil:
        # A live node does not know the price before the first snapshot: keep the touch in the
        # middle half of the dense window (a rare O(levels) move, deterministic from the data).
        cdef Book* b = &self.books[i]
        cdef int64_t bid = b.side[BUY].best, ask = b.side[SELL].best, mid
        if bid <= 0 or ask <= 0:
            return
        mid = bid // 2 + ask // 2
        if mid < b.base + b.cap // 4 or mid > b.base + 3 * (b.cap // 4):
            if book_recenter(b, mid) != 0:
                self.failed = True

    cdef int64_t _best_qty(self, int64_t i, int side) noexcept nogil:
        cdef int64_t price = self.books[i].side[side].best
        cdef int64_t q = 0
        if price > 0:
            book_depth(&self.books[i], side, 1, &price, &q)
        return q

    cdef void _on_trade(self, const MarketEvent* ev) noexcept nogil:
        cdef int64_t i = ev.instrument
        cdef int side = SELL if ev.flags & F_SELL else BUY
        if ev.price <= 0 or ev.qty <= 0:
            self.n_bad_events += 1
            self._alert(i, AL_BAD_EVENT, ev.kind, 0)
            return
        self.slots[i].n_trades += 1
        signals_on_trade(&self.slots[i].sig, side, ev.price, ev.qty, self.slots[i].sig.mid_x2, ev.ts_event)
        if self.has_sim and self.sim.n_resting > 0:
            sim_on_trade(&self.sim, i, side, ev.price, ev.qty, ev.ts_local)

    # ------------------------------------------------------------------ strategy and quoting

    cdef void _decide(self, int64_t i) noexcept nogil:
        cdef InstrumentSlot* s = &self.slots[i]
        cdef Book* b = &self.books[i]
        cdef StrategyInputs x
        cdef QuoteTarget q
        cdef TakeTarget t
        cdef int64_t tif, ot
        if s.strategy_kind == STRAT_NONE:
            return
        x.ts_event = self.now_event
        x.best_bid = b.side[BUY].best
        x.best_ask = b.side[SELL].best
        x.best_bid_qty = self._best_qty(i, BUY)
        x.best_ask_qty = self._best_qty(i, SELL)
        x.position = s.pos.qty
        x.open_buy = self.orders.open_qty[i][BUY]
        x.open_sell = self.orders.open_qty[i][SELL]
        x.book_valid = 1 if (b.valid and not s.crossed) else 0
        x.last_quote_change_ts = s.last_quote_change_ts
        x.sig = &s.sig
        if s.strategy_kind == STRAT_AVELLANEDA:
            avellaneda_on_book(&s.as_s)
        elif s.strategy_kind == STRAT_SKEWED:
            skewed_on_book(&s.mm_s)
        elif s.strategy_kind == STRAT_TAKER:
            taker_on_book(&s.tk_p, &s.tk_s, &x)
        if self.risk.state == STATE_HALTED:
            return
        if not x.book_valid or x.best_bid <= 0 or x.best_ask <= 0:
            self._cancel_quotes(i)
            return
        s.n_decisions += 1
        if s.strategy_kind == STRAT_AVELLANEDA:
            if avellaneda_quote(&s.as_p, &s.as_s, &x, &q):
                s.n_targets += 1
                self._pursue(i, &q, s.as_p.q.requote_ticks, s.as_p.q.post_only)
        elif s.strategy_kind == STRAT_SKEWED:
            if skewed_quote(&s.mm_p, &s.mm_s, &x, &q):
                s.n_targets += 1
                self._pursue(i, &q, s.mm_p.q.requote_ticks, s.mm_p.q.post_only)
        elif s.strategy_kind == STRAT_TAKER:
            if taker_decide(&s.tk_p, &s.tk_s, &x, &t):
                s.n_targets += 1
                ot = OT_MARKET if t.price == 0 else OT_LIMIT
                tif = TIF_GTC if t.price == 0 else TIF_IOC
                self._place(i, t.side, ot, tif, 0, t.price, t.qty)
        self._mark()

    cdef void _pursue(self, int64_t i, const void* target, int64_t requote_ticks, int64_t post_only) noexcept nogil:
        cdef const QuoteTarget* q = <const QuoteTarget*>target
        cdef InstrumentSlot* s = &self.slots[i]
        cdef int side
        cdef int64_t want_px, want_qty, cur, d, new_id
        cdef Order* o
        cdef bint changed = False
        cdef JournalRecord* r
        for side in range(2):
            want_px = q.bid_price if side == BUY else q.ask_price
            want_qty = q.bid_qty if side == BUY else q.ask_qty
            cur = s.quote_id[side]
            o = orders_get(&self.orders, cur) if cur != 0 else NULL
            if o != NULL and not (o.status == OS_NEW or o.status == OS_SENT or o.status == OS_ACKED
                                  or o.status == OS_PARTIALLY_FILLED):
                # a cancel is already on its way: that quote is gone for our purposes
                s.quote_id[side] = 0
                o = NULL
            if want_qty <= 0:
                if o != NULL:
                    self._cancel(o.client_id)
                    s.quote_id[side] = 0
                    changed = True
                continue
            if o != NULL:
                d = am_abs(o.price - want_px)
                if d == 0 or d < requote_ticks:
                    continue
                self._cancel(o.client_id)
                s.quote_id[side] = 0
                changed = True
            new_id = self._place(i, side, OT_LIMIT_MAKER if post_only else OT_LIMIT, TIF_GTC, 0, want_px, want_qty)
            if new_id > 0:
                s.quote_id[side] = new_id
                changed = True
        if changed:
            s.last_quote_change_ts = self.now_event
            if self.p.record_quotes:
                r = self._rec(REC_QUOTE, i)
                r.price = q.bid_price
                r.qty = q.bid_qty
                r.a = q.ask_price
                r.b = q.ask_qty
                r.c = q.reservation_e6
                r.d = q.half_spread_e6

    cdef int64_t _place(self, int64_t i, int64_t side, int64_t order_type, int64_t tif, int64_t flags,
                        int64_t price, int64_t qty) noexcept nogil:
        cdef InstrumentSlot* s = &self.slots[i]
        cdef OrderIntent intent
        cdef ExposureView x
        cdef int reason
        cdef JournalRecord* r
        cdef Order* o
        cdef VenueCommand c
        cdef int64_t j, mid, n, total = 0
        intent.instrument = i
        intent.side = side
        intent.order_type = order_type
        intent.price = price
        intent.qty = qty
        x.position = s.pos.qty
        x.open_buy = self.orders.open_qty[i][BUY]
        x.open_sell = self.orders.open_qty[i][SELL]
        x.open_orders = self.orders.open_count[i]
        x.open_orders_total = self.orders.n_live
        x.best_bid = self.books[i].side[BUY].best
        x.best_ask = self.books[i].side[SELL].best
        x.book_valid = 1 if (self.books[i].valid and not s.crossed) else 0
        # Open orders and positions are valued at the mid (the gate adds the new order itself
        # at its own price): a conservative, O(instruments) view instead of O(orders).
        x.open_notional = 0
        for j in range(self.n_instruments):
            mid = self.slots[j].last_mid_x2 // 2
            if mid <= 0:
                continue
            if inst_notional(&self.slots[j].ins, mid,
                             am_abs(self.slots[j].pos.qty) + self.orders.open_qty[j][BUY]
                             + self.orders.open_qty[j][SELL], &n):
                n = INT64_MAX
            if am_add(total, n, &total):
                total = INT64_MAX
            if j == i:
                if inst_notional(&self.slots[j].ins, mid, self.orders.open_qty[j][BUY] + self.orders.open_qty[j][SELL],
                                 &x.open_notional):
                    x.open_notional = INT64_MAX
        x.total_notional = total
        reason = risk_check(&s.limits, &self.risk_cfg, &self.risk, &s.ins, &intent, &x, self.now_event)
        if reason != RR_OK:
            self.n_denied += 1
            r = self._rec(REC_RISK_DENIED, i)
            r.price = price
            r.qty = qty
            r.flags = (F_SELL if side == SELL else 0) | flags
            r.reason = reason
            r.a = order_type
            r.b = tif
            return 0
        o = orders_new(&self.orders, i, side, order_type, tif, flags, price, qty, self.now_local)
        if o == NULL:
            self._alert(i, AL_ORDER_TABLE_FULL, self.orders.n_live, 0)
            return 0
        self.n_orders += 1
        r = self._rec(REC_ORDER_NEW, i)
        r.order_id = o.client_id
        r.price = price
        r.qty = qty
        r.flags = (F_SELL if side == SELL else 0) | flags
        r.a = order_type
        r.b = tif
        orders_apply(&self.orders, o, OE_SUBMIT, self.now_local)
        r = self._rec(REC_ORDER_SENT, i)
        r.order_id = o.client_id
        r.price = price
        r.qty = qty
        r.flags = (F_SELL if side == SELL else 0) | flags
        r.a = order_type
        r.b = tif
        if self.has_sim:
            c.ts_arrival = self.now_local + self.p.md_latency_ns + self.sim_p.entry_latency_ns
            r.c = c.ts_arrival
            c.kind = CMD_NEW
            c.client_id = o.client_id
            c.instrument = i
            c.side = side
            c.order_type = order_type
            c.tif = tif
            c.price = price
            c.qty = qty
            if sim_send(&self.sim, &c) != 0:
                orders_apply(&self.orders, o, OE_REJECT, self.now_local)
                r = self._rec(REC_ORDER_REJECTED, i)
                r.order_id = o.client_id
                r.reason = VR_TOO_MANY_ORDERS
                orders_release(&self.orders, o)
                return 0
        return o.client_id

    cdef void _cancel(self, int64_t client_id) noexcept nogil:
        cdef Order* o = orders_get(&self.orders, client_id)
        cdef JournalRecord* r
        cdef VenueCommand c
        cdef int64_t i
        if o == NULL or not (o.status == OS_NEW or o.status == OS_SENT or o.status == OS_ACKED
                             or o.status == OS_PARTIALLY_FILLED):
            return
        i = o.instrument
        orders_apply(&self.orders, o, OE_CANCEL_REQUEST, self.now_local)
        r = self._rec(REC_CANCEL_SENT, i)
        r.order_id = client_id
        r.price = o.price
        r.qty = o.qty - o.filled
        r.flags = F_SELL if o.side == SELL else 0
        if o.status == OS_CANCELLED:
            # never reached the venue (NEW): cancelled locally
            r = self._rec(REC_ORDER_CANCELED, i)
            r.order_id = client_id
            r.qty = o.qty - o.filled
            self._forget_quote(i, client_id)
            orders_release(&self.orders, o)
            return
        if self.has_sim:
            c.ts_arrival = self.now_local + self.p.md_latency_ns + self.sim_p.entry_latency_ns
            c.kind = CMD_CANCEL
            c.client_id = client_id
            c.instrument = i
            c.side = o.side
            c.order_type = o.order_type
            c.tif = o.tif
            c.price = o.price
            c.qty = o.qty
            sim_send(&self.sim, &c)

    cdef void _cancel_all(self, int64_t instrument) noexcept nogil:
        cdef int64_t n = orders_live_ids(&self.orders, self.scratch_ids, self.p.order_capacity)
        cdef int64_t k
        cdef Order* o
        for k in range(n):
            o = orders_get(&self.orders, self.scratch_ids[k])
            if o != NULL and (instrument < 0 or o.instrument == instrument):
                self._cancel(o.client_id)
        for k in range(self.n_instruments):
            if instrument < 0 or k == instrument:
                self.slots[k].quote_id[0] = 0
                self.slots[k].quote_id[1] = 0

    cdef void _cancel_quotes(self, int64_t i) noexcept nogil:
        cdef int side
        for side in range(2):
            if self.slots[i].quote_id[side] != 0:
                self._cancel(self.slots[i].quote_id[side])
                self.slots[i].quote_id[side] = 0

    cdef void _forget_quote(self, int64_t i, int64_t client_id) noexcept nogil:
        if self.slots[i].quote_id[0] == client_id:
            self.slots[i].quote_id[0] = 0
        if self.slots[i].quote_id[1] == client_id:
            self.slots[i].quote_id[1] = 0

    cdef void _enter_state(self, int64_t state, int64_t reason) noexcept nogil:
        cdef int64_t old = risk_set_state(&self.risk, state, reason)
        cdef JournalRecord* r
        cdef int64_t i
        if old != state:
            r = self._rec(REC_TRADING_STATE, 0)
            r.a = old
            r.b = state
            r.reason = reason
        if state == STATE_HALTED:
            self._cancel_all(-1)
        elif state == STATE_REDUCING:
            for i in range(self.n_instruments):
                self._cancel_quotes(i)

    cdef void _breaker_tripped(self, int64_t prev) noexcept nogil:
        # the breaker has already moved the risk state to HALTED (risk_on_fill/_on_round_trip):
        # journal that change from the state before it, then cancel as any halt does
        cdef JournalRecord* r = self._rec(REC_TRADING_STATE, 0)
        r.a = prev
        r.b = self.risk.state
        r.reason = self.risk.state_reason
        self._cancel_all(-1)

    # ------------------------------------------------------------------ execution reports

    cdef void _on_exec(self, const MarketEvent* ev) noexcept nogil:
        cdef int64_t i = ev.instrument
        cdef Order* o = orders_get(&self.orders, ev.order_id)
        cdef JournalRecord* r
        cdef int st, side, oe, rk
        cdef int64_t prev
        cdef FillOutcome out
        cdef int64_t client_id = ev.order_id
        if ev.kind == EV_ORDER_FILL:
            if ev.qty <= 0 or ev.price <= 0:
                self.n_bad_events += 1
                self._alert(i, AL_BAD_EVENT, ev.kind, ev.order_id)
                return
            st = orders_dedup_fill(&self.orders, i, ev.venue_seq)
            if st != 0:
                self.n_duplicate_fills += 1
                self._alert(i, AL_DUPLICATE_FILL if st == 1 else AL_BAD_EVENT, ev.order_id, ev.venue_seq)
                return
            side = <int>o.side if o != NULL else (SELL if ev.flags & F_SELL else BUY)
            if position_apply_fill(&self.slots[i].pos, &self.slots[i].ins, side, ev.price, ev.qty, ev.aux,
                                   ev.ts_event, &out) != 0:
                self._alert(i, AL_OVERFLOW, ev.order_id, ev.venue_seq)
                self._enter_state(STATE_HALTED, RR_OVERFLOW)
                return
            self.n_fills += 1
            if o != NULL:
                st = orders_fill(&self.orders, o, ev.qty, self.now_local)
                if st < 0:
                    self._alert(i, AL_INVALID_TRANSITION, ev.order_id, o.status)
            else:
                self.n_unknown_reports += 1
                self._alert(i, AL_UNKNOWN_ORDER, ev.order_id, ev.kind)
            r = self._rec(REC_FILL, i)
            r.order_id = client_id
            r.price = ev.price
            r.qty = ev.qty
            r.flags = (F_SELL if side == SELL else 0) | (ev.flags & F_MAKER)
            r.a = self.slots[i].pos.qty
            r.b = self.slots[i].pos.realized
            r.c = ev.aux
            r.d = ev.venue_seq
            r.e = self.slots[i].last_mid_x2
            if o != NULL and o.status == OS_FILLED:
                self._forget_quote(i, client_id)
                orders_release(&self.orders, o)
            if out.trip_closed:
                r = self._rec(REC_ROUND_TRIP, i)
                r.a = out.trip_pnl
                r.b = out.trip_start_ts
                r.c = out.trip_volume
                prev = self.risk.state
                if risk_on_round_trip(&self.risk_cfg, &self.risk, out.trip_pnl) >= 0:
                    self._breaker_tripped(prev)
            prev = self.risk.state
            if risk_on_fill(&self.risk_cfg, &self.risk, ev.ts_event) >= 0:
                self._breaker_tripped(prev)
            self._mark()
            return
        if o == NULL:
            if 0 < ev.order_id < self.orders.next_client_id and (ev.kind == EV_CANCEL_REJECT
                                                                  or ev.kind == EV_ORDER_CANCELED):
                # our order already finished (typically filled while the cancel was in flight):
                # the venue's answer to the cancel is expected, not an anomaly
                self.n_late_reports += 1
                return
            self.n_unknown_reports += 1
            self._alert(i, AL_UNKNOWN_ORDER, ev.order_id, ev.kind)
            return
        # one table row per report kind: the order event it is, the record it makes
        if ev.kind == EV_ORDER_ACK:
            oe, rk = OE_ACK, REC_ORDER_ACKED
        elif ev.kind == EV_ORDER_REJECT:
            oe, rk = OE_REJECT, REC_ORDER_REJECTED
        elif ev.kind == EV_ORDER_CANCELED:
            oe, rk = OE_CANCELLED, REC_ORDER_CANCELED
        elif ev.kind == EV_CANCEL_REJECT:
            oe, rk = OE_CANCEL_REJECT, REC_CANCEL_REJECTED
        else:
            oe, rk = OE_EXPIRE, REC_ORDER_EXPIRED
        if orders_apply(&self.orders, o, oe, self.now_local) < 0:
            self._alert(i, AL_INVALID_TRANSITION, client_id, ev.kind)
            return
        r = self._rec(rk, i)
        r.order_id = client_id
        if ev.kind == EV_ORDER_ACK:
            o.venue_id = ev.aux
            r.a = ev.aux
        elif ev.kind == EV_ORDER_REJECT or ev.kind == EV_CANCEL_REJECT:
            r.reason = <int>(ev.aux & 0xFFFF)  # uint16 field: venue codes are negative (-2010)
            r.a = ev.aux                       # the full code
        else:
            r.qty = o.qty - o.filled  # leaves at cancel / expiry
        if _is_terminal(o.status):
            self._forget_quote(i, client_id)
            orders_release(&self.orders, o)

    # ------------------------------------------------------------------ control and timers

    cdef void _on_control(self, const MarketEvent* ev) noexcept nogil:
        cdef JournalRecord* r = self._rec(REC_CONTROL, ev.instrument)
        cdef int64_t idx = self.out_len - 1
        cdef int64_t cmd = ev.aux
        cdef int64_t reason = ev.qty
        r.a = cmd
        r.order_id = ev.order_id
        r.d = ev.venue_seq
        r.c = reason
        if ev.flags & F_REFUSED:
            # refused by the runtime (stale, replayed, unauthorised): on the record, no effect
            r.flags = F_REFUSED
        elif cmd == CTL_KILL or cmd == CTL_DISCONNECT:
            # an operator halt is never undone by a system resume: it takes the reason over
            self._enter_state(STATE_HALTED, RR_OPERATOR)
        elif cmd == CTL_CANCEL_ALL:
            self._cancel_all(-1)
        elif cmd == CTL_REDUCE_ONLY:
            self._enter_state(STATE_REDUCING, RR_OPERATOR)
        elif cmd == CTL_RESUME:
            self._enter_state(STATE_ACTIVE, RR_OK)
        elif cmd == CTL_HALT_SYSTEM and RR_JOURNAL <= reason <= RR_SHUTDOWN:
            if self.risk.state != STATE_HALTED:
                self.state_before_system_halt = self.risk.state
                self._enter_state(STATE_HALTED, reason)
            else:
                self._cancel_all(-1)   # already halted for another reason: keep that reason
        elif cmd == CTL_RESUME_SYSTEM and RR_JOURNAL <= reason <= RR_SHUTDOWN:
            if self.risk.state == STATE_HALTED and self.risk.state_reason == reason:
                self._enter_state(self.state_before_system_halt,
                                  RR_OK if self.state_before_system_halt == STATE_ACTIVE else RR_OPERATOR)
            else:
                self.out[idx].reason = 1   # nothing of that reason to resume
        elif cmd != CTL_RELOAD_CONFIG:
            self.out[idx].reason = 1       # unknown command or reason: refused by the engine
            self.n_bad_events += 1
        self.out[idx].b = self.risk.state

    cdef void _on_adopt(self, const MarketEvent* ev) noexcept nogil:
        cdef int64_t i = ev.instrument
        cdef int side = SELL if ev.flags & F_SELL else BUY
        cdef Order* o = orders_adopt(&self.orders, ev.order_id, i, side,
                                     OT_LIMIT_MAKER if ev.flags & F_POST_ONLY else OT_LIMIT,
                                     ev.price, ev.qty, ev.venue_seq, ev.aux, self.now_local)
        cdef JournalRecord* r
        if o == NULL:
            self.n_bad_events += 1
            self._alert(i, AL_BAD_EVENT, ev.kind, ev.order_id)
            return
        r = self._rec(REC_ORDER_ADOPTED, i)
        r.order_id = o.client_id
        r.price = o.price
        r.qty = o.qty
        r.flags = F_SELL if side == SELL else 0
        r.a = o.filled
        r.b = o.venue_id
        r.c = o.order_type

    cdef void _on_timer(self, const MarketEvent* ev) noexcept nogil:
        cdef int64_t n = orders_live_ids(&self.orders, self.scratch_ids, self.p.order_capacity)
        cdef int64_t k
        cdef Order* o
        for k in range(n):
            o = orders_get(&self.orders, self.scratch_ids[k])
            if o == NULL:
                continue
            if self.p.ack_timeout_ns > 0 and o.status == OS_SENT and self.now_local - o.ts_sent >= self.p.ack_timeout_ns:
                self._cancel(o.client_id)
            elif self.p.stale_order_ns > 0 and (o.status == OS_ACKED or o.status == OS_PARTIALLY_FILLED) \
                    and self.now_local - o.ts_acked >= self.p.stale_order_ns:
                self._cancel(o.client_id)

    # ------------------------------------------------------------------ equity, hash

    cdef int64_t _equity(self) noexcept nogil:
        cdef int64_t i, u, total = 0
        for i in range(self.n_instruments):
            u = 0
            if self.slots[i].pos.qty != 0 and self.slots[i].last_mid_x2 > 0:
                if position_unrealized(&self.slots[i].pos, &self.slots[i].ins, self.slots[i].last_mid_x2, &u) != 0:
                    u = 0
            total += self.slots[i].pos.realized - self.slots[i].pos.fees + u
        return total

    cdef void _mark(self) noexcept nogil:
        cdef int64_t eq = self._equity()
        if eq > self.peak_equity:
            self.peak_equity = eq
        if self.peak_equity - eq > self.max_drawdown:
            self.max_drawdown = self.peak_equity - eq
        risk_on_equity(&self.risk_cfg, &self.risk, eq, self.now_event)

    cdef void _emit_equity(self) noexcept nogil:
        cdef int64_t i, u
        cdef JournalRecord* r
        self._mark()
        for i in range(self.n_instruments):
            if self.slots[i].pos.n_fills == 0:
                continue
            u = 0
            if self.slots[i].pos.qty != 0 and self.slots[i].last_mid_x2 > 0:
                if position_unrealized(&self.slots[i].pos, &self.slots[i].ins, self.slots[i].last_mid_x2, &u) != 0:
                    u = 0
            r = self._rec(REC_EQUITY, i)
            r.a = self.slots[i].pos.realized
            r.b = u
            r.c = self.slots[i].pos.fees
            r.d = self.slots[i].pos.qty
            r.e = self.slots[i].pos.realized - self.slots[i].pos.fees + u
            r.price = self.slots[i].last_mid_x2

    cdef void _emit_hash(self) noexcept nogil:
        cdef Writer w
        cdef JournalRecord* r
        cdef uint64_t h
        writer_init(&w)
        self._write_state(&w)
        h = XXH3_64bits(w.buf, <size_t>w.len) if not w.failed else 0
        writer_free(&w)
        r = self._rec(REC_STATE_HASH, 0)
        r.a = <int64_t>h
        r.b = self.n_inputs

    cdef void _write_state(self, Writer* w) noexcept nogil:
        cdef int64_t i
        cdef InstrumentSlot* s
        cdef EngineParams behaviour = self.p
        behaviour.record_features = 0  # an output option, not state: it must not change the hash
        put_i64(w, AM_ENGINE_STATE_VERSION)
        put_i64s(w, <const int64_t*>&behaviour, sizeof(EngineParams) // 8)
        put_i64(w, self.n_instruments)
        put_i64(w, self.seq)
        put_i64(w, self.n_inputs)
        put_i64(w, self.now_local)
        put_i64(w, self.now_event)
        put_i64(w, self.last_equity_sample_ts)
        put_i64(w, self.peak_equity)
        put_i64(w, self.max_drawdown)
        put_i64(w, self.n_bad_events)
        put_i64(w, self.n_alerts)
        put_i64(w, self.n_denied)
        put_i64(w, self.n_orders)
        put_i64(w, self.n_fills)
        put_i64(w, self.n_duplicate_fills)
        put_i64(w, self.n_unknown_reports)
        put_i64(w, self.n_late_reports)
        put_i64(w, self.state_before_system_halt)
        for i in range(self.n_instruments):
            s = &self.slots[i]
            put_i64s(w, <const int64_t*>&s.ins, sizeof(Instrument) // 8)
            put_i64s(w, <const int64_t*>&s.limits, sizeof(RiskLimits) // 8)
            position_write(&s.pos, w)
            signals_write(&s.sig, w)
            put_i64(w, s.strategy_kind)
            avellaneda_write(&s.as_p, &s.as_s, w)
            skewed_write(&s.mm_p, &s.mm_s, w)
            taker_write(&s.tk_p, &s.tk_s, w)
            put_i64s(w, s.quote_id, 2)
            put_i64(w, s.last_quote_change_ts)
            put_i64(w, s.crossed)
            put_i64(w, s.last_mid_x2)
            put_i64(w, s.n_messages)
            put_i64(w, s.n_trades)
            put_i64(w, s.n_bbo)
            put_i64(w, s.n_decisions)
            put_i64(w, s.n_targets)
            book_write(&self.books[i], w)
        orders_write(&self.orders, w)
        put_i64s(w, <const int64_t*>&self.risk_cfg, sizeof(RiskConfig) // 8)
        risk_write(&self.risk, w)
        put_i64(w, 1 if self.has_sim else 0)
        if self.has_sim:
            put_i64s(w, <const int64_t*>&self.sim_p, sizeof(SimParams) // 8)
            sim_write(&self.sim, w)

    cdef int _read_state(self, Reader* rd) noexcept nogil:
        cdef int64_t i, has_sim
        cdef InstrumentSlot* s
        cdef int64_t record_features = self.p.record_features
        if get_i64(rd) != AM_ENGINE_STATE_VERSION:
            return -1
        get_i64s(rd, <int64_t*>&self.p, sizeof(EngineParams) // 8)
        self.p.record_features = record_features
        if get_i64(rd) != self.n_instruments:
            return -1
        self.seq = get_i64(rd)
        self.n_inputs = get_i64(rd)
        self.now_local = get_i64(rd)
        self.now_event = get_i64(rd)
        self.last_equity_sample_ts = get_i64(rd)
        self.peak_equity = get_i64(rd)
        self.max_drawdown = get_i64(rd)
        self.n_bad_events = get_i64(rd)
        self.n_alerts = get_i64(rd)
        self.n_denied = get_i64(rd)
        self.n_orders = get_i64(rd)
        self.n_fills = get_i64(rd)
        self.n_duplicate_fills = get_i64(rd)
        self.n_unknown_reports = get_i64(rd)
        self.n_late_reports = get_i64(rd)
        self.state_before_system_halt = get_i64(rd)
        for i in range(self.n_instruments):
            s = &self.slots[i]
            get_i64s(rd, <int64_t*>&s.ins, sizeof(Instrument) // 8)
            get_i64s(rd, <int64_t*>&s.limits, sizeof(RiskLimits) // 8)
            if position_read(&s.pos, rd) != 0:
                return -1
            if signals_read(&s.sig, rd) != 0:
                return -1
            s.strategy_kind = get_i64(rd)
            if avellaneda_read(&s.as_p, &s.as_s, rd) != 0:
                return -1
            if skewed_read(&s.mm_p, &s.mm_s, rd) != 0:
                return -1
            if taker_read(&s.tk_p, &s.tk_s, rd) != 0:
                return -1
            get_i64s(rd, s.quote_id, 2)
            s.last_quote_change_ts = get_i64(rd)
            s.crossed = get_i64(rd)
            s.last_mid_x2 = get_i64(rd)
            s.n_messages = get_i64(rd)
            s.n_trades = get_i64(rd)
            s.n_bbo = get_i64(rd)
            s.n_decisions = get_i64(rd)
            s.n_targets = get_i64(rd)
            if book_read(&self.books[i], rd) != 0:
                return -1
            self.packed[i] = s.ins
        if orders_read(&self.orders, rd) != 0:
            return -1
        get_i64s(rd, <int64_t*>&self.risk_cfg, sizeof(RiskConfig) // 8)
        if risk_read(&self.risk, rd) != 0:
            return -1
        has_sim = get_i64(rd)
        if has_sim != (1 if self.has_sim else 0):
            return -1
        if self.has_sim:
            get_i64s(rd, <int64_t*>&self.sim_p, sizeof(SimParams) // 8)
            if sim_read(&self.sim, rd) != 0:
                return -1
            self.sim.instruments = &self.packed[0]
            self.sim.books = &self.books[0]
        if rd.failed or rd.pos != rd.len:
            return -1
        return 0

    def snapshot(self):
        """Canonical state bytes (what state_hash() hashes). Output buffers are not state."""
        cdef Writer w
        writer_init(&w)
        with nogil:
            self._write_state(&w)
        try:
            if w.failed:
                raise MemoryError()
            return bytes((<char*>w.buf)[:w.len])
        finally:
            writer_free(&w)

    def restore(self, bytes data):
        """Restore a snapshot() of an engine built with the same instruments/sim shape."""
        cdef Reader rd
        cdef const uint8_t* buf = <const uint8_t*><char*>data
        reader_init(&rd, buf, len(data))
        if self._read_state(&rd) != 0:
            raise EngineError("snapshot does not match this engine (version, instruments or venue) or is corrupt")
        self.out_len = 0
        self.feat_len = 0

    def state_hash(self):
        """xxh3-64 of snapshot(), as an unsigned int."""
        cdef Writer w
        cdef uint64_t h
        writer_init(&w)
        with nogil:
            self._write_state(&w)
            h = XXH3_64bits(w.buf, <size_t>w.len)
        failed = w.failed
        writer_free(&w)
        if failed:
            raise MemoryError()
        return h

    # ------------------------------------------------------------------ read-outs

    @property
    def trading_state(self):
        return int(self.risk.state)

    @property
    def trading_state_reason(self):
        return int(self.risk.state_reason)

    @property
    def next_seq(self):
        return self.seq

    def set_next_seq(self, int64_t seq):
        """The node continues a journal: records are numbered from seq."""
        if seq < 1:
            raise EngineError("seq must be >= 1")
        self.seq = seq

    def stats(self):
        cdef int64_t i
        per = []
        for i in range(self.n_instruments):
            per.append(
                {
                    "messages": self.slots[i].n_messages,
                    "trades": self.slots[i].n_trades,
                    "bbo": self.slots[i].n_bbo,
                    "decisions": self.slots[i].n_decisions,
                    "targets": self.slots[i].n_targets,
                    "book_updates": self.books[i].n_updates,
                    "book_rejected": self.books[i].n_rejected,
                    "book_crossed": self.books[i].n_crossed,
                    "book_gaps": self.books[i].n_gaps,
                    "book_valid": bool(self.books[i].valid),
                }
            )
        return {
            "inputs": self.n_inputs,
            "next_seq": self.seq,
            "orders": self.n_orders,
            "fills": self.n_fills,
            "denied": self.n_denied,
            "alerts": self.n_alerts,
            "bad_events": self.n_bad_events,
            "duplicate_fills": self.n_duplicate_fills,
            "unknown_reports": self.n_unknown_reports,
            "late_reports": self.n_late_reports,
            "live_orders": self.orders.n_live,
            "max_drawdown": self.max_drawdown,
            "peak_equity": self.peak_equity,
            "equity": self._equity(),
            "trading_state": int(self.risk.state),
            "risk_denials": [self.risk.denials[i] for i in range(N_RISK_REASONS)],
            "sim_fills": self.sim.n_fills if self.has_sim else 0,
            "instruments": per,
        }

    def position(self, int64_t instrument):
        self._check_instrument(instrument)
        cdef InstrumentSlot* s = &self.slots[instrument]
        cdef int64_t u = 0
        if s.pos.qty != 0 and s.last_mid_x2 > 0:
            position_unrealized(&s.pos, &s.ins, s.last_mid_x2, &u)
        return {
            "qty": s.pos.qty,
            "entry_value": s.pos.entry_value,
            "realized": s.pos.realized,
            "fees": s.pos.fees,
            "unrealized": u,
            "volume": s.pos.volume,
            "volume_notional": s.pos.volume_notional,
            "fills": s.pos.n_fills,
            "round_trips": s.pos.n_round_trips,
            "winning_trips": s.pos.n_winning_trips,
            "mid_x2": s.last_mid_x2,
        }

    def book(self, int64_t instrument, int depth=20):
        """Best `depth` levels per side: {"bids": [(price, qty)], "asks": [...], "valid": bool}."""
        self._check_instrument(instrument)
        depth = max(1, min(depth, 1000))
        prices = np.zeros(depth, dtype=np.int64)
        qtys = np.zeros(depth, dtype=np.int64)
        cdef int64_t[::1] pv = prices
        cdef int64_t[::1] qv = qtys
        result = {"valid": bool(self.books[instrument].valid), "last_update_id": self.books[instrument].last_update_id}
        for side, name in ((BUY, "bids"), (SELL, "asks")):
            n = book_depth(&self.books[instrument], side, depth, &pv[0], &qv[0])
            result[name] = [(int(prices[k]), int(qtys[k])) for k in range(n)]
        return result

    def signals(self, int64_t instrument):
        self._check_instrument(instrument)
        cdef Signals* g = &self.slots[instrument].sig
        return {
            "mid_x2": g.mid_x2,
            "microprice_e6": g.microprice_e6,
            "imbalance_e6": g.imbalance_e6,
            "ofi": g.ofi,
            "vpin_e6": g.vpin_e6,
            "vol_var_e6": g.vol_var_e6,
            "kappa_e6": g.kappa_e6,
            "rate_e6": g.rate_e6,
        }

    def quotes(self, int64_t instrument):
        self._check_instrument(instrument)
        return {"bid_id": self.slots[instrument].quote_id[0], "ask_id": self.slots[instrument].quote_id[1],
                "last_change_ts": self.slots[instrument].last_quote_change_ts}

    def has_fill(self, int64_t instrument, int64_t trade_id):
        """True if this venue trade id is already booked (within the dedup memory)."""
        self._check_instrument(instrument)
        return fill_dedup_seen(&self.orders.dedup, instrument, trade_id) == 1

    def live_orders(self):
        cdef int64_t n = orders_live_ids(&self.orders, self.scratch_ids, self.p.order_capacity)
        cdef int64_t k
        cdef Order* o
        result = []
        for k in range(n):
            o = orders_get(&self.orders, self.scratch_ids[k])
            if o != NULL:
                result.append({"client_id": o.client_id, "venue_id": o.venue_id, "instrument": o.instrument,
                               "side": o.side, "order_type": o.order_type, "tif": o.tif, "price": o.price,
                               "qty": o.qty, "filled": o.filled, "status": o.status, "ts_created": o.ts_created})
        return result


    # ------------------------------------------------------------------ risk and strategy read-outs
    # For the console's panels (~10 Hz, from Python, never in the loop): plain reads of the
    # state, nothing is refilled, rolled over or counted. Limits are reported as configured;
    # a limit disabled with INT64_MAX is None. Money is nano settlement (or quote) currency.

    def risk_status(self):
        """Engine-wide limits and how much of each is used, the breakers, the trading state."""
        cdef RiskConfig* c = &self.risk_cfg
        cdef RiskState* s = &self.risk
        cdef int64_t j, k, n, mid, total = 0, in_window = 0, ts
        cdef int64_t ring = min(s.fill_count, RAPID_FILL_RING)
        cdef int64_t window = min(c.rapid_fill_count, ring)
        # the same valuation as the gate's total: positions and open leaves at the last mid
        for j in range(self.n_instruments):
            mid = self.slots[j].last_mid_x2 // 2
            if mid <= 0:
                continue
            if inst_notional(&self.slots[j].ins, mid, am_abs(self.slots[j].pos.qty) + self.orders.open_qty[j][BUY]
                             + self.orders.open_qty[j][SELL], &n):
                n = INT64_MAX
            if am_add(total, n, &total):
                total = INT64_MAX
        # the breaker looks at the last rapid_fill_count fills: how many of them are recent
        for k in range(window):
            ts = s.fill_ts[(s.fill_head - 1 - k) & (RAPID_FILL_RING - 1)]
            if self.now_event - ts <= c.rapid_fill_window_ns:
                in_window += 1
        # the token bucket as the gate would find it now (the refill itself happens on a check)
        tokens_e9 = s.tokens_e9
        if self.now_event > s.last_refill_ts:
            tokens_e9 += int(self.now_event - s.last_refill_ts) * c.rate_per_sec
        capacity_e9 = int(c.rate_capacity) * 1_000_000_000
        tokens_e9 = min(tokens_e9, capacity_e9)
        return {
            "trading_state": TradingState(s.state).name.removeprefix("STATE_"),
            "reason": RiskReason(s.state_reason).name.removeprefix("RR_"),
            "equity": s.equity,
            "peak_equity": s.peak_equity,
            "drawdown": int(s.peak_equity) - s.equity,
            "max_drawdown": _limit(c.max_drawdown),
            "day_start_equity": s.day_start_equity,
            "daily_loss": int(s.day_start_equity) - s.equity,
            "max_daily_loss": _limit(c.max_daily_loss),
            "consecutive_losses": s.consecutive_losses,
            "max_consecutive_losses": _limit(c.max_consecutive_losses),
            "rapid_fills": in_window,
            "rapid_fill_count": c.rapid_fill_count,
            "rapid_fill_window_ns": c.rapid_fill_window_ns,
            "tokens": tokens_e9 // 1_000_000_000,
            "rate_capacity": _limit(c.rate_capacity),
            "rate_per_sec": _limit(c.rate_per_sec),
            "open_orders": self.orders.n_live,
            "max_open_orders_total": _limit(c.max_open_orders_total),
            "total_notional": total,
            "max_total_notional": _limit(c.max_total_notional),
            "checks": s.n_checks,
            "denied": self.n_denied,
        }

    def risk_usage(self, int64_t instrument):
        """One instrument's limits and usage. `exposure` is the position with the open orders of
        its worse side, as the gate counts it against max_position; `notional` values the
        position and the open leaves at the last mid (None before there is one)."""
        self._check_instrument(instrument)
        cdef InstrumentSlot* s = &self.slots[instrument]
        cdef Book* b = &self.books[instrument]
        cdef int64_t qty = s.pos.qty
        cdef int64_t ob = self.orders.open_qty[instrument][BUY], os = self.orders.open_qty[instrument][SELL]
        cdef int64_t mid2 = s.last_mid_x2, pos_n = 0, open_n = 0, total
        notional = None
        if mid2 > 0:
            if s.ins.contract_type == CT_LINEAR:
                failed = inst_settle_value_x2(&s.ins, mid2, am_abs(qty), &pos_n)
            else:
                failed = inst_notional(&s.ins, 1, am_abs(qty), &pos_n)
            failed = failed or inst_notional(&s.ins, mid2 // 2, ob + os, &open_n) or am_add(pos_n, open_n, &total)
            notional = INT64_MAX if failed else total
        bid, ask = b.side[BUY].best, b.side[SELL].best
        return {
            "position": qty,
            "open_buy": ob,
            "open_sell": os,
            "exposure": max(abs(qty + ob), abs(qty - os)),
            "max_position": _limit(s.limits.max_position),
            "open_orders": self.orders.open_count[instrument],
            "max_open_orders": _limit(s.limits.max_open_orders),
            "notional": notional,
            "max_notional": _limit(s.limits.max_notional),
            "max_order_qty": _limit(s.limits.max_order_qty),
            "collar_ppm": _limit(s.limits.collar_ppm),
            "spread_ticks": ask - bid if (bid > 0 and ask > 0 and b.valid) else None,
            "max_spread_ticks": _limit(s.limits.max_spread_ticks),
        }

    def strategy_state(self, int64_t instrument):
        """What the instrument's strategy last decided, and its inputs for an order/fill ratio.
        reservation_e6 / half_spread_e6 are ticks * 1e6 (None when the strategy has none yet).
        `orders` counts orders the engine placed; the engine counts them per engine, so it is
        given only when the engine trades one instrument (None otherwise)."""
        self._check_instrument(instrument)
        cdef InstrumentSlot* s = &self.slots[instrument]
        kind = {v: k for k, v in STRATEGY_KINDS.items()}.get(s.strategy_kind, "none")
        reservation = half_spread = None
        quotes = 0
        order_qty = 0
        if s.strategy_kind == STRAT_AVELLANEDA:
            quotes, order_qty = s.as_s.n_quotes, s.as_p.q.order_qty
            if s.as_s.n_quotes > 0:
                reservation, half_spread = s.as_s.last_reservation_e6, s.as_s.last_half_spread_e6
        elif s.strategy_kind == STRAT_SKEWED:
            quotes, order_qty = s.mm_s.n_quotes, s.mm_p.q.order_qty
        elif s.strategy_kind == STRAT_TAKER:
            quotes, order_qty = s.tk_s.n_signals, s.tk_p.order_qty
        return {
            "kind": kind,
            "reservation_e6": reservation,
            "half_spread_e6": half_spread,
            "inventory": s.pos.qty,
            "order_qty": order_qty,
            "quotes": quotes,
            "decisions": s.n_decisions,
            "targets": s.n_targets,
            "orders": self.n_orders if self.n_instruments == 1 else None,
            "fills": s.pos.n_fills,
            "realized_pnl": s.pos.realized - s.pos.fees,
            "fees": s.pos.fees,
        }


cdef inline object _limit(int64_t value):
    # INT64_MAX is how a limit is disabled (risk.pxd): the panels show "no limit", not a number
    return None if value == INT64_MAX else value
