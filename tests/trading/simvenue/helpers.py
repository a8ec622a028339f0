"""Test helpers for the simulated venue: capture slices, a running server, an API client."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from trading.binance.signing import Ed25519Signer, HmacSigner, Signer, sign_params
from trading.simvenue.config import ApiKeyConfig, SimVenueConfig, SymbolFeedConfig
from trading.simvenue.server import SimVenueServer

HMAC_KEY, HMAC_SECRET = "hmacKeyA", "secret-a"
OTHER_KEY, OTHER_SECRET = "hmacKeyB", "secret-b"
RECV_TIMEOUT = 5.0


def capture_lines(path: Path, count: int, start: int = 0) -> list[bytes]:
    """Lines [start, start + count) of a real capture file (gzip or plain)."""
    out = []
    with gzip.open(path, "rb") if path.read_bytes()[:2] == b"\x1f\x8b" else path.open("rb") as handle:
        for index, line in enumerate(handle):
            if index >= start + count:
                break
            if index >= start:
                out.append(line.rstrip(b"\n"))
    return out


def write_slice(directory: Path, source: Path, count: int, start: int = 0) -> Path:
    """A plain-text capture holding lines [start, start + count) of `source`, unchanged."""
    path = directory / f"{source.name.split('.')[0]}_{start}_{count}.txt"
    if not path.exists():
        path.write_bytes(b"\n".join(capture_lines(source, count, start)) + b"\n")
    return path


def ed25519_pair() -> tuple[Ed25519Signer, bytes]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return Ed25519Signer(private), public


def hmac_keys() -> tuple[ApiKeyConfig, ...]:
    return (
        ApiKeyConfig(HMAC_KEY, account="alice", hmac_secret=HMAC_SECRET),
        ApiKeyConfig(OTHER_KEY, account="bob", hmac_secret=OTHER_SECRET),
    )


def config(files: tuple[Path, ...], symbol: str = "BTCUSDT", **options) -> SimVenueConfig:
    options.setdefault("port", 0)
    options.setdefault("api_keys", hmac_keys())
    return SimVenueConfig(feeds=(SymbolFeedConfig(symbol, files),), **options)


@contextlib.asynccontextmanager
async def running(venue_config: SimVenueConfig) -> AsyncIterator[tuple[SimVenueServer, str]]:
    server = SimVenueServer(venue_config)
    host, port = await server.start()
    try:
        yield server, f"ws://{host}:{port}"
    finally:
        await server.stop()


def connect_streams(base: str, streams: str, **options):
    """A market-data connection (a short close timeout: a test often leaves data unread)."""
    options.setdefault("close_timeout", 1)
    options.setdefault("max_size", 2**22)
    return websockets.connect(f"{base}/stream?streams={streams}", **options)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ApiClient:
    """A WebSocket API connection: call() matches responses by id; pushed events are queued."""

    def __init__(self, ws, api_key: str = HMAC_KEY, signer: Signer | None = None):
        self.ws = ws
        self.api_key = api_key
        self.signer = signer or HmacSigner(HMAC_SECRET)
        self.events: list[dict] = []
        self._next_id = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, base: str, **kwargs) -> AsyncIterator[ApiClient]:
        async with websockets.connect(f"{base}/ws-api/v3", max_size=2**23, close_timeout=1) as ws:
            yield cls(ws, **kwargs)

    async def _receive(self) -> dict:
        message = orjson.loads(await asyncio.wait_for(self.ws.recv(), RECV_TIMEOUT))
        return message

    async def response(self) -> dict:
        """The next non-event message."""
        while True:
            message = await self._receive()
            if "subscriptionId" in message and "event" in message:
                self.events.append(message)
                continue
            return message

    async def raw(self, frame: str | bytes) -> dict:
        await self.ws.send(frame)
        return await self.response()

    async def call(self, method: str, params: dict | None = None) -> dict:
        self._next_id += 1
        request: dict = {"id": self._next_id, "method": method}
        if params is not None:
            request["params"] = params
        await self.ws.send(orjson.dumps(request).decode())
        response = await self.response()
        assert response["id"] == self._next_id, response
        return response

    def signed(self, params: dict | None = None, **overrides) -> dict:
        out = {**(params or {}), "apiKey": self.api_key, "timestamp": now_ms()}
        out.update(overrides)
        return sign_params(out, self.signer)

    async def signed_call(self, method: str, params: dict | None = None, **overrides) -> dict:
        return await self.call(method, self.signed(params, **overrides))

    async def place(self, **params) -> dict:
        return await self.signed_call("order.place", {"symbol": "BTCUSDT", **params})

    async def subscribe(self) -> int:
        response = await self.signed_call("userDataStream.subscribe.signature")
        assert response["status"] == 200, response
        return response["result"]["subscriptionId"]

    async def event_frame(self) -> dict:
        """The next pushed user-data message: {"subscriptionId": n, "event": {...}}."""
        while not self.events:
            message = await self._receive()
            assert "event" in message, message
            self.events.append(message)
        return self.events.pop(0)

    async def event(self) -> dict:
        """The next pushed user-data event payload."""
        return (await self.event_frame())["event"]

    async def events_for(self, count: int) -> list[dict]:
        return [await self.event() for _ in range(count)]

    async def no_event(self, wait: float = 0.2) -> None:
        """Assert that no event arrives within `wait` seconds (pings answer in between)."""
        assert not self.events, self.events
        with contextlib.suppress(TimeoutError):
            message = orjson.loads(await asyncio.wait_for(self.ws.recv(), wait))
            raise AssertionError(f"unexpected message {message}")
