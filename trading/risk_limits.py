"""Which risk limits a new node configuration raises (the two-person rule applies to those).

A limit is raised when the new value allows more risk than the active one: a larger number,
or removing the limit altogether (absent means "no limit" for the optional ones). Limits are
compared per scope: the node-wide "risk" section and each instrument's "config.risk". A new
instrument counts as raising every limit it brings (it adds exposure); removing one does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# larger = more risk; None / absent = unlimited for these
OPTIONAL_LIMITS = (
    "max_order_qty",
    "max_position",
    "max_notional",
    "max_total_notional",
    "max_spread_ticks",
    "max_drawdown",
    "max_daily_loss",
    "max_consecutive_losses",
)
# larger = more risk; absent = the schema default
DEFAULTED_LIMITS = {
    "price_collar_bps": Decimal(500),
    "max_open_orders": Decimal(50),
    "max_open_orders_total": Decimal(200),
    "rate_limit_per_sec": Decimal(1000),
    "rate_limit_burst": Decimal(2000),
    "rapid_fill_count": Decimal(256),
}
UNLIMITED = Decimal("Infinity")


@dataclass(frozen=True)
class LimitChange:
    scope: str  # "node" or an instrument symbol
    field: str
    old: str  # as written in the document, "unlimited" or "default N" when absent
    new: str

    @property
    def text(self) -> str:
        return f"{self.scope}.{self.field}: {self.old} -> {self.new}"


def _value(section: dict, field: str) -> Decimal:
    raw = section.get(field)
    if raw is None:
        return DEFAULTED_LIMITS.get(field, UNLIMITED)
    try:
        return Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return UNLIMITED  # unreadable counts as the most permissive: never slips through


def instrument_scope(symbol: str, market: str | None, venue_market: str | None) -> str:
    """How an instrument of a node document is named in limit changes and limit rows: its
    symbol, with "@market" when it trades on another market than the venue's (a node may
    trade one symbol on two markets: each needs its own scope, or one would hide the other)."""
    venue_market = venue_market or "spot"
    market = market or venue_market
    return symbol.upper() if market == venue_market else f"{symbol.upper()}@{market}"


def instrument_items(document: dict) -> list[tuple[str, dict]]:
    """(scope, instrument item) of a node document, in order."""
    venue_market = (
        (document.get("venue") or {}).get("market") if isinstance(document.get("venue"), dict) else None
    )
    items = []
    for item in document.get("instruments") or []:
        if isinstance(item, dict) and isinstance(item.get("symbol"), str):
            market = item.get("market") if isinstance(item.get("market"), str) else None
            items.append((instrument_scope(item["symbol"], market, venue_market), item))
    return items


def _sections(document: dict) -> dict[str, dict]:
    sections = {"node": document.get("risk") or {}}
    for scope, item in instrument_items(document):
        sections[scope] = ((item.get("config") or {}).get("risk")) or {}
    return sections


def limit_changes(active: dict | None, proposed: dict) -> tuple[list[LimitChange], list[LimitChange]]:
    """(raised, lowered) limits of `proposed` against `active` (None: nothing active)."""
    old_sections = _sections(active or {"instruments": []})
    raised: list[LimitChange] = []
    lowered: list[LimitChange] = []
    for scope, new_section in _sections(proposed).items():
        old_section = old_sections.get(scope)
        for field in (*OPTIONAL_LIMITS, *DEFAULTED_LIMITS):
            new = _value(new_section, field)
            old = _value(old_section, field) if old_section is not None else None
            change = LimitChange(scope, field, _text(old_section or {}, field), _text(new_section, field))
            if old is None:  # a new scope (instrument): everything it allows is new exposure
                if field in OPTIONAL_LIMITS or field in new_section:
                    raised.append(change)
            elif new > old:
                raised.append(change)
            elif new < old:
                lowered.append(change)
    return raised, lowered


def _text(section: dict, field: str) -> str:
    value = section.get(field)
    if value is not None:
        return str(value)
    return f"default {DEFAULTED_LIMITS[field]}" if field in DEFAULTED_LIMITS else "unlimited"


# ---------------------------------------------------------------------------- effective limits

INT64_MAX = 2**63 - 1
# the engine's values (hotpath RiskConfig / RiskLimits) and the document field each comes from
ENGINE_WIDE = {
    "max_total_notional": "max_total_notional",
    "max_open_orders_total": "max_open_orders_total",
    "rate_capacity": "rate_limit_burst",
    "rate_per_sec": "rate_limit_per_sec",
    "max_drawdown": "max_drawdown",
    "max_daily_loss": "max_daily_loss",
    "max_consecutive_losses": "max_consecutive_losses",
    "rapid_fill_count": "rapid_fill_count",
}
PER_INSTRUMENT = {
    "max_order_qty": "max_order_qty",
    "max_position": "max_position",
    "max_notional": "max_notional",
    "collar_ppm": "price_collar_bps",
    "max_spread_ticks": "max_spread_ticks",
    "max_open_orders": "max_open_orders",
}


def _engine_text(value: int | None) -> str:
    return "unlimited" if value is None or value >= INT64_MAX else str(value)


def _venue_market(config) -> str | None:
    return (config.document.get("venue") or {}).get("market")


def effective_raises(active, proposed) -> list[LimitChange]:
    """Limits the engine would enforce more loosely under `proposed` than under `active` (both
    parsed NodeConfigs; active None = nothing). This catches what the document comparison
    cannot see: limits derived from other fields (risk.max_order_qty defaults to 10 x the
    strategy's order_qty, risk.max_position to the strategy's max_position). Values are the
    engine's integers (lots, nano, ppm); a change is named after the document field."""
    raised: list[LimitChange] = []
    old_wide = active.risk_config if active is not None else {}
    for field, doc_field in ENGINE_WIDE.items():
        old, new = old_wide.get(field), proposed.risk_config.get(field)
        if old is None or new > old:
            raised.append(
                LimitChange(
                    "node", doc_field, f"{_engine_text(old)} (engine)", f"{_engine_text(new)} (engine)"
                )
            )
    old_items = {}
    if active is not None:
        for item in active.instruments:
            old_items[instrument_scope(item.spec.symbol, item.spec.market, _venue_market(active))] = (
                item.setup.limits
            )
    for item in proposed.instruments:
        scope = instrument_scope(item.spec.symbol, item.spec.market, _venue_market(proposed))
        old_limits = old_items.get(scope, {})
        for field, doc_field in PER_INSTRUMENT.items():
            old, new = old_limits.get(field), item.setup.limits.get(field)
            if old is None or new > old:
                raised.append(LimitChange(scope, doc_field, f"{_engine_text(old)} (engine)",
                                          f"{_engine_text(new)} (engine)"))  # fmt: skip
    return raised
