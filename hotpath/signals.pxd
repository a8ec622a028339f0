# Market signals computed from the book and the public trades. All state is int64 fixed point
# (suffix _e6 = value * 1e6) so that it is part of the canonical, hashable engine state and
# replays bit-for-bit; doubles appear only in the read-out helpers used by strategies.
#
#   microprice  (bid * ask_qty + ask * bid_qty) / (bid_qty + ask_qty), ticks*1e6 (Stoikov 2018,
#               the "weighted mid" form used by the seeds)
#   imbalance   (sum bid qty - sum ask qty) / (sum bid qty + sum ask qty) over the top N levels,
#               in [-1e6, 1e6]
#   OFI         best-level order-flow imbalance (Cont, Kukanov, Stoikov 2014), lots, per complete
#               book message (ofi_last) and cumulative (ofi)
#   VPIN        volume-synchronised probability of informed trading (Easley, Lopez de Prado,
#               O'Hara 2012): trade volume is cut into buckets of vpin_bucket_qty lots, each
#               bucket's |buy - sell| (aggressor side from the venue) goes into a ring of the last
#               vpin_window buckets; vpin = sum |buy - sell| / (n * bucket_qty), in [0, 1e6]
#   volatility  EWMA of squared mid changes sampled every vol_sample_ns of event time,
#               ticks^2 per sample * 1e6
#   intensity   A-S order-arrival model lambda(d) = A exp(-k d): trade depth from the mid
#               d = |price - mid| + 0.5 tick is exponential with rate k, so k = 1 / EWMA(d);
#               A = trades per second from an EWMA of inter-arrival times
from libc.stdint cimport int64_t

from hotpath.book cimport Book
from hotpath.serial cimport Reader, Writer

cdef enum:
    VPIN_MAX_BUCKETS = 64


cdef struct SignalParams:
    int64_t imbalance_levels    # top-N levels for the imbalance, 1..64
    int64_t vpin_bucket_qty     # lots per VPIN bucket, > 0
    int64_t vpin_window         # completed buckets averaged, 1..64
    int64_t vol_sample_ns       # mid sampling interval for volatility, > 0
    int64_t vol_alpha_e6        # EWMA weight of the newest squared change, 1..1e6
    int64_t intensity_alpha_e6  # EWMA weight for trade depth and inter-arrival, 1..1e6


cdef struct Signals:
    SignalParams p
    # book-derived, refreshed by signals_on_book
    int64_t mid_x2              # best bid + best ask (0 if a side is empty)
    int64_t microprice_e6
    int64_t imbalance_e6
    int64_t ofi                 # cumulative
    int64_t ofi_last            # of the last complete book message
    int64_t prev_bid
    int64_t prev_bid_qty
    int64_t prev_ask
    int64_t prev_ask_qty
    # VPIN
    int64_t bucket_buy          # current (incomplete) bucket volumes
    int64_t bucket_sell
    int64_t bucket_imbalance[VPIN_MAX_BUCKETS]  # ring of |buy - sell| of completed buckets
    int64_t bucket_head         # next write index in the ring
    int64_t bucket_count        # completed buckets in the ring (<= vpin_window)
    int64_t vpin_e6
    # volatility
    int64_t vol_last_mid_x2
    int64_t vol_last_sample_ts
    int64_t vol_var_e6          # EWMA of (delta mid in ticks)^2 per sample, *1e6
    int64_t vol_samples
    # trade intensity
    int64_t depth_ewma_e6       # EWMA trade depth in ticks *1e6
    int64_t interarrival_ewma_ns
    int64_t kappa_e6            # 1 / depth, per tick *1e6 (0 until the first trade)
    int64_t rate_e6             # trades per second *1e6 (0 until two trades)
    int64_t last_trade_ts
    # counters
    int64_t n_book
    int64_t n_trades


# Validate params (0 ok, -1 invalid: nothing changed) and reset all state to zero.
cdef int signals_init(Signals* s, const SignalParams* p) noexcept nogil

# After a complete book message (F_LAST): refresh mid, microprice, imbalance, OFI and sample
# volatility if vol_sample_ns of event time elapsed since the last sample.
cdef void signals_on_book(Signals* s, const Book* b, int64_t ts_event) noexcept nogil

# A public trade; aggressor_side = BUY/SELL, mid_x2 = mid at the time (0 if unknown: the
# intensity estimate then skips the trade).
cdef void signals_on_trade(Signals* s, int aggressor_side, int64_t price, int64_t qty,
                           int64_t mid_x2, int64_t ts_event) noexcept nogil

# Read-outs in floating point for strategies (transient values, never stored).
cdef double signals_sigma2_per_sec(const Signals* s) noexcept nogil   # ticks^2 per second
cdef double signals_kappa(const Signals* s) noexcept nogil            # per tick, 0 if unknown
cdef double signals_vpin(const Signals* s) noexcept nogil             # [0, 1]

cdef void signals_write(const Signals* s, Writer* w) noexcept nogil
cdef int signals_read(Signals* s, Reader* r) noexcept nogil


# Python-visible wrapper (tests, strategy tests). Constructor takes the SignalParams fields as
# keyword arguments with defaults: imbalance_levels=5, vpin_bucket_qty=..., vpin_window=50,
# vol_sample_ns=100_000_000, vol_alpha_e6=..., intensity_alpha_e6=....
cdef class SignalEngine:
    cdef Signals sig

# --- additions (strategies engineer) ---
# Trade arrival rate read-out (rate_e6 / 1e6), trades per second; 0 until two trades were seen.
cdef double signals_rate_per_sec(const Signals* s) noexcept nogil
