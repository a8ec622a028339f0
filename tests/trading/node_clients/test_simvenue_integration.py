"""The venue clients against the project's real simulated venue (trading.simvenue) replaying the
recorded BTCUSDT capture: the feed's book ends equal to the venue's, and orders make the round
trip (place, ack, fill with its fee, cancel, rejects, reconciliation) over the real protocol."""

from __future__ import annotations

import contextlib
import gzip
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from hotpath.types import (
    EV_CANCEL_REJECT,
    EV_ORDER_ACK,
    EV_ORDER_CANCELED,
    EV_ORDER_FILL,
    EV_ORDER_REJECT,
    F_MAKER,
    F_SELL,
    OT_LIMIT,
    OT_LIMIT_MAKER,
    TIF_GTC,
    TIF_IOC,
)
from tests.trading.node_clients.scripted_venue import Recorder, book_from, running, until
from tests.trading.node_clients.test_gateway import cancel_record, journal, order_record
from trading.binance.keyed_hmac import KeyedHmacSigner
from trading.binance.signing import Ed25519Signer
from trading.engine.feeds.binance import BinanceMarketData
from trading.engine.feeds.depth_sync import LIVE
from trading.engine.gateway.binance import BinanceOrderGateway

simvenue_server = pytest.importorskip("trading.simvenue.server")
simvenue_config = pytest.importorskip("trading.simvenue.config")

API_KEY, SECRET = "nodeKey1", "node-secret-1"
ED_KEY = "nodeKeyEd"
SYNC_LINES = 8  # the recording's depth snapshot is line 8 of the capture


def capture_slice(directory: Path, source: Path, count: int) -> Path:
    path = directory / f"btc_{count}.txt"
    if not path.exists():
        with gzip.open(source, "rb") as lines:
            path.write_bytes(b"".join(line for _, line in zip(range(count), lines, strict=False)))
    return path


@pytest.fixture(scope="module")
def captures(tmp_path_factory, spot_btc_files) -> dict[int, Path]:
    directory = tmp_path_factory.mktemp("simvenue_captures")
    return {count: capture_slice(directory, spot_btc_files[0], count) for count in (3000, 20_000)}


def venue_config(capture: Path, **options):
    cfg = simvenue_config
    options.setdefault("api_keys", (cfg.ApiKeyConfig(API_KEY, account="node", hmac_secret=SECRET),))
    return cfg.SimVenueConfig(feeds=(cfg.SymbolFeedConfig("BTCUSDT", (capture,)),), port=0, **options)


async def started(config):
    server = simvenue_server.SimVenueServer(config)
    host, port = await server.start()
    return server, f"ws://{host}:{port}"


async def venue_depth(base: str, limit: int) -> dict:
    async with connect(f"{base}/ws-api/v3", max_size=2**23) as ws:
        await ws.send(
            orjson.dumps(
                {"id": 1, "method": "depth", "params": {"symbol": "BTCUSDT", "limit": limit}}
            ).decode()
        )
        answer = orjson.loads(await ws.recv())
        assert "result" in answer, answer
        return answer["result"]


@pytest.mark.asyncio
async def test_the_feeds_book_ends_equal_to_the_simulated_venues_book(captures, btc):
    server, base = await started(venue_config(captures[20_000], speed=simvenue_config.MAX_SPEED, loop=False,
                                              paused=True))  # fmt: skip
    recorder = Recorder()
    feed = BinanceMarketData(base, f"{base}/ws-api/v3", [btc], on_events=recorder, backoff_initial_s=0.02)
    try:
        async with running(feed):
            await until(lambda: feed.connected)
            server.start_replay()
            await until(lambda: server.replay.done.is_set(), timeout=30)
            await until(lambda: feed.stats.messages >= server.core.hub.messages_sent, timeout=10)
            assert feed.state(0) == LIVE
            final = await venue_depth(base, 20)
    finally:
        await server.stop()
    spec = btc.spec
    bids, asks = book_from(recorder.records())
    top_bids = sorted(bids.items(), reverse=True)[:20]
    top_asks = sorted(asks.items())[:20]
    assert top_bids == [(spec.price_to_ticks(p), spec.qty_to_lots(q)) for p, q in final["bids"]]
    assert top_asks == [(spec.price_to_ticks(p), spec.qty_to_lots(q)) for p, q in final["asks"]]
    stats = feed.stats
    assert stats.snapshots >= 1 and stats.depth_applied > 1000 and stats.trades > 100 and stats.bbo > 100
    assert stats.gaps == 0
    # before the venue has replayed the recording's snapshot its book is empty (lastUpdateId 0):
    # such an answer is set aside and asked again; nothing is refused
    assert stats.bad == {} and set(stats.skipped) <= {"snapshot_not_ready"}


def gateway_for(base, recorder, states, **kwargs):
    kwargs.setdefault("signer", KeyedHmacSigner(SECRET))
    return BinanceOrderGateway(f"{base}/ws-api/v3", kwargs.pop("api_key", API_KEY), kwargs.pop("signer"),
                               prefix="node1", on_events=recorder, on_state=states.append, **kwargs)  # fmt: skip


@contextlib.asynccontextmanager
async def trading_gateway(capture: Path, btc):
    """A paused simulated venue with a funded account and its book synced, and a gateway logged
    on to it: (gateway, recorder of its engine inputs). The venue stops on exit."""
    server, base = await started(venue_config(capture, paused=True, starting_balances={"USDT": "100000",
                                                                                       "BTC": "1"}))  # fmt: skip
    server.replay.advance(SYNC_LINES)  # best bid 61837.63 x 3.78826, best ask 61837.64 x 1.60520
    recorder = Recorder()
    states: list[bool] = []
    gateway = gateway_for(base, recorder, states, instruments=[btc])
    try:
        async with running(gateway):
            await until(lambda: states == [True])
            yield gateway, recorder
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_orders_make_the_round_trip_through_the_simulated_venue(captures, btc):
    async with trading_gateway(captures[3000], btc) as (gateway, recorder):
        # a resting bid far below the market: acknowledged, listed, cancelled
        assert gateway.submit(journal(order_record(1, price=6_100_000, qty=1000, order_type=OT_LIMIT))) == 1
        await until(lambda: len(recorder) == 1)
        ack = recorder.records()[0]
        assert (ack[7], ack[6], ack[9]) == (EV_ORDER_ACK, 1, 0) and ack[5] > 0  # aux = venue order id
        opened = await gateway.open_orders("BTCUSDT")
        assert [(o.client_id, o.venue_order_id, o.price, o.qty, o.filled, o.status) for o in opened] == [
            (1, ack[5], 6_100_000, 1000, 0, "NEW")
        ]
        assert gateway.submit(journal(cancel_record(1))) == 1
        await until(lambda: len(recorder) == 2)
        assert recorder.records()[1][7:9] == (EV_ORDER_CANCELED, 0) and recorder.records()[1][6] == 1
        # a marketable IOC sell: filled at the best bid, taker fee in USDT (0.1 %)
        assert (
            gateway.submit(journal(order_record(2, price=6_183_763, qty=1000, sell=True, tif=TIF_IOC))) == 1
        )
        await until(lambda: gateway.stats.fills == 1)
        fill = next(r for r in recorder.records() if r[7] == EV_ORDER_FILL)
        assert fill[2:4] == (6_183_763, 1000) and fill[6] == 2
        assert fill[5] == 61_837_630, "0.06183763 USDT in nano units"
        assert fill[8] == F_SELL and not fill[8] & F_MAKER
        trades = await gateway.my_trades("BTCUSDT")
        assert [(t.trade_id, t.price, t.qty, t.fee_nano, t.fee_asset, t.maker) for t in trades] == [
            (fill[4], 6_183_763, 1000, 61_837_630, "USDT", False)
        ]
        account = await gateway.account_status()
        assert account.balances["BTC"].free_nano == 999_000_000
        assert account.positions == {"BTCUSDT": -1000}, "the simulated venue's position extension"
        # post-only that would take: refused by the venue; a cancel of an unknown order too
        recorder.clear()
        gateway.submit(journal(order_record(3, price=6_183_764, qty=1000, order_type=OT_LIMIT_MAKER)))
        gateway.submit(journal(cancel_record(99)))
        await until(lambda: len(recorder) == 2)
        kinds = {r[6]: (r[7], r[5]) for r in recorder.records()}
        assert kinds == {3: (EV_ORDER_REJECT, -2010), 99: (EV_CANCEL_REJECT, -2011)}
        # cancel_all (the kernel's kill path): the resting order comes back cancelled
        gateway.submit(journal(order_record(4, price=6_100_000, qty=2000, order_type=OT_LIMIT)))
        await until(lambda: gateway.stats.acked == 3)
        cancelled = await gateway.cancel_all("BTCUSDT")
        assert [(o.client_id, o.status, o.qty, o.filled) for o in cancelled] == [(4, "CANCELED", 2000, 0)]
        await until(lambda: gateway.stats.canceled == 2)
    assert gateway.stats.acked >= 2 and gateway.stats.send_errors == 0
    assert gateway.stats.bad == {} and gateway.stats.foreign_ids == 0


@pytest.mark.asyncio
async def test_session_logon_with_an_ed25519_key(captures, btc):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    keys = (simvenue_config.ApiKeyConfig(ED_KEY, account="node", ed25519_public_key_pem=public),)
    server, base = await started(venue_config(captures[3000], paused=True, api_keys=keys,
                                              starting_balances={"USDT": "100000"}))  # fmt: skip
    server.replay.advance(SYNC_LINES)
    recorder = Recorder()
    states: list[bool] = []
    gateway = gateway_for(base, recorder, states, instruments=[btc], api_key=ED_KEY, signer=Ed25519Signer(private),
                          use_session_logon=True)  # fmt: skip
    try:
        async with running(gateway):
            await until(lambda: states == [True])
            gateway.submit(
                journal(order_record(5, price=6_000_000, qty=500, order_type=OT_LIMIT, tif=TIF_GTC))
            )
            await until(lambda: len(recorder) == 1)
    finally:
        await server.stop()
    assert recorder.records()[0][7] == EV_ORDER_ACK and recorder.records()[0][6] == 5


@pytest.mark.asyncio
async def test_an_order_whose_ack_was_never_journaled_is_found_by_its_client_id(captures, btc):
    """A node stopped between sending an order and reading its ack restarts with the order live but
    without the venue's id; the venue's trades name orders only by that id. Reconciliation asks
    order.status by our client id, so a fill of that order is ours, not a fill of an unknown one."""
    from hotpath.orders import OS_NEW
    from trading.engine.node import with_venue_ids
    from trading.engine.reconcile import VenueTrade, plan

    async with trading_gateway(captures[3000], btc) as (gateway, _):
        # a marketable IOC sell fills at once; the node "never read" the answers
        assert (
            gateway.submit(journal(order_record(5, price=6_183_763, qty=1000, sell=True, tif=TIF_IOC))) == 1
        )
        await until(lambda: gateway.stats.fills == 1)
        (trade,) = await gateway.my_trades("BTCUSDT")
        restarted = [
            {"client_id": 5, "venue_id": 0, "instrument": 0, "side": 1, "price": 6_183_763, "qty": 1000,
             "filled": 0, "status": OS_NEW, "order_type": OT_LIMIT, "tif": TIF_IOC, "ts_created": 1},
            {"client_id": 6, "venue_id": 0, "instrument": 0, "side": 0, "price": 6_000_000, "qty": 1000,
             "filled": 0, "status": OS_NEW, "order_type": OT_LIMIT, "tif": TIF_GTC, "ts_created": 1},
        ]  # fmt: skip
        venue_trade = VenueTrade(instrument=0, trade_id=trade.trade_id, client_id=None,
                                 venue_order_id=trade.venue_order_id, side=1, price=trade.price, qty=trade.qty,
                                 fee_nano=trade.fee_nano, maker=trade.maker, ts_ns=1)  # fmt: skip
        before = plan([dict(o) for o in restarted], [], [venue_trade], policy="cancel", now_ns=2)
        assert before.unknown_fills == [trade.trade_id], "without the venue id the fill looks foreign"
        found = await with_venue_ids(gateway, restarted, {0: "BTCUSDT"})
        assert found[0]["venue_id"] == trade.venue_order_id > 0
        assert found[1]["venue_id"] == 0, "an order the venue never received keeps no id"
        after = plan(found, [], [venue_trade], policy="cancel", now_ns=2)
        assert after.unknown_fills == [] and after.fills == 1
