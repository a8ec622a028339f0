"""Binance-style request errors of the simulated venue.

Codes shared with the node's clients live in trading.binance.errors; the few the venue needs
beyond those (documented in the spot API's errors.md) are defined here.
"""

from __future__ import annotations

from trading.binance import errors as binance

UNAUTHORIZED = -1002
UNSUPPORTED_OPERATION = -1020
PARAM_NOT_REQUIRED = -1106
TIF_NOT_REQUIRED = -1114
EMPTY_NEW_CLIENT_ORDER_ID = -1118
BAD_RECV_WINDOW = -1131
INVALID_JSON = -1135
SUBSCRIPTION_ACTIVE = -2035
SUBSCRIPTION_INACTIVE = -2036

MSG_NO_SUCH_ORDER = "Order does not exist."
MSG_INVALID_JSON = "Invalid JSON Request"
MSG_UNKNOWN_PARAM = "An unknown parameter was sent."
MSG_DUPLICATE_PARAM = "Duplicate values for a parameter detected."
MSG_NOT_AUTHORIZED = "You are not authorized to execute this request."
DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
LONG_RANGE = r"^[0-9]{1,20}$"


class ApiError(Exception):
    """A request refused with a Binance error code; `data` is the optional error.data object."""

    def __init__(self, code: int, msg: str, *, status: int | None = None, data: dict | None = None):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status if status is not None else binance.HTTP_STATUS.get(code, 400)
        self.data = data

    def response(self, request_id: object) -> dict:
        out = binance.error_response(request_id, self.code, self.msg)
        out["status"] = self.status
        if self.data is not None:
            out["error"]["data"] = self.data
        return out


def mandatory(name: str) -> ApiError:
    return ApiError(
        binance.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
    )


def illegal(name: str, legal_range: str) -> ApiError:
    return ApiError(
        binance.ILLEGAL_CHARS,
        f"Illegal characters found in parameter '{name}'; legal range is '{legal_range}'.",
    )


def filter_failure(filter_name: str) -> ApiError:
    return ApiError(binance.FILTER_FAILURE, f"Filter failure: {filter_name}")


def invalid_json(detail: str = "") -> ApiError:
    return ApiError(INVALID_JSON, MSG_INVALID_JSON + (f": {detail}" if detail else ""))
