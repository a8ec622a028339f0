"""Reads of the audit trail for the console: filtered, newest first, keyset-paginated on seq."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet

from trading.models import AuditEntry

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    target: str = ""
    request_id: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def audit_entries(flt: AuditFilter) -> QuerySet[AuditEntry]:
    queryset = AuditEntry.objects.order_by("-seq")
    if flt.actor:
        queryset = queryset.filter(actor_username__icontains=flt.actor)
    if flt.action:
        queryset = queryset.filter(action__startswith=flt.action)
    if flt.target:
        kind, _, ident = flt.target.partition(":")
        queryset = (
            queryset.filter(target_type=kind, target_id=ident) if ident else queryset.filter(target_id=kind)
        )
    if flt.request_id:
        queryset = queryset.filter(request_id=flt.request_id)
    if flt.since:
        queryset = queryset.filter(at__gte=flt.since)
    if flt.until:
        queryset = queryset.filter(at__lt=flt.until)
    return queryset


def audit_page(
    flt: AuditFilter, before_seq: int | None, size: int = PAGE_SIZE
) -> tuple[list[AuditEntry], int | None]:
    """One page (newest first) and the seq to continue from (None on the last page)."""
    queryset = audit_entries(flt)
    if before_seq is not None:
        queryset = queryset.filter(seq__lt=before_seq)
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].seq if more and rows else None)
