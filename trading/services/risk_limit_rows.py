"""Risk limit rows: kept equal to the active configuration, and changed only through it.

`sync_risk_limits` rewrites a node's RiskLimit rows from the document that just became active
(called inside the activating transaction, so rows and active version never disagree).
`set_risk_limit` turns one limit change into a new node document and proposes it like any
other configuration change: lowering applies at once (node told to reload), raising becomes a
RAISE_LIMIT approval request for a second user.
"""

from __future__ import annotations

import copy
from decimal import Decimal, InvalidOperation

from trading.audit import Actor
from trading.backtest.config import ConfigError
from trading.models import Node, RiskLimit
from trading.risk_limit_models import INSTRUMENT_LIMITS, INTEGER_LIMITS, NODE_LIMITS
from trading.risk_limits import DEFAULTED_LIMITS, instrument_items
from trading.services import operations

CHANGE_PERMISSION = "trading.change_risklimit"
MAX_VALUE = Decimal(10) ** 28  # fits the column (38 digits, 9 decimals); beyond is a typo
MAX_VALUE_CHARS = 40


def _limit_rows(node: Node, document: dict, version: int) -> list[RiskLimit]:
    rows = []

    def add(scope: str, strategy: str, section: dict, names) -> None:
        for name in names:
            raw = section.get(name)
            default = raw is None and name in DEFAULTED_LIMITS
            value = DEFAULTED_LIMITS[name] if default else (None if raw is None else Decimal(str(raw)))
            rows.append(RiskLimit(node=node, scope=scope, strategy=strategy, name=name, value=value,
                                  is_default=default, config_version=version))  # fmt: skip

    add("", "", document.get("risk") or {}, NODE_LIMITS)
    for scope, item in instrument_items(document):
        section = (item.get("config") or {}).get("risk") or {}
        add(scope, item.get("strategy") or "mm", section, INSTRUMENT_LIMITS)
    return rows


def sync_risk_limits(node: Node) -> int:
    """Make `node`'s rows equal to its active configuration (none active: no rows), keeping each
    row's id for the same (scope, limit). Call inside the transaction that changed it."""
    active = node.active_config
    rows = _limit_rows(node, active.document, active.version) if active is not None else []
    stale = RiskLimit.objects.filter(node=node)
    for row in rows:
        stale = stale.exclude(scope=row.scope, name=row.name)
    stale.delete()
    RiskLimit.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["node", "scope", "name"],
        update_fields=["strategy", "value", "is_default", "config_version", "updated_at"],
    )
    return len(rows)


def parse_limit_value(name: str, text: object) -> Decimal | None:
    """A limit typed by a person: blank = no limit (or the schema default), else a positive
    finite number, whole for the count limits. ValueError with the reason otherwise."""
    if text is None:
        return None
    if not isinstance(text, str | int | Decimal) or isinstance(text, bool):
        raise ValueError("the value must be a number")
    text = str(text).strip()
    if text == "":
        return None
    if len(text) > MAX_VALUE_CHARS:
        raise ValueError(f"the value is longer than {MAX_VALUE_CHARS} characters")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError("the value must be a finite number")
    if value <= 0:
        raise ValueError("a limit must be above zero (leave it blank for no limit)")
    if value >= MAX_VALUE:
        raise ValueError("the value is too large")
    if name in INTEGER_LIMITS and value != value.to_integral_value():
        raise ValueError(f"{name} is a whole number")
    if value.as_tuple().exponent < -9:
        raise ValueError("at most 9 decimal places")
    return value


def limit_document(document: dict, scope: str, name: str, value: Decimal | None) -> dict:
    """A copy of `document` with one limit set (None: removed, i.e. unlimited or the default)."""
    if name not in (INSTRUMENT_LIMITS if scope else NODE_LIMITS):
        raise ConfigError(f"{name!r} is not a {'per-instrument' if scope else 'node-wide'} limit")
    new = copy.deepcopy(document)
    if scope:
        items = [item for item_scope, item in instrument_items(new) if item_scope == scope]
        if not items:
            raise ConfigError(f"the node trades no instrument {scope!r}")
        section = items[0].setdefault("config", {}).setdefault("risk", {})
    else:
        section = new.setdefault("risk", {})
    if value is None:
        section.pop(name, None)
    else:
        section[name] = int(value) if name in INTEGER_LIMITS else f"{value.normalize():f}"
    return new


def set_risk_limit(
    actor: Actor,
    node_name: str,
    scope: str,
    name: str,
    value: Decimal | None,
    *,
    comment: str = "",
    publisher=None,
):
    """Propose the active configuration with one limit changed (a ConfigProposal)."""
    from trading.services.config_changes import propose_node_config

    operations.require_permission(actor, CHANGE_PERMISSION, "risk_limit.change", "node", str(node_name))
    node = Node.objects.select_related("active_config").filter(name=node_name).first()
    if node is None:
        raise LookupError(f"no node named {node_name!r}")
    if node.active_config is None:
        raise ConfigError(f"node {node_name!r} has no active configuration to change")
    base = node.active_config
    document = limit_document(base.document, scope, name, value)
    return propose_node_config(actor, node_name, document, comment=comment, publisher=publisher,
                               base_version=base.version)  # fmt: skip


__all__ = ["CHANGE_PERMISSION", "limit_document", "parse_limit_value", "set_risk_limit", "sync_risk_limits"]
