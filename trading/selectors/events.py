"""Reads of the node journal in PostgreSQL for the event-log browser.

Keyset pagination on (node, seq), newest first: every page is an index range scan whatever
its depth (trading_event's primary key per day partition, and the partial indexes on
(node, kind, seq) and (node, order_id, seq) for the kind and client-order filters). Nothing
past the node's durable high-water mark is read: the rows beyond it may still be arriving.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from trading.models import Event, JournalHighWaterMark, Node

PAGE_SIZE = 50


@dataclass(frozen=True)
class EventFilter:
    node: Node
    kind: int | None = None
    seq_from: int | None = None
    seq_to: int | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    order_id: int | None = None


def durable_seq(node: Node) -> int:
    return JournalHighWaterMark.objects.filter(node=node).values_list("seq", flat=True).first() or 0


def _time_window_seqs(flt: EventFilter, low: int, upper: int, limit: int) -> list[int]:
    """The newest `limit` seqs in [low, upper) inside the time window, read off the
    (node, ts_local, seq) index alone and top-N sorted (the OFFSET 0 fence stops the planner from
    walking the primary key backwards through every row newer than the window instead)."""
    conditions = ["node_id = %s", "ts_local >= %s", "ts_local < %s", "seq >= %s", "seq < %s"]
    params: list[int] = [
        flt.node.pk,
        flt.since_ns if flt.since_ns is not None else -(2**63),
        flt.until_ns if flt.until_ns is not None else 2**63 - 1,
        low,
        upper,
    ]
    if flt.kind is not None:
        conditions.append("kind = %s")
        params.append(flt.kind)
    if flt.order_id:
        conditions.append("order_id = %s")
        params.append(flt.order_id)
    sql = (
        f"SELECT seq FROM (SELECT seq FROM trading_event WHERE {' AND '.join(conditions)} OFFSET 0) AS window_seqs "
        "ORDER BY seq DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        return [row[0] for row in cursor.fetchall()]


def event_page(
    flt: EventFilter, before_seq: int | None, size: int = PAGE_SIZE
) -> tuple[list[Event], int | None, int]:
    """(one page newest first, the seq to continue from or None, the durable seq)."""
    high = durable_seq(flt.node)
    upper = min(x for x in (high + 1, before_seq, (flt.seq_to + 1) if flt.seq_to else None) if x is not None)
    if flt.since_ns is not None or flt.until_ns is not None:
        seqs = _time_window_seqs(flt, flt.seq_from or 1, upper, size + 1)
        rows = list(Event.objects.filter(node_id=flt.node.pk, seq__in=seqs).order_by("-seq"))
    else:
        queryset = Event.objects.filter(node_id=flt.node.pk, seq__lt=upper)
        if flt.seq_from:
            queryset = queryset.filter(seq__gte=flt.seq_from)
        if flt.kind is not None:
            queryset = queryset.filter(kind=flt.kind)
        if flt.order_id:
            queryset = queryset.filter(order_id=flt.order_id)
        rows = list(queryset.order_by("-seq")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].seq if more and rows else None), high


def event_get(node: Node, seq: int) -> Event | None:
    if seq > durable_seq(node):
        return None
    return Event.objects.filter(node_id=node.pk, seq=seq).first()
