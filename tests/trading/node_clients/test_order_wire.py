"""The compiled order path (order_wire) against its plain-Python reference, RequestBuilder: the same
bytes for every order shape, signed or in a logged-on session; one masked text frame that
websockets itself parses back; writes to a real socket, a full one included; and refusals of
what it cannot write exactly (declined: the Python path takes it) or must not write at all."""

from __future__ import annotations

import errno
import os
import socket
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from hotpath.types import BUY, OT_LIMIT, OT_LIMIT_MAKER, OT_MARKET, SELL, TIF_GTC, TIF_IOC
from trading.binance.keyed_hmac import KeyedHmacSigner
from trading.binance.signing import HmacSigner, verify_hmac
from trading.engine.gateway.binance import _order_wire
from trading.engine.gateway.order_wire import DECLINED, OrderWire
from trading.engine.gateway.requests import MS, ORDER_TYPES, RequestBuilder
from trading.engine.venue_types import FeedInstrument
from trading.instruments import InstrumentRegistry, InstrumentSpec

SECRET = b"order-wire-secret"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
REGISTRY = InstrumentRegistry()
NOW_NS = 1_723_161_300_123_456_789


def spec(tick: str, lot: str, market: str = "spot", symbol: str = "XYZUSDT") -> InstrumentSpec:
    return InstrumentSpec(
        symbol=symbol, venue="binance", market=market, base="XYZ", quote="USDT", settle="USDT",
        tick_size=Decimal(tick), lot_size=Decimal(lot), contract_type="linear", multiplier=Decimal(1),
        maker_fee_ppm=0, taker_fee_ppm=0,
    )  # fmt: skip


INSTRUMENTS = [
    FeedInstrument(0, REGISTRY.get("BTCUSDT", "spot")),
    FeedInstrument(1, REGISTRY.get("BTCUSDT", "usdm")),
    FeedInstrument(2, spec("5", "0.5")),  # steps that are not powers of ten
    FeedInstrument(3, spec("0.00000001", "100", market="usdm")),
]


def builder_and_wire(signer=None, api_key=API_KEY, prefix="node_1"):
    signer = signer or KeyedHmacSigner(SECRET)
    builder = RequestBuilder(api_key, signer, prefix=prefix, recv_window_ms=5000, clock=lambda: NOW_NS,
                             instruments=INSTRUMENTS)  # fmt: skip
    return builder, _order_wire(api_key, signer, prefix, 5000, INSTRUMENTS)


@settings(max_examples=300, deadline=None)
@given(
    instrument=st.sampled_from(INSTRUMENTS),
    request_id=st.integers(1, 2**53),
    client_id=st.integers(1, 10**18 - 1),
    side=st.sampled_from([BUY, SELL]),
    shape=st.sampled_from(sorted(ORDER_TYPES)),
    price=st.integers(1, 2**62),
    qty=st.integers(1, 2**62),
    reduce_only=st.booleans(),
    session=st.booleans(),
)
def test_requests_equal_the_python_builder_byte_for_byte(
    instrument, request_id, client_id, side, shape, price, qty, reduce_only, session
):
    builder, wire = builder_and_wire()
    builder.session_authenticated = session
    order_type, tif = shape
    ts_ms = NOW_NS // MS
    reference, params = builder.order_place(
        request_id, instrument, client_id, side, order_type, tif, price, qty, reduce_only
    )
    compiled = wire.place_json(
        request_id, instrument.index, client_id, side, order_type, tif, price, qty, reduce_only, ts_ms,
        not session,
    )  # fmt: skip
    if compiled is DECLINED:  # only when count * step does not fit 64 bits
        (_, price_step), (_, qty_step) = instrument.spec.decimal_scales()
        assert qty * qty_step >= 2**64 or (order_type != OT_MARKET and price * price_step >= 2**64)
    else:
        assert compiled == reference
        if not session:
            assert verify_hmac(SECRET, params, params["signature"])
    cancel_reference, _ = builder.order_cancel(request_id, instrument, client_id)
    assert wire.cancel_json(request_id, instrument.index, client_id, ts_ms, not session) == cancel_reference


def test_the_signature_is_hmac_sha256_of_the_documented_payload_for_any_key_length():
    for secret in (b"k", b"x" * 64, b"long secret " * 20):  # > 64 bytes: hashed first (RFC 2104)
        builder, wire = builder_and_wire(HmacSigner(secret))
        reference, params = builder.order_place(5, INSTRUMENTS[0], 9, BUY, OT_LIMIT, TIF_GTC, 6_183_763, 1500)
        assert (
            wire.place_json(5, 0, 9, BUY, OT_LIMIT, TIF_GTC, 6_183_763, 1500, False, NOW_NS // MS)
            == reference
        )
        assert verify_hmac(secret, params, params["signature"])


@pytest.mark.parametrize(
    "client_id, price, qty, order_type",
    [(0, 100, 1, OT_LIMIT), (-3, 100, 1, OT_LIMIT), (10**18, 100, 1, OT_LIMIT), (5, 0, 1, OT_LIMIT),
     (5, -1, 1, OT_LIMIT_MAKER), (5, 100, 0, OT_LIMIT), (5, 100, -7, OT_MARKET)],
)  # fmt: skip
def test_a_malformed_order_is_refused_like_the_python_builder(client_id, price, qty, order_type):
    builder, wire = builder_and_wire()
    with pytest.raises(ValueError):
        builder.order_place(1, INSTRUMENTS[0], client_id, BUY, order_type, TIF_GTC, price, qty)
    with pytest.raises(ValueError):
        wire.place_json(1, 0, client_id, BUY, order_type, TIF_GTC, price, qty, False, 1)
    with pytest.raises(ValueError):
        wire.send_place(-1, 1, 0, client_id, BUY, order_type, TIF_GTC, price, qty, False, 1, True)
    if client_id <= 0 or client_id >= 10**18:
        with pytest.raises(ValueError):
            wire.cancel_json(1, 0, client_id, 1)


def test_what_it_cannot_write_exactly_is_declined_for_the_python_path():
    _, wire = builder_and_wire()
    assert (
        wire.place_json(1, 9, 5, BUY, OT_LIMIT, TIF_GTC, 100, 1, False, 1) is DECLINED
    )  # unknown instrument
    assert wire.place_json(1, -1, 5, BUY, OT_LIMIT, TIF_GTC, 100, 1, False, 1) is DECLINED
    assert wire.cancel_json(1, 4095, 5, 1) is DECLINED
    assert wire.place_json(1, 0, 5, BUY, 3, TIF_GTC, 100, 1, False, 1) is DECLINED  # unknown order type
    assert wire.place_json(1, 0, 5, BUY, OT_LIMIT, 3, 100, 1, False, 1) is DECLINED  # unknown tif
    # values beyond C int from the journal record's int64 fields: declined, never OverflowError
    assert wire.place_json(1, 0, 5, BUY, OT_MARKET, 2**40, 100, 1, False, 1) is DECLINED
    assert wire.place_json(1, 0, 5, BUY, -(2**40), TIF_GTC, 100, 1, False, 1) is DECLINED
    # 2**62 steps of 5 overflow 64 bits: the Python path formats the exact decimal
    assert wire.place_json(1, 2, 5, BUY, OT_LIMIT, TIF_GTC, 2**62, 1, False, 1) is DECLINED
    # an Ed25519 account: nothing to sign with here, only a session's unsigned requests
    unsigned = OrderWire(API_KEY, None, "n1", 5000, ORDER_TYPES)
    unsigned.add_instrument(0, "BTCUSDT", 2, 1, 6, 1, False)
    assert unsigned.signs is False and wire.signs is True
    assert unsigned.place_json(1, 0, 5, BUY, OT_LIMIT, TIF_GTC, 100, 1, False, 1) is DECLINED
    assert unsigned.place_json(1, 0, 5, BUY, OT_LIMIT, TIF_GTC, 100, 1, False, 1, False) != DECLINED
    assert unsigned.send_cancel(-1, 1, 0, 5, 1, True) is DECLINED


@pytest.mark.parametrize(
    "api_key, prefix",
    [("", "n1"), ("k" * 257, "n1"), ('key"', "n1"), ("key\\", "n1"), ("kéy", "n1"), ("a b", "n1"),
     ("a&b", "n1"), ("a=b", "n1"), ("key\n", "n1"), (API_KEY, ""), (API_KEY, "x" * 17), (API_KEY, 'n"1')],
)  # fmt: skip
def test_hostile_account_text_is_refused_at_construction(api_key, prefix):
    with pytest.raises(ValueError):
        OrderWire(api_key, SECRET, prefix, 5000, ORDER_TYPES)


def test_an_order_wire_is_initialised_once():
    wire = OrderWire(API_KEY, SECRET, "n1", 5000, ORDER_TYPES)
    with pytest.raises(RuntimeError):
        wire.__init__(API_KEY, SECRET, "n2", 5000, ORDER_TYPES)


def test_bad_construction_arguments_are_refused():
    with pytest.raises(ValueError):
        OrderWire(API_KEY, b"", "n1", 5000, ORDER_TYPES)
    for window in (0, -1, 60_001):
        with pytest.raises(ValueError):
            OrderWire(API_KEY, SECRET, "n1", window, ORDER_TYPES)
    with pytest.raises(ValueError):
        OrderWire(API_KEY, SECRET, "n1", 5000, {(9, 0): ("LIMIT", "GTC")})
    with pytest.raises(TypeError):
        OrderWire(API_KEY, SECRET, "n1", 5000, {(0, 0): (b"LIMIT", "GTC")})


@pytest.mark.parametrize(
    "index, symbol, scales",
    [(0, 'BTC"USDT', ((2, 1), (6, 1))), (0, "BTC USDT", ((2, 1), (6, 1))), (0, "", ((2, 1), (6, 1))),
     (0, "S" * 49, ((2, 1), (6, 1))), (0, "BTCÜSDT", ((2, 1), (6, 1))), (4096, "BTCUSDT", ((2, 1), (6, 1))),
     (-1, "BTCUSDT", ((2, 1), (6, 1))), (0, "BTCUSDT", ((19, 1), (6, 1))), (0, "BTCUSDT", ((2, 0), (6, 1))),
     (0, "BTCUSDT", ((2, 1), (6, 2**63)))],
)  # fmt: skip
def test_an_instrument_it_cannot_write_is_refused_and_left_to_the_python_path(index, symbol, scales):
    _, wire = builder_and_wire()
    (price_digits, price_step), (qty_digits, qty_step) = scales
    with pytest.raises((ValueError, OverflowError)):
        wire.add_instrument(index, symbol, price_digits, price_step, qty_digits, qty_step, False)
    assert wire.knows(index) is (0 <= index < 4096 and index in {i.index for i in INSTRUMENTS})


def test_the_gateway_leaves_an_unwritable_account_to_the_python_path():
    wire = _order_wire(API_KEY, KeyedHmacSigner(SECRET), "n1", 5000, INSTRUMENTS)
    assert all(wire.knows(item.index) for item in INSTRUMENTS) and not wire.knows(4)
    assert _order_wire('key"', KeyedHmacSigner(SECRET), "n1", 5000, INSTRUMENTS) is None


def _read_frames(data: bytes) -> list[Frame]:
    """Parse client frames the way a websockets server does (masks required)."""
    reader = StreamReader()
    reader.feed_data(data)
    frames = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=True)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
            continue
        raise AssertionError("a truncated frame")
    return frames


def test_frames_are_single_masked_text_frames_that_websockets_parses_back():
    _, wire = builder_and_wire(prefix="n")
    place = wire.place_json(3, 0, 7, SELL, OT_LIMIT, TIF_IOC, 6_000_001, 2, False, 1_723_161_300_123)
    cancel = wire.cancel_json(4, 0, 7, 1, False)  # unsigned: under 126 bytes, a one-byte length
    assert len(place) >= 126 > len(cancel)
    frames_bytes = [
        wire.send_place(-1, 3, 0, 7, SELL, OT_LIMIT, TIF_IOC, 6_000_001, 2, False, 1_723_161_300_123, True),
        wire.send_cancel(-1, 4, 0, 7, 1, False),
    ]
    frames = _read_frames(b"".join(frames_bytes))
    assert [(f.opcode, f.fin, f.data) for f in frames] == [
        (Opcode.TEXT, True, place),
        (Opcode.TEXT, True, cancel),
    ]
    # a fresh mask per frame (RFC 6455 5.3): the masked bytes of identical requests differ
    again = [wire.send_cancel(-1, 4, 0, 7, 1, False) for _ in range(200)]
    assert len({frame[2:6] for frame in again}) > 190
    assert all(f.data == cancel for f in _read_frames(b"".join(again)))


def test_it_writes_to_a_socket_and_hands_back_what_a_full_buffer_did_not_take():
    _, wire = builder_and_wire()
    left, right = socket.socketpair()
    try:
        left.setblocking(False)
        right.setblocking(False)
        assert wire.send_cancel(left.fileno(), 1, 0, 7, 1, True) is None  # all of it left
        written = right.recv(65536)
        assert _read_frames(written)[0].data == wire.cancel_json(1, 0, 7, 1, True)
        # fill the socket buffer: the next frame is handed back whole (or its unsent tail)
        while True:
            try:
                left.send(b"\0" * 65536)
            except BlockingIOError:
                break
        rest = wire.send_place(left.fileno(), 2, 0, 7, BUY, OT_LIMIT, TIF_GTC, 100, 1, False, 1, True)
        assert isinstance(rest, bytes) and 0 < len(rest) <= wire.frame_length
        assert wire.send_errno == 0, "a full buffer is backpressure, not an error"
    finally:
        left.close()
        right.close()
    # send() failing outright (here: not a socket): nothing is lost, the whole frame comes back
    # for the transport, which meets the error itself and reports the connection lost
    read_end, write_end = os.pipe()
    try:
        rest = wire.send_place(write_end, 3, 0, 7, BUY, OT_LIMIT, TIF_GTC, 100, 1, False, 1, True)
        assert isinstance(rest, bytes) and len(rest) == wire.frame_length
        assert wire.send_errno == errno.ENOTSOCK
        assert _read_frames(rest)[0].data == wire.place_json(
            3, 0, 7, BUY, OT_LIMIT, TIF_GTC, 100, 1, False, 1
        )
    finally:
        os.close(read_end)
        os.close(write_end)
