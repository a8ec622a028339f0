"""Numpy dtypes matching the C structs of types.pxd, and the struct layouts for the sync test.

Enums declared `cpdef enum` in types.pxd are importable from here as Python ints
(e.g. ``from hotpath.types import EV_DEPTH, F_SELL``).
"""

import numpy as np

from libc.stdint cimport int64_t

from hotpath.types cimport JournalRecord, MarketEvent

MARKET_EVENT_DTYPE = np.dtype(
    [
        ("ts_event", "<i8"),
        ("ts_local", "<i8"),
        ("price", "<i8"),
        ("qty", "<i8"),
        ("venue_seq", "<i8"),
        ("aux", "<i8"),
        ("order_id", "<i8"),
        ("kind", "<u2"),
        ("flags", "<u2"),
        ("instrument", "<u2"),
        ("reserved", "<u2"),
    ],
    align=True,
)

JOURNAL_RECORD_DTYPE = np.dtype(
    [
        ("seq", "<i8"),
        ("ts_event", "<i8"),
        ("ts_local", "<i8"),
        ("order_id", "<i8"),
        ("price", "<i8"),
        ("qty", "<i8"),
        ("a", "<i8"),
        ("b", "<i8"),
        ("c", "<i8"),
        ("d", "<i8"),
        ("e", "<i8"),
        ("kind", "<u2"),
        ("flags", "<u2"),
        ("instrument", "<u2"),
        ("reason", "<u2"),
    ],
    align=True,
)


def market_event_layout():
    """(sizeof, {field: offset}) of the C struct MarketEvent, measured by the C compiler."""
    cdef MarketEvent ev
    cdef char* base = <char*>&ev
    offsets = {
        "ts_event": <int64_t>(<char*>&ev.ts_event - base),
        "ts_local": <int64_t>(<char*>&ev.ts_local - base),
        "price": <int64_t>(<char*>&ev.price - base),
        "qty": <int64_t>(<char*>&ev.qty - base),
        "venue_seq": <int64_t>(<char*>&ev.venue_seq - base),
        "aux": <int64_t>(<char*>&ev.aux - base),
        "order_id": <int64_t>(<char*>&ev.order_id - base),
        "kind": <int64_t>(<char*>&ev.kind - base),
        "flags": <int64_t>(<char*>&ev.flags - base),
        "instrument": <int64_t>(<char*>&ev.instrument - base),
        "reserved": <int64_t>(<char*>&ev.reserved - base),
    }
    return sizeof(MarketEvent), offsets


def journal_record_layout():
    """(sizeof, {field: offset}) of the C struct JournalRecord, measured by the C compiler."""
    cdef JournalRecord rec
    cdef char* base = <char*>&rec
    offsets = {
        "seq": <int64_t>(<char*>&rec.seq - base),
        "ts_event": <int64_t>(<char*>&rec.ts_event - base),
        "ts_local": <int64_t>(<char*>&rec.ts_local - base),
        "order_id": <int64_t>(<char*>&rec.order_id - base),
        "price": <int64_t>(<char*>&rec.price - base),
        "qty": <int64_t>(<char*>&rec.qty - base),
        "a": <int64_t>(<char*>&rec.a - base),
        "b": <int64_t>(<char*>&rec.b - base),
        "c": <int64_t>(<char*>&rec.c - base),
        "d": <int64_t>(<char*>&rec.d - base),
        "e": <int64_t>(<char*>&rec.e - base),
        "kind": <int64_t>(<char*>&rec.kind - base),
        "flags": <int64_t>(<char*>&rec.flags - base),
        "instrument": <int64_t>(<char*>&rec.instrument - base),
        "reason": <int64_t>(<char*>&rec.reason - base),
    }
    return sizeof(JournalRecord), offsets


def empty_events(Py_ssize_t n):
    """A zeroed event array of length n."""
    return np.zeros(n, dtype=MARKET_EVENT_DTYPE)


# Named `cpdef enum`s are exposed by Cython as Python enum classes only; export their members
# as plain module-level ints too, so Python code can say `from hotpath.types import EV_DEPTH`.
for _enum in (Limits, EventKind, EventFlag, ControlCommand, OrderType, TimeInForce, RecordKind,
              BookStateReason, AlertReason):
    globals().update({_member.name: int(_member) for _member in _enum})
del _enum
