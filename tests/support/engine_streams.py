"""Hand-built MarketEvent streams for engine-level tests (hot path, node kernel, reconciliation)."""

from __future__ import annotations

import numpy as np

from hotpath.types import EV_DEPTH, EV_DEPTH_CLEAR, EV_DEPTH_SNAPSHOT, F_LAST, F_SELL, MARKET_EVENT_DTYPE

MS = 1_000_000
BASE_TS = 1_723_161_254_000_000_000


class Stream:
    """Builds MarketEvent arrays by hand."""

    def __init__(self):
        self.rows: list[dict] = []
        self.ts = BASE_TS

    def add(self, kind, *, price=0, qty=0, flags=0, seq=0, aux=0, order_id=0, dt_ms=0, instrument=0):
        self.ts += dt_ms * MS
        self.rows.append(
            {"ts_event": self.ts, "ts_local": self.ts, "price": price, "qty": qty, "venue_seq": seq, "aux": aux,
             "order_id": order_id, "kind": kind, "flags": flags, "instrument": instrument}
        )  # fmt: skip
        return self

    def snapshot(self, bids, asks, seq=1):
        self.add(EV_DEPTH_CLEAR, seq=seq)
        levels = [(p, q, 0) for p, q in bids] + [(p, q, F_SELL) for p, q in asks]
        for k, (p, q, side) in enumerate(levels):
            self.add(
                EV_DEPTH_SNAPSHOT,
                price=p,
                qty=q,
                flags=side | (F_LAST if k == len(levels) - 1 else 0),
                seq=seq,
            )
        return self

    def depth(self, levels, seq, dt_ms=100):
        for k, (side, p, q) in enumerate(levels):
            self.add(EV_DEPTH, price=p, qty=q, flags=side | (F_LAST if k == len(levels) - 1 else 0), seq=seq,
                     dt_ms=dt_ms if k == 0 else 0)  # fmt: skip
        return self

    def array(self) -> np.ndarray:
        out = np.zeros(len(self.rows), dtype=MARKET_EVENT_DTYPE)
        for name in self.rows[0] if self.rows else ():
            out[name] = [r[name] for r in self.rows]
        return out


def quiet_book(stream: Stream, mid=6_000_000, n_messages=5):
    stream.snapshot([(mid - 1, 50_000), (mid - 2, 80_000)], [(mid + 1, 50_000), (mid + 2, 80_000)])
    for k in range(n_messages):
        stream.depth([(0, mid - 2, 80_000 + k)], seq=2 + k)
    return stream
