"""SIGNED WebSocket API methods: orders, open orders, trades and the account.

Parameters are validated in Binance's order (format errors before filter failures before the
matching engine) and nothing changes unless the whole request is valid.
"""

from __future__ import annotations

from hotpath.types import OT_LIMIT, OT_MARKET
from trading.binance import errors as binance
from trading.binance.orders import SIDE_CODES, hotpath_order_type
from trading.instruments import BadValue
from trading.simvenue.errors import (
    MSG_NO_SUCH_ORDER,
    PARAM_NOT_REQUIRED,
    TIF_NOT_REQUIRED,
    ApiError,
    filter_failure,
    mandatory,
)
from trading.simvenue.instruments import VenueInstrument
from trading.simvenue.methods import SIGNED, Method, Request
from trading.simvenue.orders import NEW, PARTIALLY_FILLED, Order
from trading.simvenue.params import Params
from trading.simvenue.reports import (
    cancel_result,
    my_trade,
    order_ack,
    order_full,
    order_result,
    order_status,
)
from trading.simvenue.wire import EXACT, ZERO, WireFormat, decimal_text

OPTIONAL_PARAMS_BAD_COMBO = -1128
ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
RESPONSE_TYPES = ("ACK", "RESULT", "FULL")
TRADES_DEFAULT = 500
TRADES_MAX = 1000
POSITIONS_FIELD = "simvenuePositions"  # non-Binance extension of account.status (see module docs)

PLACE_PARAMS = frozenset(
    {
        "symbol",
        "side",
        "type",
        "timeInForce",
        "price",
        "quantity",
        "newClientOrderId",
        "newOrderRespType",
        "selfTradePreventionMode",
    }
)


# -- order.place / order.test --


class NewOrder:
    """A validated order.place request, in ticks and lots."""

    def __init__(self, request: Request):
        params = request.params
        self.instrument: VenueInstrument = request.instrument()
        spec = self.instrument.spec
        side = params.string("side", required=True)
        if side not in SIDE_CODES:
            raise ApiError(binance.INVALID_SIDE, "Invalid side.")
        type_name = params.string("type", required=True, max_len=32)
        if type_name not in ORDER_TYPES:
            raise ApiError(binance.INVALID_ORDER_TYPE, "Invalid orderType.")
        tif_name = params.string("timeInForce", max_len=16)
        if type_name == "LIMIT":
            if tif_name is None:
                raise mandatory("timeInForce")
            if tif_name not in TIME_IN_FORCE:
                raise ApiError(binance.INVALID_TIF, "Invalid timeInForce.")
        elif tif_name is not None:
            raise ApiError(TIF_NOT_REQUIRED, "TimeInForce parameter sent when not required.")
        self.side = SIDE_CODES[side]
        self.order_type, self.tif = hotpath_order_type(type_name, tif_name)
        quantity = params.decimal("quantity", required=True)
        price_text = params.decimal("price", required=self.order_type != OT_MARKET)
        if self.order_type == OT_MARKET and price_text is not None:
            raise ApiError(PARAM_NOT_REQUIRED, "Parameter 'price' sent when not required.")
        self.client_order_id = params.client_order_id("newClientOrderId")
        default_type = "FULL" if self.order_type in (OT_LIMIT, OT_MARKET) else "ACK"
        self.response_type = params.enum("newOrderRespType", RESPONSE_TYPES) or default_type
        params.enum("selfTradePreventionMode", ("NONE",))
        places = self.instrument.display_decimals
        self.qty = _units(spec.qty_to_lots, quantity, "quantity", "LOT_SIZE", places)
        self.price = (
            0
            if price_text is None
            else _units(spec.price_to_ticks, price_text, "price", "PRICE_FILTER", places)
        )


def _units(convert, text: str, name: str, filter_name: str, places: int) -> int:
    _, _, fraction = text.partition(".")
    if len(fraction.rstrip("0")) > places:
        raise ApiError(binance.BAD_PRECISION, f"Parameter '{name}' has too much precision.")
    try:
        units = convert(text)
    except BadValue:
        raise filter_failure(filter_name) from None
    if units <= 0:
        raise filter_failure(filter_name)
    return units


def _check_order_rate(request: Request) -> None:
    windows = request.core.order_windows(request.key.account)
    now = request.now_ms
    for window in windows:
        if not window.fits(1, now):
            request.rate_limits = [w.report(now) for w in windows]
            raise ApiError(
                binance.TOO_MANY_ORDERS,
                f"Too many new orders; current limit is {window.describe()}.",
                data={"serverTime": now, "retryAfter": window.retry_after_ms(now)},
            )


def order_place(request: Request) -> dict:
    new = NewOrder(request)
    _check_order_rate(request)
    core, now = request.core, request.now_ms
    windows = core.order_windows(request.key.account)
    for window in windows:
        window.add(1, now)
    request.rate_limits = [w.report(now) for w in windows]
    order = core.exchange.place(
        request.ledger,
        new.instrument,
        new.side,
        new.order_type,
        new.tif,
        new.price,
        new.qty,
        new.client_order_id,
    )
    wire = core.exchange.wire[new.instrument.index]
    transact_ms = order.time_ms
    if new.response_type == "ACK":
        return order_ack(order, transact_ms)
    if new.response_type == "RESULT":
        return order_result(order, wire, transact_ms)
    return order_full(order, wire, transact_ms, list(order.fills))


def order_test(request: Request) -> dict:
    NewOrder(request)
    return {}


# -- queries and cancels --


def _find(request: Request, missing_code: int, missing_msg: str) -> tuple[VenueInstrument, Order]:
    instrument = request.instrument()
    params = request.params
    order_id = params.long("orderId")
    client_order_id = params.client_order_id("origClientOrderId")
    if order_id is None and client_order_id is None:
        raise ApiError(
            binance.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )
    order = request.ledger.find(instrument.index, order_id, client_order_id)
    if order is None:
        raise ApiError(missing_code, missing_msg)
    return instrument, order


def order_status_method(request: Request) -> dict:
    instrument, order = _find(request, binance.NO_SUCH_ORDER, MSG_NO_SUCH_ORDER)
    return order_status(order, request.core.exchange.wire[instrument.index])


def order_cancel(request: Request) -> dict:
    instrument, order = _find(request, binance.CANCEL_REJECTED, binance.MSG_UNKNOWN_ORDER)
    params = request.params
    new_client_order_id = params.client_order_id("newClientOrderId")
    restriction = params.enum("cancelRestrictions", ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"))
    if not order.live:
        raise ApiError(binance.CANCEL_REJECTED, binance.MSG_UNKNOWN_ORDER)
    if restriction is not None and order.status != (NEW if restriction == "ONLY_NEW" else PARTIALLY_FILLED):
        raise ApiError(binance.CANCEL_REJECTED, "Order was not canceled due to cancel restrictions.")
    request.core.exchange.cancel(order, new_client_order_id)
    return cancel_result(order, request.core.exchange.wire[instrument.index], order.update_ms)


def open_orders_status(request: Request) -> list:
    instrument = request.instrument(required=False)
    orders = request.ledger.open_orders(None if instrument is None else instrument.index)
    wires = request.core.exchange.wire
    return [order_status(o, wires[o.instrument.index]) for o in orders]


def open_orders_cancel_all(request: Request) -> list:
    instrument = request.instrument()
    canceled = request.core.exchange.cancel_all(request.ledger, instrument)
    if not canceled:
        raise ApiError(binance.CANCEL_REJECTED, binance.MSG_UNKNOWN_ORDER)
    wire = request.core.exchange.wire[instrument.index]
    return [cancel_result(o, wire, o.update_ms) for o in canceled]


def my_trades(request: Request) -> list:
    instrument = request.instrument()
    params = request.params
    order_id = params.long("orderId")
    start = params.long("startTime")
    end = params.long("endTime")
    from_id = params.long("fromId")
    limit = params.long("limit", low=1, high=TRADES_MAX) or TRADES_DEFAULT
    timed = start is not None or end is not None
    if timed and (from_id is not None or order_id is not None):
        raise ApiError(OPTIONAL_PARAMS_BAD_COMBO, "Combination of optional parameters invalid.")
    trades = [
        t
        for t in request.ledger.trades_of(instrument.index)
        if (order_id is None or t.order_id == order_id)
        and (from_id is None or t.trade_id >= from_id)
        and (start is None or t.time_ms >= start)
        and (end is None or t.time_ms <= end)
    ]
    trades = trades[:limit] if from_id is not None or start is not None else trades[-limit:]
    wire = request.core.exchange.wire[instrument.index]
    return [my_trade(instrument.symbol, t, wire, instrument.spec.settle) for t in trades]


def my_trades_weight(params: Params) -> int:
    return 5 if "orderId" in params else 20


# -- account --


def account_status(request: Request) -> dict:
    core, ledger = request.core, request.ledger
    omit_zero = request.params.boolean("omitZeroBalances") or False
    first = core.instruments[0].spec
    assets = {a for i in core.instruments for a in (i.spec.base, i.spec.quote, i.spec.settle)}
    assets |= set(ledger.balances)
    balances = []
    for asset in sorted(assets):
        amount = ledger.balances.get(asset, ZERO)
        if omit_zero and not amount:
            continue
        balances.append({"asset": asset, "free": decimal_text(amount, 8), "locked": "0.00000000"})
    positions = []
    for instrument in core.instruments:
        wire: WireFormat = core.exchange.wire[instrument.index]
        positions.append(
            {"symbol": instrument.symbol, "position": wire.qty(ledger.positions.get(instrument.index, 0))}
        )
    return {
        "makerCommission": first.maker_fee_ppm // 100,
        "takerCommission": first.taker_fee_ppm // 100,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "commissionRates": {
            "maker": _rate(first.maker_fee_ppm),
            "taker": _rate(first.taker_fee_ppm),
            "buyer": "0.00000000",
            "seller": "0.00000000",
        },
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": ledger.update_ms,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": ledger.uid,
        POSITIONS_FIELD: positions,
    }


def _rate(ppm: int) -> str:
    return decimal_text(EXACT.scaleb(EXACT.create_decimal(ppm), -6), 8)


def account_order_limits(request: Request) -> list:
    return [w.report(request.now_ms) for w in request.core.order_windows(request.key.account)]


METHODS = {
    "order.place": Method(order_place, SIGNED, PLACE_PARAMS, 1),
    "order.test": Method(order_test, SIGNED, PLACE_PARAMS, 1),
    "order.status": Method(
        order_status_method, SIGNED, frozenset({"symbol", "orderId", "origClientOrderId"}), 4
    ),
    "order.cancel": Method(
        order_cancel,
        SIGNED,
        frozenset({"symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"}),
        1,
    ),
    "openOrders.status": Method(
        open_orders_status, SIGNED, frozenset({"symbol"}), lambda p: 6 if "symbol" in p else 80
    ),
    "openOrders.cancelAll": Method(open_orders_cancel_all, SIGNED, frozenset({"symbol"}), 1),
    "myTrades": Method(
        my_trades,
        SIGNED,
        frozenset({"symbol", "orderId", "startTime", "endTime", "fromId", "limit"}),
        my_trades_weight,
    ),
    "account.status": Method(account_status, SIGNED, frozenset({"omitZeroBalances"}), 20),
    "account.rateLimits.orders": Method(account_order_limits, SIGNED, frozenset(), 40),
}
