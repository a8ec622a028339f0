"""Binance error codes the node and the simulated venue use (spot API `errors.md`)."""

from __future__ import annotations

UNKNOWN = -1000
DISCONNECTED = -1001
TOO_MANY_REQUESTS = -1003
TOO_MANY_ORDERS = -1015
INVALID_TIMESTAMP = -1021
INVALID_SIGNATURE = -1022
ILLEGAL_CHARS = -1100
TOO_MANY_PARAMETERS = -1101
MANDATORY_PARAM_EMPTY_OR_MALFORMED = -1102
UNKNOWN_PARAM = -1103
BAD_PRECISION = -1111
INVALID_TIF = -1115
INVALID_ORDER_TYPE = -1116
INVALID_SIDE = -1117
BAD_SYMBOL = -1121
FILTER_FAILURE = -1013
NEW_ORDER_REJECTED = -2010
CANCEL_REJECTED = -2011
NO_SUCH_ORDER = -2013
BAD_API_KEY_FMT = -2014
REJECTED_MBX_KEY = -2015

# Messages that accompany NEW_ORDER_REJECTED / CANCEL_REJECTED (the code alone is ambiguous).
MSG_WOULD_TAKE = "Order would immediately match and take."
MSG_DUPLICATE_ORDER = "Duplicate order sent."
MSG_UNKNOWN_ORDER = "Unknown order sent."
MSG_TOO_MANY_ORDERS = "Too many new orders."
MSG_INVALID_SIGNATURE = "Signature for this request is not valid."
MSG_INVALID_TIMESTAMP = "Timestamp for this request is outside of the recvWindow."
MSG_INVALID_API_KEY = "Invalid API-key, IP, or permissions for action."

HTTP_STATUS = {
    TOO_MANY_REQUESTS: 429,
    TOO_MANY_ORDERS: 429,
    INVALID_SIGNATURE: 400,
    REJECTED_MBX_KEY: 401,
}


def error_response(request_id: object, code: int, msg: str) -> dict:
    return {"id": request_id, "status": HTTP_STATUS.get(code, 400), "error": {"code": code, "msg": msg}}
