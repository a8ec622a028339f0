"""One account's book-keeping at the venue: open and finished orders, trades, positions, balances.

Finished orders and trades are kept up to a bound (the oldest are forgotten first), so a node
that trades for days does not grow the venue's memory without limit; order.status of a forgotten
order answers -2013 as Binance does for archived orders.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator
from decimal import Decimal

from hotpath.types import BUY
from trading.simvenue.orders import Fill, Order
from trading.simvenue.wire import EXACT, ZERO, nano_decimal

MAX_FINISHED_ORDERS = 100_000
MAX_TRADES = 100_000


class AccountLedger:
    def __init__(self, name: str, uid: int, starting_balances: dict[str, Decimal]):
        self.name = name
        self.uid = uid
        self.update_ms = 0
        self.balances: dict[str, Decimal] = dict(starting_balances)
        self.positions: dict[int, int] = {}  # instrument index -> signed lots
        self.trades: deque[Fill] = deque(maxlen=MAX_TRADES)
        self._open: dict[int, Order] = {}  # order id -> order, in placement order
        self._open_by_client_id: dict[tuple[int, str], Order] = {}
        self._finished: OrderedDict[int, Order] = OrderedDict()
        self._finished_by_client_id: dict[tuple[int, str], int] = {}

    # -- orders --

    def open_orders(self, instrument: int | None = None) -> list[Order]:
        return [o for o in self._open.values() if instrument is None or o.instrument.index == instrument]

    def open_count(self, instrument: int) -> int:
        return sum(1 for o in self._open.values() if o.instrument.index == instrument)

    def open_with_client_id(self, instrument: int, client_order_id: str) -> Order | None:
        return self._open_by_client_id.get((instrument, client_order_id))

    def add_open(self, order: Order) -> None:
        self._open[order.order_id] = order
        self._open_by_client_id[(order.instrument.index, order.client_order_id)] = order

    def finish(self, order: Order) -> None:
        """The order reached a final status: move it from the open orders to the history."""
        if self._open.pop(order.order_id, None) is not None:
            self._open_by_client_id.pop((order.instrument.index, order.client_order_id), None)
        if not order.order_id:
            return  # refused before acceptance: never an order of the account
        self._finished[order.order_id] = order
        self._finished_by_client_id[(order.instrument.index, order.client_order_id)] = order.order_id
        while len(self._finished) > MAX_FINISHED_ORDERS:
            _, old = self._finished.popitem(last=False)
            key = (old.instrument.index, old.client_order_id)
            if self._finished_by_client_id.get(key) == old.order_id:
                del self._finished_by_client_id[key]

    def find(self, instrument: int, order_id: int | None, client_order_id: str | None) -> Order | None:
        """An order of this account on `instrument` by order id and/or client order id (both must
        match when both are given), open orders first."""
        if order_id is not None:
            order = self._open.get(order_id) or self._finished.get(order_id)
            if order is None or order.instrument.index != instrument:
                return None
            if client_order_id is not None and order.client_order_id != client_order_id:
                return None
            return order
        if client_order_id is None:
            return None
        order = self._open_by_client_id.get((instrument, client_order_id))
        if order is not None:
            return order
        finished_id = self._finished_by_client_id.get((instrument, client_order_id))
        return self._finished.get(finished_id) if finished_id is not None else None

    # -- fills --

    def record_fill(self, order: Order, fill: Fill, spot: bool) -> None:
        spec = order.instrument.spec
        index = order.instrument.index
        signed = fill.qty if order.side == BUY else -fill.qty
        self.positions[index] = self.positions.get(index, 0) + signed
        self.trades.append(fill)
        if spot:  # spot settles the assets themselves; futures only move the position
            base = EXACT.multiply(Decimal(signed), spec.lot_size)
            self._add(spec.base, base)
            self._add(spec.quote, -fill.quote if order.side == BUY else fill.quote)
        self._add(spec.settle, -nano_decimal(fill.fee_nano))
        self.update_ms = fill.time_ms

    def _add(self, asset: str, amount: Decimal) -> None:
        self.balances[asset] = EXACT.add(self.balances.get(asset, ZERO), amount)

    def trades_of(self, instrument: int) -> Iterator[Fill]:
        return (t for t in self.trades if t.instrument == instrument)
