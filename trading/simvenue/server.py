"""SimVenueServer: the simulated venue on a WebSocket server (websockets asyncio API).

    server = SimVenueServer(config)
    host, port = await server.start()      # port 0 picks a free port
    ...                                    # ws://host:port/stream?streams=btcusdt@trade/...
    await server.stop()                    # ws://host:port/ws-api/v3

Paths:
  /stream?streams=a/b/c   combined market-data streams (an unknown stream: close 1008 + reason)
  /ws-api/v3              WebSocket API (`?returnRateLimits=false` hides rateLimits by default)
  /api/v3/depth ...       plain HTTP GET of the public REST market data (rest.py)
Anything else is refused (HTTP 404 before the handshake).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from trading.instruments import InstrumentRegistry
from trading.simvenue.api import ApiSession
from trading.simvenue.config import SimVenueConfig
from trading.simvenue.core import VenueCore
from trading.simvenue.hub import CLOSE_POLICY, Outbox
from trading.simvenue.ratelimit import FixedWindow
from trading.simvenue.rest import ENDPOINTS, rest_response
from trading.simvenue.stream_session import StreamRequestError, StreamSession, parse_stream_list

log = logging.getLogger(__name__)

STREAM_PATH = "/stream"
API_PATH = "/ws-api/v3"
PING_INTERVAL_S = 20  # Binance pings every 20 s and drops a client that does not answer in a minute
PING_TIMEOUT_S = 60
CLOSE_TIMEOUT_S = 2  # a client that does not read stops holding its connection after this
STREAM_CONTROL_PER_SECOND = 10  # Binance: 5 incoming messages per second on market-data connections


class SimVenueServer:
    def __init__(self, config: SimVenueConfig, registry: InstrumentRegistry | None = None):
        self.config = config
        self.core = VenueCore(config, registry)
        self._server: Server | None = None
        self._replay_task: asyncio.Task | None = None
        self._stopped: asyncio.Event | None = None
        self._connections = 0
        self.address: tuple[str, int] | None = None

    @property
    def replay(self):
        return self.core.replay

    def stats(self) -> dict:
        return {**self.core.stats(), "connections": self._connections}

    async def start(self) -> tuple[str, int]:
        """Listen and start the replay (unless paused); returns the bound (host, port)."""
        if self._server is not None:
            raise RuntimeError("the server is already started")
        self._stopped = asyncio.Event()
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            max_size=self.config.max_frame_bytes,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
            close_timeout=CLOSE_TIMEOUT_S,
            compression=None,
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = (host, port)
        replay = self.core.replay
        if self.config.rebase_time:
            first = replay.first_ts()
            if first is not None:
                replay.set_time_base(self.core.clock.now_ms() - first // 1_000_000)
        if not self.config.paused:
            self.start_replay()
        log.info("simulated venue listening on ws://%s:%d (%s)", host, port, ", ".join(self.core.streams))
        return host, port

    def start_replay(self) -> None:
        """Start the paced replay (start() does it unless the config says paused)."""
        if self._server is None:
            raise RuntimeError("start the server first")
        if self._replay_task is None:
            self._replay_task = asyncio.get_running_loop().create_task(
                self.core.replay.run(), name="simvenue-replay"
            )

    async def stop(self) -> None:
        """Stop the replay, close every connection (1001) and the listening socket."""
        if self._replay_task is not None:
            self._replay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replay_task
            self._replay_task = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._stopped is not None:
            self._stopped.set()

    async def serve_forever(self) -> None:
        """Start (if needed) and run until stop() is called."""
        if self._server is None:
            await self.start()
        assert self._stopped is not None
        await self._stopped.wait()

    # -- HTTP --

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        if parts.path in ENDPOINTS and "upgrade" not in request.headers.get("Connection", "").lower():
            return rest_response(self.core, parts.path, parts.query, _client_ip(connection))
        if parts.path not in (STREAM_PATH, API_PATH):
            return connection.respond(
                http.HTTPStatus.NOT_FOUND, f"Unknown path; use {STREAM_PATH}?streams=... or {API_PATH}\n"
            )
        if self._connections >= self.config.max_connections:
            return connection.respond(http.HTTPStatus.TOO_MANY_REQUESTS, "Too many connections.\n")
        return None

    # -- WebSocket --

    async def _handle(self, connection: ServerConnection) -> None:
        self._connections += 1
        try:
            parts = urlsplit(connection.request.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            if parts.path == STREAM_PATH:
                await self._serve_streams(connection, query)
            else:
                await self._serve_api(connection, query)
        except ConnectionClosed:
            pass
        finally:
            self._connections -= 1

    def _outbox(self, connection: ServerConnection, what: str) -> Outbox:
        label = f"{what} client {_client_ip(connection)}:{connection.remote_address[1] if connection.remote_address else '?'}"
        return Outbox(connection, self.config.subscriber_queue, label, self.core.drops)

    async def _serve_streams(self, connection: ServerConnection, query: dict[str, list[str]]) -> None:
        values = query.get("streams", [])
        try:
            if len(values) != 1:
                raise StreamRequestError("Invalid request: give one streams= parameter (streams=a/b/c)")
            streams = parse_stream_list(values[0].split("/"), self.core.streams)
        except StreamRequestError as exc:
            available = "/".join(self.core.streams)
            reason = f"{exc}; available: {available}"
            await connection.close(CLOSE_POLICY, reason if len(reason.encode()) <= 123 else str(exc)[:123])
            return
        outbox = self._outbox(connection, "stream")
        session = StreamSession(self.core.hub, outbox, self.core.streams, streams)
        writer = asyncio.get_running_loop().create_task(outbox.run())
        control = FixedWindow("MESSAGES", STREAM_CONTROL_PER_SECOND, 1)
        try:
            async for frame in connection:
                now_ms = self.core.clock.now_ms()
                if not control.fits(1, now_ms):
                    await connection.close(CLOSE_POLICY, "Too many messages; at most 10 per second")
                    break
                control.add(1, now_ms)
                outbox.offer(session.handle(frame))
        finally:
            session.close()
            await _finish(writer)

    async def _serve_api(self, connection: ServerConnection, query: dict[str, list[str]]) -> None:
        show_limits = query.get("returnRateLimits", ["true"])[-1].lower() != "false"
        outbox = self._outbox(connection, "API")
        session = ApiSession(self.core, outbox, _client_ip(connection), show_limits)
        writer = asyncio.get_running_loop().create_task(outbox.run())
        try:
            async for frame in connection:
                # a client that does not read its responses stops being read (bounded memory)
                if outbox.congested and not await outbox.wait_for_room(self.config.slow_subscriber_seconds):
                    break
                outbox.offer(session.handle(frame))
                self.core.route_events()
        finally:
            session.close()
            await _finish(writer)


def _report_replay_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the replay stopped on an error", exc_info=task.exception())


async def _finish(writer: asyncio.Task) -> None:
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer


def _client_ip(connection: ServerConnection) -> str:
    address = connection.remote_address
    return str(address[0]) if address else "?"
