"""Field-by-field differences between two node configuration documents (pure: no Django, no I/O).

Each change is `scope.field: old -> new`, as the console shows it. Node-wide sections keep their
document paths ("risk.max_daily_loss", "engine.hash_every"); an instrument's fields are under its
symbol ("BTCUSDT.strategy.half_spread_ticks", "BTCUSDT.risk.max_position"; the item's own keys as
"BTCUSDT.strategy", "BTCUSDT.market"), or under "SYMBOL/market" when one symbol is traded on two
markets of the node. Credentials are never shown, only that they changed. Risk limits a change
raises come from trading.risk_limits, the same rule the two-person check applies.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from trading.risk_limits import limit_changes

SECRET_FIELDS = frozenset({"api_key", "hmac_secret"})
ABSENT = "(absent)"
HIDDEN = "(hidden)"
MAX_SHOWN_CHARS = 120
_MISSING = object()


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: str  # as shown: ABSENT when the old document does not have the field
    new: str
    raised: bool = False  # a risk limit allowing more risk: needs a second user

    @property
    def text(self) -> str:
        return f"{self.path}: {self.old} -> {self.new}"


@dataclass(frozen=True)
class VersionDiff:
    changes: tuple[FieldChange, ...]
    raised: tuple[str, ...]  # trading.risk_limits texts ("node.max_daily_loss: 500 -> 600")
    lowered: tuple[str, ...]


def _shown(path: str, value: object) -> str:
    if value is _MISSING:
        return ABSENT
    if path.rsplit(".", 1)[-1] in SECRET_FIELDS and value is not None:
        return HIDDEN
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"


def _same(old: object, new: object) -> bool:
    # typed comparison: 1 == True == 1.0 in Python, but they are different documents
    return json.dumps(old, sort_keys=True, default=str) == json.dumps(new, sort_keys=True, default=str)


def _flatten(value: object, prefix: str, out: dict[str, object]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value  # lists (CPU sets) are compared whole


def _instrument_key(item: dict, default_market: str) -> tuple[str, str]:
    return str(item.get("symbol")), str(item.get("market") or default_market)


def _instruments(document: dict) -> dict[tuple[str, str], dict]:
    market = str((document.get("venue") or {}).get("market") or "spot")
    items = [item for item in document.get("instruments") or [] if isinstance(item, dict)]
    return {_instrument_key(item, market): item for item in items}


def instrument_labels(*documents: dict | None) -> dict[tuple[str, str], str]:
    """(symbol, market) -> how the console names the instrument: its symbol, or SYMBOL/market
    when that symbol is on more than one market across the documents."""
    keys = set()
    for document in documents:
        keys.update(_instruments(document or {}))
    markets_per_symbol = Counter(symbol for symbol, _ in keys)
    return {
        (symbol, market): symbol if markets_per_symbol[symbol] == 1 else f"{symbol}/{market}"
        for symbol, market in keys
    }


def flatten_document(document: dict, labels: dict[tuple[str, str], str]) -> dict[str, object]:
    """{path: value} of every leaf of a node document, paths as described in the module doc."""
    out: dict[str, object] = {}
    for key, value in document.items():
        if key != "instruments":
            _flatten(value, key, out)
    for (symbol, market), item in _instruments(document).items():
        label = labels[(symbol, market)]
        for key, value in item.items():
            if key == "symbol":
                continue
            if key == "config" and isinstance(value, dict):
                _flatten(value, label, out)  # "BTCUSDT.risk.max_position", not "...config.risk..."
            else:
                _flatten(value, f"{label}.{key}", out)
    return out


def document_diff(old: dict | None, new: dict) -> list[FieldChange]:
    """Every field that differs between `old` (None: nothing before) and `new`, node-wide
    fields first, then instrument by instrument; `raised` is left False (see version_diff)."""
    old = old or {}
    labels = instrument_labels(old, new)
    before, after = flatten_document(old, labels), flatten_document(new, labels)
    instrument_prefixes = tuple(f"{label}." for label in labels.values())

    def order(path: str) -> tuple[int, str]:
        return (1 if path.startswith(instrument_prefixes) else 0, path)

    changes = []
    for path in sorted(before.keys() | after.keys(), key=order):
        old_value, new_value = before.get(path, _MISSING), after.get(path, _MISSING)
        if old_value is not _MISSING and new_value is not _MISSING and _same(old_value, new_value):
            continue
        changes.append(FieldChange(path, _shown(path, old_value), _shown(path, new_value)))
    return changes


def _limit_path(scope: str, field: str, labels: dict[tuple[str, str], str]) -> set[str]:
    """The diff paths a trading.risk_limits change (scope "node" or a symbol) stands for."""
    if scope == "node":
        return {f"risk.{field}"}
    return {f"{label}.risk.{field}" for (symbol, _), label in labels.items() if symbol == scope}


def version_diff(old: dict | None, new: dict) -> VersionDiff:
    """document_diff with the raised limits marked, plus the limit summary of the two-person
    rule (which also names limits that change by being absent: "default 50", "unlimited")."""
    raised, lowered = limit_changes(old, new)
    labels = instrument_labels(old, new)
    raised_paths = set()
    for change in raised:
        raised_paths |= _limit_path(change.scope, change.field, labels)
    changes = tuple(
        FieldChange(c.path, c.old, c.new, raised=c.path in raised_paths) for c in document_diff(old, new)
    )
    return VersionDiff(
        changes=changes,
        raised=tuple(change.text for change in raised),
        lowered=tuple(change.text for change in lowered),
    )
