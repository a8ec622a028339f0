"""The node's Binance order gateway: WebSocket API order entry and the user data stream.

One connection carries everything: `order.place` / `order.cancel` requests built from the
engine's REC_ORDER_SENT / REC_CANCEL_SENT records, their responses, and the account's
executionReport events, which become engine inputs. The user data stream is subscribed on the
connection itself: `session.logon` (Ed25519) + `userDataStream.subscribe`, or without a session
the signed `userDataStream.subscribe.signature`; events arrive as {"subscriptionId", "event"}
(reports.py). `submit()` is called by the kernel synchronously, in the same turn the engine
produced the records: it puts each request on the wire before returning (eager_send.py).

The engine's order state must stay true whatever happens here:
  - an order or cancel that cannot be sent (no connection, unknown instrument) is rejected
    locally: EV_ORDER_REJECT / EV_CANCEL_REJECT with aux = the Binance code it amounts to
    (-1001 DISCONNECTED), delivered on the next loop turn (never re-entering the kernel's turn);
  - a 4xx answer to order.place is EV_ORDER_REJECT, to order.cancel EV_CANCEL_REJECT (aux = the
    error code, e.g. -2011 CANCEL_REJECTED): the request did not take effect;
  - a 5xx answer, or a connection lost with requests in flight, leaves the outcome unknown: it is
    counted (stats.unknown_outcome) and left to reconciliation (open_orders, my_trades).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException
from websockets.protocol import State

from hotpath.types import (
    BUY,
    EV_CANCEL_REJECT,
    EV_ORDER_ACK,
    EV_ORDER_CANCELED,
    EV_ORDER_EXPIRED,
    EV_ORDER_FILL,
    EV_ORDER_REJECT,
    F_REDUCE_ONLY,
    F_SELL,
    MARKET_EVENT_DTYPE,
    REC_ORDER_SENT,
    SELL,
)
from trading.binance import errors
from trading.binance.ids import check_prefix
from trading.binance.signing import Signer
from trading.engine.feeds.binance_decode import EventWriter
from trading.engine.gateway.eager_send import frame_route, send_now, send_text_now, writable_now
from trading.engine.gateway.order_records import order_commands
from trading.engine.gateway.order_wire import DECLINED, OrderWire
from trading.engine.gateway.reports import ExecutionReports, Ignored
from trading.engine.gateway.requests import FUTURES_MARKETS, MS, ORDER_TYPES, RequestBuilder
from trading.engine.gateway.results import AccountStatus, ResultParser, VenueOrder, VenueTrade
from trading.engine.gateway.stats import GatewayStats
from trading.engine.venue_types import WS_OPTIONS, Backoff, FeedInstrument, check_instruments, close_normally
from trading.marketdata.reject import Reject

_CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, WebSocketException)
# Reports remembered to recognise duplicates, and submit times kept for latency samples.
RECENT_REPORTS = 65_536
PENDING_TIMES = 65_536
LOCAL_MALFORMED = errors.MANDATORY_PARAM_EMPTY_OR_MALFORMED

EventsCallback = Callable[[np.ndarray], None]
StateCallback = Callable[[bool], None]
LatencyCallback = Callable[[str, int], None]
PendingOrder = tuple[int, int, int, int]  # (record kind, client id, instrument, submit ns)


class GatewayDisconnected(ConnectionError):
    """The gateway has no usable connection to the venue."""


class VenueError(Exception):
    """An error response of the WebSocket API."""

    def __init__(self, status: object, code: object, message: object):
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"venue error {code} (status {status}): {message}")


def _bounded_put(table: OrderedDict, key, value, limit: int) -> None:
    table[key] = value
    if len(table) > limit:
        table.popitem(last=False)


class BinanceOrderGateway:
    """Order entry for `instruments` on a Binance-protocol WebSocket API (`api_url`).

    prefix: client order ids are `<prefix>-<engine client id>`; reports of other ids are ignored.
    on_events(array): execution reports and rejects as MarketEvent arrays (valid during the call).
    on_state(connected): the gateway became ready (logged on, subscribed) or lost its connection.
    on_latency(stage, ns): "send" (one request built, signed and written), "place_response",
    "cancel_response" (submit -> venue answer), "ack" (submit -> NEW report), "cancel_ack"
    (cancel submit -> CANCELED report).
    """

    def __init__(
        self,
        api_url: str,
        api_key: str,
        signer: Signer,
        *,
        prefix: str,
        instruments: list[FeedInstrument],
        on_events: EventsCallback,
        on_state: StateCallback | None = None,
        clock: Callable[[], int] = time.time_ns,
        recv_window_ms: int = 5000,
        use_session_logon: bool = False,
        on_latency: LatencyCallback | None = None,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        request_timeout_s: float = 10.0,
        seed: int = 0,
    ):
        self.api_url = api_url
        self.prefix = check_prefix(prefix)
        self.instruments = check_instruments(instruments)
        self.use_session_logon = use_session_logon
        self.request_timeout_s = request_timeout_s
        self.stats = GatewayStats()
        self.first_sent_ns = 0  # clock() right after the first request of the last submit() was written
        self._by_index = {item.index: item for item in self.instruments}
        self._by_symbol = {item.symbol: item for item in self.instruments}
        self._builder = RequestBuilder(
            api_key,
            signer,
            prefix=prefix,
            recv_window_ms=recv_window_ms,
            clock=clock,
            instruments=self.instruments,
        )
        self._wire = _order_wire(api_key, signer, prefix, recv_window_ms, self.instruments)
        # while the connection takes frames built by the compiled path: the socket to write them to
        # (plain TCP), or None (TLS: through the transport)
        self._wire_frames = False
        self._wire_socket = None
        self._reports = ExecutionReports(prefix, self.instruments)
        self._results = ResultParser(prefix, self.instruments)
        self._on_events = on_events
        self._on_state = on_state
        self._on_latency = on_latency
        self._clock = clock
        self._backoff = Backoff(backoff_initial_s, backoff_max_s, seed=seed)
        self._writer = EventWriter(16)
        self._connection = None  # the open connection, ready or not
        self._ws = None  # the connection, once logged on and subscribed
        self._next_id = 1
        self._orders: dict[int, PendingOrder] = {}  # request id -> order request awaiting its answer
        self._calls: dict[int, asyncio.Future] = {}  # request id -> answer of an awaited request
        self._order_sent_ns: OrderedDict[int, int] = OrderedDict()
        self._cancel_sent_ns: OrderedDict[int, int] = OrderedDict()
        self._acked_ns: OrderedDict[int, int] = OrderedDict()  # acked, not yet filled: for ack -> fill
        self._recent_reports: OrderedDict[tuple, None] = OrderedDict()
        self._stopped: asyncio.Event | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def connected(self) -> bool:
        """Logged on (if configured), subscribed to the user data stream and open."""
        ws = self._ws
        return ws is not None and ws.state is State.OPEN

    async def run(self) -> None:
        """Connect, log on, subscribe and read until stop(); reconnects on its own."""
        self._stopped = asyncio.Event()
        loop_task = asyncio.create_task(self._connection_loop(), name="gateway")
        stop_waiter = asyncio.create_task(self._stopped.wait())
        try:
            done, _ = await asyncio.wait([stop_waiter, loop_task], return_when=asyncio.FIRST_COMPLETED)
            if loop_task in done and loop_task.exception() is not None:
                raise loop_task.exception()
        finally:
            await close_normally([self._connection])
            for task in (stop_waiter, loop_task):
                task.cancel()
            await asyncio.gather(stop_waiter, loop_task, return_exceptions=True)
            self._lost()

    def stop(self) -> None:
        if self._stopped is not None:
            self._stopped.set()

    async def _connection_loop(self) -> None:
        while True:
            try:
                async with connect(self.api_url, **WS_OPTIONS) as ws:
                    self._connection = ws
                    reader = asyncio.create_task(self._read(ws))
                    try:
                        await self._handshake(ws)
                        self._ready(ws)
                        await reader
                    finally:
                        reader.cancel()
                        await asyncio.gather(reader, return_exceptions=True)
            except _CONNECTION_ERRORS:  # includes GatewayDisconnected (a ConnectionError)
                pass
            except VenueError as exc:  # session.logon or the subscription refused
                self.stats.bad[f"handshake_error_{exc.code}"] += 1
            finally:
                self._connection = None
                self._lost()
            await asyncio.sleep(self._backoff.next_delay())

    async def _read(self, ws) -> None:
        on_frame = self._on_frame
        try:
            async for frame in ws:
                on_frame(frame)
        finally:
            self._fail_calls()  # nobody will answer them on this connection

    async def _handshake(self, ws) -> None:
        self._builder.session_authenticated = False
        if self.use_session_logon:
            request_id = self._new_id()
            text, _ = self._builder.session_logon(request_id)
            await self._call(ws, request_id, text)
            self._builder.session_authenticated = True
        request_id = self._new_id()
        if self.use_session_logon:
            text = RequestBuilder.text(request_id, "userDataStream.subscribe")
        else:  # no session: the signed variant (current Binance WebSocket API)
            text, _ = self._builder.signed(request_id, "userDataStream.subscribe.signature")
        await self._call(ws, request_id, text)

    def _ready(self, ws) -> None:
        self._ws = ws
        if self._wire is not None:
            self._wire_frames, self._wire_socket = frame_route(ws)
        self.stats.connects += 1
        self._backoff.reset()
        if self._on_state is not None:
            self._on_state(True)

    def _fail_calls(self) -> None:
        for future in self._calls.values():
            if not future.done():
                future.set_exception(GatewayDisconnected("connection lost"))
        self._calls.clear()

    def _lost(self) -> None:
        """The connection is gone: calls fail, in-flight orders become unknown outcomes."""
        self._fail_calls()
        if self._orders:
            self.stats.unknown_outcome += len(self._orders)
            self._orders.clear()
        self._wire_frames, self._wire_socket = False, None
        if self._ws is not None:
            self._ws = None
            if not (self._stopped is not None and self._stopped.is_set()):
                self.stats.disconnects += 1  # a stop() is not a connection loss
            if self._on_state is not None:
                self._on_state(False)

    def _new_id(self) -> int:
        request_id = self._next_id
        self._next_id += 1
        return request_id

    # ------------------------------------------------------------------ order entry (latency path)

    def submit(self, records: np.ndarray) -> int:
        """Send the order commands among `records` (JOURNAL_RECORD_DTYPE) now; the number sent.

        Synchronous and never raising for venue reasons: what cannot be sent is rejected locally."""
        commands = order_commands(records)
        if not commands:
            return 0
        self.first_sent_ns = 0
        ws = self._ws
        usable = ws is not None and ws.state is State.OPEN
        clock = self._clock
        builder = self._builder
        stats = self.stats
        sent = 0
        refused: list[tuple[int, int, int, int]] = []
        wire = self._wire
        wire_frames, wire_socket = self._wire_frames, self._wire_socket
        signed = not builder.session_authenticated
        for kind, client_id, index, price, qty, flags, order_type, tif in commands:
            instrument = self._by_index.get(index)
            if not usable or instrument is None:
                refused.append(
                    (kind, client_id, index, errors.DISCONNECTED if instrument else errors.BAD_SYMBOL)
                )
                continue
            started = clock()
            request_id = self._next_id
            self._next_id += 1
            # the compiled path builds, signs, frames and writes in one call (order_wire); it
            # declines what it cannot write exactly, and the Python path below does it instead
            rest = DECLINED
            data = None
            ts_ms = started // MS
            # the compiled path now? It writes to the socket itself (fd >= 0) or, under TLS, hands
            # the frame to the transport (fd -1); a closed socket (fileno -1) takes the Python path
            compiled = wire_frames and writable_now(ws)
            fd = wire_socket.fileno() if compiled and wire_socket is not None else -1
            compiled = compiled and (fd >= 0 or wire_socket is None)
            try:
                if kind == REC_ORDER_SENT:
                    side = SELL if flags & F_SELL else BUY
                    reduce_only = bool(flags & F_REDUCE_ONLY)
                    order = (client_id, side, order_type, tif, price, qty, reduce_only)
                    if compiled:
                        rest = wire.send_place(fd, request_id, index, *order, ts_ms, signed)
                    if rest is DECLINED:
                        data, _ = builder.order_place(request_id, instrument, *order)
                else:
                    if compiled:
                        rest = wire.send_cancel(fd, request_id, index, client_id, ts_ms, signed)
                    if rest is DECLINED:
                        data, _ = builder.order_cancel(request_id, instrument, client_id)
            except (ValueError, TypeError, OverflowError):
                refused.append((kind, client_id, index, LOCAL_MALFORMED))
                continue
            if data is not None:  # the Python path: framed by websockets
                if not send_text_now(ws, data) and not send_now(
                    ws.send(data, text=True), self._on_send_error
                ):
                    stats.deferred_sends += 1  # written, but the socket buffer is full: backpressure
            elif rest is not None:
                # under TLS a whole frame, which the transport encrypts and sends; on plain TCP
                # what the socket did not take (buffer full, or an error the transport meets too)
                ws.transport.write(rest)
                if fd >= 0:
                    if wire.send_errno:
                        stats.send_errors += 1
                    else:
                        stats.deferred_sends += 1
            done = clock()
            if not sent:
                self.first_sent_ns = done  # tick-to-order ends when the first request is out
            sent += 1
            if data is None:
                stats.compiled_sends += 1
            self._orders[request_id] = (kind, client_id, index, started)
            if kind == REC_ORDER_SENT:
                stats.sent_orders += 1
                _bounded_put(self._order_sent_ns, client_id, started, PENDING_TIMES)
            else:
                stats.sent_cancels += 1
                _bounded_put(self._cancel_sent_ns, client_id, started, PENDING_TIMES)
            self._latency("send", done - started)
        if refused:
            self._reject_locally(refused)
        return sent

    def _on_send_error(self, exc: BaseException) -> None:
        self.stats.send_errors += 1

    def _reject_locally(self, refused: list[tuple[int, int, int, int]]) -> None:
        now = self._clock()
        events = np.zeros(len(refused), dtype=MARKET_EVENT_DTYPE)
        for k, (kind, client_id, index, code) in enumerate(refused):
            event_kind = EV_ORDER_REJECT if kind == REC_ORDER_SENT else EV_CANCEL_REJECT
            events[k] = (now, now, 0, 0, 0, code, client_id, event_kind, 0, index, 0)
        self.stats.local_rejects += len(refused)
        try:
            asyncio.get_running_loop().call_soon(self._on_events, events)
        except RuntimeError:  # no loop (a synchronous caller): deliver now
            self._on_events(events)

    def _latency(self, stage: str, ns: int) -> None:
        self.stats.latency.append((stage, ns))
        if self._on_latency is not None:
            self._on_latency(stage, ns)

    # ------------------------------------------------------------------ incoming frames

    def _on_frame(self, frame: str | bytes) -> None:
        ts_local = self._clock()
        stats = self.stats
        if type(frame) is not str:
            stats.bad["binary_frame"] += 1
            return
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            stats.bad["bad_json"] += 1
            return
        if type(message) is not dict:
            stats.bad["not_an_object"] += 1
            return
        event = message.get("event")
        if event is not None or "e" in message:
            # WS API framing {"event": {...}} (optionally with subscriptionId); a bare payload is
            # what a listen-key stream would send and is accepted the same way
            payload = event if event is not None else message
            if type(payload) is not dict:
                stats.bad["event_malformed"] += 1
                return
            self._on_user_event(payload, ts_local)
            return
        request_id = message.get("id")
        if type(request_id) is int:
            pending = self._orders.pop(request_id, None)
            if pending is not None:
                self._on_order_response(pending, message, ts_local)
                return
            future = self._calls.pop(request_id, None)
            if future is not None:
                if not future.done():
                    future.set_result(message)
                return
        error = message.get("error")
        if request_id is None and type(error) is dict:
            stats.bad[f"error_without_id_{error.get('code')}"] += 1  # e.g. a revoked session (-2015)
        else:
            stats.bad["unknown_response"] += 1

    def _on_order_response(self, pending: PendingOrder, message: dict, ts_local: int) -> None:
        kind, client_id, index, sent_ns = pending
        status = message.get("status")
        is_order = kind == REC_ORDER_SENT
        if status == 200:
            self._latency("place_response" if is_order else "cancel_response", ts_local - sent_ns)
            return
        error = message.get("error")
        code = error.get("code") if type(error) is dict else None
        if type(code) is not int:
            code = errors.UNKNOWN
        if type(status) is int and 400 <= status < 500:
            if is_order:
                self.stats.rejected[code] += 1
                self._order_sent_ns.pop(client_id, None)
            else:
                self.stats.cancel_rejected[code] += 1
                self._cancel_sent_ns.pop(client_id, None)
            self._emit(EV_ORDER_REJECT if is_order else EV_CANCEL_REJECT, 0, ts_local, ts_local, 0, 0, 0, code,
                       client_id, index)  # fmt: skip
        else:
            self.stats.unknown_outcome += 1  # 5xx: "execution status unknown" (web-socket-api.md)

    def _on_user_event(self, event: dict, ts_local: int) -> None:
        stats = self.stats
        event_type = event.get("e")
        if event_type != "executionReport":
            if event_type == "eventStreamTerminated" and self._ws is not None:
                # the venue ended the subscription: reconnect, which subscribes again
                asyncio.ensure_future(self._ws.close())
            stats.skipped[f"event_{str(event_type)[:32]}"] += 1
            return
        try:
            report = self._reports.decode(event)
        except Ignored as exc:
            if exc.args[0] == "foreign_client_id":
                stats.foreign_ids += 1
            else:
                stats.skipped[exc.args[0]] += 1
            return
        except Reject as exc:
            stats.bad[exc.args[0]] += 1
            return
        key = (report.order_id, report.kind, report.venue_seq)
        if key in self._recent_reports:
            stats.duplicates += 1
        else:
            _bounded_put(self._recent_reports, key, None, RECENT_REPORTS)
        kind = report.kind
        if kind == EV_ORDER_ACK:
            stats.acked += 1
            sent = self._order_sent_ns.pop(report.order_id, None)
            if sent is not None:
                self._latency("ack", ts_local - sent)
            _bounded_put(self._acked_ns, report.order_id, ts_local, PENDING_TIMES)
        elif kind == EV_ORDER_FILL:
            stats.fills += 1
            acked = self._acked_ns.pop(report.order_id, None)  # the first fill only
            if acked is not None:
                self._latency("fill", ts_local - acked)
            if report.note is not None:
                stats.fee_notes[report.note] += 1
        elif kind == EV_ORDER_CANCELED:
            stats.canceled += 1
            self._acked_ns.pop(report.order_id, None)
            sent = self._cancel_sent_ns.pop(report.order_id, None)
            if sent is not None:
                self._latency("cancel_ack", ts_local - sent)
        elif kind == EV_ORDER_EXPIRED:
            stats.expired += 1
        else:
            stats.rejected[report.aux] += 1
            self._order_sent_ns.pop(report.order_id, None)
        self._emit(kind, report.flags, report.ts_event, ts_local, report.price, report.qty, report.venue_seq,
                   report.aux, report.order_id, report.instrument)  # fmt: skip

    def _emit(
        self, kind, flags, ts_event, ts_local, price, qty, venue_seq, aux, order_id, instrument
    ) -> None:
        writer = self._writer
        writer.reset()
        writer.add(kind, flags, ts_event, ts_local, price, qty, venue_seq, aux, order_id, instrument)
        self._on_events(writer.view())

    # ------------------------------------------------------------------ awaited requests (reconciliation)

    async def _call(self, ws, request_id: int, text: str) -> object:
        """Send one request and wait for its answer: the result, or VenueError."""
        future = asyncio.get_running_loop().create_future()
        self._calls[request_id] = future
        try:
            await ws.send(text)
            async with asyncio.timeout(self.request_timeout_s):
                message = await future
        finally:
            self._calls.pop(request_id, None)
        if message.get("status") != 200:
            error = message.get("error") if type(message.get("error")) is dict else {}
            raise VenueError(message.get("status"), error.get("code"), error.get("msg"))
        return message.get("result")

    async def _signed_call(self, method: str, params: dict | None = None) -> object:
        ws = self._ws
        if ws is None or ws.state is not State.OPEN:
            raise GatewayDisconnected("not connected to the venue")
        request_id = self._new_id()
        text, _ = self._builder.signed(request_id, method, params)
        return await self._call(ws, request_id, text)

    def _symbol(self, symbol: str) -> str:
        if symbol.upper() not in self._by_symbol:
            raise ValueError(f"{symbol!r} is not an instrument of this gateway")
        return symbol.upper()

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        """openOrders.status: the account's open orders (of one symbol, or all)."""
        params = {"symbol": self._symbol(symbol)} if symbol else {}
        return self._results.orders(await self._signed_call("openOrders.status", params))

    async def order_status(
        self, symbol: str, client_id: int | None = None, venue_order_id: int | None = None
    ) -> VenueOrder:
        """order.status of one order, by our client id or the venue's order id."""
        params: dict = {"symbol": self._symbol(symbol)}
        if venue_order_id is not None:
            params["orderId"] = venue_order_id
        elif client_id is not None:
            params["origClientOrderId"] = f"{self.prefix}-{client_id}"
        else:
            raise ValueError("client_id or venue_order_id")
        return self._results.order(await self._signed_call("order.status", params))

    async def my_trades(
        self, symbol: str, from_id: int | None = None, start_time_ms: int | None = None
    ) -> list[VenueTrade]:
        """myTrades: the account's trades of one symbol (from a trade id, or since a time)."""
        params: dict = {"symbol": self._symbol(symbol)}
        if from_id is not None:
            params["fromId"] = from_id
        if start_time_ms is not None:
            params["startTime"] = start_time_ms
        return self._results.trades(await self._signed_call("myTrades", params))

    async def account_status(self) -> AccountStatus:
        return self._results.account(await self._signed_call("account.status"))

    async def cancel_all(self, symbol: str) -> list[VenueOrder]:
        """openOrders.cancelAll of one symbol: the orders cancelled."""
        return self._results.orders(
            await self._signed_call("openOrders.cancelAll", {"symbol": self._symbol(symbol)})
        )


def _order_wire(
    api_key: str, signer: Signer, prefix: str, recv_window_ms: int, instruments: list[FeedInstrument]
) -> OrderWire | None:
    """The compiled order path for this account, with every instrument it can write exactly; None
    if it can write nothing here (an API key or prefix it does not write): the Python path then
    sends everything. Signing needs an HMAC secret (`hmac_secret()` of the HMAC signers); with
    another key type only the unsigned requests of a logged-on session go through it."""
    try:
        secret = signer.hmac_secret() if hasattr(signer, "hmac_secret") else None
        wire = OrderWire(api_key, secret, prefix, recv_window_ms, ORDER_TYPES)
    except (ValueError, TypeError):
        return None
    for item in instruments:
        (price_digits, price_step), (qty_digits, qty_step) = item.spec.decimal_scales()
        try:
            wire.add_instrument(
                item.index,
                item.symbol,
                price_digits,
                price_step,
                qty_digits,
                qty_step,
                item.spec.market in FUTURES_MARKETS,
            )
        except (ValueError, TypeError, OverflowError):
            continue  # this instrument's requests take the Python path
    return wire
