"""Counters of a market-data feed: what arrived, what was refused and why, how the books fared."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FeedStats:
    messages: int = 0  # frames received on the market-data stream
    bytes: int = 0  # their size (characters of text frames, which are ASCII in practice)
    bad: Counter = field(default_factory=Counter)  # refused frames and messages, by reason
    skipped: Counter = field(default_factory=Counter)  # well-formed but not for the engine, by reason
    depth_applied: int = 0  # diffs emitted (live and replayed after a snapshot)
    depth_fast: int = 0  # diffs read by the fast path (from the frame's text, without orjson)
    depth_stale: int = 0  # diffs dropped: the book already held their updates
    depth_buffered: int = 0  # diffs kept while waiting for a snapshot
    trades: int = 0
    bbo: int = 0
    gaps: int = 0  # sequence breaks
    resyncs: int = 0  # book losses after which a new snapshot was fetched (gap, bad depth, stale, disconnect)
    snapshot_requests: int = 0
    snapshots: int = 0  # snapshots applied
    snapshots_too_old: int = 0  # refused: older than the diffs they had to bridge
    reconnects: int = 0  # stream connections after the first
    disconnects: int = 0
    stale_events: int = 0  # instruments found without data for stale_after_s
    states: dict[int, str] = field(default_factory=dict)  # instrument index -> syncing / live / invalid

    def as_dict(self) -> dict:
        return {
            "messages": self.messages,
            "bytes": self.bytes,
            "bad": dict(self.bad),
            "bad_total": sum(self.bad.values()),
            "skipped": dict(self.skipped),
            "depth_applied": self.depth_applied,
            "depth_fast": self.depth_fast,
            "depth_stale": self.depth_stale,
            "depth_buffered": self.depth_buffered,
            "trades": self.trades,
            "bbo": self.bbo,
            "gaps": self.gaps,
            "resyncs": self.resyncs,
            "snapshot_requests": self.snapshot_requests,
            "snapshots": self.snapshots,
            "snapshots_too_old": self.snapshots_too_old,
            "reconnects": self.reconnects,
            "disconnects": self.disconnects,
            "stale_events": self.stale_events,
            "states": dict(self.states),
        }
