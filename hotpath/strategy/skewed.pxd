# Plain skewed market maker (from the seeds): fixed half spread around a reservation price that
# moves against inventory, decided at a fixed interval of event time.
#
#   r = mid - (position / order_qty) * skew          (skew in ticks per order_qty of inventory)
#   half = half_spread_ticks * (1 + imbalance_widen * |imbalance|)   (imbalance_widen 0 = off)
#   bid = floor(r - half), ask = ceil(r + half)       then passive + inventory bound (common.pxd)
# All in exact integer arithmetic (ticks * 1e6).
from libc.stdint cimport int64_t

from hotpath.serial cimport Reader, Writer
from hotpath.strategy.common cimport QuoteTarget, QuotingParams, StrategyInputs


cdef struct SkewedParams:
    QuotingParams q
    int64_t half_spread_ticks       # >= 1
    int64_t skew_e6                 # ticks * 1e6 per order_qty of inventory, >= 0
    int64_t imbalance_widen_e6      # >= 0


cdef struct SkewedState:
    int64_t events_seen
    int64_t last_decision_ts
    int64_t n_quotes


cdef int skewed_init(const SkewedParams* p, SkewedState* s) noexcept nogil
cdef void skewed_on_book(SkewedState* s) noexcept nogil
cdef int skewed_quote(const SkewedParams* p, SkewedState* s, const StrategyInputs* x,
                      QuoteTarget* out) noexcept nogil
cdef void skewed_write(const SkewedParams* p, const SkewedState* s, Writer* w) noexcept nogil
cdef int skewed_read(SkewedParams* p, SkewedState* s, Reader* r) noexcept nogil
