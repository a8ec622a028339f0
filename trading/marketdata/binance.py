"""Binance capture decoder: `<receipt ns> <json>` lines of combined streams (depth diffs, trades,
bookTicker) plus REST depth snapshots, for spot, USD-M and COIN-M futures.

Depth synchronisation follows Binance's "How to manage a local order book correctly":
  spot:    drop u <= lastUpdateId; first applied U <= lastUpdateId+1 <= u; then U == previous u + 1
  futures: drop u <  lastUpdateId; first applied U <= lastUpdateId <= u;   then pu == previous u
Diffs received while no usable snapshot exists are buffered, as the procedure prescribes (captures
write the REST snapshot after some diffs it does not contain). When a snapshot arrives the buffer
is replayed right after it, with ts_local = the snapshot's receipt time: the moment a live feed could
apply them (ts_event keeps their own E). A chain break emits EV_BOOK_INVALID and buffers again.

Fail closed: a message with any bad value is rejected whole and counted; a rejected diff is missing
from the chain, so the next diff shows a gap and forces a resync.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import orjson

from trading.instruments import BadValue, InstrumentSpec
from trading.marketdata.columns import EventColumns
from trading.marketdata.kinds import (
    EV_BBO,
    EV_BOOK_INVALID,
    EV_DEPTH,
    EV_DEPTH_CLEAR,
    EV_DEPTH_SNAPSHOT,
    EV_TRADE,
    F_LAST,
    F_SELL,
)
from trading.marketdata.reject import Reject, check_bbo
from trading.marketdata.report import LoadReport
from trading.marketdata.values import MEMO_LIMIT, ExactValues

MS = 1_000_000
MAX_MS = (2**63 - 1) // MS
INT64_MAX = 2**63 - 1
MAX_PENDING = 100_000  # buffered diffs awaiting a snapshot (oldest dropped beyond this)
DEPTH_CHANNELS = frozenset(
    {"depth", "depth@100ms", "depth@0ms", "depth@250ms", "depth@500ms", "depth@1000ms"}
)

# Raw (not combined-stream) payloads: event type -> channel; spot bookTicker payloads have no "e".
RAW_EVENT_CHANNELS = {
    "depthUpdate": "depth",
    "trade": "trade",
    "bookTicker": "bookTicker",
    None: "bookTicker",
}

# Book synchronisation states.
NO_SNAPSHOT = "no_snapshot"  # nothing usable yet (start of stream, or after a gap)
SYNCING = "syncing"  # snapshot applied, waiting for the diff that bridges it
SYNCED = "synced"


def detect_market(message: dict, symbol: str) -> str | None:
    """spot / usdm / coinm from one decoded line, or None if this line does not tell."""
    data = message.get("data") if "stream" in message else message
    if not isinstance(data, dict):
        return None
    if "lastUpdateId" in message:
        return None  # snapshots carry no symbol: they cannot be attributed on their own
    if str(data.get("s", "")).upper() != symbol:
        return None
    futures_kind = "coinm" if "_" in symbol else "usdm"
    event = data.get("e")
    if event == "depthUpdate":
        return futures_kind if "pu" in data else "spot"
    if event == "trade":
        return futures_kind if "X" in data else "spot"
    if event == "bookTicker":
        return futures_kind  # spot bookTicker payloads have no "e"
    if event is None and {"u", "b", "B", "a", "A"} <= data.keys():
        return "spot"
    return None


class BinanceDecoder(ExactValues):
    """One symbol's stream; feed files in order (sync state carries across files), then finish()."""

    def __init__(self, spec: InstrumentSpec, symbol: str, market: str, report: LoadReport, out: EventColumns):
        super().__init__(spec)
        self.symbol = symbol.upper()
        self.stream_prefix = symbol.lower()
        self.futures = market in ("usdm", "coinm")
        self.report = report
        self.out = out
        self.state = NO_SNAPSHOT
        self.snapshot_id = 0  # lastUpdateId of the snapshot being bridged
        self.prev_u = 0  # u of the last applied diff
        self.after_gap = False
        self.foreign_depth = False  # depth of other symbols seen: snapshot lines become ambiguous
        self.pending: deque[tuple] = deque()

    # -- lines --

    def feed(self, lines: Iterable[bytes]) -> None:
        report = self.report
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        prefix = self.stream_prefix
        n_lines = 0
        for line in lines:
            n_lines += 1
            space = line.find(b" ")
            if space <= 0 or line[:1] == b"{":
                report.count_bad("line_empty" if not line.strip() else "line_missing_timestamp")
                continue
            stamp = line[:space]
            if not stamp.isdigit() or len(stamp) > 19 or int(stamp) > INT64_MAX:
                report.count_bad("line_bad_timestamp")
                continue
            ts_local = int(stamp)
            try:
                message = loads(memoryview(line)[space + 1 :])
            except decode_error as exc:
                report.count_bad("line_non_utf8" if "utf-8" in str(exc).lower() else "line_bad_json")
                continue
            if type(message) is not dict:
                report.count_bad("line_not_an_object")
                continue
            stream = message.get("stream")
            if stream is not None:
                data = message.get("data")
                if type(stream) is not str or type(data) is not dict:
                    report.count_bad("line_malformed_stream")
                    continue
                name, _, channel = stream.partition("@")
                if name != prefix and name.lower() != prefix:
                    report.skipped_other_symbols += 1
                    if channel.startswith("depth"):
                        self.foreign_depth = True
                    continue
                self._dispatch(ts_local, channel, data)
            elif "lastUpdateId" in message:
                self._on_snapshot(ts_local, message)
            elif "e" in message or "u" in message:  # a raw (not combined) stream payload
                if str(message.get("s", "")).upper() != self.symbol:
                    report.skipped_other_symbols += 1
                    if message.get("e") == "depthUpdate":
                        self.foreign_depth = True
                    continue
                event = message.get("e")
                channel = RAW_EVENT_CHANNELS.get(event) if event is None or type(event) is str else None
                self._dispatch(ts_local, channel or f"raw_{str(event)[:30]}", message)
            else:
                report.count_bad("line_unknown_message")
        report.lines += n_lines

    def _dispatch(self, ts_local: int, channel: str, data: dict) -> None:
        report = self.report
        if data.get("s") != self.symbol and str(data.get("s", "")).upper() != self.symbol:
            kind = "depth" if channel.startswith("depth") else channel
            report.count_bad(f"{kind}_symbol_mismatch")
            return
        try:
            if channel in DEPTH_CHANNELS:
                self._on_diff_message(ts_local, data)
            elif channel == "trade":
                self._on_trade(ts_local, data)
            elif channel == "bookTicker":
                self._on_book_ticker(ts_local, data)
            else:
                report.count_skipped(f"stream_{channel[:40]}")
        except Reject as exc:
            report.count_bad(exc.args[0])

    # -- value parsing --

    def _levels(self, levels: object, what: str, prices: list[int], qtys: list[int], snapshot: bool) -> None:
        """Append [[price, qty], ...] to prices/qtys; Reject on any bad value."""
        if type(levels) is not list:
            raise Reject(f"{what}_malformed")
        price_memo = self.price_memo
        qty_memo = self.qty_memo
        try:
            for price_text, qty_text in levels:
                price = price_memo.get(price_text)
                if price is None:
                    price = self.spec.price_to_ticks(price_text)
                    if len(price_memo) < MEMO_LIMIT:
                        price_memo[price_text] = price
                if not price:
                    raise Reject(f"{what}_zero_price")
                qty = qty_memo.get(qty_text)
                if qty is None:
                    qty = self.spec.qty_to_lots(qty_text)
                    if len(qty_memo) < MEMO_LIMIT:
                        qty_memo[qty_text] = qty
                if snapshot and not qty:
                    raise Reject(f"{what}_zero_qty")
                prices.append(price)
                qtys.append(qty)
        except BadValue as exc:
            raise Reject(f"{what}_{exc.reason}") from None
        except (TypeError, ValueError):  # not a pair, unhashable or non-string values
            raise Reject(f"{what}_malformed") from None

    # -- depth --

    def _on_diff_message(self, ts_local: int, data: dict) -> None:
        futures = self.futures
        first = data.get("U")
        final = data.get("u")
        event_ms = data.get("E")
        previous = data.get("pu", 0) if futures else 0
        if ("pu" in data) != futures:
            raise Reject("depth_market_mismatch")
        if (
            type(first) is not int
            or type(final) is not int
            or type(previous) is not int
            or not 0 < first <= final <= INT64_MAX
            or previous < 0
            or (futures and previous >= first)
        ):
            raise Reject("depth_bad_sequence")
        if type(event_ms) is not int or not 0 < event_ms <= MAX_MS:
            raise Reject("depth_bad_timestamp")
        prices: list[int] = []
        qtys: list[int] = []
        self._levels(data.get("b"), "depth", prices, qtys, False)
        n_bids = len(prices)
        self._levels(data.get("a"), "depth", prices, qtys, False)
        self.report.depth_messages += 1
        self.report.messages += 1
        aux = previous if futures else first
        self._on_diff((ts_local, event_ms * MS, first, final, aux, prices, qtys, n_bids), replay=False)

    def _on_diff(self, diff: tuple, replay: bool) -> None:
        report = self.report
        state = self.state
        if state == NO_SNAPSHOT:
            self.pending.append(diff)
            if len(self.pending) > MAX_PENDING:
                self.pending.popleft()
                report.depth_dropped_before_snapshot += 1
            return
        ts_local, ts_event, first, final, aux, prices, qtys, n_bids = diff
        if state == SYNCING:
            last_id = self.snapshot_id
            if self.futures:
                if final < last_id:
                    report.depth_dropped_stale += 1
                    return
                bridged = first <= last_id <= final
            else:
                if final <= last_id:
                    report.depth_dropped_stale += 1
                    return
                bridged = first <= last_id + 1
            if not bridged:
                self._gap(diff)
                return
        else:
            if final <= self.prev_u:  # a repeat of updates the book already holds
                report.depth_dropped_stale += 1
                return
            chained = aux == self.prev_u if self.futures else first == self.prev_u + 1
            if not chained:
                self._gap(diff)
                return
        self.out.add_levels(ts_event, ts_local, prices, qtys, n_bids, final, aux, EV_DEPTH, True)
        self.prev_u = final
        if state == SYNCING and self.after_gap:
            report.resyncs += 1
            self.after_gap = False
        self.state = SYNCED
        report.depth_applied += 1
        report.depth_levels += len(prices)
        if replay:
            report.depth_replayed += 1

    def _gap(self, diff: tuple) -> None:
        ts_local, ts_event, first, final, aux = diff[:5]
        self.out.add(ts_event, ts_local, 0, 0, final, aux, EV_BOOK_INVALID, F_LAST)
        self.report.gaps += 1
        self.state = NO_SNAPSHOT
        self.after_gap = True
        self.pending.append(diff)  # it may be applicable after the next snapshot

    def _on_snapshot(self, ts_local: int, message: dict) -> None:
        report = self.report
        if self.foreign_depth:
            # REST snapshots carry no symbol: with several symbols' depth in one capture we cannot
            # tell whose book this is, and applying another symbol's levels would be worse than none.
            report.count_skipped("snapshot_unattributable")
            return
        try:
            last_id = message.get("lastUpdateId")
            if type(last_id) is not int or not 0 < last_id <= INT64_MAX:
                raise Reject("snapshot_bad_sequence")
            event_ms = message.get("E")
            if self.futures:
                if type(event_ms) is not int or not 0 < event_ms <= MAX_MS:
                    raise Reject("snapshot_bad_timestamp")
                ts_event = event_ms * MS
            else:
                ts_event = ts_local  # spot REST snapshots carry no venue time
            prices: list[int] = []
            qtys: list[int] = []
            self._levels(message.get("bids"), "snapshot", prices, qtys, True)
            n_bids = len(prices)
            self._levels(message.get("asks"), "snapshot", prices, qtys, True)
            bids, asks = prices[:n_bids], prices[n_bids:]
            if len(set(bids)) != len(bids) or len(set(asks)) != len(asks):
                raise Reject("snapshot_duplicate_level")
            if bids and asks and max(bids) >= min(asks):
                raise Reject("snapshot_crossed")
        except Reject as exc:
            report.count_bad(exc.args[0])
            return
        report.messages += 1
        if self.state == SYNCED and last_id <= self.prev_u:
            report.snapshots_ignored += 1  # older than the book we hold: applying it would rewind
            return
        out = self.out
        out.add(ts_event, ts_local, 0, 0, last_id, 0, EV_DEPTH_CLEAR, 0 if prices else F_LAST)
        out.add_levels(ts_event, ts_local, prices, qtys, n_bids, last_id, 0, EV_DEPTH_SNAPSHOT, True)
        report.snapshots += 1
        report.snapshot_levels += len(prices)
        self.state = SYNCING
        self.snapshot_id = last_id
        pending, self.pending = self.pending, deque()
        for diff in pending:
            self._on_diff((ts_local,) + diff[1:], replay=True)

    # -- trades and bookTicker --

    def _on_trade(self, ts_local: int, data: dict) -> None:
        if self.futures and data.get("X", "MARKET") != "MARKET":
            self.report.count_skipped("trade_non_market")  # insurance fund / ADL prints are not market trades
            return
        trade_id = data.get("t")
        trade_ms = data.get("T")
        seller_aggressed = data.get("m")
        if type(trade_id) is not int or not 0 <= trade_id <= INT64_MAX:
            raise Reject("trade_bad_id")
        if type(trade_ms) is not int or not 0 < trade_ms <= MAX_MS:
            raise Reject("trade_bad_timestamp")
        if type(seller_aggressed) is not bool:
            raise Reject("trade_malformed")
        price = self.price(data.get("p"), "trade_")
        qty = self.qty(data.get("q"), "trade_")
        if not price:
            raise Reject("trade_zero_price")
        if not qty:
            raise Reject("trade_zero_qty")
        # m = buyer is the maker, so the aggressor sold
        flags = F_LAST | F_SELL if seller_aggressed else F_LAST
        self.out.add(trade_ms * MS, ts_local, price, qty, trade_id, 0, EV_TRADE, flags)
        self.report.trades += 1
        self.report.messages += 1

    def _on_book_ticker(self, ts_local: int, data: dict) -> None:
        update_id = data.get("u")
        if type(update_id) is not int or not 0 < update_id <= INT64_MAX:
            raise Reject("bbo_bad_sequence")
        if self.futures:
            event_ms = data.get("E")
            if type(event_ms) is not int or not 0 < event_ms <= MAX_MS:
                raise Reject("bbo_bad_timestamp")
            ts_event = event_ms * MS
        else:
            ts_event = ts_local  # spot bookTicker has no event time
        price_memo = self.price_memo
        qty_memo = self.qty_memo
        bid_text, bid_qty_text, ask_text, ask_qty_text = (
            data.get("b"),
            data.get("B"),
            data.get("a"),
            data.get("A"),
        )
        # memo hits are the common case: four dict lookups instead of four parses
        bid = price_memo.get(bid_text) if type(bid_text) is str else None
        if bid is None:
            bid = self.price(bid_text, "bbo_")
        ask = price_memo.get(ask_text) if type(ask_text) is str else None
        if ask is None:
            ask = self.price(ask_text, "bbo_")
        bid_qty = qty_memo.get(bid_qty_text) if type(bid_qty_text) is str else None
        if bid_qty is None:
            bid_qty = self.qty(bid_qty_text, "bbo_")
        ask_qty = qty_memo.get(ask_qty_text) if type(ask_qty_text) is str else None
        if ask_qty is None:
            ask_qty = self.qty(ask_qty_text, "bbo_")
        check_bbo(bid, bid_qty, ask, ask_qty)
        self.out.add_pair(ts_event, ts_local, bid, bid_qty, ask, ask_qty, update_id, EV_BBO)
        self.report.bbo += 1
        self.report.messages += 1

    # -- end of stream --

    def finish(self) -> None:
        report = self.report
        if self.pending:
            report.depth_dropped_before_snapshot += len(self.pending)
            self.pending.clear()
        if not report.depth_messages and not report.snapshots:
            report.book_state_at_end = "no_depth"
        elif self.state == SYNCED or self.state == SYNCING:
            report.book_state_at_end = "valid"
        elif self.after_gap:
            report.book_state_at_end = "invalid_after_gap"
            report.notes.append(
                "the book is invalid at the end of the stream: the last gap was not followed by a usable snapshot"
            )
        else:
            report.book_state_at_end = "no_snapshot"
            if report.skipped.get("snapshot_unattributable"):
                report.notes.append(
                    "depth snapshots skipped: the capture holds depth streams of several symbols and snapshot "
                    "lines name none (split the capture per symbol)"
                )
            report.notes.append(
                f"no usable depth snapshot in the stream: {report.depth_dropped_before_snapshot} depth messages "
                "dropped, no depth events emitted (load the capture that holds the snapshot first, in order)"
            )
