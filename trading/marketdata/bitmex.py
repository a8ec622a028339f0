"""BitMEX websocket dump decoder (orderBookL2 / orderBookL2_25 tables, one JSON message per line).

"partial" is a snapshot; "insert" / "update" / "delete" address levels by id, so we keep
id -> (side, price). BitMEX sends prices as JSON numbers: the line is parsed with the number's own
text (json parse_float=str), so the conversion to ticks stays exact. The dump has no receipt time:
ts_local = ts_event (the row timestamp), and the report says so. There are no sequence numbers:
venue_seq is a running message counter, and a message we reject is a gap we made ourselves
(EV_BOOK_INVALID, then everything is dropped until the next partial).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime

from trading.instruments import BadValue, InstrumentSpec
from trading.marketdata.columns import EventColumns
from trading.marketdata.counted_book import NO_SNAPSHOT, VALID, CountedBook
from trading.marketdata.kinds import F_SELL
from trading.marketdata.reject import Reject
from trading.marketdata.report import LoadReport

BOOK_TABLES = frozenset({"orderBookL2", "orderBookL2_25"})
_ISO_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z\Z")
_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()
_SIDES = {"Buy": 0, "Sell": F_SELL}
_MISSING = object()


class JsonNumber(str):
    """The exact source text of a JSON non-integer number (so a JSON string is not mistaken for one)."""

    __slots__ = ()


def _reject_constant(name: str) -> None:
    raise ValueError(f"non-finite number {name}")


def parse_line(line: bytes) -> object:
    """JSON with numbers kept exact: floats stay as their text, NaN/Infinity literals are refused."""
    return json.loads(line, parse_float=JsonNumber, parse_constant=_reject_constant)


def iso_to_ns(text: object) -> int:
    """'2025-10-16T18:20:32.003Z' -> ns since the epoch, exactly (no float timestamp)."""
    if type(text) is not str:
        raise Reject("bad_timestamp")
    match = _ISO_RE.match(text)
    if not match:
        raise Reject("bad_timestamp")
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError:
        raise Reject("bad_timestamp") from None
    days = moment.toordinal() - _EPOCH_ORDINAL
    seconds = days * 86400 + moment.hour * 3600 + moment.minute * 60 + moment.second
    nanos = int((fraction or "").ljust(9, "0")) if fraction else 0
    if seconds < 0:
        raise Reject("bad_timestamp")
    return seconds * 1_000_000_000 + nanos


class BitmexDecoder(CountedBook):
    def __init__(self, spec: InstrumentSpec, symbol: str, report: LoadReport, out: EventColumns):
        self.spec = spec
        self.symbol = symbol.upper()
        self.report = report
        self.out = out
        self.state = NO_SNAPSHOT
        self.levels: dict[int, tuple[int, int]] = {}  # id -> (side flags, price ticks)
        self.counter = 0
        self.ts_memo: dict[str, int] = {}
        report.ts_local_source = "event_time"

    def feed(self, lines: Iterable[bytes]) -> None:
        report = self.report
        n_lines = 0
        for line in lines:
            n_lines += 1
            if not line.strip():
                report.count_bad("line_empty")
                continue
            try:
                message = parse_line(line)
            except (ValueError, RecursionError) as exc:
                report.count_bad("line_non_utf8" if isinstance(exc, UnicodeDecodeError) else "line_bad_json")
                if b'"orderBookL2' in line:
                    self._invalidate(None)  # probably a book message we lost: no sequence number will tell
                continue
            if type(message) is not dict or "table" not in message:
                report.count_skipped("non_table_message")  # welcome, subscription acks, errors
                continue
            table = message.get("table")
            if table not in BOOK_TABLES:
                report.count_skipped(f"table_{table[:40]}" if isinstance(table, str) else "table_unknown")
                continue
            self._on_book_message(message)
        report.lines += n_lines

    def _on_book_message(self, message: dict) -> None:
        report = self.report
        action = message.get("action")
        rows = message.get("data")
        if action not in ("partial", "insert", "update", "delete") or type(rows) is not list:
            report.count_bad("depth_malformed")
            self._invalidate(None)
            return
        ours = []
        for row in rows:
            if type(row) is not dict:
                ours.append(row)  # malformed: decides the message below
            elif row.get("symbol") == self.symbol:
                ours.append(row)
            else:
                report.skipped_other_symbols += 1
        if not ours:
            return
        self.counter += 1
        if action != "partial" and self.state != VALID:
            report.depth_messages += 1
            report.depth_dropped_before_snapshot += 1  # cannot be applied (or checked) without a partial
            return
        try:
            records, ts = self._decode(action, ours)
        except Reject as exc:
            what = "snapshot" if action == "partial" else "depth"
            report.count_bad(f"{what}_{exc.args[0]}")
            self._invalidate(None)
            return
        if action == "partial":
            self.emit_snapshot(ts, ts, [(ts, ts, price, qty, flags) for price, qty, flags in records])
            return
        report.depth_messages += 1
        report.messages += 1
        self.emit_diff(ts, ts, records)

    def _invalidate(self, ts: int | None) -> None:
        if self.state != VALID:
            return
        if ts is None:
            ts = self.out.ts_local[-1] if len(self.out) else 0  # no trustworthy time on a rejected message
        self.invalidate(ts, ts)

    def _decode(self, action: str, rows: list) -> tuple[list[tuple[int, int, int]], int]:
        """(price, qty, flags) records and the message time; the id map is updated only on success."""
        partial = action == "partial"
        base = {} if partial else self.levels
        changes: dict[int, tuple[int, int] | None] = {}
        records = []
        ts = 0
        for row in rows:
            if type(row) is not dict:
                raise Reject("malformed")
            level_id = row.get("id")
            if type(level_id) is not int:
                raise Reject("bad_id")
            ts = max(ts, self._time(row.get("timestamp")))
            known = changes.get(level_id, _MISSING)
            if known is _MISSING:
                known = base.get(level_id)
            side = _SIDES.get(row.get("side"))
            if side is None:
                raise Reject("bad_side")
            if action in ("partial", "insert"):
                if known is not None:
                    raise Reject("duplicate_id")
                price = self._price(row.get("price", _MISSING))
                qty = self._size(row.get("size"))
                changes[level_id] = (side, price)
            else:
                if known is None:
                    raise Reject("unknown_id")
                known_side, price = known
                if side != known_side:
                    raise Reject("side_changed")
                if "price" in row and self._price(row["price"]) != price:
                    raise Reject("price_changed")
                if action == "update":
                    qty = self._size(row.get("size"))
                else:
                    qty = 0
                    changes[level_id] = None
            records.append((price, qty, side))
        if partial:
            bids = [p for p, _, side in records if not side]
            asks = [p for p, _, side in records if side]
            if len(set(bids)) != len(bids) or len(set(asks)) != len(asks):
                raise Reject("duplicate_level")
            if bids and asks and max(bids) >= min(asks):
                raise Reject("crossed")
        # commit
        if partial:
            self.levels = {}
        for level_id, value in changes.items():
            if value is None:
                self.levels.pop(level_id, None)
            else:
                self.levels[level_id] = value
        return records, ts

    def _time(self, text: object) -> int:
        ns = self.ts_memo.get(text) if type(text) is str else None
        if ns is None:
            ns = iso_to_ns(text)
            if len(self.ts_memo) < 100_000:
                self.ts_memo[text] = ns
        return ns

    def _price(self, value: object) -> int:
        if value is _MISSING:
            raise Reject("missing_price")
        if type(value) is int or type(value) is JsonNumber:  # JSON integer
            value = str(value)
        else:
            raise Reject("bad_price")  # BitMEX prices are JSON numbers: a string or null is malformed
        try:
            ticks = self.spec.price_to_ticks(value)
        except BadValue as exc:
            raise Reject(exc.reason) from None
        if not ticks:
            raise Reject("zero_price")
        return ticks

    def _size(self, value: object) -> int:
        # BitMEX sizes are JSON integers (contracts); a float or a string is malformed.
        if type(value) is not int:
            raise Reject("bad_size")
        if value <= 0:
            raise Reject("negative" if value < 0 else "zero_qty")
        try:
            return self.spec.qty_to_lots(str(value))
        except BadValue as exc:
            raise Reject(exc.reason) from None

    def finish(self) -> None:
        self.report.notes.append(
            "BitMEX dump has no receipt timestamps: ts_local = ts_event (venue row timestamp)"
        )
        self.report_book_state(
            "the book is invalid at the end of the stream: no partial after the last rejected message",
            "no 'partial' message for the symbol: no depth events emitted",
        )
