"""Node configuration and status writes."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from trading.engine.config import NodeConfig
from trading.engine.snapshots import config_version
from trading.models import Node, NodeConfigVersion
from trading.services.instrument_registry import parse_node_document
from trading.services.risk_limit_rows import sync_risk_limits

STATE_NAMES = {0: Node.TradingState.ACTIVE, 1: Node.TradingState.REDUCING, 2: Node.TradingState.HALTED}


@transaction.atomic
def node_config_activate(
    *, node_name: str, document: dict, comment: str = "", activate: bool = True
) -> tuple[Node, NodeConfigVersion, NodeConfig]:
    """Validate a node document, store it as a version of its node (creating the node) and, with
    `activate`, make it the active one. Raises ConfigError (nothing is written) when the document
    is invalid. The same document twice is the same version."""
    config = parse_node_document(document)
    if config.node != node_name:
        from trading.backtest.config import ConfigError

        raise ConfigError(f"the document is for node {config.node!r}, not {node_name!r}")
    node, _ = Node.objects.select_for_update().get_or_create(name=node_name)
    version, _ = NodeConfigVersion.objects.get_or_create(
        node=node,
        version=config_version(config.document),
        defaults={"document": config.document, "comment": comment},
    )
    if activate:
        node.active_config = version
        node.save(update_fields=["active_config"])
        sync_risk_limits(node)
    return node, version, config


def node_status_report(*, node_id: int, snapshot: dict) -> None:
    """The node's heartbeat: trading state and a compact status for the console."""
    status = {
        key: snapshot.get(key)
        for key in ("seq", "durable_seq", "trading_state", "trading_state_reason", "reconciled", "reconcile_problems",
                    "config_version")
    }  # fmt: skip
    status["positions"] = {i["symbol"]: i["position"]["qty"] for i in snapshot.get("instruments", [])}
    # money in nano-units of each instrument's settlement currency; realized is net of fees
    status["pnl"] = {
        i["symbol"]: {"realized": i["position"]["realized"] - i["position"]["fees"],
                      "unrealized": i["position"]["unrealized"]}
        for i in snapshot.get("instruments", [])
    }  # fmt: skip
    status["connectivity"] = snapshot.get("connectivity") or {}
    status["alerts"] = ((snapshot.get("metrics") or {}).get("counters") or {}).get("alerts", 0)
    Node.objects.filter(pk=node_id).update(
        trading_state=STATE_NAMES.get(snapshot.get("trading_state"), Node.TradingState.HALTED),
        last_heartbeat=timezone.now(),
        last_status=status,
    )
