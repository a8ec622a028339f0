"""Event kinds, flags and the event dtype of the compiled hot path (hotpath/types.pxd): the decoders
import them from here, as plain ints, so the contract has one entry point in this package."""

from hotpath.types import (
    EV_BBO,
    EV_BOOK_INVALID,
    EV_DEPTH,
    EV_DEPTH_CLEAR,
    EV_DEPTH_SNAPSHOT,
    EV_TRADE,
    F_LAST,
    F_SELL,
    MARKET_EVENT_DTYPE,
    MAX_INSTRUMENTS,
)

__all__ = [
    "EV_BBO",
    "EV_BOOK_INVALID",
    "EV_DEPTH",
    "EV_DEPTH_CLEAR",
    "EV_DEPTH_SNAPSHOT",
    "EV_TRADE",
    "F_LAST",
    "F_SELL",
    "MARKET_EVENT_DTYPE",
    "MAX_INSTRUMENTS",
]
