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


def _sections(document: dict) -> dict[str, dict]:
    sections = {"node": document.get("risk") or {}}
    for item in document.get("instruments") or []:
        if isinstance(item, dict) and isinstance(item.get("symbol"), str):
            sections[item["symbol"]] = ((item.get("config") or {}).get("risk")) or {}
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
