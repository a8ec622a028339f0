"""Reading a WebSocket API request's `params` with Binance's validation rules.

Every accessor either returns a clean value or raises the ApiError Binance would send: -1102 for
a missing/empty/null mandatory parameter, -1100 for a value outside the legal range, -1103 for an
unknown parameter. Decimals stay strings here (the instrument converts them to exact ticks/lots);
JSON floats are refused because they cannot carry an exact decimal.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from trading.binance import errors as binance
from trading.simvenue.errors import DECIMAL_RANGE, LONG_RANGE, ApiError, illegal, mandatory

INT64_MAX = 2**63 - 1
_DECIMAL_RE = re.compile(DECIMAL_RANGE)
_DIGITS_RE = re.compile(r"^[0-9]{1,20}$")
SYMBOL_RANGE = "^[A-Z0-9-_.]{1,20}$"
_SYMBOL_RE = re.compile(SYMBOL_RANGE)
CLIENT_ORDER_ID_RANGE = "^[\\.A-Z\\:/a-z0-9_-]{1,36}$"
_CLIENT_ORDER_ID_RE = re.compile(CLIENT_ORDER_ID_RANGE)
API_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class Params:
    """One request's params object (already known to be a JSON object)."""

    def __init__(self, raw: Mapping[str, object]):
        self.raw = raw

    def __contains__(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def check_known(self, allowed: Collection[str]) -> None:
        unknown = sorted(name for name in self.raw if name not in allowed)
        if unknown:
            shown = unknown[0] if len(unknown[0]) <= 40 else unknown[0][:37] + "..."
            raise ApiError(binance.UNKNOWN_PARAM, f"An unknown parameter was sent: '{shown}'.")

    def _present(self, name: str, required: bool) -> object | None:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise mandatory(name)
            return None
        return value

    def string(self, name: str, *, required: bool = False, max_len: int = 64) -> str | None:
        value = self._present(name, required)
        if value is None:
            return None
        if type(value) is not str or len(value) > max_len:
            raise mandatory(name)
        return value

    def symbol(self, name: str = "symbol", *, required: bool = True) -> str | None:
        value = self._present(name, required)
        if value is None:
            return None
        if type(value) is not str or not _SYMBOL_RE.match(value):
            raise illegal(name, SYMBOL_RANGE)
        return value

    def client_order_id(self, name: str, *, required: bool = False) -> str | None:
        value = self._present(name, required)
        if value is None:
            return None
        if type(value) is not str or not _CLIENT_ORDER_ID_RE.match(value):
            raise illegal(name, CLIENT_ORDER_ID_RANGE)
        return value

    def decimal(self, name: str, *, required: bool = False) -> str | None:
        """A non-negative decimal as its exact text ("0.00100000"); ints are accepted as text."""
        value = self._present(name, required)
        if value is None:
            return None
        if type(value) is int and value >= 0:
            value = str(value)
        if type(value) is not str or not _DECIMAL_RE.match(value):
            raise illegal(name, DECIMAL_RANGE)
        return value

    def long(self, name: str, *, required: bool = False, low: int = 0, high: int = INT64_MAX) -> int | None:
        """An integer (JSON number or digit string) in [low, high]."""
        value = self._present(name, required)
        if value is None:
            return None
        if type(value) is str and _DIGITS_RE.match(value):
            value = int(value)
        if type(value) is not int or not low <= value <= high:
            raise illegal(name, LONG_RANGE)
        return value

    def enum(self, name: str, values: Collection[str], *, required: bool = False) -> str | None:
        value = self._present(name, required)
        if value is None:
            return None
        if type(value) is not str or value not in values:
            raise illegal(name, ", ".join(values))
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if type(value) is bool:
            return value
        if value in ("true", "false"):
            return value == "true"
        raise illegal(name, "true, false")
