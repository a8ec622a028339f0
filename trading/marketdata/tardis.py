"""Tardis.dev CSV decoders: incremental_book_L2, book_snapshot_N, trades, quotes.

Tardis rows carry exchange, symbol, timestamp (venue, µs) and local_timestamp (receipt, µs).
incremental_book_L2 rows are grouped into messages by identical (timestamp, local_timestamp,
is_snapshot); a run of is_snapshot=true rows starts a fresh snapshot. Tardis has no sequence
numbers, so venue_seq is a running message counter, and a message we must reject is a gap we made
ourselves: EV_BOOK_INVALID, then diffs are dropped until the next snapshot (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from trading.instruments import InstrumentSpec
from trading.marketdata.columns import EventColumns
from trading.marketdata.counted_book import NO_SNAPSHOT, VALID, CountedBook
from trading.marketdata.errors import DataError
from trading.marketdata.kinds import (
    EV_BBO,
    EV_BOOK_INVALID,
    EV_DEPTH_CLEAR,
    EV_DEPTH_SNAPSHOT,
    EV_TRADE,
    F_LAST,
    F_SELL,
)
from trading.marketdata.reject import Reject, check_bbo
from trading.marketdata.report import LoadReport
from trading.marketdata.sources import SourceInfo, iter_lines
from trading.marketdata.values import ExactValues

US = 1000
MAX_US = (2**63 - 1) // US

# Tardis exchange id -> our market name (unknown exchanges keep their own id).
EXCHANGE_MARKETS = {
    "binance": "spot",
    "binance-futures": "usdm",
    "binance-delivery": "coinm",
    "bitmex": "bitmex",
}


def market_of_exchange(exchange: str) -> str:
    return EXCHANGE_MARKETS.get(exchange, exchange)


def parse_us(text: str) -> int:
    """Tardis µs timestamp -> ns; Reject on anything but a positive in-range integer."""
    if not (text.isdigit() and text.isascii()) or len(text) > 16:
        raise Reject("bad_timestamp")
    value = int(text)
    if not 0 < value <= MAX_US:
        raise Reject("bad_timestamp")
    return value * US


class _TardisDecoder(ExactValues):
    """Shared row handling: decode, split, filter by symbol, parse timestamps and decimals."""

    n_columns = 8
    what = "row"

    def __init__(
        self, spec: InstrumentSpec, symbol: str, exchange: str, report: LoadReport, out: EventColumns
    ):
        super().__init__(spec)
        self.symbol = symbol.upper()
        self.exchange = exchange
        self.report = report
        self.out = out
        self.counter = 0

    def feed(self, lines: Iterable[bytes]) -> None:
        report = self.report
        n_lines = 0
        header_seen = False
        for line in lines:
            n_lines += 1
            if not header_seen:  # sniff() already checked the header of every file
                header_seen = True
                continue
            if not line.strip():
                report.count_bad(f"{self.what}_empty_line")
                continue
            try:
                fields = line.decode("utf-8").split(",")
            except UnicodeDecodeError:
                self.unreadable_row("non_utf8")
                continue
            if len(fields) != self.n_columns:
                self.unreadable_row("malformed")
                continue
            if fields[1] != self.symbol and fields[1].upper() != self.symbol:
                report.skipped_other_symbols += 1
                continue
            try:
                if fields[0] != self.exchange:
                    raise Reject("exchange_mismatch")
                ts_event = parse_us(fields[2])
                ts_local = parse_us(fields[3])
            except Reject as exc:
                self.unreadable_row(exc.args[0])
                continue
            self.row(ts_event, ts_local, fields)
        report.lines += n_lines

    def unreadable_row(self, reason: str) -> None:
        self.report.count_bad(f"{self.what}_{reason}")

    def row(self, ts_event: int, ts_local: int, fields: list[str]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        pass

    def side_is_sell(self, text: str, sell: str, buy: str) -> bool:
        if text == sell:
            return True
        if text == buy:
            return False
        raise Reject("bad_side")


class TardisBookDecoder(_TardisDecoder, CountedBook):
    """incremental_book_L2: exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"""

    what = "depth"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.state = NO_SNAPSHOT
        self.group_key: tuple[int, int, bool] | None = None
        self.group: list[tuple[int, int, int]] = []  # (price, qty, flags)
        self.group_bad: str | None = None
        # snapshot run being collected: rows (ts_event, ts_local, price, qty, flags)
        self.run: list[tuple[int, int, int, int, int]] | None = None
        self.run_ts = (0, 0)  # (ts_event, ts_local) of the run's first message
        self.run_bad: str | None = None

    def unreadable_row(self, reason: str) -> None:
        # A book row we cannot read may belong to the current message: fail closed on it.
        if self.group_key is not None and self.group_bad is None:
            self.group_bad = reason
        else:
            self.report.count_bad(f"depth_{reason}")

    def row(self, ts_event: int, ts_local: int, fields: list[str]) -> None:
        flag = fields[4]
        if flag not in ("true", "false"):
            self.unreadable_row("bad_is_snapshot")
            return
        key = (ts_event, ts_local, flag == "true")
        if key != self.group_key:
            self._flush_group()
            self.group_key = key
        if self.group_bad is not None:
            return
        try:
            flags = F_SELL if self.side_is_sell(fields[5], "ask", "bid") else 0
            price = self.price(fields[6])
            qty = self.qty(fields[7])
            if not price:
                raise Reject("zero_price")
            if key[2] and not qty:
                raise Reject("zero_qty")
        except Reject as exc:
            self.group_bad = exc.args[0]
            return
        self.group.append((price, qty, flags))

    def _flush_group(self) -> None:
        key = self.group_key
        if key is None:
            return
        rows, bad = self.group, self.group_bad
        self.group, self.group_bad, self.group_key = [], None, None
        ts_event, ts_local, is_snapshot = key
        if is_snapshot:
            if self.run is None:
                self.run, self.run_bad, self.run_ts = [], None, (ts_event, ts_local)
            if bad is not None and self.run_bad is None:
                self.run_bad = bad
            self.run.extend((ts_event, ts_local, price, qty, flags) for price, qty, flags in rows)
            return
        self._finish_run()
        self._apply_diff(ts_event, ts_local, rows, bad)

    def _apply_diff(self, ts_event: int, ts_local: int, rows: list, bad: str | None) -> None:
        report = self.report
        self.counter += 1
        if bad is not None:
            report.count_bad(f"depth_{bad}")
            if self.state == VALID:
                self.invalidate(ts_event, ts_local)
            else:
                report.depth_dropped_before_snapshot += 1
            return
        report.depth_messages += 1
        report.messages += 1
        if self.state != VALID:
            report.depth_dropped_before_snapshot += 1
            return
        self.emit_diff(ts_event, ts_local, rows)

    def _finish_run(self) -> None:
        run, bad = self.run, self.run_bad
        if run is None:
            return
        self.run, self.run_bad = None, None
        self.counter += 1
        report = self.report
        if bad is None:
            bad = _snapshot_problem([(r[2], r[4]) for r in run])
        if bad is not None or not run:
            report.count_bad(f"snapshot_{bad or 'empty'}")
            if self.state == VALID:
                self.invalidate(*self.run_ts)
            return
        self.emit_snapshot(*self.run_ts, run)

    def finish(self) -> None:
        self._flush_group()
        self._finish_run()
        self.report_book_state(
            "the book is invalid at the end of the stream: no snapshot after the last rejected message",
            "no snapshot rows in the book file(s): no depth events emitted",
        )


def _snapshot_problem(levels: list[tuple[int, int]]) -> str | None:
    """Reason a snapshot's (price, flags) levels are unusable: duplicates or crossed."""
    bids = [price for price, flags in levels if not flags & F_SELL]
    asks = [price for price, flags in levels if flags & F_SELL]
    if len(set(bids)) != len(bids) or len(set(asks)) != len(asks):
        return "duplicate_level"
    if bids and asks and max(bids) >= min(asks):
        return "crossed"
    return None


class TardisBookSnapshotDecoder(_TardisDecoder):
    """book_snapshot_N: each row is a complete top-N book (asks[i].price, asks[i].amount, bids[i]...)."""

    what = "snapshot"

    def __init__(self, spec, symbol, exchange, report, out, depth: int):
        super().__init__(spec, symbol, exchange, report, out)
        self.depth = depth
        self.n_columns = 4 + 4 * depth
        self.valid = False

    def row(self, ts_event: int, ts_local: int, fields: list[str]) -> None:
        report = self.report
        self.counter += 1
        bids: list[tuple[int, int]] = []
        asks: list[tuple[int, int]] = []
        try:
            for level in range(self.depth):
                base = 4 + 4 * level
                for side, offset in ((asks, 0), (bids, 2)):
                    price_text, qty_text = fields[base + offset], fields[base + offset + 1]
                    if not price_text and not qty_text:
                        continue  # fewer levels than N on this side
                    price, qty = self.price(price_text), self.qty(qty_text)
                    if not price or not qty:
                        raise Reject("zero_price" if not price else "zero_qty")
                    side.append((price, qty))
            problem = _snapshot_problem([(p, 0) for p, _ in bids] + [(p, F_SELL) for p, _ in asks])
            if problem:
                raise Reject(problem)
        except Reject as exc:
            report.count_bad(f"snapshot_{exc.args[0]}")
            if self.valid:  # the book we published is now stale and we cannot replace it
                self.out.add(ts_event, ts_local, 0, 0, self.counter, 0, EV_BOOK_INVALID, F_LAST)
                report.gaps += 1
                self.valid = False
            return
        out = self.out
        out.add(ts_event, ts_local, 0, 0, self.counter, 0, EV_DEPTH_CLEAR, 0)
        out.add_levels(
            ts_event,
            ts_local,
            [p for p, _ in bids] + [p for p, _ in asks],
            [q for _, q in bids] + [q for _, q in asks],
            len(bids),
            self.counter,
            0,
            EV_DEPTH_SNAPSHOT,
            False,
        )
        out.mark_last()
        if not self.valid and report.gaps:
            report.resyncs += 1
        self.valid = True
        report.snapshots += 1
        report.snapshot_levels += len(bids) + len(asks)
        report.messages += 1

    def finish(self) -> None:
        report = self.report
        if self.valid:
            report.book_state_at_end = "valid"
        elif report.gaps:
            report.book_state_at_end = "invalid_after_gap"
            report.notes.append(
                "the book is invalid at the end of the stream: the last snapshot rows were rejected"
            )
        else:
            report.book_state_at_end = "no_snapshot" if self.counter else "no_depth"
            if self.counter:
                report.notes.append("no usable snapshot row: no depth events emitted")


class TardisTradesDecoder(_TardisDecoder):
    """trades: exchange,symbol,timestamp,local_timestamp,id,side,price,amount (side = taker side)."""

    what = "trade"

    def row(self, ts_event: int, ts_local: int, fields: list[str]) -> None:
        try:
            if not fields[4]:
                raise Reject("bad_id")
            if fields[5] == "unknown":
                raise Reject("unknown_side")  # no aggressor: cannot be a buy or a sell print
            sell = self.side_is_sell(fields[5], "sell", "buy")
            price = self.price(fields[6])
            qty = self.qty(fields[7])
            if not price or not qty:
                raise Reject("zero_price" if not price else "zero_qty")
        except Reject as exc:
            self.report.count_bad(f"trade_{exc.args[0]}")
            return
        # Tardis ids are strings (UUIDs on BitMEX): venue_seq is our running counter instead.
        self.counter += 1
        self.out.add(
            ts_event, ts_local, price, qty, self.counter, 0, EV_TRADE, F_LAST | F_SELL if sell else F_LAST
        )
        self.report.trades += 1
        self.report.messages += 1


class TardisQuotesDecoder(_TardisDecoder):
    """quotes: exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount."""

    what = "bbo"

    def row(self, ts_event: int, ts_local: int, fields: list[str]) -> None:
        try:
            ask_qty = self.qty(fields[4]) if fields[4] else 0  # empty cells: that side is empty
            ask = self.price(fields[5]) if fields[5] else 0
            bid = self.price(fields[6]) if fields[6] else 0
            bid_qty = self.qty(fields[7]) if fields[7] else 0
            check_bbo(bid, bid_qty, ask, ask_qty)
        except Reject as exc:
            reason = exc.args[0]
            self.report.count_bad(reason if reason.startswith("bbo_") else f"bbo_{reason}")
            return
        self.counter += 1
        self.out.add_pair(ts_event, ts_local, bid, bid_qty, ask, ask_qty, self.counter, EV_BBO)
        self.report.bbo += 1
        self.report.messages += 1


DECODERS = {
    "incremental_book_L2": TardisBookDecoder,
    "trades": TardisTradesDecoder,
    "quotes": TardisQuotesDecoder,
}
# Merge order on equal local_timestamp: book before trades before quotes.
KIND_RANK = {"incremental_book_L2": 0, "book_snapshot": 0, "trades": 1, "quotes": 2}


def decode_files(
    infos: list[SourceInfo], spec: InstrumentSpec, symbol: str, exchange: str, report: LoadReport
) -> np.ndarray:
    """One stream per data type (files of a type in the given order), merged by local_timestamp."""
    kinds = sorted({info.tardis_kind for info in infos}, key=lambda k: KIND_RANK[k])
    if {"incremental_book_L2", "book_snapshot"} <= set(kinds):
        raise DataError("incremental_book_L2 and book_snapshot files in one load: pick one book source")
    if len({info.snapshot_depth for info in infos if info.tardis_kind == "book_snapshot"}) > 1:
        raise DataError("book_snapshot files of different depths in one load")
    streams = []
    for kind in kinds:
        stream = EventColumns()
        kind_infos = [info for info in infos if info.tardis_kind == kind]
        if kind == "book_snapshot":
            depth = kind_infos[0].snapshot_depth
            decoder = TardisBookSnapshotDecoder(spec, symbol, exchange, report, stream, depth)
        else:
            decoder = DECODERS[kind](spec, symbol, exchange, report, stream)
        for info in kind_infos:
            decoder.feed(iter_lines(info.path))
        decoder.finish()
        streams.append(stream.to_array())
    if not any(kind in ("incremental_book_L2", "book_snapshot") for kind in kinds):
        report.book_state_at_end = "no_depth"
    return merge_by_receipt(streams)


def merge_by_receipt(streams: list[np.ndarray]) -> np.ndarray:
    """Stable merge on local time. Each stream keeps its own order (sorting on its running maximum
    of ts_local), and on equal keys earlier streams (book, then trades, then quotes) go first."""
    if len(streams) == 1:
        return streams[0]
    keys = [np.maximum.accumulate(s["ts_local"]) if len(s) else s["ts_local"] for s in streams]
    order = np.argsort(np.concatenate(keys), kind="stable")
    return np.ascontiguousarray(np.concatenate(streams)[order])
