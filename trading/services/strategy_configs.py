"""Versioned strategy configurations: added (validated, audited) and applied to a node's
instrument through the node configuration service (two-person rule when it raises a limit)."""

from __future__ import annotations

import copy

import orjson
from django.db import IntegrityError, transaction
from django.db.models import Max

from trading.audit import Actor, record_audit
from trading.backtest.config import BacktestConfig, ConfigError, build_engine_setup, parse_config
from trading.instruments import InstrumentError
from trading.models import Node, StrategyConfig
from trading.services import operations
from trading.services.instrument_registry import instrument_registry

ADD_PERMISSION = "trading.add_strategyconfig"
APPLY_PERMISSION = "trading.add_nodeconfigversion"
SECTIONS = ("strategy", "signals", "risk")
MAX_DOCUMENT_BYTES = 16 * 1024


def validate_strategy_document(strategy: str, symbol: str, market: str, document: object) -> dict:
    """The document as it will be stored, or ConfigError naming what is wrong. Checked exactly
    as a node checks an instrument's configuration (schema, units of the instrument)."""
    if strategy not in ("avellaneda", "mm", "taker"):
        raise ConfigError(f"unknown strategy {strategy!r}")
    if not isinstance(document, dict):
        raise ConfigError("the document must be a JSON object")
    if len(orjson.dumps(document)) > MAX_DOCUMENT_BYTES:
        raise ConfigError(f"the document is larger than {MAX_DOCUMENT_BYTES} bytes")
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown sections {unknown}: a strategy configuration has only {list(SECTIONS)}")
    try:
        spec = instrument_registry().get(symbol, market)
    except InstrumentError as exc:
        raise ConfigError(f"instrument: {exc}") from exc
    config: BacktestConfig = parse_config(document)
    build_engine_setup(config, strategy, spec, latency_us=0, center_price=1 << 20)
    return document


def add_strategy_config(
    actor: Actor, *, name: str, strategy: str, symbol: str, market: str, document: object, comment: str = ""
) -> StrategyConfig:
    """Store the next version of configuration `name` (version 1 for a new name)."""
    user = operations.require_permission(
        actor, ADD_PERMISSION, "strategy_config.add", "strategy_config", str(name)
    )
    document = validate_strategy_document(strategy, symbol, market, document)
    comment = operations.clean_reason(comment)[:200]
    for _ in range(3):  # two people adding a version of one name at once: the loser retries
        try:
            with transaction.atomic():
                last = StrategyConfig.objects.filter(name=name).aggregate(v=Max("version"))["v"] or 0
                row = StrategyConfig.objects.create(
                    name=name, version=last + 1, strategy=strategy, symbol=symbol, market=market,
                    document=document, comment=comment, created_by_username=user.get_username(),
                )  # fmt: skip
                record_audit(actor, "strategy_config.add", "strategy_config", f"{name} v{row.version}",
                             after={"strategy": strategy, "symbol": symbol, "market": market,
                                    "document": document})  # fmt: skip
                return row
        except IntegrityError:
            continue
    raise ConfigError(f"could not store a new version of {name!r}: too many concurrent changes")


def apply_strategy_config(actor: Actor, node_name: str, config_id: int, *, comment: str = "", publisher=None):
    """Propose node `node_name`'s active document with this configuration on its instrument.
    Returns the ConfigProposal (activated, or an approval request if it raises a limit)."""
    from trading.services.config_changes import propose_node_config

    operations.require_permission(actor, APPLY_PERMISSION, "strategy_config.apply", "node", str(node_name))
    config = StrategyConfig.objects.filter(pk=config_id).first()
    if config is None:
        raise LookupError(f"no strategy configuration #{config_id}")
    node = Node.objects.select_related("active_config").filter(name=node_name).first()
    if node is None:
        raise LookupError(f"no node named {node_name!r}")
    if node.active_config is None:
        raise ConfigError(f"node {node_name!r} has no active configuration")
    base = node.active_config
    document = copy.deepcopy(base.document)
    venue_market = (document.get("venue") or {}).get("market", "spot")
    items = [
        item for item in document.get("instruments") or []
        if item.get("symbol") == config.symbol and (item.get("market") or venue_market) == config.market
    ]  # fmt: skip
    if not items:
        raise ConfigError(f"node {node_name!r} does not trade {config.symbol} ({config.market})")
    items[0]["strategy"] = config.strategy
    items[0]["config"] = copy.deepcopy(config.document)
    with transaction.atomic():
        record_audit(actor, "strategy_config.apply", "node", node_name,
                     after={"strategy_config": str(config), "base_version": base.version})  # fmt: skip
        reason = comment or f"strategy configuration {config}"
        return propose_node_config(actor, node_name, document, comment=reason, publisher=publisher,
                                   base_version=base.version)  # fmt: skip


__all__ = ["add_strategy_config", "apply_strategy_config", "validate_strategy_document"]
