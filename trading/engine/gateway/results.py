"""Typed reconciliation results from WebSocket API responses: orders, trades, account balances.

Prices in ticks, quantities in lots, money in nano units: the same integers the engine holds, so
reconciliation compares like with like. A value that does not convert exactly raises
VenueDataError (reconciliation must not guess).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from hotpath.types import BUY, SELL
from trading.binance.ids import parse_client_order_id
from trading.binance.orders import hotpath_order_type
from trading.engine.venue_types import FeedInstrument
from trading.instruments import BadValue

MS = 1_000_000
NANO = Decimal(10) ** 9
POSITIONS_FIELD = "simvenuePositions"


class VenueDataError(ValueError):
    """A response that cannot be read exactly."""


@dataclass(frozen=True)
class VenueOrder:
    instrument: int  # engine slot
    symbol: str
    client_order_id: str
    client_id: int | None  # ours (`<prefix>-<n>`), None for orders of others
    venue_order_id: int
    side: int  # BUY / SELL
    order_type: int  # OT_*
    tif: int  # TIF_*
    price: int  # ticks (0 for MARKET)
    qty: int  # lots, original
    filled: int  # lots executed
    status: str  # NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, REJECTED, ...
    time_ns: int  # creation (open orders) or transaction time (cancels)

    @property
    def leaves(self) -> int:
        return self.qty - self.filled


@dataclass(frozen=True)
class VenueTrade:
    instrument: int
    symbol: str
    trade_id: int
    venue_order_id: int
    side: int  # our side: BUY when we bought
    price: int  # ticks
    qty: int  # lots
    fee_asset: str | None
    fee_nano: int | None  # nano units of fee_asset (exact), None if not exact
    maker: bool
    time_ns: int


@dataclass(frozen=True)
class Balance:
    asset: str
    free_nano: int
    locked_nano: int


@dataclass(frozen=True)
class AccountStatus:
    can_trade: bool
    update_time_ns: int
    balances: dict[str, Balance]
    # net position in lots by symbol (signed), when the venue reports positions: the simulated
    # venue's `simvenuePositions` extension; Binance spot accounts have balances only
    positions: dict[str, int] = field(default_factory=dict)


def _int(data: dict, key: str, minimum: int = 0) -> int:
    value = data.get(key)
    if type(value) is not int or value < minimum:
        raise VenueDataError(f"{key}: expected an int >= {minimum}, got {value!r}")
    return value


def _nano(text: object, what: str) -> int:
    try:
        value = Decimal(text) if type(text) is str else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise VenueDataError(f"{what}: not a decimal: {text!r}")
    nano = value * NANO
    if nano != nano.to_integral_value():
        raise VenueDataError(f"{what}: {text!r} is finer than 1e-9")
    return int(nano)


class ResultParser:
    """Parses responses for the gateway's instruments and client id prefix."""

    def __init__(self, prefix: str, instruments: list[FeedInstrument]):
        self.prefix = prefix
        self.by_symbol = {item.symbol: item for item in instruments}

    def _instrument(self, data: dict) -> FeedInstrument:
        symbol = data.get("symbol")
        instrument = self.by_symbol.get(symbol) if type(symbol) is str else None
        if instrument is None:
            raise VenueDataError(f"unknown symbol {symbol!r}")
        return instrument

    def order(self, data: object) -> VenueOrder:
        """An order of order.status / openOrders.status / order.cancel / openOrders.cancelAll."""
        if type(data) is not dict:
            raise VenueDataError("an order must be an object")
        instrument = self._instrument(data)
        spec = instrument.spec
        # cancel results name the order in origClientOrderId (clientOrderId is the cancel's own id)
        text = data.get("origClientOrderId") or data.get("clientOrderId")
        if type(text) is not str:
            raise VenueDataError("clientOrderId missing")
        side = {"BUY": BUY, "SELL": SELL}.get(data.get("side"))
        if side is None:
            raise VenueDataError(f"side {data.get('side')!r}")
        try:
            order_type, tif = hotpath_order_type(data.get("type"), data.get("timeInForce"))
        except ValueError as exc:
            raise VenueDataError(str(exc)) from None
        try:
            price = spec.price_to_ticks(data.get("price"))
            qty = spec.qty_to_lots(data.get("origQty"))
            filled = spec.qty_to_lots(data.get("executedQty"))
        except BadValue as exc:
            raise VenueDataError(str(exc)) from None
        status = data.get("status")
        if type(status) is not str:
            raise VenueDataError("status missing")
        time_ms = data.get("time", data.get("transactTime", data.get("updateTime")))
        if type(time_ms) is not int or time_ms < 0:
            raise VenueDataError("order time missing")
        return VenueOrder(
            instrument=instrument.index,
            symbol=instrument.symbol,
            client_order_id=text,
            client_id=parse_client_order_id(self.prefix, text),
            venue_order_id=_int(data, "orderId"),
            side=side,
            order_type=order_type,
            tif=tif,
            price=price,
            qty=qty,
            filled=filled,
            status=status,
            time_ns=time_ms * MS,
        )

    def orders(self, data: object) -> list[VenueOrder]:
        if type(data) is not list:
            raise VenueDataError("expected a list of orders")
        return [self.order(item) for item in data]

    def trade(self, data: object) -> VenueTrade:
        """One myTrades entry."""
        if type(data) is not dict:
            raise VenueDataError("a trade must be an object")
        instrument = self._instrument(data)
        spec = instrument.spec
        try:
            price = spec.price_to_ticks(data.get("price"))
            qty = spec.qty_to_lots(data.get("qty"))
        except BadValue as exc:
            raise VenueDataError(str(exc)) from None
        is_buyer, maker = data.get("isBuyer"), data.get("isMaker")
        if type(is_buyer) is not bool or type(maker) is not bool:
            raise VenueDataError("isBuyer / isMaker must be booleans")
        asset = data.get("commissionAsset")
        try:
            fee = _nano(data.get("commission"), "commission")
        except VenueDataError:
            fee = None
        return VenueTrade(
            instrument=instrument.index,
            symbol=instrument.symbol,
            trade_id=_int(data, "id"),
            venue_order_id=_int(data, "orderId"),
            side=BUY if is_buyer else SELL,
            price=price,
            qty=qty,
            fee_asset=asset if type(asset) is str else None,
            fee_nano=fee,
            maker=maker,
            time_ns=_int(data, "time") * MS,
        )

    def trades(self, data: object) -> list[VenueTrade]:
        if type(data) is not list:
            raise VenueDataError("expected a list of trades")
        return [self.trade(item) for item in data]

    def account(self, data: object) -> AccountStatus:
        if type(data) is not dict:
            raise VenueDataError("account status must be an object")
        balances = {}
        for entry in data.get("balances") or []:
            if type(entry) is not dict or type(entry.get("asset")) is not str:
                raise VenueDataError("malformed balance")
            asset = entry["asset"]
            balances[asset] = Balance(
                asset,
                _nano(entry.get("free"), f"{asset} free"),
                _nano(entry.get("locked"), f"{asset} locked"),
            )
        can_trade = data.get("canTrade")
        return AccountStatus(
            can_trade=can_trade if type(can_trade) is bool else False,
            update_time_ns=_int(data, "updateTime") * MS if "updateTime" in data else 0,
            balances=balances,
            positions=self._positions(data.get(POSITIONS_FIELD) or []),
        )

    def _positions(self, entries: object) -> dict[str, int]:
        if type(entries) is not list:
            raise VenueDataError(f"{POSITIONS_FIELD} must be a list")
        positions = {}
        for entry in entries:
            symbol = entry.get("symbol") if type(entry) is dict else None
            instrument = self.by_symbol.get(symbol) if type(symbol) is str else None
            if instrument is None:
                continue  # a symbol this node does not trade
            text = entry.get("position")
            negative = type(text) is str and text.startswith("-")
            try:
                lots = instrument.spec.qty_to_lots(text[1:] if negative else text)
            except BadValue as exc:
                raise VenueDataError(f"{symbol} position: {exc}") from None
            positions[instrument.symbol] = -lots if negative else lots
        return positions
