"""A scripted Binance-like venue for the client tests: real websockets servers on loopback.

`/stream?streams=...` connections receive whatever the test pushes (text or binary frames);
WebSocket API connections (`/ws-api/v3`) queue every request for the test to answer, except the
user-data handshake (session.logon, userDataStream.subscribe), which is accepted by default.
Nothing is mocked: the clients under test open real TCP connections to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict

import numpy as np
import orjson
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from hotpath.types import EV_DEPTH, EV_DEPTH_CLEAR, EV_DEPTH_SNAPSHOT, F_SELL

HANDSHAKE_METHODS = ("session.logon", "userDataStream.subscribe", "userDataStream.subscribe.signature")
WAIT_S = 5.0


class ApiRequest:
    def __init__(self, connection: ServerConnection, message: dict, received_s: float, text: str = ""):
        self.connection = connection
        self.message = message
        self.text = text  # the frame as received
        self.received_s = received_s

    @property
    def id(self):
        return self.message.get("id")

    @property
    def method(self) -> str:
        return self.message.get("method")

    @property
    def params(self) -> dict:
        return self.message.get("params", {})


class ScriptedVenue:
    def __init__(self, ssl_context=None):
        self.ssl_context = ssl_context  # set: the venue speaks wss:// (TLS)
        self.stream_connections: list[ServerConnection] = []
        self.stream_connect_times: list[float] = []
        self.stream_paths: list[str] = []
        self.api_connections: list[ServerConnection] = []
        self.requests: list[ApiRequest] = []  # every WebSocket API request, in arrival order
        self._queues: dict[str, asyncio.Queue] = defaultdict(asyncio.Queue)
        self.handshake_errors: dict[str, dict] = {}  # method -> error object to answer instead of {}
        self.reading = asyncio.Event()  # cleared: the API connection stops reading after the handshake
        self.reading.set()
        self._server = None

    async def start(self) -> ScriptedVenue:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, compression=None, max_size=None, ssl=self.ssl_context
        )
        return self

    async def close(self) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    @property
    def scheme(self) -> str:
        return "wss" if self.ssl_context is not None else "ws"

    @property
    def stream_base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/ws-api/v3"

    async def _handle(self, ws: ServerConnection) -> None:
        path = ws.request.path
        if path.startswith("/stream"):
            self.stream_connections.append(ws)
            self.stream_connect_times.append(time.monotonic())
            self.stream_paths.append(path)
            await ws.wait_closed()
            return
        self.api_connections.append(ws)
        try:
            async for frame in ws:
                await self.reading.wait()
                message = orjson.loads(frame)
                request = ApiRequest(ws, message, time.monotonic(), frame)
                self.requests.append(request)
                method = message.get("method")
                if method in HANDSHAKE_METHODS:
                    error = self.handshake_errors.get(method)
                    if error is None:
                        result = {} if method == "session.logon" else {"subscriptionId": 0}
                        await ws.send(
                            orjson.dumps({"id": message["id"], "status": 200, "result": result}).decode()
                        )
                    else:
                        await ws.send(
                            orjson.dumps({"id": message["id"], "status": 400, "error": error}).decode()
                        )
                    continue
                await self._queues[method].put(request)
        except ConnectionClosed:
            pass

    # -- the test's side --

    async def next_request(self, method: str, timeout: float = WAIT_S) -> ApiRequest:
        return await asyncio.wait_for(self._queues[method].get(), timeout)

    def pending(self, method: str) -> int:
        return self._queues[method].qsize()

    async def reply(self, request: ApiRequest, result=None, *, status: int = 200, error: dict | None = None):
        message = {"id": request.id, "status": status}
        if error is not None:
            message["error"] = error
        else:
            message["result"] = result if result is not None else {}
        await request.connection.send(orjson.dumps(message).decode())

    async def wait_streams(self, count: int, timeout: float = WAIT_S) -> ServerConnection:
        await until(lambda: len(self.stream_connections) >= count, timeout)
        return self.stream_connections[count - 1]

    async def push(self, frame, connection: ServerConnection | None = None) -> None:
        """Send a frame (dict -> JSON text; str as text; bytes as a binary frame) on the stream."""
        connection = connection or self.stream_connections[-1]
        if isinstance(frame, dict):
            frame = orjson.dumps(frame).decode()
        await connection.send(frame)

    async def push_api_event(self, event: dict, connection: ServerConnection | None = None) -> None:
        """A user data event as the WebSocket API frames it."""
        connection = connection or self.api_connections[-1]
        await connection.send(orjson.dumps({"subscriptionId": 0, "event": event}).decode())

    async def drop_streams(self) -> None:
        for connection in self.stream_connections:
            await connection.close()

    async def drop_api(self) -> None:
        for connection in self.api_connections:
            await connection.close()


@contextlib.asynccontextmanager
async def running(client):
    """Run a feed or gateway (its run() coroutine) for the duration of the block."""
    task = asyncio.create_task(client.run())
    try:
        yield client
    finally:
        client.stop()
        await asyncio.wait_for(task, 5)


async def until(condition, timeout: float = WAIT_S, step: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


class Recorder:
    """on_events callback that keeps copies (the feed's arrays are views of a reused buffer)."""

    def __init__(self):
        self.batches: list[np.ndarray] = []

    def __call__(self, events: np.ndarray) -> None:
        self.batches.append(events.copy())

    def records(self) -> list[tuple]:
        return [tuple(r) for batch in self.batches for r in batch.tolist()]

    def kinds(self) -> list[int]:
        return [r[7] for r in self.records()]

    def clear(self) -> None:
        self.batches.clear()

    def __len__(self) -> int:
        return sum(len(b) for b in self.batches)


def book_from(records: list[tuple], instrument: int = 0) -> tuple[dict[int, int], dict[int, int]]:
    """The L2 book (bids, asks: price -> qty) the depth records of one instrument build."""
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for r in records:
        kind, flags, index = r[7], r[8], r[9]
        if index != instrument:
            continue
        if kind == EV_DEPTH_CLEAR:
            bids.clear()
            asks.clear()
        elif kind in (EV_DEPTH, EV_DEPTH_SNAPSHOT):
            side = asks if flags & F_SELL else bids
            if r[3]:
                side[r[2]] = r[3]
            else:
                side.pop(r[2], None)
    return bids, asks


# -- Binance payloads --


def depth_message(
    symbol: str, first: int, final: int, bids=(), asks=(), *, event_ms=1_723_161_255_000, prev=None
):
    data = {"e": "depthUpdate", "E": event_ms, "s": symbol.upper(), "U": first, "u": final}
    if prev is not None:
        data["T"] = event_ms
        data["pu"] = prev
    data["b"] = [list(level) for level in bids]
    data["a"] = [list(level) for level in asks]
    return {"stream": f"{symbol.lower()}@depth@100ms", "data": data}


def trade_message(
    symbol: str, trade_id: int, price: str, qty: str, buyer_maker: bool, trade_ms=1_723_161_255_100
):
    data = {"e": "trade", "E": trade_ms + 1, "s": symbol.upper(), "t": trade_id, "p": price, "q": qty,
            "T": trade_ms, "m": buyer_maker, "M": True}  # fmt: skip
    return {"stream": f"{symbol.lower()}@trade", "data": data}


def book_ticker_message(symbol: str, update_id: int, bid: str, bid_qty: str, ask: str, ask_qty: str):
    data = {"u": update_id, "s": symbol.upper(), "b": bid, "B": bid_qty, "a": ask, "A": ask_qty}
    return {"stream": f"{symbol.lower()}@bookTicker", "data": data}


def snapshot_result(last_id: int, bids, asks, *, event_ms=None) -> dict:
    result = {"lastUpdateId": last_id, "bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}
    if event_ms is not None:
        result["E"] = event_ms
        result["T"] = event_ms
    return result
