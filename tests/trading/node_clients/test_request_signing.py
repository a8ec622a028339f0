"""The order path's shortcuts give exactly what the shared protocol code gives: the keyed HMAC
signer equals HmacSigner, and the payload order.place / order.cancel sign equals
signing.signature_payload of the parameters sent, for every order shape."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from hotpath.types import BUY, OT_LIMIT, OT_LIMIT_MAKER, OT_MARKET, SELL, TIF_FOK, TIF_GTC, TIF_IOC
from trading.binance.keyed_hmac import KeyedHmacSigner
from trading.binance.signing import HmacSigner, signature_payload
from trading.engine.gateway.requests import RequestBuilder
from trading.engine.venue_types import FeedInstrument
from trading.instruments import InstrumentRegistry

REGISTRY = InstrumentRegistry()
INSTRUMENTS = [
    FeedInstrument(0, REGISTRY.get("BTCUSDT", "spot")),
    FeedInstrument(1, REGISTRY.get("BTCUSDT", "usdm")),
    FeedInstrument(2, REGISTRY.get("BTCUSD_PERP", "coinm")),
]


class RecordingSigner:
    """Signs like HMAC and remembers what it was asked to sign."""

    def __init__(self):
        self.inner = HmacSigner("recording-secret")
        self.payloads: list[str] = []

    def sign(self, payload: str) -> str:
        self.payloads.append(payload)
        return self.inner.sign(payload)


@settings(max_examples=300, deadline=None)
@given(secret=st.binary(min_size=1, max_size=200), payload=st.text(max_size=300))
def test_keyed_hmac_equals_hmac_signer(secret, payload):
    assert KeyedHmacSigner(secret).sign(payload) == HmacSigner(secret).sign(payload)
    assert (
        KeyedHmacSigner(secret).sign(payload)
        == hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
    )


@settings(max_examples=300, deadline=None)
@given(
    instrument=st.sampled_from(INSTRUMENTS),
    client_id=st.integers(1, 10**18 - 1),
    side=st.sampled_from([BUY, SELL]),
    order_type=st.sampled_from([OT_LIMIT, OT_LIMIT_MAKER, OT_MARKET]),
    tif=st.sampled_from([TIF_GTC, TIF_IOC, TIF_FOK]),
    price=st.integers(1, 10**12),
    qty=st.integers(1, 10**12),
    reduce_only=st.booleans(),
    now=st.integers(10**18, 2 * 10**18),
    api_key=st.text(alphabet="abcdefXYZ0123456789", min_size=1, max_size=64),
)
def test_signed_payloads_equal_the_documented_payload(
    instrument, client_id, side, order_type, tif, price, qty, reduce_only, now, api_key
):
    signer = RecordingSigner()
    builder = RequestBuilder(api_key, signer, prefix="node_1", recv_window_ms=5000, clock=lambda: now,
                             instruments=INSTRUMENTS)  # fmt: skip
    _, params = builder.order_place(7, instrument, client_id, side, order_type, tif, price, qty, reduce_only)
    assert signer.payloads == [signature_payload(params)]
    assert params["signature"] == signer.inner.sign(signature_payload(params))
    assert ("price" in params) == (order_type != OT_MARKET)
    assert ("reduceOnly" in params) == (reduce_only and instrument.spec.market != "spot")
    _, cancel = builder.order_cancel(8, instrument, client_id)
    assert signer.payloads[-1] == signature_payload(cancel)
    builder.session_authenticated = True
    _, unsigned = builder.order_place(
        9, instrument, client_id, side, order_type, tif, price, qty, reduce_only
    )
    assert "signature" not in unsigned and "apiKey" not in unsigned and len(signer.payloads) == 2
