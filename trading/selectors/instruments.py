"""The instrument registry node documents are validated against: the shipped file with the
database's rows added (trading.instrument_models)."""

from __future__ import annotations

from decimal import Decimal

from trading.instruments import InstrumentRegistry, InstrumentSpec
from trading.models import Instrument

SPEC_FIELDS = ("symbol", "market", "base", "quote", "settle", "tick_size", "lot_size", "contract_type", "multiplier",
               "maker_fee_ppm", "taker_fee_ppm", "book_window_log2")  # fmt: skip


def _plain(value) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def spec_of(row: Instrument) -> InstrumentSpec:
    data = {field: getattr(row, field) for field in SPEC_FIELDS}
    for field in ("tick_size", "lot_size", "multiplier"):
        data[field] = _plain(data[field])
    return InstrumentSpec.from_json({**data, "venue": row.venue.name})


def instrument_registry() -> InstrumentRegistry:
    """The shipped instruments, with the database's rows added (and taking precedence)."""
    registry = InstrumentRegistry()
    for row in Instrument.objects.select_related("venue"):
        registry.add(spec_of(row))
    return registry
