"""What a WebSocket API method is: its handler, security type, parameters and request weight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from trading.binance import errors as binance
from trading.simvenue.errors import ApiError
from trading.simvenue.instruments import VenueInstrument
from trading.simvenue.params import Params

if TYPE_CHECKING:
    from trading.simvenue.accounts import ApiKey
    from trading.simvenue.api import ApiSession
    from trading.simvenue.core import VenueCore
    from trading.simvenue.ledger import AccountLedger

NONE = "NONE"  # public
SIGNED = "SIGNED"  # TRADE / USER_DATA: apiKey + signature, or a logged-on session; timestamp
SESSION = "SESSION"  # acts on the connection's own session state

COMMON_PARAMS = frozenset({"returnRateLimits"})
SIGNED_PARAMS = frozenset({"apiKey", "signature", "timestamp", "recvWindow"})


@dataclass
class Request:
    core: VenueCore
    session: ApiSession
    params: Params
    now_ms: int
    key: ApiKey | None = None  # the authenticated key of a SIGNED request
    rate_limits: list[dict] = field(default_factory=list)  # extra rateLimits entries (ORDERS)

    @property
    def ledger(self) -> AccountLedger:
        assert self.key is not None
        return self.core.exchange.ledgers[self.key.account]

    def instrument(self, name: str = "symbol", *, required: bool = True) -> VenueInstrument | None:
        symbol = self.params.symbol(name, required=required)
        if symbol is None:
            return None
        instrument = self.core.by_symbol.get(symbol)
        if instrument is None:
            raise ApiError(binance.BAD_SYMBOL, "Invalid symbol.")
        return instrument


@dataclass(frozen=True)
class Method:
    handler: Callable[[Request], object]
    security: str
    params: frozenset[str] = frozenset()
    weight: int | Callable[[Params], int] = 1

    def weight_of(self, params: Params) -> int:
        if isinstance(self.weight, int):
            return self.weight
        try:
            return self.weight(params)
        except ApiError:
            return 1  # the handler reports the bad parameter

    def allowed(self) -> frozenset[str]:
        return self.params | COMMON_PARAMS | (SIGNED_PARAMS if self.security == SIGNED else frozenset())
