"""Malformed and hostile requests get Binance-style errors, the connection stays usable and the
venue's state does not change."""

from __future__ import annotations

import pytest

from tests.trading.simvenue.helpers import ApiClient, config, running

ORDER = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "price": "60000",
    "quantity": "0.01",
}

# (frame, expected error code, expected id in the answer)
BAD_FRAMES = [
    ("hello", -1135, None),
    ("", -1135, None),
    ("x" * 1_000_000, -1135, None),  # a 1 MB frame
    ("[1, 2, 3]", -1135, None),
    ('"a string"', -1135, None),
    ("[" * 20_000 + "]" * 20_000, -1135, None),  # nesting deeper than any parser stack
    ('{"id": 1, "method": "ping", "params": {"x": NaN}}', -1135, None),
    ('{"id": 1, "method": "ping", "params": {"x": Infinity}}', -1135, None),
    ('{"id": 1e400, "method": "ping"}', -1102, None),
    ('{"id": 99999999999999999999, "method": "ping"}', -1102, None),
    ('{"method": "ping"}', -1102, None),
    ('{"id": [1], "method": "ping"}', -1102, None),
    ('{"id": true, "method": "ping"}', -1102, None),
    ('{"id": 3}', -1102, 3),
    ('{"id": 4, "method": 7}', -1102, 4),
    ('{"id": 5, "method": "no.such.method"}', -1020, 5),
    ('{"id": 6, "method": "ping", "params": [1]}', -1135, 6),
    ('{"id": 7, "method": "ping", "extra": 1}', -1103, 7),
    ('{"id": 8, "method": "ping", "params": {"foo": 1}}', -1103, 8),
    ('{"id": 9, "method": "ping", "id": 10}', -1101, None),
    ('{"id": "x", "method": "depth", "params": {"symbol": "BTCUSDT", "limit": "NaN"}}', -1100, "x"),
    ('{"id": "y", "method": "depth", "params": {"symbol": "BTCUSDT", "limit": -5}}', -1100, "y"),
    ('{"id": "z", "method": "depth", "params": {"symbol": ["BTCUSDT"]}}', -1100, "z"),
    ('{"id": 11, "method": "ping", "params": {"returnRateLimits": "maybe"}}', -1100, 11),
]

# order.place parameters (correctly signed) and the error each must get
BAD_ORDERS = [
    ({"price": "NaN"}, -1100),
    ({"price": "Infinity"}, -1100),
    ({"price": "1e400"}, -1100),
    ({"price": "-1"}, -1100),
    ({"price": "1,5"}, -1100),
    ({"price": 60000.5}, -1100),  # JSON floats cannot carry an exact decimal
    ({"price": True}, -1100),
    ({"price": [1]}, -1100),
    ({"price": {"a": 1}}, -1100),
    ({"price": ""}, -1102),
    ({"price": "61837.635"}, -1013),  # off tick
    ({"price": "0"}, -1013),
    ({"price": "99999999999999999999.99"}, -1013),  # beyond the largest price
    ({"quantity": "0"}, -1013),
    ({"quantity": "0.0000005"}, -1013),  # off lot
    ({"quantity": "0.000000001"}, -1111),  # more decimals than the symbol has
    ({"quantity": "-0.01"}, -1100),
    ({"side": "buy"}, -1117),
    ({"side": 1}, -1102),
    ({"type": "STOP_LOSS"}, -1116),
    ({"timeInForce": "GTD"}, -1115),
    ({"timeInForce": None}, -1102),
    ({"type": "LIMIT_MAKER"}, -1114),  # timeInForce sent when not required
    ({"type": "MARKET", "timeInForce": None}, -1106),  # price sent when not required
    ({"symbol": "btcusdt"}, -1100),
    ({"symbol": "ETHUSDT"}, -1121),
    ({"symbol": None}, -1102),
    ({"newClientOrderId": "has space"}, -1100),
    ({"newClientOrderId": "x" * 37}, -1100),
    ({"newOrderRespType": "XML"}, -1100),
    ({"quoteOrderQty": "10"}, -1103),
    ({"icebergQty": "0.001"}, -1103),
]


def venue_state(server) -> tuple:
    exchange = server.core.exchange
    ledgers = exchange.ledgers.values()
    return (
        exchange.venue.to_bytes(),
        [len(ledger.open_orders()) for ledger in ledgers],
        [len(ledger.trades) for ledger in ledgers],
        [dict(ledger.balances) for ledger in ledgers],
        [dict(ledger.positions) for ledger in ledgers],
    )


@pytest.mark.asyncio
async def test_malformed_frames_get_errors_and_the_connection_survives(btc_head):
    async with running(config((btc_head,), paused=True)) as (server, base):
        server.replay.advance(8)
        before = venue_state(server)
        async with ApiClient.connect(base) as api:
            for frame, code, request_id in BAD_FRAMES:
                answer = await api.raw(frame)
                assert answer["status"] == 400, frame[:60]
                assert answer["error"]["code"] == code, (frame[:60], answer)
                assert answer["id"] == request_id, frame[:60]
                assert isinstance(answer["error"]["msg"], str) and answer["error"]["msg"]
            answer = await api.raw(b"\x00\x01binary frame")
            assert answer["error"]["code"] == -1135 and "text frames" in answer["error"]["msg"]
            assert (await api.call("ping"))["status"] == 200
        assert venue_state(server) == before


@pytest.mark.asyncio
async def test_bad_order_parameters_are_refused_and_change_nothing(btc_head):
    async with running(config((btc_head,), paused=True)) as (server, base):
        server.replay.advance(8)
        before = venue_state(server)
        async with ApiClient.connect(base) as api:
            await api.subscribe()
            for change, code in BAD_ORDERS:
                params = {k: v for k, v in {**ORDER, **change}.items() if v is not None}
                answer = await api.signed_call("order.place", params)
                assert answer["status"] == 400, (change, answer)
                assert answer["error"]["code"] == code, (change, answer)
                assert (await api.call("ping"))["status"] == 200
            await api.no_event()
            assert (await api.signed_call("order.place", ORDER))["status"] == 200  # still usable
        after = venue_state(server)
    assert after[1] == [x + 1 for x in before[1][:1]] + before[1][1:]
    assert after[2:] == before[2:]


@pytest.mark.asyncio
async def test_an_order_request_is_all_or_nothing(btc_head):
    """A refused order leaves no trace: no order id, no engine reject, no order-rate slot."""
    async with running(config((btc_head,), paused=True)) as (server, base):
        server.replay.advance(8)
        async with ApiClient.connect(base) as api:
            await api.signed_call("order.place", {**ORDER, "price": "60000.001"})
            placed = await api.signed_call("order.place", ORDER)
        assert placed["result"]["orderId"] == 1
        assert placed["rateLimits"][0]["rateLimitType"] == "ORDERS" and placed["rateLimits"][0]["count"] == 1
        assert server.core.exchange.venue.counters["n_rejects"] == 0
