"""The matching side of the venue: accounts' orders matched by the hot path's simulated venue.

Matching is `hotpath.matching.SimulatedVenue` with zero internal latency (the network is the
latency): every order request is send_* + process(now) + pop_responses(now), and every replayed
market event (VenueBook.set_level / trade) is followed by collect(), which pops the fills it
caused. The hot path knows orders by an int client id that is unique across the venue; this module
maps it to the account and the account's Binance clientOrderId, keeps each account's ledger and
turns every response into Binance execution reports, which callers fetch with take_events().

Accounts never see each other's orders: lookups, cancels and reports are all per account, and
openOrders.cancelAll cancels the account's orders one by one (the hot path's cancel-all would
cancel every account's).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal

from hotpath.matching import SimulatedVenue, VenueReject
from hotpath.types import (
    BUY,
    EV_CANCEL_REJECT,
    EV_ORDER_ACK,
    EV_ORDER_CANCELED,
    EV_ORDER_EXPIRED,
    EV_ORDER_FILL,
    EV_ORDER_REJECT,
    F_MAKER,
    OT_MARKET,
)
from trading.binance import errors as binance
from trading.simvenue.clock import NS_PER_MS, VenueClock
from trading.simvenue.errors import ApiError, filter_failure
from trading.simvenue.instruments import VenueInstrument
from trading.simvenue.ledger import AccountLedger
from trading.simvenue.orders import CANCELED, EXPIRED, FILLED, NEW, PARTIALLY_FILLED, Fill, Order
from trading.simvenue.reports import execution_report
from trading.simvenue.wire import EXACT, WireFormat

log = logging.getLogger(__name__)

RESPONSE_QUEUE = 1 << 16  # one MARKET order emits one fill per level it takes
GENERATED_ID_PREFIX = "simvenue"


class Exchange:
    def __init__(
        self,
        instruments: list[VenueInstrument],
        accounts: Iterable[str],
        clock: VenueClock,
        *,
        max_open_orders: int,
        starting_balances: dict[str, Decimal] | None = None,
    ):
        self.instruments = instruments
        self.wire = [WireFormat(i) for i in instruments]
        self.clock = clock
        self.max_open_orders = max_open_orders
        names = sorted(set(accounts))
        self.ledgers = {
            name: AccountLedger(name, uid, starting_balances or {}) for uid, name in enumerate(names, 1)
        }
        self.venue = SimulatedVenue(
            [i.spec.hotpath_fields() for i in instruments],
            max_resting=max(16, max_open_orders * max(1, len(names)) * len(instruments)),
            queue_capacity=RESPONSE_QUEUE,
            center_prices=[i.center_ticks for i in instruments],
        )
        self._live: dict[int, Order] = {}  # hot-path client id -> order not yet final
        self._events: list[tuple[str, dict]] = []  # (account, executionReport) not yet taken
        self._pending_reports: list[tuple[dict, Order]] = []  # reports of the current drain
        self._next_client_id = 1
        self._next_execution_id = 1
        self._generated_ids = 0
        self._dropped = 0

    # -- requests --

    def new_client_order_id(self) -> str:
        """A venue-generated clientOrderId (22 characters, like Binance's)."""
        self._generated_ids += 1
        return f"{GENERATED_ID_PREFIX}{self._generated_ids:014d}"

    def place(
        self,
        ledger: AccountLedger,
        instrument: VenueInstrument,
        side: int,
        order_type: int,
        tif: int,
        price: int,
        qty: int,
        client_order_id: str | None,
    ) -> Order:
        """Place an order and run it through the matching engine; the returned order carries the
        fills it made on arrival. ApiError when the venue refuses it (nothing changes then)."""
        index = instrument.index
        if client_order_id is None:
            client_order_id = self.new_client_order_id()
        elif ledger.open_with_client_id(index, client_order_id) is not None:
            raise ApiError(binance.NEW_ORDER_REJECTED, binance.MSG_DUPLICATE_ORDER)
        if ledger.open_count(index) >= self.max_open_orders:
            raise filter_failure("MAX_NUM_ORDERS")
        now = self.clock.now_ns()
        order = Order(
            account=ledger.name,
            instrument=instrument,
            client_id=self._next_client_id,
            client_order_id=client_order_id,
            side=side,
            order_type=order_type,
            tif=tif,
            price=0 if order_type == OT_MARKET else price,
            qty=qty,
            time_ms=now // NS_PER_MS,
        )
        self._next_client_id += 1
        self._live[order.client_id] = order
        self.venue.send_new(order.client_id, index, side, order_type, tif, order.price, qty, now)
        self.venue.process(now)
        self._drain(now)
        if order.reject_reason:
            raise _reject_error(order.reject_reason)
        return order

    def cancel(self, order: Order, new_client_order_id: str | None) -> Order:
        """Cancel one open order; -2011 if it is not open (any more)."""
        if not order.live:
            raise ApiError(binance.CANCEL_REJECTED, binance.MSG_UNKNOWN_ORDER)
        order.cancel_client_order_id = new_client_order_id or self.new_client_order_id()
        now = self.clock.now_ns()
        self.venue.send_cancel(order.client_id, order.instrument.index, now)
        self.venue.process(now)
        self._drain(now)
        if order.status != CANCELED:
            raise ApiError(binance.CANCEL_REJECTED, binance.MSG_UNKNOWN_ORDER)
        return order

    def cancel_all(self, ledger: AccountLedger, instrument: VenueInstrument) -> list[Order]:
        """Cancel every open order of the account on the instrument, oldest first."""
        orders = ledger.open_orders(instrument.index)
        now = self.clock.now_ns()
        for order in orders:
            order.cancel_client_order_id = self.new_client_order_id()
            self.venue.send_cancel(order.client_id, instrument.index, now)
        self.venue.process(now)
        self._drain(now)
        return [o for o in orders if o.status == CANCELED]

    # -- market data --

    def collect(self) -> None:
        """Turn the responses of the last market event(s) (fills of resting orders) into reports."""
        if self.venue.next_response != 2**63 - 1:
            self._drain(self.clock.now_ns())

    def take_events(self) -> list[tuple[str, dict]]:
        events, self._events = self._events, []
        return events

    # -- responses --

    def _drain(self, now: int) -> None:
        now_ms = now // NS_PER_MS
        for response in self.venue.pop_responses(now):
            self._apply(response, now_ms)
        for report, order in self._pending_reports:
            on_book = order.live and order.can_rest
            report["w"] = on_book
            if on_book:
                report["W"] = order.working_ms
        self._pending_reports.clear()
        dropped = self.venue.counters["n_dropped"]
        if dropped != self._dropped:
            log.error("simulated venue dropped %d commands/responses (queue full)", dropped - self._dropped)
            self._dropped = dropped

    def _apply(self, response: dict, now_ms: int) -> None:
        order = self._live.get(response["order_id"])
        if order is None:
            log.error("simulated venue answered for unknown client id %d", response["order_id"])
            return
        kind = response["kind"]
        ledger = self.ledgers[order.account]
        transact_ms = response["ts_event"] // NS_PER_MS
        order.update_ms = transact_ms
        if kind == EV_ORDER_ACK:
            order.order_id = response["aux"]
            order.working_ms = transact_ms
            ledger.add_open(order)
            self._report(order, NEW, now_ms, transact_ms)
        elif kind == EV_ORDER_REJECT:
            order.reject_reason = response["aux"]
            del self._live[order.client_id]
        elif kind == EV_ORDER_FILL:
            self._fill(order, ledger, response, now_ms, transact_ms)
        elif kind in (EV_ORDER_EXPIRED, EV_ORDER_CANCELED):
            order.status = EXPIRED if kind == EV_ORDER_EXPIRED else CANCELED
            self._finish(order, ledger)
            self._report(order, order.status, now_ms, transact_ms)
        elif kind == EV_CANCEL_REJECT:
            pass  # the order was final already: cancel() answers -2011 from its status

    def _fill(
        self, order: Order, ledger: AccountLedger, response: dict, now_ms: int, transact_ms: int
    ) -> None:
        wire = self.wire[order.instrument.index]
        price, qty = response["price"], response["qty"]
        fill = Fill(
            trade_id=response["venue_seq"],
            order_id=order.order_id,
            instrument=order.instrument.index,
            price=price,
            qty=qty,
            quote=wire.quote_decimal(price, qty),
            fee_nano=response["aux"],
            maker=bool(response["flags"] & F_MAKER),
            time_ms=transact_ms,
            is_buyer=order.side == BUY,
        )
        order.executed += qty
        order.cum_quote = EXACT.add(order.cum_quote, fill.quote)
        order.fills.append(fill)
        order.status = FILLED if order.executed >= order.qty else PARTIALLY_FILLED
        ledger.record_fill(order, fill, spot=order.instrument.market == "spot")
        if order.status == FILLED:
            self._finish(order, ledger)
        self._report(order, "TRADE", now_ms, transact_ms, fill)

    def _finish(self, order: Order, ledger: AccountLedger) -> None:
        self._live.pop(order.client_id, None)
        ledger.finish(order)

    def _report(self, order: Order, execution_type: str, now_ms: int, transact_ms: int, fill=None) -> None:
        report = execution_report(
            order,
            self.wire[order.instrument.index],
            execution_type,
            now_ms,
            transact_ms,
            self._next_execution_id,
            fill,
        )
        self._next_execution_id += 1
        self._pending_reports.append((report, order))
        self._events.append((order.account, report))


def _reject_error(reason: int) -> ApiError:
    if reason == VenueReject.VR_WOULD_TAKE:
        return ApiError(binance.NEW_ORDER_REJECTED, binance.MSG_WOULD_TAKE)
    if reason == VenueReject.VR_DUPLICATE_ID:
        return ApiError(binance.NEW_ORDER_REJECTED, binance.MSG_DUPLICATE_ORDER)
    if reason == VenueReject.VR_BAD_PRICE:
        return filter_failure("PRICE_FILTER")
    if reason == VenueReject.VR_BAD_QTY:
        return filter_failure("NOTIONAL")
    if reason == VenueReject.VR_TOO_MANY_ORDERS:
        return filter_failure("MAX_NUM_ORDERS")
    return ApiError(binance.UNKNOWN, f"The simulated venue refused the order (reason {reason}).")
