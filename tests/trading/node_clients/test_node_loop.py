"""Feed -> real compiled Engine (live mode, no simulated venue) -> gateway -> scripted venue ->
execution reports -> Engine, wired the way the kernel wires them (synchronous callbacks). Duplicate
and out-of-order execution reports reach the engine as they came and are applied once."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hotpath.types import REC_FILL, REC_ORDER_ACKED, REC_ORDER_SENT
from tests.conftest import MM_BENCH_CONFIG
from tests.trading.node_clients.scripted_venue import depth_message, running, snapshot_result, until
from tests.trading.node_clients.test_gateway import execution_report
from trading.backtest.config import build_engine_setup, parse_config
from trading.backtest.runner import build_engine
from trading.binance.signing import HmacSigner
from trading.engine.feeds.binance import BinanceMarketData
from trading.engine.gateway.binance import BinanceOrderGateway


class MiniKernel:
    """What the node kernel does with the clients' callbacks, and nothing else."""

    def __init__(self, engine):
        self.engine = engine
        self.gateway: BinanceOrderGateway | None = None
        self.records: list[np.ndarray] = []

    def on_events(self, events: np.ndarray) -> None:
        self.engine.process(events)
        out = self.engine.drain()
        self.records.append(out)
        if self.gateway is not None:
            self.gateway.submit(out)

    def all_records(self) -> np.ndarray:
        return np.concatenate(self.records) if self.records else np.zeros(0)

    def count(self, kind: int) -> int:
        return int((self.all_records()["kind"] == kind).sum()) if self.records else 0


@pytest.mark.asyncio
async def test_duplicate_and_out_of_order_reports_are_applied_once_by_the_engine(venue, btc):
    setup = build_engine_setup(
        parse_config(MM_BENCH_CONFIG), "mm", btc.spec, latency_us=None, center_price=6_000_000
    )
    kernel = MiniKernel(build_engine(setup, with_sim=False))
    feed = BinanceMarketData(venue.stream_base, venue.api_url, [btc], on_events=kernel.on_events)
    gateway = BinanceOrderGateway(venue.api_url, "key", HmacSigner(b"secret"), prefix="node1", instruments=[btc],
                                  on_events=kernel.on_events)  # fmt: skip
    kernel.gateway = gateway
    async with running(feed), running(gateway):
        await venue.wait_streams(1)
        await until(lambda: gateway.connected)
        event_ms = int(time.time() * 1000)
        await venue.push(depth_message("BTCUSDT", 99, 101, bids=[("59000.00", "1")], event_ms=event_ms))
        snapshot = snapshot_result(100, [("59999.99", "0.05"), ("59999.98", "0.08")],
                                   [("60000.01", "0.05"), ("60000.02", "0.08")])  # fmt: skip
        await venue.reply(await venue.next_request("depth"), snapshot)
        for k in range(5):  # quiet book, time moving on: the market maker quotes both sides
            event_ms += 200
            await venue.push(
                depth_message("BTCUSDT", 102 + k, 102 + k, bids=[("59000.00", str(k + 2))], event_ms=event_ms)
            )
        placed = [await venue.next_request("order.place") for _ in range(2)]
        assert kernel.count(REC_ORDER_SENT) == 2
        bid = next(r.params for r in placed if r.params["side"] == "BUY")
        assert bid["type"] == "LIMIT_MAKER" and bid["quantity"] == "0.001000"
        client_id = bid["newClientOrderId"]
        price = bid["price"]
        reports = [
            execution_report(client_id, "NEW", order_id=1001, side="BUY"),
            execution_report(client_id, "NEW", order_id=1001, side="BUY"),  # duplicate
            execution_report(client_id, "TRADE", status="PARTIALLY_FILLED", last_qty="0.00040000", last_price=price,
                             trade_id=501, fee="0", fee_asset="USDT", maker=True),
            execution_report(client_id, "TRADE", status="PARTIALLY_FILLED", last_qty="0.00020000", last_price=price,
                             trade_id=503, fee="0", fee_asset="USDT", maker=True),  # before 502
            execution_report(client_id, "TRADE", status="PARTIALLY_FILLED", last_qty="0.00040000", last_price=price,
                             trade_id=501, fee="0", fee_asset="USDT", maker=True),  # duplicate of 501
            execution_report(client_id, "TRADE", status="FILLED", last_qty="0.00040000", last_price=price,
                             trade_id=502, fee="0", fee_asset="USDT", maker=True),
        ]  # fmt: skip
        for report in reports:
            await venue.push_api_event(report)
        await until(lambda: gateway.stats.fills == 4)
    engine = kernel.engine
    assert gateway.stats.duplicates == 2, "the gateway sees the repeats and passes them on"
    assert engine.position(0)["qty"] == 1000, "0.0004 + 0.0002 + 0.0004 BTC, the repeated trade once"
    assert engine.stats()["duplicate_fills"] == 1
    assert kernel.count(REC_FILL) == 3 and kernel.count(REC_ORDER_ACKED) == 1
    fills = kernel.all_records()[kernel.all_records()["kind"] == REC_FILL]
    assert fills["d"].tolist() == [501, 503, 502] and fills["qty"].tolist() == [400, 200, 400]
