"""Reads for the config page: a node's configuration versions with who proposed and activated
each (from the audit trail), pending raise approvals, and each version's diff against the one
before it and against the active one."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from trading.config_diff import VersionDiff, version_diff
from trading.models import ApprovalRequest, AuditEntry, Node, NodeCommand, NodeConfigVersion

PAGE_VERSIONS = 50
PROPOSED_ACTIONS = ("approval.request.raise_limit", "node.config.activate")


@dataclass
class VersionRow:
    version: NodeConfigVersion
    is_active: bool
    proposed_by: str = ""  # first audit entry naming the version ("" if it came in another way)
    activations: list[AuditEntry] = field(default_factory=list)  # oldest first
    pending: list[ApprovalRequest] = field(default_factory=list)
    other_approvals: list[ApprovalRequest] = field(default_factory=list)  # decided, expired, ...
    diff_previous: VersionDiff | None = None  # None: the oldest version shown
    diff_active: VersionDiff | None = None  # None: this is the active version (or none is)

    @property
    def last_activation(self) -> AuditEntry | None:
        return self.activations[-1] if self.activations else None


def _audited_version(entry: AuditEntry) -> int | None:
    after = entry.after or {}
    if entry.action == "node.config.activate":
        return after.get("version")
    return (after.get("payload") or {}).get("version")


def config_versions(node: Node, limit: int = PAGE_VERSIONS) -> list[VersionRow]:
    """The node's newest `limit` versions, newest first, with their history and diffs (a fixed
    number of queries, whatever the number of versions)."""
    versions = list(NodeConfigVersion.objects.filter(node=node).order_by("-created_at", "-pk")[: limit + 1])
    shown = versions[:limit]
    numbers = [v.version for v in shown]
    active = node.active_config
    entries = AuditEntry.objects.filter(
        Q(action="node.config.activate", after__version__in=numbers)
        | Q(action="approval.request.raise_limit", after__payload__version__in=numbers),
        target_type="node",
        target_id=node.name,
    ).order_by("seq")
    approvals = ApprovalRequest.objects.filter(
        target_type="node",
        target_id=node.name,
        action=ApprovalRequest.Action.RAISE_LIMIT,
        payload__version__in=numbers,
    ).order_by("-pk")
    rows = {
        v.version: VersionRow(version=v, is_active=active is not None and v.pk == active.pk) for v in shown
    }
    for entry in entries:
        row = rows.get(_audited_version(entry))
        if row is None:
            continue
        if not row.proposed_by:
            row.proposed_by = entry.actor_username
        if entry.action == "node.config.activate":
            row.activations.append(entry)
    now = timezone.now()
    for approval in approvals:
        row = rows.get((approval.payload or {}).get("version"))
        if row is None:
            continue
        if approval.status == ApprovalRequest.Status.PENDING and approval.expires_at > now:
            row.pending.append(approval)
        else:
            row.other_approvals.append(approval)
    for index, version in enumerate(shown):
        row = rows[version.version]
        previous = versions[index + 1] if index + 1 < len(versions) else None
        if previous is not None:
            row.diff_previous = version_diff(previous.document, version.document)
        if active is not None and not row.is_active:
            row.diff_active = version_diff(active.document, version.document)
    return [rows[v.version] for v in shown]


def reload_command(node: Node, version: int) -> NodeCommand | None:
    """The newest RELOAD_CONFIG sent to the node for `version` (with the node's answer)."""
    return (
        NodeCommand.objects.filter(node=node, command="RELOAD_CONFIG", config_version=version)
        .order_by("-issued_at", "-pk")
        .first()
    )
