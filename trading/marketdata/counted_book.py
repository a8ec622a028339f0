"""The book of a source without sequence numbers (Tardis incremental_book_L2, BitMEX dumps).

venue_seq is a running message counter, and a message we must reject is a gap we made ourselves:
EV_BOOK_INVALID, then diffs are dropped until the next snapshot (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence

from trading.marketdata.columns import EventColumns
from trading.marketdata.kinds import EV_BOOK_INVALID, EV_DEPTH, EV_DEPTH_CLEAR, EV_DEPTH_SNAPSHOT, F_LAST
from trading.marketdata.report import LoadReport

NO_SNAPSHOT = "no_snapshot"
VALID = "valid"
INVALID = "invalid"


class CountedBook:
    """Decoder mixin: emits the book events of the current message (number self.counter) and keeps
    self.state (NO_SNAPSHOT / VALID / INVALID). The decoder sets out, report, counter and state."""

    out: EventColumns
    report: LoadReport
    counter: int
    state: str

    def emit_snapshot(
        self, ts_event: int, ts_local: int, rows: Sequence[tuple[int, int, int, int, int]]
    ) -> None:
        """A complete book at (ts_event, ts_local): EV_DEPTH_CLEAR, then one EV_DEPTH_SNAPSHOT per
        row (ts_event, ts_local, price, qty, flags). The book is valid from here on."""
        out = self.out
        report = self.report
        out.add(ts_event, ts_local, 0, 0, self.counter, 0, EV_DEPTH_CLEAR, 0 if rows else F_LAST)
        for row_ts_event, row_ts_local, price, qty, flags in rows:
            out.add(row_ts_event, row_ts_local, price, qty, self.counter, 0, EV_DEPTH_SNAPSHOT, flags)
        out.mark_last()
        if self.state == INVALID:
            report.resyncs += 1
        self.state = VALID
        report.snapshots += 1
        report.snapshot_levels += len(rows)
        report.messages += 1

    def emit_diff(self, ts_event: int, ts_local: int, levels: Sequence[tuple[int, int, int]]) -> None:
        """One EV_DEPTH per changed level (price, qty, flags), the last one flagged F_LAST."""
        out = self.out
        for price, qty, flags in levels:
            out.add(ts_event, ts_local, price, qty, self.counter, 0, EV_DEPTH, flags)
        out.mark_last()
        self.report.depth_applied += 1
        self.report.depth_levels += len(levels)

    def invalidate(self, ts_event: int, ts_local: int) -> None:
        """EV_BOOK_INVALID: a gap of our own making, diffs are dropped until the next snapshot."""
        self.out.add(ts_event, ts_local, 0, 0, self.counter, 0, EV_BOOK_INVALID, F_LAST)
        self.report.gaps += 1
        self.state = INVALID

    def report_book_state(self, invalid_note: str, no_snapshot_note: str) -> None:
        """report.book_state_at_end at the end of the stream, with a note when it is not valid."""
        report = self.report
        if not self.counter:  # no book message for the symbol at all
            report.book_state_at_end = "no_depth"
        elif self.state == VALID:
            report.book_state_at_end = "valid"
        elif self.state == INVALID:
            report.book_state_at_end = "invalid_after_gap"
            report.notes.append(invalid_note)
        else:
            report.book_state_at_end = "no_snapshot"
            report.notes.append(no_snapshot_note)
