"""Dict-based reference of hotpath/book.pyx: the same observable behaviour, no window tricks.

The window only decides where a level is stored, so the reference keeps `base`/`cap` purely
for the canonical bytes and stores every level in one dict per side.
"""

from __future__ import annotations

import struct

BUY = 0
SELL = 1
INT64_MAX = 2**63 - 1
MIN_WINDOW_LOG2 = 12
MAX_WINDOW_LOG2 = 26


def window_base(center_price: int, cap: int) -> int:
    """Window start for a window of cap ticks centred on center_price (book.pyx _base_for)."""
    return min(max(center_price - cap // 2, 1), INT64_MAX - cap)


class BookRef:
    def __init__(self, center_price: int, window_log2: int = 22):
        if not MIN_WINDOW_LOG2 <= window_log2 <= MAX_WINDOW_LOG2 or center_price <= 0:
            raise ValueError("bad book arguments")
        self.window_log2 = window_log2
        self.cap = 1 << window_log2
        self.base = window_base(center_price, self.cap)
        self.levels: list[dict[int, int]] = [{}, {}]
        self.last_update_id = 0
        self.ts_event = 0
        self.ts_local = 0
        self.valid = 0
        self.n_updates = 0
        self.n_rejected = 0
        self.n_crossed = 0
        self.n_gaps = 0

    # updates ----------------------------------------------------------------------------------
    def set(self, side: int, price: int, qty: int) -> int:
        if side not in (BUY, SELL) or price <= 0 or qty < 0:
            self.n_rejected += 1
            return -1
        side_levels = self.levels[side]
        prev = side_levels.get(price, 0)
        if qty:
            side_levels[price] = qty
        else:
            side_levels.pop(price, None)
        self.n_updates += 1
        return prev

    def clear(self) -> None:
        self.levels = [{}, {}]

    def recenter(self, center_price: int) -> int:
        if center_price <= 0:
            return -1
        self.base = window_base(center_price, self.cap)
        return 0

    # queries ----------------------------------------------------------------------------------
    def qty(self, side: int, price: int) -> int:
        if side not in (BUY, SELL):
            return 0
        return self.levels[side].get(price, 0)

    @property
    def best_bid(self) -> int:
        return max(self.levels[BUY], default=0)

    @property
    def best_ask(self) -> int:
        return min(self.levels[SELL], default=0)

    def next(self, side: int, price: int) -> int:
        if side == BUY:
            return max((p for p in self.levels[BUY] if p < price), default=0)
        if side == SELL:
            return min((p for p in self.levels[SELL] if p > price), default=0)
        return 0

    def sorted_levels(self, side: int) -> list[tuple[int, int]]:
        """All levels of side, best first."""
        return sorted(self.levels[side].items(), reverse=(side == BUY))

    def depth(self, side: int, n: int) -> list[tuple[int, int]]:
        if side not in (BUY, SELL) or n <= 0:
            return []
        return self.sorted_levels(side)[:n]

    def depth_qty(self, side: int, n: int) -> int:
        return min(sum(q for _, q in self.depth(side, n)), 2**63 - 1)  # saturating, like the kernel

    def crossed(self) -> bool:
        bid, ask = self.best_bid, self.best_ask
        return bid != 0 and ask != 0 and bid >= ask

    def n_levels(self, side: int) -> int:
        return len(self.levels[side])

    # canonical bytes --------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        header = [
            self.base,
            self.cap,
            self.window_log2,
            self.last_update_id,
            self.ts_event,
            self.ts_local,
            self.valid,
            self.n_updates,
            self.n_rejected,
            self.n_crossed,
            self.n_gaps,
        ]
        values = list(header)
        for side in (BUY, SELL):
            levels = self.sorted_levels(side)
            values.append(len(levels))
            for price, qty in levels:
                values.extend((price, qty))
        return struct.pack(f"<{len(values)}q", *values)
