"""Exact prices and quantities for the decoders: the instrument's price_to_ticks / qty_to_lots,
memoised per load (the same decimal strings repeat heavily in market data)."""

from __future__ import annotations

from collections.abc import Callable

from trading.instruments import BadValue, InstrumentSpec
from trading.marketdata.reject import Reject

MEMO_LIMIT = 1 << 20  # parsed decimal strings remembered per load, per kind


class ExactValues:
    """Decoder mixin: price(text) / qty(text) and their memos (price_memo / qty_memo, which a hot
    loop may read directly). A bad value is a Reject whose reason is prefix + the BadValue reason."""

    def __init__(self, spec: InstrumentSpec):
        self.spec = spec
        self.price_memo: dict[str, int] = {}
        self.qty_memo: dict[str, int] = {}

    def price(self, text: object, prefix: str = "") -> int:
        ticks = self.price_memo.get(text) if type(text) is str else None
        return _convert(self.price_memo, self.spec.price_to_ticks, text, prefix) if ticks is None else ticks

    def qty(self, text: object, prefix: str = "") -> int:
        lots = self.qty_memo.get(text) if type(text) is str else None
        return _convert(self.qty_memo, self.spec.qty_to_lots, text, prefix) if lots is None else lots


def _convert(memo: dict, convert: Callable[[object], int], text: object, prefix: str) -> int:
    try:
        value = convert(text)
    except BadValue as exc:
        raise Reject(prefix + exc.reason) from None
    if len(memo) < MEMO_LIMIT:
        memo[text] = value
    return value
