"""Reads for the console's node and approval pages."""

from __future__ import annotations

from decimal import Decimal

from trading.backtest.config import ConfigError
from trading.instruments import InstrumentError, InstrumentRegistry
from trading.models import ApprovalRequest, AuditEntry, Node, NodeCommand


def node_get(name: str) -> Node:
    return Node.objects.select_related("active_config").get(name=name)


def _decimals(step: Decimal) -> int:
    return max(0, -step.normalize().as_tuple().exponent)


def node_instruments(node: Node) -> list[dict]:
    """[{symbol, tick_size, lot_size, price_decimals, qty_decimals}] of the node's active config,
    for showing integer ticks and lots as prices and quantities in the browser."""
    if node.active_config is None:
        return []
    document = node.active_config.document
    market = (document.get("venue") or {}).get("market", "spot")
    registry = InstrumentRegistry()
    out = []
    for item in document.get("instruments") or []:
        try:
            spec = registry.get(item["symbol"], item.get("market") or market)
        except (InstrumentError, ConfigError, KeyError, TypeError):
            continue
        out.append({
            "symbol": spec.symbol,
            "tick_size": str(spec.tick_size),
            "lot_size": str(spec.lot_size),
            "price_decimals": _decimals(spec.tick_size),
            "qty_decimals": _decimals(spec.lot_size),
        })  # fmt: skip
    return out


def node_commands(node: Node, limit: int = 20):
    return NodeCommand.objects.filter(node=node).select_related("approval")[:limit]


def approvals_for(node: Node | None = None, limit: int = 50):
    queryset = ApprovalRequest.objects.select_related("requested_by", "decided_by")
    if node is not None:
        queryset = queryset.filter(target_type="node", target_id=node.name)
    return queryset[:limit]


def audit_recent(limit: int = 50):
    return AuditEntry.objects.all()[:limit]
