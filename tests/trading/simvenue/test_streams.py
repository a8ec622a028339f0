"""Market data over real websockets: the replayed streams are the recording, byte for byte."""

from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.trading.simvenue.helpers import config, connect_streams, running, write_slice
from trading.simvenue.config import MAX_SPEED

STREAMS = "btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker"


def recorded_messages(path, count=None) -> list[bytes]:
    """The combined-stream JSON texts of a capture slice, in order (the snapshot line excluded)."""
    out = []
    for line in path.read_bytes().splitlines():
        payload = line.partition(b" ")[2]
        if payload.startswith(b'{"stream"'):
            out.append(payload)
    return out[:count]


async def receive(ws, count: int) -> list[str]:
    return [await asyncio.wait_for(ws.recv(), 5) for _ in range(count)]


@pytest.mark.asyncio
async def test_combined_stream_is_the_capture_in_order_at_max_speed(btc_head):
    expected = recorded_messages(btc_head, 2500)
    async with (
        running(config((btc_head,), speed=MAX_SPEED, loop=False, paused=True)) as (server, base),
        connect_streams(base, STREAMS) as ws,
    ):
        server.start_replay()
        frames = await receive(ws, len(expected))
    assert len(expected) == 2500
    assert [f.encode() for f in frames] == expected  # the recorded bytes themselves
    first = orjson.loads(frames[0])
    assert first["stream"] == "btcusdt@depth@100ms"
    assert first["data"]["U"] == 50093239189 and first["data"]["u"] == 50093239202


@pytest.mark.asyncio
async def test_a_subscriber_gets_only_its_streams(btc_head):
    trades = [m for m in recorded_messages(btc_head) if m.startswith(b'{"stream":"btcusdt@trade"')]
    async with (
        running(config((btc_head,), speed=MAX_SPEED, loop=False, paused=True)) as (server, base),
        connect_streams(base, "btcusdt@trade") as ws,
    ):
        server.start_replay()
        frames = await receive(ws, len(trades))
        await asyncio.wait_for(server.replay.done.wait(), 10)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)
    assert len(trades) > 500
    assert [f.encode() for f in frames] == trades


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "query, shown",
    [
        ("streams=btcusdt@kline_1m", "btcusdt@kline_1m"),
        ("streams=ethusdt@trade", "ethusdt@trade"),
        ("streams=BTCUSDT@trade", "BTCUSDT@trade"),
        ("streams=btcusdt@trade/nope", "nope"),
        ("streams=", "no streams"),
        ("", "streams="),
    ],
)
async def test_unknown_streams_are_refused_with_a_reason(btc_head, query, shown):
    async with (
        running(config((btc_head,), paused=True)) as (_, base),
        websockets.connect(f"{base}/stream?{query}", close_timeout=1) as ws,
    ):
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 1008
    assert shown in closed.value.rcvd.reason
    assert "Invalid request" in closed.value.rcvd.reason


@pytest.mark.asyncio
async def test_unknown_path_is_refused(btc_head):
    async with running(config((btc_head,), paused=True)) as (_, base):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{base}/ws/btcusdt@trade"):
                pass
    assert refused.value.response.status_code == 404


@pytest.mark.asyncio
async def test_live_subscribe_unsubscribe_and_bad_control_messages(btc_head):
    trades = [orjson.loads(m) for m in recorded_messages(btc_head) if b"@trade" in m[:30]]
    tickers = [orjson.loads(m) for m in recorded_messages(btc_head) if b"@bookTicker" in m[:30]]
    async with (
        running(config((btc_head,), paused=True)) as (server, base),
        connect_streams(base, "btcusdt@trade") as ws,
    ):
        bad = [
            ("nonsense", 3),
            ("[1, 2]", 2),
            ('{"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 1}', 2),
            ('{"method": "FLY", "params": [], "id": 2}', 2),
            ('{"method": "SUBSCRIBE", "params": "btcusdt@trade", "id": 3}', 2),
            ('{"method": "LIST_SUBSCRIPTIONS", "id": {"x": 1}}', 2),
        ]
        for frame, code in bad:
            await ws.send(frame)
            answer = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert answer["error"]["code"] == code, (frame, answer)
        await ws.send(b"\x00\x01binary")
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5))["error"]["code"] == 3
        await ws.send('{"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 7}')
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5)) == {"result": None, "id": 7}
        await ws.send('{"method": "LIST_SUBSCRIPTIONS", "id": 8}')
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5)) == {
            "result": ["btcusdt@trade", "btcusdt@bookTicker"],
            "id": 8,
        }
        await ws.send('{"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 9}')
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5)) == {"result": None, "id": 9}
        server.replay.advance(400)
        received = [orjson.loads(m) for m in await receive(ws, 5)]
    assert trades  # the trade stream was unsubscribed before the replay: only tickers arrive
    assert received == tickers[:5]


@pytest.mark.asyncio
async def test_a_slow_subscriber_is_dropped_without_holding_up_the_replay(slice_dir, btc_day):
    capture = write_slice(slice_dir, btc_day, 12_000)
    total = len(recorded_messages(capture))
    venue = config(
        (capture,), speed=MAX_SPEED, loop=False, paused=True, subscriber_queue=64, slow_subscriber_seconds=0.3
    )
    async with running(venue) as (server, base):
        # a client that reads nothing, with a tiny receive buffer: the venue's queue for it fills
        stalled_socket = socket.socket()
        stalled_socket.setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
        )  # before connect: sets the window
        stalled_socket.connect(server.address)
        async with (
            connect_streams(base, STREAMS, max_queue=1, sock=stalled_socket),
            connect_streams(base, STREAMS) as reader,
        ):
            server.start_replay()
            frames = [await asyncio.wait_for(reader.recv(), 10) for _ in range(total)]
            await asyncio.wait_for(server.replay.done.wait(), 10)
            stats = server.stats()
    assert stats["connections_dropped_slow"] == 1
    assert stats["stream_subscribers"] == 1  # the reader is still subscribed
    assert stats["symbols"]["BTCUSDT"]["finished"] is True
    assert [f.encode() for f in frames] == recorded_messages(capture)
