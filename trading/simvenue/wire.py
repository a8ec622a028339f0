"""Integers to the decimal strings of the wire: exact, never through a float.

Prices and quantities use the instrument's display decimals (8 on Binance spot); amounts that are
products (quote quantities) or money in nano-units use as many decimals as they need, at least 8.
"""

from __future__ import annotations

from decimal import Context, Decimal

from trading.simvenue.instruments import VenueInstrument

MONEY_MIN_DECIMALS = 8
MAX_DECIMALS = 18
EXACT = Context(prec=80)  # wide enough that products of int64 ticks and lots never round
ZERO = Decimal(0)
NANO = Decimal(1).scaleb(-9)


def decimal_text(value: Decimal, min_places: int) -> str:
    """`value` with at least min_places decimals and as many more as it needs (up to 18)."""
    if not value:
        value = ZERO  # no "-0.00000000"
    normalized = value.normalize(EXACT)
    needed = max(0, -normalized.as_tuple().exponent)
    places = min(MAX_DECIMALS, max(min_places, needed))
    return format(EXACT.quantize(value, Decimal(1).scaleb(-places)), "f")


def nano_decimal(nano: int) -> Decimal:
    return EXACT.multiply(Decimal(nano), NANO)


class WireFormat:
    """Decimal strings for one instrument."""

    def __init__(self, instrument: VenueInstrument):
        spec = instrument.spec
        self._tick = spec.tick_size
        self._lot = spec.lot_size
        self._multiplier = spec.multiplier
        self._inverse = spec.contract_type == "inverse"
        self.places = instrument.display_decimals

    def price_decimal(self, ticks: int) -> Decimal:
        return EXACT.multiply(Decimal(ticks), self._tick)

    def qty_decimal(self, lots: int) -> Decimal:
        return EXACT.multiply(Decimal(lots), self._lot)

    def price(self, ticks: int) -> str:
        return decimal_text(self.price_decimal(ticks), self.places)

    def qty(self, lots: int) -> str:
        return decimal_text(self.qty_decimal(lots), self.places)

    def quote_decimal(self, ticks: int, lots: int) -> Decimal:
        """Quote-asset amount of lots at ticks: price * qty * multiplier (inverse: qty * multiplier)."""
        amount = EXACT.multiply(self.qty_decimal(lots), self._multiplier)
        return amount if self._inverse else EXACT.multiply(amount, self.price_decimal(ticks))

    def amount(self, value: Decimal) -> str:
        return decimal_text(value, max(MONEY_MIN_DECIMALS, self.places))
