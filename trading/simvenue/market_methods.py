"""Public WebSocket API methods: ping, time, exchangeInfo, depth."""

from __future__ import annotations

from trading.binance import errors as binance
from trading.simvenue.errors import ApiError, illegal
from trading.simvenue.instruments import VenueInstrument
from trading.simvenue.methods import NONE, Method, Request
from trading.simvenue.params import Params
from trading.simvenue.ratelimit import exchange_info_limits

DEPTH_DEFAULT = 100
DEPTH_MAX = 5000
MAX_ORDER_UNITS = 10**13  # maxPrice / maxQty of the filters, in ticks / lots
ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET"]


def ping(request: Request) -> dict:
    return {}


def server_time(request: Request) -> dict:
    return {"serverTime": request.now_ms}


def _symbol_info(instrument: VenueInstrument, core) -> dict:
    spec = instrument.spec
    wire = core.exchange.wire[instrument.index]
    precision = instrument.display_decimals
    return {
        "symbol": instrument.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": precision,
        "quoteAsset": spec.quote,
        "quotePrecision": precision,
        "quoteAssetPrecision": precision,
        "baseCommissionPrecision": precision,
        "quoteCommissionPrecision": precision,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": False,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "allowAmend": False,
        "isSpotTradingAllowed": instrument.market == "spot",
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": wire.price(1),
                "maxPrice": wire.price(MAX_ORDER_UNITS),
                "tickSize": wire.price(1),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": wire.qty(1),
                "maxQty": wire.qty(MAX_ORDER_UNITS),
                "stepSize": wire.qty(1),
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def exchange_info(request: Request) -> dict:
    core, params = request.core, request.params
    selected = core.instruments
    if "symbol" in params and "symbols" in params:
        raise ApiError(
            binance.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
            "Parameters 'symbol' and 'symbols' cannot be sent together.",
        )
    if "symbol" in params:
        selected = [request.instrument()]
    elif "symbols" in params:
        names = params.raw["symbols"]
        if type(names) is not list or not names or len(names) > 100:
            raise illegal("symbols", "a JSON array of 1-100 symbols")
        selected = []
        for name in names:
            if type(name) is not str or name not in core.by_symbol:
                raise ApiError(binance.BAD_SYMBOL, "Invalid symbol.")
            selected.append(core.by_symbol[name])
    return {
        "timezone": "UTC",
        "serverTime": request.now_ms,
        "rateLimits": exchange_info_limits(core.config.rate_limits),
        "exchangeFilters": [],
        "symbols": [_symbol_info(i, core) for i in selected],
    }


def _depth_limit(params: Params) -> int:
    limit = params.long("limit", low=1, high=DEPTH_MAX)
    return DEPTH_DEFAULT if limit is None else limit


def depth_weight(params: Params) -> int:
    limit = _depth_limit(params)
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def depth(request: Request) -> dict:
    instrument = request.instrument()
    limit = _depth_limit(request.params)
    last_update_id, bids, asks = request.core.books[instrument.index].depth(limit)
    wire = request.core.exchange.wire[instrument.index]
    return {
        "lastUpdateId": last_update_id,
        "bids": [[wire.price(p), wire.qty(q)] for p, q in bids],
        "asks": [[wire.price(p), wire.qty(q)] for p, q in asks],
    }


METHODS = {
    "ping": Method(ping, NONE),
    "time": Method(server_time, NONE),
    "exchangeInfo": Method(
        exchange_info,
        NONE,
        frozenset({"symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"}),
        20,
    ),
    "depth": Method(depth, NONE, frozenset({"symbol", "limit"}), depth_weight),
}
