"""Order entry against the replayed book, over real websockets: responses and execution reports.

The replay is paused and advanced line by line (server.replay.advance), so every fill is the
deterministic consequence of the recorded market: after line 8 the book is the recording's
snapshot bridged by its first diff (best bid 61837.63 x 3.78826, best ask 61837.64 x 1.60520).
"""

from __future__ import annotations

import contextlib
from decimal import ROUND_HALF_UP, Decimal

import orjson
import pytest

from tests.trading.simvenue.helpers import OTHER_KEY, OTHER_SECRET, ApiClient, capture_lines, config, running
from trading.binance.signing import HmacSigner

FEE_RATE = Decimal("0.001")  # BTCUSDT spot maker and taker fee in instruments.json (1000 ppm)
SYNC_LINES = 8


def fee(price: str, qty: str) -> Decimal:
    return (Decimal(price) * Decimal(qty) * FEE_RATE).quantize(Decimal("1e-9"), ROUND_HALF_UP)


def dec(levels: list) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(p), Decimal(q)) for p, q in levels]


def text(value: Decimal) -> str:
    return f"{value:.8f}"


@contextlib.asynccontextmanager
async def venue(capture, **options):
    async with running(config((capture,), paused=True, **options)) as (server, base):
        server.replay.advance(SYNC_LINES)
        async with ApiClient.connect(base) as alice:
            await alice.subscribe()
            yield server, base, alice


async def best_levels(client: ApiClient, limit: int = 5) -> tuple[list, list]:
    depth = (await client.call("depth", {"symbol": "BTCUSDT", "limit": limit}))["result"]
    return dec(depth["bids"]), dec(depth["asks"])


@pytest.mark.asyncio
async def test_limit_gtc_rests_then_fills_on_a_replayed_trade(btc_head):
    async with venue(btc_head) as (server, _, alice):
        placed = await alice.place(
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            price="61837.63",
            quantity="0.001",
            newClientOrderId="mm-1",
        )
        result = placed["result"]
        transact = result["transactTime"]
        assert result == {
            "symbol": "BTCUSDT",
            "orderId": 1,
            "orderListId": -1,
            "clientOrderId": "mm-1",
            "transactTime": transact,
            "price": "61837.63000000",
            "origQty": "0.00100000",
            "executedQty": "0.00000000",
            "origQuoteOrderQty": "0.00000000",
            "cummulativeQuoteQty": "0.00000000",
            "status": "NEW",
            "timeInForce": "GTC",
            "type": "LIMIT",
            "side": "BUY",
            "workingTime": transact,
            "selfTradePreventionMode": "NONE",
            "fills": [],
        }
        new = await alice.event()
        assert new == {
            "e": "executionReport",
            "E": new["E"],
            "s": "BTCUSDT",
            "c": "mm-1",
            "S": "BUY",
            "o": "LIMIT",
            "f": "GTC",
            "q": "0.00100000",
            "p": "61837.63000000",
            "P": "0.00000000",
            "F": "0.00000000",
            "g": -1,
            "C": "",
            "x": "NEW",
            "X": "NEW",
            "r": "NONE",
            "i": 1,
            "l": "0.00000000",
            "z": "0.00000000",
            "L": "0.00000000",
            "n": "0",
            "N": None,
            "T": transact,
            "t": -1,
            "I": new["I"],
            "w": True,
            "m": False,
            "M": False,
            "O": transact,
            "Z": "0.00000000",
            "Y": "0.00000000",
            "Q": "0.00000000",
            "W": transact,
            "V": "NONE",
        }
        assert new["E"] >= transact
        # replay line by line until the order fills: the queue ahead of it (3.78826) is never
        # traded through at 61837.63; the recording's sell at 61837.62 trades through it
        ledger = server.core.exchange.ledgers["alice"]
        line = SYNC_LINES
        while ledger.open_orders():
            assert server.replay.advance(1) == 1
            line += 1
        trigger = orjson.loads(capture_lines(btc_head, 1, line - 1)[0].split(b" ", 1)[1])
        assert trigger["stream"] == "btcusdt@trade"
        assert trigger["data"]["p"] == "61837.62000000" and trigger["data"]["m"] is True
        trade = await alice.event()
        assert {
            k: trade[k] for k in ("x", "X", "i", "c", "l", "z", "L", "n", "N", "t", "m", "w", "Z", "Y")
        } == {
            "x": "TRADE",
            "X": "FILLED",
            "i": 1,
            "c": "mm-1",
            "l": "0.00100000",
            "z": "0.00100000",
            "L": "61837.63000000",
            "n": "0.06183763",  # maker fee: 0.1% of 61.83763 USDT
            "N": "USDT",
            "t": 1,
            "m": True,
            "w": False,
            "Z": "61.83763000",
            "Y": "61.83763000",
        }
        assert "W" not in trade and trade["I"] > new["I"] and trade["O"] == transact
        await alice.no_event()


@pytest.mark.asyncio
async def test_limit_maker_that_would_take_is_rejected_and_changes_nothing(btc_head):
    async with venue(btc_head) as (server, _, alice):
        rejected = await alice.place(side="BUY", type="LIMIT_MAKER", price="61837.64", quantity="0.001")
        assert rejected["status"] == 400
        assert rejected["error"] == {"code": -2010, "msg": "Order would immediately match and take."}
        await alice.no_event()
        assert server.core.exchange.venue.counters["n_resting"] == 0
        resting = await alice.place(side="BUY", type="LIMIT_MAKER", price="61837.63", quantity="0.001")
        assert set(resting["result"]) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
        assert (await alice.event())["x"] == "NEW"
        assert resting["result"]["orderId"] == 1  # a rejected order never had an order id


@pytest.mark.asyncio
async def test_market_order_walks_the_book_with_taker_fees(btc_head):
    async with venue(btc_head) as (_, _, alice):
        _, asks = await best_levels(alice)
        part = Decimal("0.0001")
        assert asks[2][1] > part
        quantity = asks[0][1] + asks[1][1] + part
        expected = [asks[0], asks[1], (asks[2][0], part)]
        placed = (await alice.place(side="BUY", type="MARKET", quantity=text(quantity)))["result"]
        assert placed["status"] == "FILLED" and placed["executedQty"] == text(quantity)
        assert placed["price"] == "0.00000000" and placed["type"] == "MARKET"
        assert [(Decimal(f["price"]), Decimal(f["qty"])) for f in placed["fills"]] == expected
        assert [f["tradeId"] for f in placed["fills"]] == [1, 2, 3]
        assert [Decimal(f["commission"]) for f in placed["fills"]] == [fee(p, q) for p, q in expected]
        assert {f["commissionAsset"] for f in placed["fills"]} == {"USDT"}
        assert Decimal(placed["cummulativeQuoteQty"]) == sum(p * q for p, q in expected)
        events = await alice.events_for(4)
        assert [(e["x"], e["X"]) for e in events] == [
            ("NEW", "NEW"),
            ("TRADE", "PARTIALLY_FILLED"),
            ("TRADE", "PARTIALLY_FILLED"),
            ("TRADE", "FILLED"),
        ]
        trades = events[1:]
        assert [(Decimal(e["L"]), Decimal(e["l"])) for e in trades] == expected
        assert [Decimal(e["n"]) for e in trades] == [fee(p, q) for p, q in expected]
        assert [e["m"] for e in trades] == [False, False, False]
        assert [Decimal(e["z"]) for e in trades] == [
            expected[0][1],
            expected[0][1] + expected[1][1],
            quantity,
        ]
        assert all(e["w"] is False for e in events)


@pytest.mark.asyncio
async def test_ioc_fills_what_it_can_and_expires_the_rest(btc_head):
    async with venue(btc_head) as (_, _, alice):
        _, asks = await best_levels(alice)
        best_price, best_qty = asks[0]
        quantity = best_qty + Decimal("0.5")
        placed = (
            await alice.place(
                side="BUY", type="LIMIT", timeInForce="IOC", price=text(best_price), quantity=text(quantity)
            )
        )["result"]
        assert placed["status"] == "EXPIRED" and Decimal(placed["executedQty"]) == best_qty
        assert [(Decimal(f["price"]), Decimal(f["qty"])) for f in placed["fills"]] == [(best_price, best_qty)]
        new, trade, expired = await alice.events_for(3)
        assert (new["x"], trade["x"], trade["X"], expired["x"], expired["X"]) == (
            "NEW",
            "TRADE",
            "PARTIALLY_FILLED",
            "EXPIRED",
            "EXPIRED",
        )
        assert Decimal(trade["l"]) == best_qty and Decimal(expired["z"]) == best_qty
        assert expired["l"] == "0.00000000" and expired["t"] == -1 and expired["f"] == "IOC"


@pytest.mark.asyncio
async def test_fok_that_cannot_fill_expires_without_fills(btc_head):
    async with venue(btc_head) as (server, _, alice):
        _, asks = await best_levels(alice)
        best_price, best_qty = asks[0]
        placed = (
            await alice.place(
                side="BUY",
                type="LIMIT",
                timeInForce="FOK",
                price=text(best_price),
                quantity=text(best_qty + Decimal("0.00001")),
            )
        )["result"]
        assert (
            placed["status"] == "EXPIRED" and placed["executedQty"] == "0.00000000" and placed["fills"] == []
        )
        new, expired = await alice.events_for(2)
        assert (new["x"], expired["x"], expired["X"], expired["z"]) == (
            "NEW",
            "EXPIRED",
            "EXPIRED",
            "0.00000000",
        )
        await alice.no_event()
        assert (
            server.core.exchange.ledgers["alice"].trades
            == type(server.core.exchange.ledgers["alice"].trades)()
        )
        filled = (
            await alice.place(
                side="BUY", type="LIMIT", timeInForce="FOK", price=text(best_price), quantity=text(best_qty)
            )
        )["result"]
        assert filled["status"] == "FILLED" and Decimal(filled["executedQty"]) == best_qty


@pytest.mark.asyncio
async def test_cancel_and_cancels_of_unknown_or_finished_orders(btc_head):
    async with venue(btc_head) as (_, _, alice):
        placed = (
            await alice.place(
                side="BUY",
                type="LIMIT",
                timeInForce="GTC",
                price="60000",
                quantity="0.01",
                newClientOrderId="c-1",
            )
        )["result"]
        await alice.event()
        canceled = await alice.signed_call(
            "order.cancel", {"symbol": "BTCUSDT", "orderId": placed["orderId"], "newClientOrderId": "cxl-1"}
        )
        result = canceled["result"]
        assert {
            k: result[k] for k in ("origClientOrderId", "clientOrderId", "status", "orderId", "executedQty")
        } == {
            "origClientOrderId": "c-1",
            "clientOrderId": "cxl-1",
            "status": "CANCELED",
            "orderId": placed["orderId"],
            "executedQty": "0.00000000",
        }
        event = await alice.event()
        assert (event["x"], event["X"], event["c"], event["C"], event["i"]) == (
            "CANCELED",
            "CANCELED",
            "cxl-1",
            "c-1",
            placed["orderId"],
        )
        unknown = {"code": -2011, "msg": "Unknown order sent."}
        again = await alice.signed_call("order.cancel", {"symbol": "BTCUSDT", "orderId": placed["orderId"]})
        assert again["error"] == unknown
        assert (await alice.signed_call("order.cancel", {"symbol": "BTCUSDT", "orderId": 999}))[
            "error"
        ] == unknown
        by_id = await alice.signed_call("order.cancel", {"symbol": "BTCUSDT", "origClientOrderId": "nope"})
        assert by_id["error"] == unknown
        filled = (await alice.place(side="SELL", type="MARKET", quantity="0.001"))["result"]
        assert filled["status"] == "FILLED"
        finished = await alice.signed_call(
            "order.cancel", {"symbol": "BTCUSDT", "orderId": filled["orderId"]}
        )
        assert finished["error"] == unknown
        neither = await alice.signed_call("order.cancel", {"symbol": "BTCUSDT"})
        assert neither["error"]["code"] == -1102


@pytest.mark.asyncio
async def test_open_orders_status_and_cancel_all(btc_head):
    async with venue(btc_head) as (_, _, alice):
        specs = [("BUY", "60000.00"), ("BUY", "60000.01"), ("SELL", "70000.00")]
        ids = []
        for n, (side, price) in enumerate(specs):
            placed = await alice.place(
                side=side,
                type="LIMIT",
                timeInForce="GTC",
                price=price,
                quantity="0.002",
                newClientOrderId=f"o-{n}",
            )
            ids.append(placed["result"]["orderId"])
        await alice.events_for(3)
        listed = (await alice.signed_call("openOrders.status", {"symbol": "BTCUSDT"}))["result"]
        everywhere = (await alice.signed_call("openOrders.status"))["result"]
        assert listed == everywhere
        assert [(o["orderId"], o["clientOrderId"], o["side"], o["price"]) for o in listed] == [
            (ids[0], "o-0", "BUY", "60000.00000000"),
            (ids[1], "o-1", "BUY", "60000.01000000"),
            (ids[2], "o-2", "SELL", "70000.00000000"),
        ]
        first = listed[0]
        assert first["status"] == "NEW" and first["origQty"] == "0.00200000" and first["isWorking"] is True
        assert first["time"] == first["updateTime"] == first["workingTime"]
        assert first["stopPrice"] == first["icebergQty"] == "0.00000000"
        canceled = (await alice.signed_call("openOrders.cancelAll", {"symbol": "BTCUSDT"}))["result"]
        assert [(o["orderId"], o["origClientOrderId"], o["status"]) for o in canceled] == [
            (ids[0], "o-0", "CANCELED"),
            (ids[1], "o-1", "CANCELED"),
            (ids[2], "o-2", "CANCELED"),
        ]
        assert [(e["x"], e["C"]) for e in await alice.events_for(3)] == [
            ("CANCELED", "o-0"),
            ("CANCELED", "o-1"),
            ("CANCELED", "o-2"),
        ]
        assert (await alice.signed_call("openOrders.status", {"symbol": "BTCUSDT"}))["result"] == []
        empty = await alice.signed_call("openOrders.cancelAll", {"symbol": "BTCUSDT"})
        assert empty["error"] == {"code": -2011, "msg": "Unknown order sent."}


@pytest.mark.asyncio
async def test_order_status_my_trades_and_account_positions(btc_head):
    async with venue(btc_head) as (_, _, alice):
        bids, asks = await best_levels(alice)
        bought = (await alice.place(side="BUY", type="MARKET", quantity="2.00000000"))["result"]
        sold = (await alice.place(side="SELL", type="MARKET", quantity="0.50000000"))["result"]
        status = (
            await alice.signed_call("order.status", {"symbol": "BTCUSDT", "orderId": bought["orderId"]})
        )["result"]
        assert (status["status"], status["executedQty"], status["cummulativeQuoteQty"]) == (
            "FILLED",
            "2.00000000",
            bought["cummulativeQuoteQty"],
        )
        assert status["clientOrderId"] == bought["clientOrderId"] and len(bought["clientOrderId"]) == 22
        by_client_id = await alice.signed_call(
            "order.status", {"symbol": "BTCUSDT", "origClientOrderId": sold["clientOrderId"]}
        )
        assert by_client_id["result"]["orderId"] == sold["orderId"]
        missing = await alice.signed_call("order.status", {"symbol": "BTCUSDT", "orderId": 12345})
        assert missing["error"] == {"code": -2013, "msg": "Order does not exist."}

        trades = (await alice.signed_call("myTrades", {"symbol": "BTCUSDT"}))["result"]
        fills = bought["fills"] + sold["fills"]
        assert [(t["id"], t["price"], t["qty"], t["commission"]) for t in trades] == [
            (f["tradeId"], f["price"], f["qty"], f["commission"]) for f in fills
        ]
        assert [t["isBuyer"] for t in trades] == [True] * len(bought["fills"]) + [False] * len(sold["fills"])
        assert {t["isMaker"] for t in trades} == {False} and {t["commissionAsset"] for t in trades} == {
            "USDT"
        }
        assert all(Decimal(t["quoteQty"]) == Decimal(t["price"]) * Decimal(t["qty"]) for t in trades)
        second = trades[1]["id"]
        assert [
            t["id"]
            for t in (
                await alice.signed_call("myTrades", {"symbol": "BTCUSDT", "fromId": second, "limit": 2})
            )["result"]
        ] == [second, second + 1]
        only_sold = (await alice.signed_call("myTrades", {"symbol": "BTCUSDT", "orderId": sold["orderId"]}))[
            "result"
        ]
        assert [t["orderId"] for t in only_sold] == [sold["orderId"]] * len(sold["fills"])

        account = (await alice.signed_call("account.status"))["result"]
        balances = {b["asset"]: Decimal(b["free"]) for b in account["balances"]}
        spent = Decimal(bought["cummulativeQuoteQty"]) - Decimal(sold["cummulativeQuoteQty"])
        fees = sum(Decimal(f["commission"]) for f in fills)
        assert account["simvenuePositions"] == [{"symbol": "BTCUSDT", "position": "1.50000000"}]
        assert balances == {"BTC": Decimal("1.5"), "USDT": -spent - fees}
        assert account["accountType"] == "SPOT" and account["canTrade"] is True
        assert account["commissionRates"]["taker"] == "0.00100000" and account["takerCommission"] == 10
        assert asks[0][0] > bids[0][0]


@pytest.mark.asyncio
async def test_duplicate_client_order_id_of_an_open_order(btc_head):
    async with venue(btc_head) as (server, _, alice):
        order = {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "60000", "quantity": "0.01"}
        first = await alice.place(**order, newClientOrderId="dup-1")
        duplicate = await alice.place(**order, newClientOrderId="dup-1")
        assert duplicate["status"] == 400
        assert duplicate["error"] == {"code": -2010, "msg": "Duplicate order sent."}
        assert len(server.core.exchange.ledgers["alice"].open_orders()) == 1
        await alice.signed_call("order.cancel", {"symbol": "BTCUSDT", "origClientOrderId": "dup-1"})
        reused = await alice.place(**order, newClientOrderId="dup-1")
        assert reused["status"] == 200 and reused["result"]["orderId"] != first["result"]["orderId"]
        assert [e["x"] for e in await alice.events_for(3)] == ["NEW", "CANCELED", "NEW"]


@pytest.mark.asyncio
async def test_two_accounts_do_not_see_each_others_orders_or_reports(btc_head):
    async with (
        venue(btc_head) as (server, base, alice),
        ApiClient.connect(base, api_key=OTHER_KEY, signer=HmacSigner(OTHER_SECRET)) as bob,
    ):
        await bob.subscribe()
        placed = (
            await alice.place(side="BUY", type="LIMIT", timeInForce="GTC", price="60000", quantity="0.01")
        )["result"]
        assert (await alice.event())["x"] == "NEW"
        await bob.no_event()
        assert (await bob.signed_call("openOrders.status"))["result"] == []
        foreign = {"symbol": "BTCUSDT", "orderId": placed["orderId"]}
        assert (await bob.signed_call("order.cancel", foreign))["error"]["code"] == -2011
        assert (await bob.signed_call("order.status", foreign))["error"]["code"] == -2013
        assert (await bob.signed_call("openOrders.cancelAll", {"symbol": "BTCUSDT"}))["error"][
            "code"
        ] == -2011
        assert (await bob.signed_call("myTrades", {"symbol": "BTCUSDT"}))["result"] == []
        assert len(server.core.exchange.ledgers["alice"].open_orders()) == 1
        bob_order = (await bob.place(side="SELL", type="MARKET", quantity="0.001"))["result"]
        assert [e["i"] for e in await bob.events_for(2)] == [bob_order["orderId"]] * 2
        await alice.no_event()
        bob_account = (await bob.signed_call("account.status"))["result"]
        assert bob_account["simvenuePositions"] == [{"symbol": "BTCUSDT", "position": "-0.00100000"}]
        alice_account = (await alice.signed_call("account.status"))["result"]
        assert alice_account["simvenuePositions"] == [{"symbol": "BTCUSDT", "position": "0.00000000"}]
        assert alice_account["uid"] != bob_account["uid"]
