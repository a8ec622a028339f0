# Instrument economics in integers. The Python edge (trading/instruments.py) turns a decimal
# spec (tick size, lot size, multiplier, contract type, fees) into these exact rationals, so
# that the hot path never sees a decimal or a float.
#
# Currencies: "quote" = the currency prices are quoted in (USDT, USD); "settlement" = the
# currency PnL and fees are paid in: quote for linear contracts, base (BTC, ETH) for inverse.
# Money is int64 nano-units (1e-9) of the currency named.
from libc.stdint cimport int64_t

from hotpath.intmath cimport am_mul, am_muldiv_floor, am_muldiv_round, am_mul3div_floor


cpdef enum ContractType:
    CT_LINEAR = 0           # spot and USD-M: value = price * qty * multiplier
    CT_INVERSE = 1          # COIN-M, BitMEX XBTUSD: each contract is a fixed quote amount,
                            # value in base currency = qty * multiplier / price


cdef struct Instrument:
    int64_t id                  # index in the engine's instrument table
    int64_t contract_type       # ContractType
    # Quote notional in nano quote currency:
    #   linear : notional = price_ticks * qty_lots * value_num / value_den
    #   inverse: notional = qty_lots * value_num / value_den          (price-independent)
    int64_t value_num
    int64_t value_den
    # Inverse only, settlement value in nano base currency:
    #   value = qty_lots * inv_num / (inv_den * price_ticks)
    int64_t inv_num
    int64_t inv_den
    int64_t maker_fee_ppm       # fee = round(settlement value * ppm / 1e6); negative = rebate
    int64_t taker_fee_ppm
    int64_t book_window_log2    # dense book window = 2**this ticks (book.pxd)


cdef inline bint inst_notional(const Instrument* ins, int64_t price, int64_t qty, int64_t* out) noexcept nogil:
    """Absolute quote notional (nano quote) of qty at price. Returns 1 on overflow or bad input."""
    if qty < 0:
        return 1
    if ins.contract_type == CT_LINEAR:
        if price <= 0:
            return 1
        return am_mul3div_floor(price, qty, ins.value_num, ins.value_den, out)
    return am_muldiv_floor(qty, ins.value_num, ins.value_den, out)


cdef inline bint inst_settle_value_x2(const Instrument* ins, int64_t price_x2, int64_t qty, int64_t* out) noexcept nogil:
    """Value in nano settlement currency of qty at a price given doubled (so half ticks, e.g. a
    mid, are exact). Linear: quote notional; inverse: base-currency value. 1 on overflow."""
    cdef int64_t den
    if qty < 0 or price_x2 <= 0:
        return 1
    if ins.contract_type == CT_LINEAR:
        if am_mul(ins.value_den, 2, &den):
            return 1
        return am_mul3div_floor(price_x2, qty, ins.value_num, den, out)
    # inverse: qty * inv_num * 2 / (inv_den * price_x2)
    if am_mul(ins.inv_den, price_x2, &den):
        return 1
    return am_mul3div_floor(qty, ins.inv_num, 2, den, out)


cdef inline bint inst_settle_value(const Instrument* ins, int64_t price, int64_t qty, int64_t* out) noexcept nogil:
    """Value in nano settlement currency of qty at price. 1 on overflow or bad input."""
    if price <= 0 or price > (<int64_t>1 << 61):
        return 1
    return inst_settle_value_x2(ins, price * 2, qty, out)


cdef inline bint inst_fee(const Instrument* ins, int64_t settle_value, bint maker, int64_t* out) noexcept nogil:
    """Fee in nano settlement currency for a fill of the given settlement value."""
    return am_muldiv_round(settle_value, ins.maker_fee_ppm if maker else ins.taker_fee_ppm, 1000000, out)
