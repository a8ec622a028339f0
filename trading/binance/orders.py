"""Order enums between the hot path's (order type, time in force) and Binance's names."""

from __future__ import annotations

from hotpath.types import BUY, OT_LIMIT, OT_LIMIT_MAKER, OT_MARKET, SELL, TIF_FOK, TIF_GTC, TIF_IOC

SIDES = {BUY: "BUY", SELL: "SELL"}
SIDE_CODES = {"BUY": BUY, "SELL": SELL}


def binance_order_type(order_type: int, tif: int) -> tuple[str, str | None]:
    """(type, timeInForce or None) for order.place."""
    if order_type == OT_MARKET:
        return "MARKET", None
    if order_type == OT_LIMIT_MAKER:
        return "LIMIT_MAKER", None
    if order_type == OT_LIMIT:
        name = {TIF_GTC: "GTC", TIF_IOC: "IOC", TIF_FOK: "FOK"}.get(tif)
        if name is None:
            raise ValueError(f"unknown time in force {tif}")
        return "LIMIT", name
    raise ValueError(f"unknown order type {order_type}")


def hotpath_order_type(binance_type: str, time_in_force: str | None) -> tuple[int, int]:
    """(order type, tif) from Binance names; ValueError for anything unsupported."""
    if binance_type == "MARKET":
        return OT_MARKET, TIF_GTC
    if binance_type == "LIMIT_MAKER":
        return OT_LIMIT_MAKER, TIF_GTC
    if binance_type == "LIMIT":
        tif = {"GTC": TIF_GTC, "IOC": TIF_IOC, "FOK": TIF_FOK}.get(time_in_force or "")
        if tif is None:
            raise ValueError(f"unsupported timeInForce {time_in_force!r}")
        return OT_LIMIT, tif
    raise ValueError(f"unsupported order type {binance_type!r}")
