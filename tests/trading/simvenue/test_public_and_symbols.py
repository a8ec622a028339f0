"""Public methods, several symbols at once, fee overrides and re-based event times."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import orjson
import pytest
import websockets

from tests.trading.simvenue.helpers import (
    ApiClient,
    config,
    connect_streams,
    hmac_keys,
    now_ms,
    running,
    write_slice,
)
from trading.simvenue.config import MAX_SPEED, FeeOverride, SimVenueConfig, SymbolFeedConfig

ALL = "btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker/ethusdt@depth@100ms/ethusdt@trade/ethusdt@bookTicker"


def stream_lines(path) -> list[tuple[int, bytes]]:
    out = []
    for line in path.read_bytes().splitlines():
        stamp, _, payload = line.partition(b" ")
        if payload.startswith(b'{"stream"'):
            out.append((int(stamp), payload))
    return out


@pytest.fixture(scope="module")
def eth_head(slice_dir, data_dir):
    return write_slice(slice_dir, data_dir / "hftbacktest/spot/ethusdt_20240808.gz", 3000)


def two_symbols(btc, eth, **options) -> SimVenueConfig:
    return SimVenueConfig(
        feeds=(SymbolFeedConfig("BTCUSDT", (btc,)), SymbolFeedConfig("ETHUSDT", (eth,))),
        port=0,
        api_keys=hmac_keys(),
        **options,
    )


@pytest.mark.asyncio
async def test_two_symbols_are_merged_by_receive_time(btc_head, eth_head):
    btc, eth = stream_lines(btc_head), stream_lines(eth_head)
    async with (
        running(two_symbols(btc_head, eth_head, speed=MAX_SPEED, loop=False, paused=True)) as (
            server,
            base,
        ),
        connect_streams(base, ALL) as ws,
    ):
        server.start_replay()
        frames = [(await asyncio.wait_for(ws.recv(), 5)).encode() for _ in range(len(btc) + len(eth))]
    assert [f for f in frames if f.startswith(b'{"stream":"btcusdt')] == [p for _, p in btc]
    assert [f for f in frames if f.startswith(b'{"stream":"ethusdt')] == [p for _, p in eth]
    stamps = {p: ts for ts, p in btc + eth}
    order = [stamps[f] for f in frames]
    assert order == sorted(order)  # one clock for all symbols


@pytest.mark.asyncio
async def test_ping_time_and_exchange_info(btc_head, eth_head):
    async with (
        running(two_symbols(btc_head, eth_head, paused=True)) as (_, base),
        ApiClient.connect(base) as api,
    ):
        assert (await api.call("ping"))["result"] == {}
        server_time = (await api.call("time"))["result"]["serverTime"]
        assert abs(server_time - now_ms()) < 1000
        info = (await api.call("exchangeInfo"))["result"]
        one = (await api.call("exchangeInfo", {"symbol": "ETHUSDT"}))["result"]
        listed = (await api.call("exchangeInfo", {"symbols": ["ETHUSDT", "BTCUSDT"]}))["result"]
        unknown = await api.call("exchangeInfo", {"symbols": ["BTCUSDT", "XRPUSDT"]})
        versioned = await api.call("v3/ping")
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    btc = info["symbols"][0]
    assert (btc["baseAsset"], btc["quoteAsset"], btc["status"]) == ("BTC", "USDT", "TRADING")
    assert btc["orderTypes"] == ["LIMIT", "LIMIT_MAKER", "MARKET"]
    price_filter, lot_size = btc["filters"]
    assert price_filter["filterType"] == "PRICE_FILTER" and price_filter["tickSize"] == "0.01000000"
    assert lot_size["filterType"] == "LOT_SIZE" and lot_size["stepSize"] == "0.00000100"
    assert info["symbols"][1]["filters"][1]["stepSize"] == "0.00001000"
    assert {
        (r["rateLimitType"], r["interval"], r["intervalNum"], r["limit"]) for r in info["rateLimits"]
    } == {
        ("REQUEST_WEIGHT", "MINUTE", 1, 6000),
        ("ORDERS", "SECOND", 10, 50),
        ("ORDERS", "DAY", 1, 160000),
    }
    assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
    assert [s["symbol"] for s in listed["symbols"]] == ["ETHUSDT", "BTCUSDT"]
    assert unknown["error"]["code"] == -1121
    assert versioned["status"] == 200


@pytest.mark.asyncio
async def test_orders_on_a_second_symbol_and_fee_overrides(btc_head, eth_head):
    fees = {"BTCUSDT": FeeOverride(-100, 700)}
    async with running(two_symbols(btc_head, eth_head, paused=True, fees=fees)) as (server, base):
        server.replay.advance(20)  # both recordings' snapshots (BTC line 8, ETH line 6) are in
        assert [b.state for b in server.core.books] == ["synced", "synced"]
        async with ApiClient.connect(base) as api:
            eth_ask = (await api.call("depth", {"symbol": "ETHUSDT", "limit": 1}))["result"]["asks"][0]
            btc_ask = (await api.call("depth", {"symbol": "BTCUSDT", "limit": 1}))["result"]["asks"][0]
            eth = (
                await api.signed_call(
                    "order.place", {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"}
                )
            )["result"]
            btc = (
                await api.signed_call(
                    "order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
                )
            )["result"]
            account = (await api.signed_call("account.status"))["result"]
    assert Decimal(eth_ask[1]) >= Decimal("0.1") and Decimal(btc_ask[1]) >= Decimal("0.001")
    assert eth["fills"][0]["price"] == eth_ask[0]
    assert Decimal(eth["fills"][0]["commission"]) == Decimal(eth_ask[0]) * Decimal("0.1") * Decimal("0.001")
    assert Decimal(btc["fills"][0]["commission"]) == Decimal(btc_ask[0]) * Decimal("0.001") * Decimal(
        "0.0007"
    )
    assert account["simvenuePositions"] == [
        {"symbol": "BTCUSDT", "position": "0.00100000"},
        {"symbol": "ETHUSDT", "position": "0.10000000"},
    ]


@pytest.mark.asyncio
async def test_rebased_event_times_start_at_the_venue_clock(btc_head):
    async with (
        running(config((btc_head,), rebase_time=True, paused=True, speed=MAX_SPEED)) as (server, base),
        connect_streams(base, "btcusdt@depth@100ms") as ws,
    ):
        server.start_replay()
        first = orjson.loads(await asyncio.wait_for(ws.recv(), 5))["data"]
    recorded_first_event_ms = 1723161255208  # E of the first line, received at 1723161253937 ms
    assert first["U"] == 50093239189  # ids are not shifted, only times
    assert 0 <= first["E"] - now_ms() < 3000 and first["E"] != recorded_first_event_ms


@pytest.mark.asyncio
async def test_rate_limit_information_can_be_hidden(btc_head):
    async with running(config((btc_head,), paused=True)) as (_, base):
        async with ApiClient.connect(base) as shown:
            assert "rateLimits" in await shown.call("ping")
            assert "rateLimits" not in await shown.call("ping", {"returnRateLimits": False})
        async with websockets.connect(f"{base}/ws-api/v3?returnRateLimits=false", close_timeout=1) as ws:
            hidden = ApiClient(ws)
            assert "rateLimits" not in await hidden.call("ping")
            assert "rateLimits" in await hidden.call("ping", {"returnRateLimits": True})
