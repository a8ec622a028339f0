"""The order path's synchronous websocket writes, against real websockets servers on loopback:
the fast path frames and writes a text message in the call itself, and steps aside (returns
False) whenever websockets' own send() would have to wait or refuse, so that the general path
keeps flow control and message order."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from trading.engine.gateway.eager_send import send_now, send_text_now

pytestmark = pytest.mark.asyncio


async def _echo(connection):
    async for message in connection:
        await connection.send(message)


async def test_a_text_message_leaves_in_the_call_and_arrives_intact():
    async with serve(_echo, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            payloads = [
                b'{"id":1,"method":"order.place"}',
                "prix: 61 837,63 € – 注文".encode(),
                b"x" * 70_000,
            ]
            for data in payloads:
                assert send_text_now(ws, data) is True
                # nothing left for the event loop to write: it went out in the call
                assert ws.transport.get_write_buffer_size() == 0 or len(data) > 65_535
                echoed = await asyncio.wait_for(ws.recv(), 5)
                assert echoed == data.decode()  # a text frame, byte for byte


async def test_it_steps_aside_when_the_connection_is_not_open():
    async with serve(_echo, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        ws = await connect(f"ws://127.0.0.1:{port}", compression=None)
        await ws.close()
        assert send_text_now(ws, b"{}") is False


async def test_it_steps_aside_while_data_is_queued_and_order_is_kept():
    """A peer that stops reading: once the transport holds unsent data, the fast path refuses,
    the general path queues behind it, and the peer receives every message in order."""
    release = asyncio.Event()
    received: list[str] = []

    async def slow_reader(connection):
        await release.wait()
        async for message in connection:
            received.append(message)

    async with serve(slow_reader, "127.0.0.1", 0, compression=None, max_size=None, max_queue=1) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None, write_limit=1024) as ws:
            chunk = b"y" * 262_144
            sent_fast = sent_general = 0
            index = 0
            while ws.transport.get_write_buffer_size() == 0 and index < 400:
                data = b"%d:" % index + chunk
                assert send_text_now(ws, data) is True
                sent_fast += 1
                index += 1
            assert ws.transport.get_write_buffer_size() > 0, "the peer never stopped reading"
            for _ in range(3):
                data = b"%d:" % index + chunk
                assert send_text_now(ws, data) is False
                send_now(ws.send(data, text=True), pytest.fail)
                sent_general += 1
                index += 1
            release.set()
            async with asyncio.timeout(30):
                while len(received) < index:
                    await asyncio.sleep(0.01)
            assert [int(message.split(":", 1)[0]) for message in received] == list(range(index))
            assert sent_fast >= 1 and sent_general == 3
