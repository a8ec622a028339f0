"""Binance JSON shapes of orders, fills and execution reports (web-socket-api.md, user-data-stream.md).

Every number that is money or quantity leaves here as an exact decimal string; ids and times are
integers (times in ms).
"""

from __future__ import annotations

from hotpath.types import OT_MARKET
from trading.binance.orders import SIDES, binance_order_type
from trading.simvenue.orders import CANCELED, Fill, Order
from trading.simvenue.wire import WireFormat, nano_decimal

ZERO_TEXT = "0.00000000"


def _type_and_tif(order: Order) -> tuple[str, str]:
    order_type, tif = binance_order_type(order.order_type, order.tif)
    return order_type, tif or "GTC"  # Binance reports GTC for MARKET and LIMIT_MAKER


def _price(order: Order, wire: WireFormat) -> str:
    return ZERO_TEXT if order.order_type == OT_MARKET else wire.price(order.price)


def order_ack(order: Order, transact_ms: int) -> dict:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": transact_ms,
    }


def order_result(order: Order, wire: WireFormat, transact_ms: int) -> dict:
    order_type, tif = _type_and_tif(order)
    out = order_ack(order, transact_ms)
    out.update(
        {
            "price": _price(order, wire),
            "origQty": wire.qty(order.qty),
            "executedQty": wire.qty(order.executed),
            "origQuoteOrderQty": ZERO_TEXT,
            "cummulativeQuoteQty": wire.amount(order.cum_quote),
            "status": order.status,
            "timeInForce": tif,
            "type": order_type,
            "side": SIDES[order.side],
            "workingTime": order.working_ms,
            "selfTradePreventionMode": "NONE",
        }
    )
    return out


def order_full(order: Order, wire: WireFormat, transact_ms: int, fills: list[Fill]) -> dict:
    out = order_result(order, wire, transact_ms)
    asset = order.instrument.spec.settle
    out["fills"] = [
        {
            "price": wire.price(f.price),
            "qty": wire.qty(f.qty),
            "commission": wire.amount(nano_decimal(f.fee_nano)),
            "commissionAsset": asset,
            "tradeId": f.trade_id,
        }
        for f in fills
    ]
    return out


def order_status(order: Order, wire: WireFormat) -> dict:
    order_type, tif = _type_and_tif(order)
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": _price(order, wire),
        "origQty": wire.qty(order.qty),
        "executedQty": wire.qty(order.executed),
        "cummulativeQuoteQty": wire.amount(order.cum_quote),
        "status": order.status,
        "timeInForce": tif,
        "type": order_type,
        "side": SIDES[order.side],
        "stopPrice": ZERO_TEXT,
        "icebergQty": ZERO_TEXT,
        "time": order.time_ms,
        "updateTime": order.update_ms,
        "isWorking": order.working_ms >= 0,
        "workingTime": order.working_ms,
        "origQuoteOrderQty": ZERO_TEXT,
        "selfTradePreventionMode": "NONE",
    }


def cancel_result(order: Order, wire: WireFormat, transact_ms: int) -> dict:
    order_type, tif = _type_and_tif(order)
    return {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.cancel_client_order_id,
        "transactTime": transact_ms,
        "price": _price(order, wire),
        "origQty": wire.qty(order.qty),
        "executedQty": wire.qty(order.executed),
        "origQuoteOrderQty": ZERO_TEXT,
        "cummulativeQuoteQty": wire.amount(order.cum_quote),
        "status": order.status,
        "timeInForce": tif,
        "type": order_type,
        "side": SIDES[order.side],
        "selfTradePreventionMode": "NONE",
    }


def my_trade(order_symbol: str, fill: Fill, wire: WireFormat, asset: str) -> dict:
    return {
        "symbol": order_symbol,
        "id": fill.trade_id,
        "orderId": fill.order_id,
        "orderListId": -1,
        "price": wire.price(fill.price),
        "qty": wire.qty(fill.qty),
        "quoteQty": wire.amount(fill.quote),
        "commission": wire.amount(nano_decimal(fill.fee_nano)),
        "commissionAsset": asset,
        "time": fill.time_ms,
        "isBuyer": fill.is_buyer,
        "isMaker": fill.maker,
        "isBestMatch": True,
    }


def execution_report(
    order: Order,
    wire: WireFormat,
    execution_type: str,
    event_ms: int,
    transact_ms: int,
    execution_id: int,
    fill: Fill | None = None,
) -> dict:
    """One executionReport event. `w`/`W` (is the order on the book) are set by the caller once it
    knows whether the order rested after the whole operation."""
    order_type, tif = _type_and_tif(order)
    canceled = execution_type == CANCELED
    return {
        "e": "executionReport",
        "E": event_ms,
        "s": order.symbol,
        "c": order.cancel_client_order_id if canceled else order.client_order_id,
        "S": SIDES[order.side],
        "o": order_type,
        "f": tif,
        "q": wire.qty(order.qty),
        "p": _price(order, wire),
        "P": ZERO_TEXT,
        "F": ZERO_TEXT,
        "g": -1,
        "C": order.client_order_id if canceled else "",
        "x": execution_type,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": wire.qty(fill.qty) if fill else ZERO_TEXT,
        "z": wire.qty(order.executed),
        "L": wire.price(fill.price) if fill else ZERO_TEXT,
        "n": wire.amount(nano_decimal(fill.fee_nano)) if fill else "0",
        "N": order.instrument.spec.settle if fill else None,
        "T": transact_ms,
        "t": fill.trade_id if fill else -1,
        "I": execution_id,
        "w": False,
        "m": fill.maker if fill else False,
        "M": False,
        "O": order.time_ms,
        "Z": wire.amount(order.cum_quote),
        "Y": wire.amount(fill.quote) if fill else ZERO_TEXT,
        "Q": ZERO_TEXT,
        "V": "NONE",
    }
