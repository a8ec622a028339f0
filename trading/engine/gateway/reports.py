"""Binance executionReport events -> MarketEvent inputs of the engine (user-data-stream.md).

  x=NEW       EV_ORDER_ACK      aux = venue orderId
  x=TRADE     EV_ORDER_FILL     price = L (ticks), qty = l (lots), venue_seq = t, aux = fee n in
                                nano units of the settlement currency when N is that currency
                                (otherwise 0, counted), F_MAKER when m, F_SELL when S=SELL
  x=CANCELED  EV_ORDER_CANCELED (the order's id is C; c is the cancel request's own id)
  x=EXPIRED / EXPIRED_IN_MATCH  EV_ORDER_EXPIRED
  x=REJECTED  EV_ORDER_REJECT   aux = -2010 (NEW_ORDER_REJECTED)

order_id is our int client id from `<prefix>-<n>`; a report of any other id is Ignored (orders of
other nodes or manual orders on the account). ts_event = T (transaction time), else E.
Duplicates and reordering are passed through: the engine's order table applies each once.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import NamedTuple

from hotpath.types import (
    EV_ORDER_ACK,
    EV_ORDER_CANCELED,
    EV_ORDER_EXPIRED,
    EV_ORDER_FILL,
    EV_ORDER_REJECT,
    F_MAKER,
    F_SELL,
)
from trading.binance import errors
from trading.binance.ids import parse_client_order_id
from trading.engine.venue_types import FeedInstrument
from trading.instruments import BadValue
from trading.marketdata.reject import Reject

MS = 1_000_000
INT64_MAX = 2**63 - 1
MAX_MS = INT64_MAX // MS
NANO = Decimal(10) ** 9
MAX_FEE_CHARS = 40

EXECUTION_KINDS = {
    "NEW": EV_ORDER_ACK,
    "TRADE": EV_ORDER_FILL,
    "CANCELED": EV_ORDER_CANCELED,
    "EXPIRED": EV_ORDER_EXPIRED,
    "EXPIRED_IN_MATCH": EV_ORDER_EXPIRED,
    "REJECTED": EV_ORDER_REJECT,
}


class Ignored(Exception):
    """A well-formed report that is not for the engine; args[0] is the counted reason."""


class ReportEvent(NamedTuple):
    """One engine input; `note` names a fee that could not be booked exactly (counted), or None."""

    kind: int
    flags: int
    ts_event: int
    price: int
    qty: int
    venue_seq: int
    aux: int
    order_id: int
    instrument: int
    note: str | None


def fee_nano(amount: object) -> tuple[int, str | None]:
    """A commission string in nano units: (nano, None) when exact, rounded half-even with note
    "fee_rounded" when finer than 1e-9, (0, "fee_unparsable") when it is not a decimal."""
    if type(amount) is not str or len(amount) > MAX_FEE_CHARS:
        return 0, "fee_unparsable"
    try:
        value = Decimal(amount)
    except InvalidOperation:
        return 0, "fee_unparsable"
    if not value.is_finite() or abs(value) >= Decimal(10) ** 9:
        return 0, "fee_unparsable"
    nano = value * NANO
    whole = nano.to_integral_value(rounding=ROUND_HALF_EVEN)
    return int(whole), (None if whole == nano else "fee_rounded")


class ExecutionReports:
    """Decodes executionReport payloads for the instruments of one gateway."""

    def __init__(self, prefix: str, instruments: list[FeedInstrument]):
        self.prefix = prefix
        self.by_symbol = {item.symbol: item for item in instruments}

    def client_id(self, report: dict) -> int:
        """Our client id of the report's order; Ignored for foreign ids."""
        text = report.get("c")
        if report.get("x") == "CANCELED":
            original = report.get("C")
            if type(original) is str and original:
                text = original
        client_id = parse_client_order_id(self.prefix, text)
        if client_id is None:
            raise Ignored("foreign_client_id")
        return client_id

    def decode(self, report: dict) -> ReportEvent:
        """The engine input of one executionReport; Reject (malformed) or Ignored."""
        execution = report.get("x")
        kind = EXECUTION_KINDS.get(execution) if type(execution) is str else None
        if kind is None:
            raise Ignored(f"execution_{str(execution)[:24]}")
        instrument = self.by_symbol.get(report.get("s")) if type(report.get("s")) is str else None
        if instrument is None:
            raise Ignored("unknown_symbol")
        client_id = self.client_id(report)
        ts_ms = report.get("T")
        if type(ts_ms) is not int or not 0 < ts_ms <= MAX_MS:
            ts_ms = report.get("E")
            if type(ts_ms) is not int or not 0 < ts_ms <= MAX_MS:
                raise Reject("report_bad_timestamp")
        side = report.get("S")
        if side not in ("BUY", "SELL"):
            raise Reject("report_bad_side")
        flags = F_SELL if side == "SELL" else 0
        price = qty = venue_seq = aux = 0
        note = None
        if kind == EV_ORDER_ACK:
            venue_order_id = report.get("i")
            if type(venue_order_id) is not int or not 0 <= venue_order_id <= INT64_MAX:
                raise Reject("report_bad_order_id")
            aux = venue_order_id
        elif kind == EV_ORDER_FILL:
            spec = instrument.spec
            try:
                price = spec.price_to_ticks(report.get("L"))
                qty = spec.qty_to_lots(report.get("l"))
            except BadValue as exc:
                raise Reject(f"fill_{exc.reason}") from None
            if price <= 0 or qty <= 0:
                raise Reject("fill_zero")
            trade_id = report.get("t")
            if type(trade_id) is not int or not 0 <= trade_id <= INT64_MAX:
                raise Reject("fill_bad_trade_id")
            maker = report.get("m")
            if type(maker) is not bool:
                raise Reject("fill_malformed")
            venue_seq = trade_id
            if maker:
                flags |= F_MAKER
            asset = report.get("N")
            if asset == spec.settle:
                aux, note = fee_nano(report.get("n"))
            elif asset is None and report.get("n") in ("0", None):
                aux = 0  # no commission charged
            else:
                note = "fee_not_settlement"
        elif kind == EV_ORDER_REJECT:
            aux = errors.NEW_ORDER_REJECTED
        return ReportEvent(
            kind, flags, ts_ms * MS, price, qty, venue_seq, aux, client_id, instrument.index, note
        )
