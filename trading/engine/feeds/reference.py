"""Plain-Python reference of the compiled decoder (binance_decode.pyx): the same payload gives the
same records or the same refusal reason. Slow and obvious on purpose; the tests hold the compiled
decoder to it (Hypothesis), and it documents the record layout of each Binance message.

Records are tuples in MARKET_EVENT_DTYPE field order:
(ts_event, ts_local, price, qty, venue_seq, aux, order_id, kind, flags, instrument, reserved).
"""

from __future__ import annotations

from hotpath.types import EV_BBO, EV_DEPTH, EV_DEPTH_CLEAR, EV_DEPTH_SNAPSHOT, EV_TRADE, F_LAST, F_SELL
from trading.instruments import BadValue, InstrumentSpec
from trading.marketdata.reject import Reject, check_bbo

MS = 1_000_000
INT64_MAX = 2**63 - 1
MAX_MS = INT64_MAX // MS

Record = tuple[int, int, int, int, int, int, int, int, int, int, int]


def _is_id(value: object) -> bool:
    return type(value) is int and 0 < value <= INT64_MAX


def _is_ms(value: object) -> bool:
    return type(value) is int and 0 < value <= MAX_MS


def _convert(convert, text: object, what: str) -> int:
    try:
        return convert(text)
    except BadValue as exc:
        raise Reject(f"{what}_{exc.reason}") from None


def _levels(spec: InstrumentSpec, levels: object, what: str, refuse_zero_qty: bool) -> list[tuple[int, int]]:
    if type(levels) is not list:
        raise Reject(f"{what}_malformed")
    out = []
    for level in levels:
        if type(level) not in (list, tuple) or len(level) != 2:
            raise Reject(f"{what}_malformed")
        price = _convert(spec.price_to_ticks, level[0], what)
        if price == 0:
            raise Reject(f"{what}_zero_price")
        qty = _convert(spec.qty_to_lots, level[1], what)
        if refuse_zero_qty and qty == 0:
            raise Reject(f"{what}_zero_qty")
        out.append((price, qty))
    return out


def _records(levels, sides, ts_event, ts_local, seq, aux, kind, instrument) -> list[Record]:
    return [
        (ts_event, ts_local, price, qty, seq, aux, 0, kind, side, instrument, 0)
        for (price, qty), side in zip(levels, sides, strict=True)
    ]


def _mark_last(records: list[Record]) -> list[Record]:
    if records:
        last = records[-1]
        records[-1] = last[:8] + (last[8] | F_LAST,) + last[9:]
    return records


def depth(spec: InstrumentSpec, index: int, futures: bool, data: object, ts_local: int) -> list[Record]:
    """EV_DEPTH per level of a diff: venue_seq = u, aux = U (spot) / pu (futures)."""
    symbol = spec.symbol.upper()
    if type(data) is not dict or data.get("e") != "depthUpdate":
        raise Reject("depth_malformed")
    if data.get("s") != symbol:
        raise Reject("depth_symbol_mismatch")
    if ("pu" in data) != futures:
        raise Reject("depth_market_mismatch")
    first, final = data.get("U"), data.get("u")
    if not _is_id(first) or not _is_id(final) or first > final:
        raise Reject("depth_bad_sequence")
    prev = 0
    if futures:
        prev = data.get("pu")
        if type(prev) is not int or not 0 <= prev < first:
            raise Reject("depth_bad_sequence")
    if not _is_ms(data.get("E")):
        raise Reject("depth_bad_timestamp")
    ts_event = data["E"] * MS
    bids = _levels(spec, data.get("b"), "depth", False)
    asks = _levels(spec, data.get("a"), "depth", False)
    aux = prev if futures else first
    sides = [0] * len(bids) + [F_SELL] * len(asks)
    return _mark_last(_records(bids + asks, sides, ts_event, ts_local, final, aux, EV_DEPTH, index))


def snapshot(spec: InstrumentSpec, index: int, futures: bool, result: object, ts_local: int) -> list[Record]:
    """EV_DEPTH_CLEAR then EV_DEPTH_SNAPSHOT per level, venue_seq = lastUpdateId, F_LAST at the end."""
    if type(result) is not dict:
        raise Reject("snapshot_malformed")
    last_id = result.get("lastUpdateId")
    if not _is_id(last_id):
        raise Reject("snapshot_bad_sequence")
    ts_event = ts_local
    if futures:
        if not _is_ms(result.get("E")):
            raise Reject("snapshot_bad_timestamp")
        ts_event = result["E"] * MS
    bids = _levels(spec, result.get("bids"), "snapshot", True)
    asks = _levels(spec, result.get("asks"), "snapshot", True)
    bid_prices = [p for p, _ in bids]
    ask_prices = [p for p, _ in asks]
    if len(set(bid_prices)) != len(bid_prices) or len(set(ask_prices)) != len(ask_prices):
        raise Reject("snapshot_duplicate_level")
    if bids and asks and max(bid_prices) >= min(ask_prices):
        raise Reject("snapshot_crossed")
    clear: Record = (ts_event, ts_local, 0, 0, last_id, 0, 0, EV_DEPTH_CLEAR, 0, index, 0)
    sides = [0] * len(bids) + [F_SELL] * len(asks)
    return _mark_last(
        [clear, *_records(bids + asks, sides, ts_event, ts_local, last_id, 0, EV_DEPTH_SNAPSHOT, index)]
    )


def trade(spec: InstrumentSpec, index: int, futures: bool, data: object, ts_local: int) -> list[Record]:
    """EV_TRADE, F_SELL when the buyer was the maker; [] for a futures non-MARKET print."""
    if type(data) is not dict or data.get("e") != "trade":
        raise Reject("trade_malformed")
    if data.get("s") != spec.symbol.upper():
        raise Reject("trade_symbol_mismatch")
    if futures and data.get("X", "MARKET") != "MARKET":
        return []
    trade_id, trade_ms, buyer_maker = data.get("t"), data.get("T"), data.get("m")
    if type(trade_id) is not int or not 0 <= trade_id <= INT64_MAX:
        raise Reject("trade_bad_id")
    if not _is_ms(trade_ms):
        raise Reject("trade_bad_timestamp")
    if type(buyer_maker) is not bool:
        raise Reject("trade_malformed")
    price = _convert(spec.price_to_ticks, data.get("p"), "trade")
    qty = _convert(spec.qty_to_lots, data.get("q"), "trade")
    if price == 0:
        raise Reject("trade_zero_price")
    if qty == 0:
        raise Reject("trade_zero_qty")
    flags = F_LAST | F_SELL if buyer_maker else F_LAST
    return [(trade_ms * MS, ts_local, price, qty, trade_id, 0, 0, EV_TRADE, flags, index, 0)]


def bbo(spec: InstrumentSpec, index: int, futures: bool, data: object, ts_local: int) -> list[Record]:
    """EV_BBO bid, then ask with F_SELL | F_LAST; venue_seq = u."""
    if type(data) is not dict:
        raise Reject("bbo_malformed")
    if data.get("s") != spec.symbol.upper():
        raise Reject("bbo_symbol_mismatch")
    update_id = data.get("u")
    if not _is_id(update_id):
        raise Reject("bbo_bad_sequence")
    ts_event = ts_local
    if futures:
        if not _is_ms(data.get("E")):
            raise Reject("bbo_bad_timestamp")
        ts_event = data["E"] * MS
    bid = _convert(spec.price_to_ticks, data.get("b"), "bbo")
    bid_qty = _convert(spec.qty_to_lots, data.get("B"), "bbo")
    ask = _convert(spec.price_to_ticks, data.get("a"), "bbo")
    ask_qty = _convert(spec.qty_to_lots, data.get("A"), "bbo")
    check_bbo(bid, bid_qty, ask, ask_qty)
    return [
        (ts_event, ts_local, bid, bid_qty, update_id, 0, 0, EV_BBO, 0, index, 0),
        (ts_event, ts_local, ask, ask_qty, update_id, 0, 0, EV_BBO, F_SELL | F_LAST, index, 0),
    ]
