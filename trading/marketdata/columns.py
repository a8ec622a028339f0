"""Column-wise event builder: compact int64 arrays grown by append/extend, one numpy fill at the end.

array('q') appends are cheap and contiguous, so building ~10^6 records costs a fraction of a second
and never materialises a Python tuple per record; `to_array` copies each column once into the
structured MARKET_EVENT_DTYPE array.
"""

from array import array

import numpy as np

from trading.marketdata.kinds import F_LAST, F_SELL, MARKET_EVENT_DTYPE

_INT64_COLUMNS = ("ts_event", "ts_local", "price", "qty", "venue_seq", "aux")
_UINT16_COLUMNS = ("kind", "flags")


class EventColumns:
    """Growing columns of market events (order_id, instrument and reserved are filled at the end)."""

    __slots__ = _INT64_COLUMNS + _UINT16_COLUMNS

    def __init__(self) -> None:
        for name in _INT64_COLUMNS:
            setattr(self, name, array("q"))
        for name in _UINT16_COLUMNS:
            setattr(self, name, array("H"))

    def __len__(self) -> int:
        return len(self.kind)

    def add(
        self,
        ts_event: int,
        ts_local: int,
        price: int,
        qty: int,
        venue_seq: int,
        aux: int,
        kind: int,
        flags: int,
    ):
        self.ts_event.append(ts_event)
        self.ts_local.append(ts_local)
        self.price.append(price)
        self.qty.append(qty)
        self.venue_seq.append(venue_seq)
        self.aux.append(aux)
        self.kind.append(kind)
        self.flags.append(flags)

    def add_pair(
        self,
        ts_event: int,
        ts_local: int,
        bid: int,
        bid_qty: int,
        ask: int,
        ask_qty: int,
        venue_seq: int,
        kind: int,
    ) -> None:
        """A bid record then an ask record (F_SELL | F_LAST): one best bid/offer message."""
        self.ts_event.extend((ts_event, ts_event))
        self.ts_local.extend((ts_local, ts_local))
        self.price.extend((bid, ask))
        self.qty.extend((bid_qty, ask_qty))
        self.venue_seq.extend((venue_seq, venue_seq))
        self.aux.extend((0, 0))
        self.kind.extend((kind, kind))
        self.flags.extend((0, F_SELL | F_LAST))

    def add_levels(
        self,
        ts_event: int,
        ts_local: int,
        prices: list[int],
        qtys: list[int],
        n_bids: int,
        venue_seq: int,
        aux: int,
        kind: int,
        last: bool,
    ) -> None:
        """One record per level: the first n_bids are bids, the rest asks (F_SELL). F_LAST on the
        final record when `last`."""
        n = len(prices)
        if not n:
            return
        self.ts_event.extend([ts_event] * n)
        self.ts_local.extend([ts_local] * n)
        self.price.extend(prices)
        self.qty.extend(qtys)
        self.venue_seq.extend([venue_seq] * n)
        self.aux.extend([aux] * n)
        self.kind.extend([kind] * n)
        flags = [0] * n_bids + [F_SELL] * (n - n_bids)
        if last:
            flags[-1] |= F_LAST
        self.flags.extend(flags)

    def mark_last(self) -> None:
        """Set F_LAST on the most recent record (ends a message whose length was not known up front)."""
        if len(self.flags):
            self.flags[-1] |= F_LAST

    def to_array(self, instrument_index: int = 0) -> np.ndarray:
        n = len(self)
        out = np.zeros(n, dtype=MARKET_EVENT_DTYPE)
        if n:
            for name in _INT64_COLUMNS:
                out[name] = np.frombuffer(getattr(self, name), dtype=np.int64)
            for name in _UINT16_COLUMNS:
                out[name] = np.frombuffer(getattr(self, name), dtype=np.uint16)
            out["instrument"] = instrument_index
        return out
