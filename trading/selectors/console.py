"""Reads for the console's node and approval pages."""

from __future__ import annotations

from decimal import Decimal

from trading.backtest.config import ConfigError
from trading.instruments import InstrumentError, InstrumentRegistry
from trading.models import ApprovalRequest, AuditEntry, Event, Fill, Node, NodeCommand, Order


def node_get(name: str) -> Node:
    return Node.objects.select_related("active_config").get(name=name)


def _decimals(step: Decimal) -> int:
    return max(0, -step.normalize().as_tuple().exponent)


def node_instruments(node: Node) -> dict[int, dict]:
    """{instrument index: {symbol, tick_size, lot_size, price_decimals, qty_decimals}} of the
    node's active configuration, for showing integer ticks and lots in the browser (keyed by the
    engine's index, so an instrument the registry does not know shifts nothing)."""
    return {
        index: {
            "symbol": spec.symbol,
            "tick_size": str(spec.tick_size),
            "lot_size": str(spec.lot_size),
            "price_decimals": _decimals(spec.tick_size),
            "qty_decimals": _decimals(spec.lot_size),
        }
        for index, spec in node_specs(node).items()
    }


def node_commands(node: Node, limit: int = 20):
    return NodeCommand.objects.filter(node=node).select_related("approval")[:limit]


def approvals_for(node: Node | None = None, limit: int = 50):
    queryset = ApprovalRequest.objects.select_related("requested_by", "decided_by")
    if node is not None:
        queryset = queryset.filter(target_type="node", target_id=node.name)
    return queryset[:limit]


def audit_recent(limit: int = 50):
    return AuditEntry.objects.all()[:limit]


# order latency (sent -> acknowledged) colour bands of the console, upper bounds in ns
LATENCY_BANDS = ((50_000_000, "green"), (200_000_000, "cyan"), (500_000_000, "yellow"))


def latency_band(ns: int | None) -> str:
    if ns is None:
        return "none"
    for limit, band in LATENCY_BANDS:
        if ns < limit:
            return band
    return "red"


def node_specs(node: Node) -> dict[int, object]:
    """instrument index -> InstrumentSpec of the node's active configuration."""
    if node.active_config is None:
        return {}
    document = node.active_config.document
    market = (document.get("venue") or {}).get("market", "spot")
    registry = InstrumentRegistry()
    specs = {}
    for index, item in enumerate(document.get("instruments") or []):
        try:
            specs[index] = registry.get(item["symbol"], item.get("market") or market)
        except (InstrumentError, ConfigError, KeyError, TypeError):
            continue
    return specs


def order_rows(node: Node, before_client_id: int | None, size: int = 50) -> tuple[list[dict], int | None]:
    """Newest orders first (keyset on client id), with prices and quantities as decimals and the
    sent -> acknowledged latency and its colour band."""
    specs = node_specs(node)
    queryset = Order.objects.filter(node=node)
    if before_client_id is not None:
        queryset = queryset.filter(client_id__lt=before_client_id)
    orders = list(queryset.order_by("-client_id")[: size + 1])
    more = len(orders) > size
    rows = []
    for order in orders[:size]:
        spec = specs.get(order.instrument)
        latency = order.acked_ns - order.sent_ns if order.acked_ns and order.sent_ns else None
        rows.append({
            "order": order,
            "price": spec.ticks_to_price(order.price) if spec and order.price else str(order.price),
            "qty": spec.lots_to_qty(order.qty) if spec else str(order.qty),
            "filled": spec.lots_to_qty(order.filled) if spec else str(order.filled),
            "latency_ms": None if latency is None else latency / 1e6,
            "band": latency_band(latency),
        })  # fmt: skip
    return rows, (orders[size - 1].client_id if more else None)


def fill_rows(node: Node, size: int = 50) -> list[dict]:
    specs = node_specs(node)
    rows = []
    for fill in Fill.objects.filter(node=node).order_by("-seq")[:size]:
        spec = specs.get(fill.instrument)
        rows.append({
            "fill": fill,
            "price": spec.ticks_to_price(fill.price) if spec else str(fill.price),
            "qty": spec.lots_to_qty(fill.qty) if spec else str(fill.qty),
        })  # fmt: skip
    return rows


NANO = Decimal(1_000_000_000)


def node_overview(node: Node) -> dict:
    """What the overview shows of a node, from its last heartbeat: positions as quantities,
    PnL in the settlement currency (net of fees), each link's health, alert count."""
    status = node.last_status or {}
    specs = {spec.symbol: spec for spec in node_specs(node).values()}
    positions = []
    for symbol, lots in (status.get("positions") or {}).items():
        spec = specs.get(symbol)
        pnl = (status.get("pnl") or {}).get(symbol) or {}
        positions.append({
            "symbol": symbol,
            "qty": spec.lots_to_qty(int(lots)) if spec else str(lots),
            "realized": _money(pnl.get("realized")),
            "unrealized": _money(pnl.get("unrealized")),
        })  # fmt: skip
    links = status.get("connectivity") or {}
    return {
        "node": node,
        "positions": positions,
        "links": [(name, up) for name, up in links.items() if up is not None],
        "alerts": status.get("alerts") or 0,
        "seq": status.get("seq"),
        "durable_seq": status.get("durable_seq"),
    }


def _money(nano) -> str:
    if not isinstance(nano, int):
        return "n/a"
    return f"{(Decimal(nano) / NANO).quantize(Decimal('0.01')):,}"


def state_hashes(node: Node, limit: int = 10) -> list[dict]:
    """The node's newest durable state-hash records (REC_STATE_HASH: a = xxh3-64 bit pattern,
    b = inputs processed), newest first."""
    from hotpath.types import REC_STATE_HASH
    from trading.selectors.events import durable_seq

    rows = (Event.objects.filter(node_id=node.pk, kind=REC_STATE_HASH, seq__lte=durable_seq(node))
            .order_by("-seq").values_list("seq", "ts_local", "a", "b")[:limit])  # fmt: skip
    return [{"seq": seq, "ts_local": ts, "hash": f"{a & 0xFFFF_FFFF_FFFF_FFFF:016x}", "inputs": b}
            for seq, ts, a, b in rows]  # fmt: skip


def equity_curve(node: Node, limit: int = 600) -> list[list[float]]:
    """[[ts_local, equity in settlement units]] of the newest durable REC_EQUITY records (the
    engine samples equity = realized + unrealized - fees, nano, once a second), oldest first."""
    from hotpath.types import REC_EQUITY
    from trading.selectors.events import durable_seq

    rows = (Event.objects.filter(node_id=node.pk, kind=REC_EQUITY, seq__lte=durable_seq(node))
            .order_by("-seq").values_list("ts_local", "e")[:limit])  # fmt: skip
    return [[ts, e / 1e9] for ts, e in reversed(rows)]
