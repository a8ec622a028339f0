"""The public REST market-data endpoints a Binance client may use for its depth snapshot:
GET /api/v3/depth, /api/v3/exchangeInfo, /api/v3/ping, /api/v3/time (the same code as the
WebSocket API methods; errors are {"code": ..., "msg": ...} with the HTTP status)."""

from __future__ import annotations

import http
from urllib.parse import parse_qsl

import orjson
from websockets.datastructures import Headers
from websockets.http11 import Response

from trading.binance import errors as binance
from trading.simvenue.core import VenueCore
from trading.simvenue.errors import MSG_DUPLICATE_PARAM, ApiError
from trading.simvenue.market_methods import METHODS
from trading.simvenue.methods import Request
from trading.simvenue.params import Params

ENDPOINTS = {
    "/api/v3/depth": "depth",
    "/api/v3/exchangeInfo": "exchangeInfo",
    "/api/v3/ping": "ping",
    "/api/v3/time": "time",
}
MAX_QUERY_CHARS = 2048


def rest_response(core: VenueCore, path: str, query: str, client_ip: str) -> Response:
    method = METHODS[ENDPOINTS[path]]
    now_ms = core.clock.now_ms()
    window = core.weight_window(client_ip)
    try:
        if len(query) > MAX_QUERY_CHARS:
            raise ApiError(binance.TOO_MANY_PARAMETERS, "Too many parameters sent for this endpoint.")
        pairs = parse_qsl(query, keep_blank_values=True)
        params = Params(dict(pairs))
        if len(params.raw) != len(pairs):
            raise ApiError(binance.TOO_MANY_PARAMETERS, MSG_DUPLICATE_PARAM)
        cost = method.weight_of(params)
        if not window.fits(cost, now_ms):
            raise ApiError(
                binance.TOO_MANY_REQUESTS,
                f"Too much request weight used; current limit is {window.describe()}.",
            )
        window.add(cost, now_ms)
        params.check_known(method.allowed())
        body: object = method.handler(Request(core, None, params, now_ms))
        status = 200
    except ApiError as exc:
        body, status = {"code": exc.code, "msg": exc.msg}, exc.status
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("X-MBX-USED-WEIGHT-1M", str(window.count(now_ms))),
        ]
    )
    payload = orjson.dumps(body)
    headers["Content-Length"] = str(len(payload))
    return Response(status, http.HTTPStatus(status).phrase, headers, payload)
