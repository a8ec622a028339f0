"""Node configuration changes from people (console, admin), under the two-person rule.

A proposed document is validated exactly as `runnode` validates it and stored as a version.
If it raises no risk limit (trading.risk_limits) it becomes active at once, audited, and the
running node is told to reload it; if it raises any, an approval request (RAISE_LIMIT) is
created instead and the active configuration stays until a second user approves. An approval
is carried out only if the configuration it was asked against is still the active one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from trading.audit import Actor, record_audit
from trading.backtest.config import ConfigError
from trading.engine.config import parse_node_config
from trading.engine.snapshots import config_version
from trading.models import ApprovalRequest, Node, NodeCommand, NodeConfigVersion
from trading.risk_limits import effective_raises, limit_changes
from trading.selectors.instruments import instrument_registry
from trading.services import operations
from trading.services.instrument_registry import parse_node_document
from trading.services.risk_limit_rows import sync_risk_limits

CHANGE_PERMISSION = "trading.add_nodeconfigversion"
MAX_COMMENT_CHARS = NodeConfigVersion._meta.get_field("comment").max_length


class StaleConfig(ConfigError):
    """The proposal was built on a version that is no longer the active one."""


@dataclass(frozen=True)
class ConfigProposal:
    version: NodeConfigVersion
    activated: bool
    approval: ApprovalRequest | None
    raised: tuple[str, ...]
    lowered: tuple[str, ...]


def propose_node_config(
    actor: Actor,
    node_name: str,
    document: dict,
    *,
    comment: str = "",
    publisher=None,
    base_version: int | None = None,
) -> ConfigProposal:
    """Store `document` as a version of node `node_name` and activate it, or ask for approval if
    it raises a limit. Raises ConfigError (nothing written) for an invalid document. With
    `base_version` (the version an edit was made on), raises StaleConfig (nothing written) if that
    is no longer the active version: checked under the node's lock, so two editors cannot silently
    overwrite each other."""
    action = "node.config"
    user = operations.require_permission(actor, CHANGE_PERMISSION, action, "node", str(node_name))
    config = parse_node_document(document)
    if config.node != node_name:
        raise ConfigError(f"the document is for node {config.node!r}, not {node_name!r}")
    comment = operations.clean_reason(comment)
    if len(comment) > MAX_COMMENT_CHARS:  # the version row keeps it: refuse rather than fail in the database
        raise ValueError(f"comment is longer than {MAX_COMMENT_CHARS} characters")
    with transaction.atomic():
        node = (
            Node.objects.select_for_update(of=("self",))
            .select_related("active_config")
            .filter(name=node_name)
            .first()
        )
        if node is None:
            raise LookupError(f"no node named {node_name!r}")
        active = node.active_config
        if base_version is not None and (active is None or active.version != base_version):
            current = active.version if active is not None else None
            raise StaleConfig(
                f"the active configuration changed since version {base_version} (now {current}): "
                "reload the page and make the change again"
            )
        version, _ = NodeConfigVersion.objects.get_or_create(
            node=node, version=config_version(config.document),
            defaults={"document": config.document, "comment": comment},
        )  # fmt: skip
        raised, lowered = limit_changes(active.document if active else None, config.document)
        covered = {(change.scope, change.field) for change in raised}
        for change in effective_raises(_parse_active(active), config):
            if (change.scope, change.field) not in covered:  # derived from another field
                raised.append(change)
        raised_text = tuple(change.text for change in raised)
        lowered_text = tuple(change.text for change in lowered)
        if active is not None and active.pk == version.pk:
            return ConfigProposal(version, False, None, (), ())
        if raised:
            approval = operations.create_approval(
                actor, user, ApprovalRequest.Action.RAISE_LIMIT, node,
                payload={"version": version.version, "base_version": active.version if active else None,
                         "raised": list(raised_text), "lowered": list(lowered_text)},
                reason=comment,
            )  # fmt: skip
            return ConfigProposal(version, False, approval, raised_text, lowered_text)
        _activate(actor, user, node, version, lowered_text, None, publisher)
    return ConfigProposal(version, True, None, raised_text, lowered_text)


def _parse_active(active: NodeConfigVersion | None):
    """The active version as the engine runs it; None if it no longer parses (then every limit
    of the proposal counts as raised: never less strict than the active one)."""
    if active is None:
        return None
    try:
        return parse_node_config(active.document, registry=instrument_registry())
    except Exception:
        return None


def _activate(actor, user, node: Node, version: NodeConfigVersion, lowered, approval, publisher) -> None:
    before = node.active_config.version if node.active_config_id else None
    node.active_config = version
    node.save(update_fields=["active_config"])
    sync_risk_limits(node)
    record_audit(actor, "node.config.activate", "node", node.name,
                 before={"version": before}, after={"version": version.version, "lowered": list(lowered),
                                                    "approval": approval.pk if approval else None})  # fmt: skip
    operations.queue_command(actor, user, node, "RELOAD_CONFIG", approval=approval, config_version=version.version,
                             publisher=publisher)  # fmt: skip


def carry_out_raise(actor: Actor, user, approval: ApprovalRequest, publisher=None) -> str:
    """Activate the approved version if the node still runs the one it was asked against.
    Returns "" when done, else why not (the approval is then FAILED)."""
    node = (
        Node.objects.select_for_update(of=("self",))
        .select_related("active_config")
        .get(name=approval.target_id)
    )
    payload = approval.payload or {}
    current = node.active_config.version if node.active_config_id else None
    if current != payload.get("base_version"):
        return f"the configuration changed since the request (now version {current}): ask again"
    version = NodeConfigVersion.objects.filter(node=node, version=payload.get("version")).first()
    if version is None:
        return "the requested configuration version no longer exists"
    try:
        parse_node_document(version.document)  # a venue may have closed since the request
    except ConfigError as exc:
        return f"the configuration is no longer acceptable: {exc}"
    _activate(actor, user, node, version, payload.get("lowered", []), approval, publisher)
    return ""


__all__ = [
    "CHANGE_PERMISSION",
    "ConfigProposal",
    "NodeCommand",
    "StaleConfig",
    "carry_out_raise",
    "propose_node_config",
]
