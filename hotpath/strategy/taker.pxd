# Liquidity taker (from the seeds): crosses the spread when a signal passes a threshold.
#
#   fair value fv = EWMA of mid (weight fv_alpha per complete book message)
#   fv_signal = (fv - mid) / spread, clamped to [-1, 1]
#   signal = clamp(weight_fv * fv_signal + weight_imbalance * imbalance, -1, 1)
#   signal >= threshold -> buy order_qty; signal <= -threshold -> sell order_qty
# at most once per cooldown_ns of event time, never beyond max_position, IOC limit at the
# opposite touch +/- slippage_ticks (or a market order when use_market). Integer e6 arithmetic.
from libc.stdint cimport int64_t

from hotpath.serial cimport Reader, Writer
from hotpath.strategy.common cimport StrategyInputs, TakeTarget


cdef struct TakerParams:
    int64_t order_qty               # lots, > 0
    int64_t max_position            # lots, > 0
    int64_t threshold_e6            # (0, 1e6]
    int64_t fv_alpha_e6             # (0, 1e6]
    int64_t weight_fv_e6            # default 700000
    int64_t weight_imbalance_e6     # default 300000
    int64_t cooldown_ns
    int64_t slippage_ticks          # >= 0
    int64_t use_market              # 0 / 1
    int64_t warmup_events


cdef struct TakerState:
    int64_t fv_e6                   # fair value, ticks * 1e6 (0 until the first message)
    int64_t events_seen
    int64_t last_order_ts
    int64_t last_signal_e6
    int64_t n_signals


cdef int taker_init(const TakerParams* p, TakerState* s) noexcept nogil
# Update the fair value from a complete book message (needs a two-sided book).
cdef void taker_on_book(const TakerParams* p, TakerState* s, const StrategyInputs* x) noexcept nogil
# 1 when out holds an order to send now, else 0.
cdef int taker_decide(const TakerParams* p, TakerState* s, const StrategyInputs* x, TakeTarget* out) noexcept nogil
cdef void taker_write(const TakerParams* p, const TakerState* s, Writer* w) noexcept nogil
cdef int taker_read(TakerParams* p, TakerState* s, Reader* r) noexcept nogil
