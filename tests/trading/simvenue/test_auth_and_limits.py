"""SIGNED requests (HMAC and Ed25519), session logon, the recvWindow and the rate limits."""

from __future__ import annotations

import asyncio

import pytest

from tests.trading.simvenue.helpers import (
    HMAC_KEY,
    ApiClient,
    config,
    ed25519_pair,
    hmac_keys,
    now_ms,
    running,
)
from trading.binance.signing import HmacSigner, sign_params
from trading.simvenue.config import ApiKeyConfig, RateLimitConfig

ED_KEY = "edKey1"
RESTING = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "price": "50000",
    "quantity": "0.001",
}


async def window_start(seconds: int) -> None:
    """Sleep to just after the start of the next fixed rate-limit window."""
    window = seconds * 1000
    await asyncio.sleep((window - now_ms() % window) / 1000 + 0.02)


@pytest.mark.asyncio
async def test_hmac_signatures_are_verified(btc_head):
    async with running(config((btc_head,), paused=True)) as (_, base), ApiClient.connect(base) as api:
        assert (await api.signed_call("account.status"))["status"] == 200
        tampered = api.signed({"omitZeroBalances": True})
        tampered["omitZeroBalances"] = False
        bad = await api.call("account.status", tampered)
        assert (bad["status"], bad["error"]) == (
            400,
            {"code": -1022, "msg": "Signature for this request is not valid."},
        )
        wrong_secret = sign_params({"apiKey": HMAC_KEY, "timestamp": now_ms()}, HmacSigner("not-the-secret"))
        assert (await api.call("account.status", wrong_secret))["error"]["code"] == -1022
        unknown = sign_params({"apiKey": "nobody", "timestamp": now_ms()}, HmacSigner("x"))
        refused = await api.call("account.status", unknown)
        assert (refused["status"], refused["error"]["code"]) == (401, -2015)
        malformed = await api.call(
            "account.status", {"apiKey": "no spaces!", "timestamp": now_ms(), "signature": "00"}
        )
        assert malformed["error"]["code"] == -2014
        unsigned = await api.call("account.status", {"apiKey": HMAC_KEY, "timestamp": now_ms()})
        assert unsigned["error"] == {
            "code": -1102,
            "msg": "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        }
        no_key = await api.call("account.status", {"timestamp": now_ms()})
        assert no_key["error"]["code"] == -1102 and "'apiKey'" in no_key["error"]["msg"]
        no_time = await api.call("account.status", sign_params({"apiKey": HMAC_KEY}, HmacSigner("secret-a")))
        assert no_time["error"]["code"] == -1102 and "'timestamp'" in no_time["error"]["msg"]


@pytest.mark.asyncio
async def test_ed25519_signatures_and_session_logon(btc_head):
    signer, public = ed25519_pair()
    impostor, _ = ed25519_pair()
    keys = (*hmac_keys(), ApiKeyConfig(ED_KEY, account="carol", ed25519_public_key_pem=public))
    async with running(config((btc_head,), paused=True, api_keys=keys)) as (server, base):
        server.replay.advance(8)
        async with ApiClient.connect(base, api_key=ED_KEY, signer=signer) as carol:
            placed = await carol.signed_call("order.place", RESTING)
            assert placed["status"] == 200 and placed["result"]["status"] == "NEW"
            forged = sign_params({**RESTING, "apiKey": ED_KEY, "timestamp": now_ms()}, impostor)
            assert (await carol.call("order.place", forged))["error"]["code"] == -1022
            garbage = {**RESTING, "apiKey": ED_KEY, "timestamp": now_ms(), "signature": "not base64 ***"}
            assert (await carol.call("order.place", garbage))["error"]["code"] == -1022
            assert len(server.core.exchange.ledgers["carol"].open_orders()) == 1

            # session.logon, then requests without apiKey/signature act for carol
            status = (await carol.call("session.status"))["result"]
            assert status["apiKey"] is None and status["userDataStream"] is False
            logon = await carol.signed_call("session.logon")
            assert logon["status"] == 200
            assert (
                logon["result"]["apiKey"] == ED_KEY
                and logon["result"]["authorizedSince"] >= status["serverTime"]
            )
            subscribed = await carol.call("userDataStream.subscribe")
            assert subscribed["result"] == {"subscriptionId": 0}
            unsigned = await carol.call("order.place", {**RESTING, "price": "50001", "timestamp": now_ms()})
            assert unsigned["status"] == 200
            frame = await carol.event_frame()
            assert set(frame) == {"subscriptionId", "event"}
            assert frame["subscriptionId"] == 0 and frame["event"]["i"] == unsigned["result"]["orderId"]
            listed = await carol.call("openOrders.status", {"timestamp": now_ms()})
            assert len(listed["result"]) == 2
            assert (await carol.call("session.status"))["result"]["userDataStream"] is True
            assert (await carol.call("session.subscriptions"))["result"] == [{"subscriptionId": 0}]

            logout = await carol.call("session.logout")
            assert logout["result"]["apiKey"] is None and logout["result"]["userDataStream"] is False
            after = await carol.call("order.place", {**RESTING, "timestamp": now_ms()})
            assert after["error"]["code"] == -1102 and "'apiKey'" in after["error"]["msg"]
            assert (await carol.call("userDataStream.subscribe"))["error"]["code"] == -1002
        async with ApiClient.connect(base) as alice:
            hmac_logon = await alice.signed_call("session.logon")
            assert hmac_logon["error"]["code"] == -2015  # session.logon is for Ed25519 keys only
            assert (await alice.call("session.status"))["result"]["apiKey"] is None


@pytest.mark.asyncio
async def test_user_data_subscriptions(btc_head):
    async with running(config((btc_head,), paused=True)) as (server, base):
        server.replay.advance(8)
        async with ApiClient.connect(base) as alice:
            first = await alice.subscribe()
            again = await alice.signed_call("userDataStream.subscribe.signature")
            assert again["error"]["code"] == -2035  # one subscription per account and connection
            await alice.place(**{k: v for k, v in RESTING.items() if k != "symbol"})
            assert (await alice.event())["x"] == "NEW"
            gone = await alice.call("userDataStream.unsubscribe", {"subscriptionId": first})
            assert gone["result"] == {}
            assert (await alice.call("userDataStream.unsubscribe", {"subscriptionId": first}))["error"][
                "code"
            ] == -2036
            await alice.place(**{k: v for k, v in RESTING.items() if k != "symbol"})
            await alice.no_event()
            assert await alice.subscribe() == first + 1


@pytest.mark.asyncio
async def test_timestamp_must_be_inside_the_recv_window(btc_head):
    async with running(config((btc_head,), paused=True)) as (_, base), ApiClient.connect(base) as api:
        stale = await api.signed_call("account.status", timestamp=now_ms() - 6000)
        assert stale["error"] == {
            "code": -1021,
            "msg": "Timestamp for this request is outside of the recvWindow.",
        }
        widened = await api.signed_call("account.status", timestamp=now_ms() - 6000, recvWindow=10_000)
        assert widened["status"] == 200
        ahead = await api.signed_call("account.status", timestamp=now_ms() + 5000)
        assert ahead["error"]["code"] == -1021 and "ahead" in ahead["error"]["msg"]
        too_wide = await api.signed_call("account.status", recvWindow=60_001)
        assert too_wide["error"]["code"] == -1131


@pytest.mark.asyncio
async def test_order_rate_limit_breach_and_recovery(btc_head):
    limits = RateLimitConfig(orders_per_window=3, order_window_seconds=2)
    async with running(config((btc_head,), paused=True, rate_limits=limits)) as (server, base):
        server.replay.advance(8)
        async with ApiClient.connect(base) as api:
            await window_start(2)
            placed = [
                await api.signed_call("order.place", {**RESTING, "price": f"5000{n}"}) for n in range(3)
            ]
            assert [p["status"] for p in placed] == [200, 200, 200]
            assert placed[2]["rateLimits"][0] == {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 2,
                "limit": 3,
                "count": 3,
            }
            breach = await api.signed_call("order.place", {**RESTING, "price": "50009"})
            assert breach["status"] == 429
            assert breach["error"]["code"] == -1015
            assert breach["error"]["msg"] == "Too many new orders; current limit is 3 orders per 2 SECOND."
            retry_after = breach["error"]["data"]["retryAfter"]
            assert retry_after % 2000 == 0 and retry_after > now_ms()
            assert len(server.core.exchange.ledgers["alice"].open_orders()) == 3
            await asyncio.sleep((retry_after - now_ms()) / 1000 + 0.02)
            recovered = await api.signed_call("order.place", {**RESTING, "price": "50009"})
            assert recovered["status"] == 200
            assert len(server.core.exchange.ledgers["alice"].open_orders()) == 4


@pytest.mark.asyncio
async def test_request_weight_breach_and_recovery(btc_head):
    limits = RateLimitConfig(weight_per_window=12, weight_window_seconds=1)
    async with (
        running(config((btc_head,), paused=True, rate_limits=limits)) as (_, base),
        ApiClient.connect(base) as api,
    ):
        await window_start(1)
        depth = await api.call("depth", {"symbol": "BTCUSDT", "limit": 10})  # weight 5
        pings = [await api.call("ping") for _ in range(7)]
        assert depth["status"] == 200 and [p["status"] for p in pings] == [200] * 7
        assert pings[-1]["rateLimits"] == [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "SECOND",
                "intervalNum": 1,
                "limit": 12,
                "count": 12,
            }
        ]
        breach = await api.call("ping")
        assert breach["status"] == 429 and breach["error"]["code"] == -1003
        assert "12 request weight per 1 SECOND" in breach["error"]["msg"]
        await window_start(1)
        assert (await api.call("ping"))["status"] == 200
