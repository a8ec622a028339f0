"""The Binance protocol pieces both the node and the simulated venue use."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from hotpath.types import OT_LIMIT, OT_LIMIT_MAKER, OT_MARKET, TIF_FOK, TIF_GTC, TIF_IOC
from trading.binance import errors, ids, orders, streams
from trading.binance.signing import (
    Ed25519Signer,
    HmacSigner,
    sign_params,
    signature_payload,
    verify_ed25519,
    verify_hmac,
)

# The worked example of Binance's web-socket-api.md "SIGNED request example (HMAC)"
DOC_PARAMS = {
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.01000000",
    "price": "52000.00",
    "newOrderRespType": "ACK",
    "recvWindow": 100,
    "timestamp": 1645423376532,
    "apiKey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
}
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_SIGNATURE = "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"


def test_hmac_signature_matches_binance_documentation():
    assert signature_payload(DOC_PARAMS).startswith("apiKey=vmPUZE6m") and "&type=LIMIT" in signature_payload(
        DOC_PARAMS
    )
    signed = sign_params(dict(DOC_PARAMS), HmacSigner(DOC_SECRET))
    assert signed["signature"] == DOC_SIGNATURE
    assert verify_hmac(DOC_SECRET.encode(), signed, DOC_SIGNATURE.upper()), "hex is case-insensitive"


@pytest.mark.parametrize("tamper", [("price", "52000.01"), ("timestamp", 1645423376533), ("extra", "1")])
def test_hmac_verification_rejects_any_change(tamper):
    signed = sign_params(dict(DOC_PARAMS), HmacSigner(DOC_SECRET))
    signed[tamper[0]] = tamper[1]
    assert not verify_hmac(DOC_SECRET.encode(), signed, signed["signature"])
    assert not verify_hmac(DOC_SECRET.encode(), signed, None)
    assert not verify_hmac(b"other", dict(DOC_PARAMS), DOC_SIGNATURE)


def test_ed25519_round_trip_and_tampering():
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signed = sign_params(dict(DOC_PARAMS), Ed25519Signer(pem))
    assert verify_ed25519(public, signed, signed["signature"])
    signed["quantity"] = "1"
    assert not verify_ed25519(public, signed, signed["signature"])
    assert not verify_ed25519(public, DOC_PARAMS, "not base64!!")
    assert not verify_ed25519(public, DOC_PARAMS, 12)


def test_empty_hmac_secret_is_refused():
    with pytest.raises(ValueError):
        HmacSigner("")


def test_client_order_ids_round_trip_and_refuse_foreign_ids():
    assert ids.client_order_id("n1", 42) == "n1-42"
    assert ids.parse_client_order_id("n1", "n1-42") == 42
    for foreign in (
        "n2-42",
        "n1-",
        "n1-042",
        "n1-4x",
        "n1--1",
        "web_abc",
        None,
        42,
        "n1-" + "9" * 19,
        "n1-٤٢",
    ):
        assert ids.parse_client_order_id("n1", foreign) is None, foreign
    with pytest.raises(ValueError):
        ids.client_order_id("n1", 0)
    with pytest.raises(ValueError):
        ids.check_prefix("bad prefix")
    assert ids.PATTERN.match(ids.client_order_id("node_01", 2**62))


def test_streams_and_combined_url():
    assert streams.symbol_streams("BTCUSDT") == ["btcusdt@depth@100ms", "btcusdt@trade", "btcusdt@bookTicker"]
    assert streams.combined_url("ws://127.0.0.1:9443/", ["a@trade", "b@depth@100ms"]) == (
        "ws://127.0.0.1:9443/stream?streams=a@trade/b@depth@100ms"
    )
    with pytest.raises(ValueError):
        streams.combined_url("ws://x", [])
    with pytest.raises(ValueError):
        streams.depth_stream("BTCUSDT", 250)


@pytest.mark.parametrize(
    ("hot", "wire"),
    [
        ((OT_LIMIT, TIF_GTC), ("LIMIT", "GTC")),
        ((OT_LIMIT, TIF_IOC), ("LIMIT", "IOC")),
        ((OT_LIMIT, TIF_FOK), ("LIMIT", "FOK")),
        ((OT_LIMIT_MAKER, TIF_GTC), ("LIMIT_MAKER", None)),
        ((OT_MARKET, TIF_GTC), ("MARKET", None)),
    ],
)
def test_order_type_mapping_both_ways(hot, wire):
    assert orders.binance_order_type(*hot) == wire
    assert orders.hotpath_order_type(*wire) == hot


@pytest.mark.parametrize("wire", [("STOP_LOSS", None), ("LIMIT", "GTX"), ("LIMIT", None), ("", None)])
def test_unsupported_order_types_are_refused(wire):
    with pytest.raises(ValueError):
        orders.hotpath_order_type(*wire)


@pytest.mark.parametrize("hot", [(OT_LIMIT, 3), (OT_LIMIT, -1), (OT_LIMIT, 2**40), (7, TIF_GTC)])
def test_unknown_engine_order_types_are_refused_with_a_value_error(hot):
    with pytest.raises(ValueError):
        orders.binance_order_type(*hot)


def test_error_response_shape():
    assert errors.error_response("x", errors.TOO_MANY_ORDERS, errors.MSG_TOO_MANY_ORDERS) == {
        "id": "x",
        "status": 429,
        "error": {"code": -1015, "msg": "Too many new orders."},
    }
