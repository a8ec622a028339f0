# Avellaneda-Stoikov (2008) market maker, with the Gueant-Lehalle-Fernandez-Tapia (2013)
# closed-form approximation as an option, and Gueant's inventory bounds.
#
# Units: prices in ticks, time in seconds, inventory q = position / order_qty (quotes of size 1),
# sigma^2 in ticks^2 per second (signals volatility unless overridden), gamma and kappa per tick,
# A (arrival intensity at the touch) per second.
#
# model 0, A-S:     r = s - q * gamma * sigma^2 * tau
#                   spread = gamma * sigma^2 * tau + (2 / gamma) * ln(1 + gamma / kappa)
#                   bid = r - spread / 2, ask = r + spread / 2
# model 1, GLFT:    c1 = (1 / gamma) * ln(1 + gamma / kappa)
#                   c2 = sqrt(gamma / (2 * A * kappa) * (1 + gamma / kappa) ** (kappa / gamma + 1))
#                   bid = s - (c1 + sigma * c2 * (q + 1/2)),  ask = s + (c1 + sigma * c2 * (1/2 - q))
# s = mid, tau = horizon_ns / 1e9 (constant: infinite-horizon approximation), or with
# rolling_horizon the time left in the current session of horizon_ns (sessions start at
# multiples of horizon_ns of event time).
# The half spread (distance of each quote from r, or from s for GLFT) is clamped to
# [min_half_spread_ticks, max_half_spread_ticks]; with VPIN widening on and vpin above the
# threshold it is multiplied by 1 + vpin_widen * (vpin - threshold) / (1 - threshold).
# Quotes are rounded outward (bid down, ask up) to whole ticks, kept passive when post_only,
# and bounded by max_position (common.pxd).
from libc.stdint cimport int64_t

from hotpath.serial cimport Reader, Writer
from hotpath.strategy.common cimport QuoteTarget, QuotingParams, StrategyInputs


cdef struct AvellanedaParams:
    QuotingParams q
    int64_t model                   # 0 = A-S, 1 = GLFT
    int64_t gamma_e6                # risk aversion per tick, > 0
    int64_t kappa_e6                # per tick; 0 = use the signals' trade-intensity estimate
    int64_t arrival_a_e6            # GLFT A per second; 0 = use the signals' trade rate
    int64_t sigma_e6                # ticks per sqrt(second); 0 = use the signals' EWMA volatility
    int64_t horizon_ns              # > 0
    int64_t rolling_horizon         # 0 / 1
    int64_t min_half_spread_ticks   # >= 0
    int64_t max_half_spread_ticks   # >= min
    int64_t vpin_widen              # 0 / 1
    int64_t vpin_threshold_e6       # [0, 1e6)
    int64_t vpin_widen_e6           # multiplier slope, >= 0


cdef struct AvellanedaState:
    int64_t events_seen             # complete book messages observed
    int64_t last_decision_ts
    int64_t n_quotes                # targets produced
    int64_t last_reservation_e6
    int64_t last_half_spread_e6


# 0 ok, -1 invalid params. Resets the state.
cdef int avellaneda_init(const AvellanedaParams* p, AvellanedaState* s) noexcept nogil

# Count one complete book message (for warmup). Call before avellaneda_quote.
cdef void avellaneda_on_book(AvellanedaState* s) noexcept nogil

# 1 when out holds a target to pursue now, 0 when the strategy holds (warmup, interval, cooldown,
# no valid two-sided market, no usable kappa/sigma/A yet).
cdef int avellaneda_quote(const AvellanedaParams* p, AvellanedaState* s, const StrategyInputs* x,
                          QuoteTarget* out) noexcept nogil

cdef void avellaneda_write(const AvellanedaParams* p, const AvellanedaState* s, Writer* w) noexcept nogil
cdef int avellaneda_read(AvellanedaParams* p, AvellanedaState* s, Reader* r) noexcept nogil
