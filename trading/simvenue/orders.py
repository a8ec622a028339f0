"""Orders and fills as the venue keeps them: integer ticks and lots, Binance statuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hotpath.types import OT_LIMIT, OT_LIMIT_MAKER, TIF_GTC
from trading.simvenue.instruments import VenueInstrument
from trading.simvenue.wire import ZERO

NEW = "NEW"
PARTIALLY_FILLED = "PARTIALLY_FILLED"
FILLED = "FILLED"
CANCELED = "CANCELED"
EXPIRED = "EXPIRED"
LIVE_STATUSES = frozenset({NEW, PARTIALLY_FILLED})


@dataclass(slots=True, eq=False)
class Fill:
    trade_id: int
    order_id: int
    instrument: int  # index
    price: int  # ticks
    qty: int  # lots
    quote: Decimal  # quote-asset amount of this fill
    fee_nano: int  # in the instrument's settlement currency, negative = rebate
    maker: bool
    time_ms: int
    is_buyer: bool


@dataclass(slots=True, eq=False)
class Order:
    account: str
    instrument: VenueInstrument
    client_id: int  # the hot path's id for it (venue-wide, never reused)
    client_order_id: str  # the account's id for it (Binance clientOrderId)
    side: int
    order_type: int
    tif: int
    price: int  # ticks; 0 for MARKET
    qty: int  # lots
    time_ms: int
    order_id: int = 0  # the venue's order id (assigned by the hot path on acceptance)
    executed: int = 0
    cum_quote: Decimal = ZERO
    status: str = NEW
    update_ms: int = 0
    working_ms: int = -1
    cancel_client_order_id: str = ""  # the cancel request's newClientOrderId
    reject_reason: int = 0  # hot path VenueReject when the venue refused it
    fills: list[Fill] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def can_rest(self) -> bool:
        return self.order_type == OT_LIMIT_MAKER or (self.order_type == OT_LIMIT and self.tif == TIF_GTC)

    @property
    def symbol(self) -> str:
        return self.instrument.symbol
