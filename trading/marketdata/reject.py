"""Refusing a message: the exception the decoders use, and the shared best-bid/offer sanity rule."""


class Reject(Exception):
    """A message (or row) refused whole; args[0] is the reason code counted in the report."""


def check_bbo(bid: int, bid_qty: int, ask: int, ask_qty: int) -> None:
    """A best bid/offer pair: each side is a price with a qty, or empty (0, 0); never crossed."""
    if (bid == 0) != (bid_qty == 0) or (ask == 0) != (ask_qty == 0):
        raise Reject("bbo_zero_side")
    if bid and ask and bid >= ask:
        raise Reject("bbo_crossed")
