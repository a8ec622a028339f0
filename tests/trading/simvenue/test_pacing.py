"""The replay keeps the recording's pace: at 1x a 200 ms gap takes about 200 ms, at Nx 1/N of it."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.trading.simvenue.helpers import config, connect_streams, running, write_slice

STREAMS = "btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker"
GAP_LINE = 9101  # BTCUSDT 2024-08-08: 200.8 ms pass between this line and the next


def receive_times(path) -> list[int]:
    return [int(line.split(b" ", 1)[0]) for line in path.read_bytes().splitlines()]


async def arrival_times(capture, speed: float) -> list[float]:
    async with (
        running(config((capture,), speed=speed, loop=False, paused=True)) as (server, base),
        connect_streams(base, STREAMS) as ws,
    ):
        server.start_replay()
        out = []
        for _ in range(len(receive_times(capture))):
            await asyncio.wait_for(ws.recv(), 5)
            out.append(time.monotonic())
    return out


@pytest.mark.asyncio
async def test_recorded_gaps_at_1x_and_4x(slice_dir, btc_day):
    capture = write_slice(slice_dir, btc_day, 24, start=GAP_LINE - 12)
    recorded = receive_times(capture)
    gap_index = 12  # the slice's line 12 is GAP_LINE
    recorded_gap = (recorded[gap_index + 1] - recorded[gap_index]) / 1e9
    recorded_span = (recorded[-1] - recorded[0]) / 1e9
    assert 0.199 < recorded_gap < 0.202 and 0.3 < recorded_span < 1.0

    normal = await arrival_times(capture, 1.0)
    fast = await arrival_times(capture, 4.0)

    gap_1x = normal[gap_index + 1] - normal[gap_index]
    gap_4x = fast[gap_index + 1] - fast[gap_index]
    assert 0.15 <= gap_1x <= 0.40, gap_1x
    assert 0.025 <= gap_4x <= 0.10, gap_4x
    span_1x, span_4x = normal[-1] - normal[0], fast[-1] - fast[0]
    assert 0.8 * recorded_span <= span_1x <= 1.5 * recorded_span
    assert 2.5 <= span_1x / span_4x <= 5.5
