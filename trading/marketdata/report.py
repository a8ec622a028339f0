"""LoadReport: what a load did, counted per category, cached next to the events it describes."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class LoadReport:
    symbol: str = ""
    format: str = ""
    market: str = ""
    files: list[str] = field(default_factory=list)
    lines: int = 0  # physical lines/rows read (all symbols, including bad ones)
    messages: int = 0  # well-formed messages for the symbol (depth, snapshot, trade, bbo)
    events: int = 0  # records in the output array
    depth_messages: int = 0  # well-formed depth diff messages for the symbol
    depth_applied: int = 0  # diffs that became EV_DEPTH records
    depth_levels: int = 0  # EV_DEPTH records
    depth_dropped_stale: int = 0  # already contained in the snapshot / book state
    # received while no usable snapshot existed (before the first one, or after a gap) and never applied
    depth_dropped_before_snapshot: int = 0
    depth_replayed: int = 0  # buffered diffs applied right after the snapshot that made them valid
    snapshots: int = 0
    snapshot_levels: int = 0
    snapshots_ignored: int = 0  # older than the already synchronised book
    gaps: int = 0  # EV_BOOK_INVALID records
    resyncs: int = 0  # book valid again after a gap
    trades: int = 0
    bbo: int = 0  # bookTicker / quote messages (two EV_BBO records each)
    bad: dict[str, int] = field(default_factory=dict)  # "<what>_<reason>" -> count
    skipped: dict[str, int] = field(default_factory=dict)  # ignored on purpose, not errors
    skipped_other_symbols: int = 0
    crossed_after_sync: int = 0
    first_crossed: dict[str, Any] | None = None
    bbo_checked: int = 0
    bbo_mismatched: int = 0
    first_bbo_mismatch: dict[str, Any] | None = None
    non_monotonic_ts: int = 0  # records whose ts_local is below the previous record's
    first_non_monotonic: dict[str, Any] | None = None
    book_state_at_end: str = ""  # "valid", "invalid_after_gap", "no_snapshot", "no_depth"
    validated: bool = False
    ts_local_source: str = "receipt"  # "event_time" when the source has no receipt timestamps
    cache_hit: bool = False
    convert_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    # -- counting helpers used by the decoders --

    def count_bad(self, reason: str, n: int = 1) -> None:
        _count(self.bad, reason, n)

    def count_skipped(self, reason: str, n: int = 1) -> None:
        _count(self.skipped, reason, n)

    @property
    def bad_total(self) -> int:
        return sum(self.bad.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadReport:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        def counts(mapping: dict[str, int]) -> str:
            if not mapping:
                return "none"
            return ", ".join(f"{k}={v}" for k, v in Counter(mapping).most_common())

        lines = [
            f"{self.symbol} {self.format}/{self.market}: {len(self.files)} file(s), {self.lines:,} lines -> "
            f"{self.events:,} events ({self.depth_levels:,} depth levels in {self.depth_applied:,} messages, "
            f"{self.snapshots} snapshot(s), {self.trades:,} trades, {self.bbo:,} bbo)"
            + (" [cache hit]" if self.cache_hit else ""),
            f"book sync: {self.gaps} gap(s), {self.resyncs} resync(s); dropped {self.depth_dropped_stale:,} stale, "
            f"{self.depth_dropped_before_snapshot:,} without snapshot; book at end: {self.book_state_at_end or '?'}",
            f"bad: {counts(self.bad)}; skipped: {counts(self.skipped)}",
        ]
        if self.validated:
            lines.append(
                f"checks: crossed after sync {self.crossed_after_sync}; bbo checked {self.bbo_checked:,}, "
                f"mismatched {self.bbo_mismatched}; ts_local decreases {self.non_monotonic_ts}"
            )
        else:
            lines.append(f"checks: book replay skipped; ts_local decreases {self.non_monotonic_ts}")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


MAX_REASONS = 64  # hostile input (e.g. endless distinct stream names) must not grow the report without bound


def _count(counts: dict[str, int], reason: str, n: int) -> None:
    if reason not in counts and len(counts) >= MAX_REASONS - 1:
        reason = "other"  # the last slot
    counts[reason] = counts.get(reason, 0) + n
