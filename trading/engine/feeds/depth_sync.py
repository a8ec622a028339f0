"""Binance depth synchronisation for one instrument, as "How to manage a local order book
correctly" prescribes it. Pure bookkeeping: no I/O, no events; the feed acts on the answers.

  spot:    drop u <= lastUpdateId; the first applied diff has U <= lastUpdateId + 1 <= u;
           after it, every diff has U == previous u + 1
  futures: drop u <  lastUpdateId; the first applied diff has U <= lastUpdateId <= u;
           after it, every diff has pu == previous u

While no snapshot is in force, diffs are buffered (with their decoded records as an opaque
payload). A snapshot older than the first buffered diff it would need is refused (TOO_OLD: ask
for another one, keep the buffer); otherwise it is applied and the buffer replayed through the
same rules. A diff that breaks the chain is a GAP: the book is lost until the next snapshot,
and that diff is kept, since the next snapshot may precede it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

# Instrument book states (also what FeedStats reports).
INVALID = "invalid"  # book lost (disconnect, stale feed); no stream data since
SYNCING = "syncing"  # buffering diffs; a snapshot is wanted or in flight
LIVE = "live"  # a snapshot is in force and every diff since chained onto it

MAX_BUFFERED_DIFFS = 10_000


class DiffAction(Enum):
    APPLY = "apply"  # the diff continues the book: emit it
    STALE = "stale"  # the book already holds these updates: drop it
    BUFFER = "buffer"  # no snapshot in force: keep it for the next one
    GAP = "gap"  # the chain is broken: the book is lost


class SnapshotOutcome(Enum):
    APPLIED = "applied"
    TOO_OLD = "too_old"  # older than the buffered diffs it must bridge: fetch another


@dataclass
class BufferedDiff:
    first: int  # U
    final: int  # u
    prev: int  # pu (futures), 0 on spot
    payload: Any


@dataclass
class SnapshotResult:
    outcome: SnapshotOutcome
    replay: list[BufferedDiff] = field(default_factory=list)  # buffered diffs applied after it, in order
    stale: int = 0  # buffered diffs dropped as already contained in the snapshot
    gap: BufferedDiff | None = None  # a buffered diff that broke the chain after the replay


class BookSync:
    """One instrument's depth chain. `on_diff` while LIVE, `buffer` otherwise, `apply_snapshot`."""

    def __init__(self, futures: bool, max_buffered: int = MAX_BUFFERED_DIFFS):
        self.futures = futures
        self.max_buffered = max_buffered
        self.state = INVALID
        self.last_id = 0  # lastUpdateId of the snapshot in force
        self.prev_final = 0  # u of the last applied diff
        self.bridged = False  # a diff has been applied on top of the snapshot
        self.pending: deque[BufferedDiff] = deque()
        self.overflowed = 0  # buffered diffs dropped because the buffer was full

    # -- states --

    def lose(self, state: str = SYNCING) -> None:
        """The book is no longer trusted: back to `state` (SYNCING or INVALID), buffer emptied."""
        self.state = state
        self.bridged = False
        self.pending.clear()

    # -- diffs --

    def on_diff(self, first: int, final: int, prev: int) -> DiffAction:
        if self.state != LIVE:
            return DiffAction.BUFFER
        if not self.bridged:
            last_id = self.last_id
            if self.futures:
                if final < last_id:
                    return DiffAction.STALE
                if not first <= last_id <= final:
                    return self._gap()
            else:
                if final <= last_id:
                    return DiffAction.STALE
                if first > last_id + 1:
                    return self._gap()
            self.bridged = True
        else:
            if final <= self.prev_final:
                return DiffAction.STALE  # a repeat of updates the book holds
            chained = prev == self.prev_final if self.futures else first == self.prev_final + 1
            if not chained:
                return self._gap()
        self.prev_final = final
        return DiffAction.APPLY

    def _gap(self) -> DiffAction:
        self.lose(SYNCING)
        return DiffAction.GAP

    def buffer(self, first: int, final: int, prev: int, payload: Any) -> None:
        """Keep a diff for the next snapshot (the oldest is dropped when the buffer is full)."""
        if self.state == INVALID:
            self.state = SYNCING
        self.pending.append(BufferedDiff(first, final, prev, payload))
        if len(self.pending) > self.max_buffered:
            self.pending.popleft()
            self.overflowed += 1

    # -- snapshots --

    def _is_stale(self, diff: BufferedDiff, last_id: int) -> bool:
        return diff.final < last_id if self.futures else diff.final <= last_id

    def _bridges(self, diff: BufferedDiff, last_id: int) -> bool:
        if self.futures:
            return diff.first <= last_id <= diff.final
        return diff.first <= last_id + 1 <= diff.final

    def apply_snapshot(self, last_id: int) -> SnapshotResult:
        pending = self.pending
        stale = 0
        while pending and self._is_stale(pending[0], last_id):
            pending.popleft()
            stale += 1
        if pending and not self._bridges(pending[0], last_id):
            return SnapshotResult(SnapshotOutcome.TOO_OLD, stale=stale)
        self.state = LIVE
        self.last_id = last_id
        self.prev_final = last_id
        self.bridged = False
        result = SnapshotResult(SnapshotOutcome.APPLIED, stale=stale)
        queued = list(pending)
        pending.clear()
        for k, diff in enumerate(queued):
            action = self.on_diff(diff.first, diff.final, diff.prev)
            if action is DiffAction.APPLY:
                result.replay.append(diff)
            elif action is DiffAction.STALE:
                result.stale += 1
            else:  # GAP: keep it and the rest, the next snapshot may need them
                result.gap = diff
                self.pending.extend(queued[k:])
                break
        return result
