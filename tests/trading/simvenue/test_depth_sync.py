"""A client that manages a local order book the way Binance documents ends with the venue's book."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson
import pytest

from tests.trading.simvenue.helpers import ApiClient, config, connect_streams, running, write_slice
from trading.simvenue.config import MAX_SPEED


class LocalBook:
    """web-socket-streams.md "How to manage a local order book correctly", spot rules."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last_update_id = 0
        self.synced = False
        self.applied = 0

    def load(self, snapshot: dict) -> None:
        self.bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"]}
        self.asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"]}
        self.last_update_id = snapshot["lastUpdateId"]
        self.synced = False

    def apply(self, event: dict) -> None:
        if event["u"] <= self.last_update_id:
            return  # step 4: already in the snapshot
        if not self.synced:
            # step 5: the first processed event straddles lastUpdateId + 1
            assert event["U"] <= self.last_update_id + 1 <= event["u"], (event["U"], self.last_update_id)
            self.synced = True
        else:
            assert event["U"] == self.last_update_id + 1  # step 6: no gap
        for side, levels in ((self.bids, event["b"]), (self.asks, event["a"])):
            for price, qty in levels:
                if Decimal(qty) == 0:
                    side.pop(Decimal(price), None)  # step 8 (absent levels are normal, step 9)
                else:
                    side[Decimal(price)] = Decimal(qty)  # step 7: absolute quantities
        self.last_update_id = event["u"]
        self.applied += 1

    def top(self, n: int) -> tuple[list, list]:
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks


def as_levels(levels: list) -> list:
    return [(Decimal(p), Decimal(q)) for p, q in levels]


@pytest.mark.asyncio
async def test_documented_depth_sync_against_the_venue_ends_with_the_venues_book(slice_dir, btc_day):
    capture = write_slice(slice_dir, btc_day, 20_000)
    async with (
        running(config((capture,), speed=MAX_SPEED, loop=False, paused=True)) as (server, base),
        connect_streams(base, "btcusdt@depth@100ms") as stream,
        ApiClient.connect(base) as api,
    ):
        server.start_replay()
        buffered = [orjson.loads(await asyncio.wait_for(stream.recv(), 5))["data"]]  # steps 1-2
        book = LocalBook()
        while True:  # step 3, repeated while the snapshot is older than the first buffered event
            snapshot = (await api.call("depth", {"symbol": "BTCUSDT", "limit": 5000}))["result"]
            if snapshot["lastUpdateId"] >= buffered[0]["U"]:
                break
            await asyncio.sleep(0.01)
        book.load(snapshot)
        received = len(buffered)
        for event in buffered:
            book.apply(event)
        while True:
            if server.replay.done.is_set() and received == server.core.hub.messages_sent:
                break
            message = orjson.loads(await asyncio.wait_for(stream.recv(), 5))
            received += 1
            book.apply(message["data"])
        final = (await api.call("depth", {"symbol": "BTCUSDT", "limit": 20}))["result"]
    bids, asks = book.top(20)
    assert book.last_update_id == final["lastUpdateId"] == server.core.books[0].last_update_id
    assert bids == as_levels(final["bids"]) and asks == as_levels(final["asks"])
    assert len(bids) == len(asks) == 20
    # the snapshot was taken mid-replay: the client really followed the stream afterwards
    assert snapshot["lastUpdateId"] < final["lastUpdateId"]
    assert book.applied > 100


@pytest.mark.asyncio
async def test_depth_snapshot_format_and_limits(btc_head):
    async with (
        running(config((btc_head,), paused=True)) as (server, base),
        ApiClient.connect(base) as api,
    ):
        before = await api.call("depth", {"symbol": "BTCUSDT", "limit": 5})
        server.replay.advance(8)  # the recording's snapshot is line 8
        after = await api.call("depth", {"symbol": "BTCUSDT", "limit": 5})
        default = await api.call("depth", {"symbol": "BTCUSDT"})
        too_deep = await api.call("depth", {"symbol": "BTCUSDT", "limit": 5001})
        unknown = await api.call("depth", {"symbol": "ETHUSDT"})
    assert before["result"] == {"lastUpdateId": 0, "bids": [], "asks": []}
    result = after["result"]
    # the recording's snapshot (50093239218) bridged by the buffered diff U=...208 u=...224
    assert result["lastUpdateId"] == 50093239224
    assert result["bids"][0] == ["61837.63000000", "3.78826000"]
    assert result["asks"][0] == ["61837.64000000", "1.60520000"]
    assert len(result["bids"]) == len(result["asks"]) == 5
    assert len(default["result"]["bids"]) == 100
    assert after["rateLimits"] == [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": 6000,
            "count": 10,
        }
    ]
    assert too_deep["error"]["code"] == -1100 and "limit" in too_deep["error"]["msg"]
    assert unknown["status"] == 400 and unknown["error"] == {"code": -1121, "msg": "Invalid symbol."}


@pytest.mark.asyncio
async def test_rest_depth_endpoint_serves_the_same_book(btc_head):
    import http.client

    async with running(config((btc_head,), paused=True)) as (server, base):
        server.replay.advance(50)
        async with ApiClient.connect(base) as api:
            ws_depth = (await api.call("depth", {"symbol": "BTCUSDT", "limit": 10}))["result"]
        host, port = server.address

        def get(path: str) -> tuple[int, dict]:
            connection = http.client.HTTPConnection(host, port, timeout=5)
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, orjson.loads(response.read())

        status, rest_depth = await asyncio.to_thread(get, "/api/v3/depth?symbol=BTCUSDT&limit=10")
        bad_status, bad = await asyncio.to_thread(get, "/api/v3/depth?symbol=NOPE")
    assert status == 200 and rest_depth == ws_depth
    assert bad_status == 400 and bad["code"] == -1121
