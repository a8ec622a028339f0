"""The Binance order gateway against a scripted WebSocket API on loopback: requests built and signed
exactly, execution reports and error responses mapped to engine inputs, local rejects while
disconnected, reconnects, foreign ids, reconciliation helpers."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from hotpath.types import (
    EV_CANCEL_REJECT,
    EV_ORDER_ACK,
    EV_ORDER_CANCELED,
    EV_ORDER_EXPIRED,
    EV_ORDER_FILL,
    EV_ORDER_REJECT,
    F_MAKER,
    F_SELL,
    JOURNAL_RECORD_DTYPE,
    OT_LIMIT,
    OT_LIMIT_MAKER,
    OT_MARKET,
    REC_CANCEL_SENT,
    REC_INPUT,
    REC_ORDER_CANCELED,
    REC_ORDER_NEW,
    REC_ORDER_SENT,
    SELL,
    TIF_FOK,
    TIF_GTC,
    TIF_IOC,
)
from tests.trading.node_clients.scripted_venue import Recorder, ScriptedVenue, running, until
from trading.binance.signing import Ed25519Signer, HmacSigner, verify_ed25519, verify_hmac
from trading.engine.gateway.binance import BinanceOrderGateway, GatewayDisconnected, VenueError

SECRET = b"gateway-test-secret"
API_KEY = "test-api-key"
NOW_NS = 1_723_161_300_123_456_789
NOW_MS = 1_723_161_300_123
MS = 1_000_000


def fixed_clock():
    return NOW_NS


def order_record(order_id, instrument=0, *, price=6_183_763, qty=1500, sell=False, order_type=OT_LIMIT,
                 tif=TIF_GTC, kind=REC_ORDER_SENT):  # fmt: skip
    return {"kind": kind, "order_id": order_id, "instrument": instrument, "price": price, "qty": qty,
            "flags": F_SELL if sell else 0, "a": order_type, "b": tif}  # fmt: skip


def cancel_record(order_id, instrument=0):
    return {"kind": REC_CANCEL_SENT, "order_id": order_id, "instrument": instrument, "price": 1, "qty": 1}


def journal(*rows: dict) -> np.ndarray:
    out = np.zeros(len(rows), dtype=JOURNAL_RECORD_DTYPE)
    for k, row in enumerate(rows):
        out[k]["seq"] = k + 1
        for key, value in row.items():
            out[k][key] = value
    return out


def execution_report(client_order_id, x, *, status=None, symbol="BTCUSDT", side="BUY", order_id=555,
                     last_qty="0.00000000", last_price="0.00000000", trade_id=-1, fee="0", fee_asset=None,
                     maker=False, original_id="", transact_ms=1_723_161_300_500):  # fmt: skip
    """An executionReport as user-data-stream.md documents it."""
    return {
        "e": "executionReport", "E": transact_ms + 1, "s": symbol, "c": client_order_id, "S": side,
        "o": "LIMIT", "f": "GTC", "q": "0.00150000", "p": "61837.63000000", "P": "0.00000000",
        "F": "0.00000000", "g": -1, "C": original_id, "x": x, "X": status or x, "r": "NONE", "i": order_id,
        "l": last_qty, "z": last_qty, "L": last_price, "n": fee, "N": fee_asset, "T": transact_ms,
        "t": trade_id, "I": 1, "w": True, "m": maker, "M": False, "O": transact_ms, "Z": "0.00000000",
        "Y": "0.00000000", "Q": "0.00000000", "V": "NONE",
    }  # fmt: skip


def ev(kind, order_id, *, price=0, qty=0, seq=0, aux=0, flags=0, ts_event=1_723_161_300_500 * MS,
       ts_local=NOW_NS, instrument=0):  # fmt: skip
    return (ts_event, ts_local, price, qty, seq, aux, order_id, kind, flags, instrument, 0)


def make_gateway(venue, instruments, recorder, **kwargs):
    kwargs.setdefault("clock", fixed_clock)
    kwargs.setdefault("prefix", "n1")
    signer = kwargs.pop("signer", HmacSigner(SECRET))
    return BinanceOrderGateway(
        venue.api_url, API_KEY, signer, instruments=instruments, on_events=recorder, **kwargs
    )


async def connected_gateway(venue, instruments, recorder, **kwargs):
    states = []
    gateway = make_gateway(venue, instruments, recorder, on_state=states.append, **kwargs)
    return gateway, states


@pytest.mark.asyncio
async def test_order_place_and_cancel_requests_are_exact_and_signed(venue, btc, eth):
    recorder = Recorder()
    gateway, states = await connected_gateway(venue, [btc, eth], recorder)
    async with running(gateway):
        await until(lambda: states == [True])
        subscribe = venue.requests[0]
        assert subscribe.method == "userDataStream.subscribe.signature", "no session: the signed variant"
        assert set(subscribe.params) == {"apiKey", "timestamp", "recvWindow", "signature"}
        assert verify_hmac(SECRET, subscribe.params, subscribe.params["signature"])
        batch = journal(
            {"kind": REC_INPUT, "order_id": 99},  # other records are not commands
            {"kind": REC_ORDER_NEW, "order_id": 7},
            order_record(7, price=6_183_763, qty=1500),
            order_record(8, 1, price=250_000, qty=12_345, sell=True, order_type=OT_LIMIT_MAKER),
            order_record(9, price=6_000_000, qty=1, tif=TIF_IOC),
            order_record(10, price=6_000_001, qty=2, tif=TIF_FOK, sell=True),
            order_record(11, price=0, qty=1_000_000, order_type=OT_MARKET),
            cancel_record(7),
            cancel_record(12),  # cancelled inside the engine before it was ever sent: not sent
            {"kind": REC_ORDER_CANCELED, "order_id": 12},
        )
        assert gateway.submit(batch) == 6
        placed = [await venue.next_request("order.place") for _ in range(5)]
        cancel = await venue.next_request("order.cancel")
    common = {"newOrderRespType": "ACK", "recvWindow": 5000, "timestamp": NOW_MS, "apiKey": API_KEY}
    expected = [
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "price": "61837.63",
         "quantity": "0.001500", "newClientOrderId": "n1-7"},
        {"symbol": "ETHUSDT", "side": "SELL", "type": "LIMIT_MAKER", "price": "2500.00", "quantity": "0.12345",
         "newClientOrderId": "n1-8"},
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC", "price": "60000.00",
         "quantity": "0.000001", "newClientOrderId": "n1-9"},
        {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "FOK", "price": "60000.01",
         "quantity": "0.000002", "newClientOrderId": "n1-10"},
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1.000000", "newClientOrderId": "n1-11"},
    ]  # fmt: skip
    for request, want in zip(placed, expected, strict=True):
        params = dict(request.params)
        signature = params.pop("signature")
        assert params == {**want, **common}
        assert verify_hmac(SECRET, request.params, signature)
        assert not verify_hmac(b"another secret", request.params, signature)
    params = dict(cancel.params)
    assert verify_hmac(SECRET, cancel.params, params.pop("signature"))
    assert params == {"symbol": "BTCUSDT", "origClientOrderId": "n1-7", "recvWindow": 5000, "timestamp": NOW_MS,
                      "apiKey": API_KEY}  # fmt: skip
    assert len({r.id for r in venue.requests}) == len(venue.requests), "request ids are unique"
    assert gateway.stats.sent_orders == 5 and gateway.stats.sent_cancels == 1
    assert gateway.stats.compiled_sends == 6, "an HMAC account on plain TCP: the compiled order path"


class SignerWithoutSecret:
    """An HMAC signer that does not hand its secret out: the gateway must use the Python path."""

    def __init__(self, secret):
        self._inner = HmacSigner(secret)

    def sign(self, payload: str) -> str:
        return self._inner.sign(payload)


@pytest.mark.asyncio
async def test_the_compiled_and_the_python_order_paths_put_the_same_bytes_on_the_wire(venue, btc, eth):
    texts = {}
    for compiled, signer in ((True, HmacSigner(SECRET)), (False, SignerWithoutSecret(SECRET))):
        recorder = Recorder()
        gateway, states = await connected_gateway(venue, [btc, eth], recorder, signer=signer)
        async with running(gateway):
            await until(lambda: states == [True])  # noqa: B023 (awaited in this iteration)
            batch = journal(
                order_record(7, price=6_183_763, qty=1500),
                order_record(8, 1, price=250_000, qty=12_345, sell=True, order_type=OT_LIMIT_MAKER),
                order_record(11, price=0, qty=1_000_000, order_type=OT_MARKET),
                cancel_record(7),
            )
            assert gateway.submit(batch) == 4
            requests = [await venue.next_request("order.place") for _ in range(3)]
            requests.append(await venue.next_request("order.cancel"))
        assert gateway.stats.compiled_sends == (4 if compiled else 0)
        texts[compiled] = [request.text for request in requests]
        assert all(verify_hmac(SECRET, r.params, r.params["signature"]) for r in requests)
    assert texts[True] == texts[False]


@pytest.mark.asyncio
async def test_a_venue_that_stops_reading_gets_every_order_intact_and_in_order(venue, btc):
    """The socket buffer fills: the compiled path hands what send() did not take to the transport,
    later orders queue behind it (the Python path, with websockets' flow control), and once the
    venue reads again every request arrives whole, signed and in submit order."""
    recorder = Recorder()
    gateway, states = await connected_gateway(venue, [btc], recorder)
    async with running(gateway):
        await until(lambda: states == [True])
        venue.reading.clear()
        count = 20_000  # ~8 MB of requests: more than the loopback socket buffers hold
        batch = journal(*(order_record(k + 1, price=6_000_000 + k, qty=k + 1) for k in range(count)))
        assert gateway.submit(batch) == count
        assert gateway.stats.deferred_sends >= 1, "the buffer never filled: the test proves nothing"
        assert 0 < gateway.stats.compiled_sends < count
        venue.reading.set()
        placed = [await venue.next_request("order.place") for _ in range(count)]
    assert [request.params["newClientOrderId"] for request in placed] == [f"n1-{k + 1}" for k in range(count)]
    assert all(verify_hmac(SECRET, r.params, r.params["signature"]) for r in placed[::997])
    assert placed[-1].params["price"] == "60199.99" and gateway.stats.send_errors == 0


@pytest.mark.asyncio
async def test_order_fields_out_of_any_range_are_sent_or_rejected_locally_never_raised(venue, btc):
    """A MARKET order's tif is not sent (any value goes); a LIMIT order with an unknown tif is
    refused here; neither escapes submit(), and the rest of the batch still goes out."""
    recorder = Recorder()
    gateway, states = await connected_gateway(venue, [btc], recorder)
    async with running(gateway):
        await until(lambda: states == [True])
        batch = journal(
            order_record(1, price=0, qty=5, order_type=OT_MARKET, tif=2**40),
            order_record(2, tif=7),
            order_record(3, order_type=2**40),
            order_record(4),
        )
        assert gateway.submit(batch) == 2
        placed = [await venue.next_request("order.place") for _ in range(2)]
        await until(lambda: len(recorder.records()) == 2)
    assert [r.params["newClientOrderId"] for r in placed] == ["n1-1", "n1-4"]
    assert placed[0].params["type"] == "MARKET" and "timeInForce" not in placed[0].params
    assert {r[6] for r in recorder.records()} == {2, 3} and gateway.stats.local_rejects == 2


def _self_signed_tls(directory):
    """A server context for 127.0.0.1 and the certificate file that trusts it."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = directory / "venue.pem", directory / "venue.key"
    cert_file.write_bytes(certificate.public_bytes(Encoding.PEM))
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


@pytest.mark.asyncio
async def test_over_tls_the_compiled_frames_go_through_the_transport(btc, tmp_path, monkeypatch):
    """wss:// (as Binance itself): frames built by the compiled path are encrypted by the TLS
    transport, never written to the raw socket; the venue reads exact, signed requests."""
    context, cert_file = _self_signed_tls(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the client's default context trusts it
    tls_venue = await ScriptedVenue(context).start()
    try:
        recorder = Recorder()
        gateway, states = await connected_gateway(tls_venue, [btc], recorder)
        assert gateway.stats.compiled_sends == 0
        async with running(gateway):
            await until(lambda: states == [True])
            assert gateway._wire_frames and gateway._wire_socket is None, "TLS: through the transport"
            assert gateway.submit(journal(order_record(5), cancel_record(5))) == 2
            place = await tls_venue.next_request("order.place")
            cancel = await tls_venue.next_request("order.cancel")
        assert gateway.stats.compiled_sends == 2 and gateway.stats.deferred_sends == 0
        assert place.params["newClientOrderId"] == "n1-5" and cancel.params["origClientOrderId"] == "n1-5"
        assert verify_hmac(SECRET, place.params, place.params["signature"])
        assert verify_hmac(SECRET, cancel.params, cancel.params["signature"])
    finally:
        await tls_venue.close()


@pytest.mark.asyncio
async def test_session_logon_with_ed25519_then_orders_are_not_signed(venue, btc):
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    recorder = Recorder()
    gateway, states = await connected_gateway(
        venue, [btc], recorder, signer=Ed25519Signer(pem), use_session_logon=True
    )
    async with running(gateway):
        await until(lambda: states == [True])
        assert gateway.submit(journal(order_record(3, price=100, qty=5))) == 1
        place = await venue.next_request("order.place")
    logon, subscribe = venue.requests[0], venue.requests[1]
    assert (logon.method, subscribe.method) == ("session.logon", "userDataStream.subscribe")
    assert set(logon.params) == {"apiKey", "timestamp", "recvWindow", "signature"}
    assert logon.params["apiKey"] == API_KEY and logon.params["timestamp"] == NOW_MS
    assert verify_ed25519(public, logon.params, logon.params["signature"])
    assert place.params == {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                            "price": "1.00", "quantity": "0.000005", "newClientOrderId": "n1-3",
                            "newOrderRespType": "ACK", "recvWindow": 5000, "timestamp": NOW_MS}  # fmt: skip
    # an Ed25519 key cannot be used in compiled code, but a session's requests carry no signature
    assert gateway.stats.compiled_sends == 1


@pytest.mark.asyncio
async def test_execution_reports_become_engine_inputs(venue, btc):
    recorder = Recorder()
    gateway, states = await connected_gateway(venue, [btc], recorder)
    reports = [
        execution_report("n1-7", "NEW", order_id=555),
        execution_report("n1-7", "TRADE", status="PARTIALLY_FILLED", last_qty="0.00050000",
                         last_price="61837.63000000", trade_id=9001, fee="0.03091881", fee_asset="USDT", maker=True),
        execution_report("n1-7", "TRADE", status="FILLED", last_qty="0.00100000", last_price="61837.62000000",
                         trade_id=9002, fee="0.00000100", fee_asset="BNB"),
        execution_report("n1-8", "NEW", side="SELL", order_id=556),
        execution_report("cxl-abc", "CANCELED", side="SELL", order_id=556, original_id="n1-8"),
        execution_report("n1-9", "EXPIRED", order_id=557),
        execution_report("n1-10", "REJECTED", order_id=558),
        execution_report("n1-11", "TRADE", side="SELL", last_qty="0.00000100", last_price="61837.64000000",
                         trade_id=9003, fee="0.0000000001", fee_asset="USDT"),
    ]  # fmt: skip
    async with running(gateway):
        await until(lambda: states == [True])
        for report in reports:
            await venue.push_api_event(report)
        await until(lambda: len(recorder) == len(reports))
    assert recorder.records() == [
        ev(EV_ORDER_ACK, 7, aux=555),
        ev(EV_ORDER_FILL, 7, price=6_183_763, qty=500, seq=9001, aux=30_918_810, flags=F_MAKER),
        ev(EV_ORDER_FILL, 7, price=6_183_762, qty=1000, seq=9002, aux=0),  # fee in BNB: not booked
        ev(EV_ORDER_ACK, 8, aux=556, flags=F_SELL),
        ev(EV_ORDER_CANCELED, 8, flags=F_SELL),  # the order is C; c is the cancel's own id
        ev(EV_ORDER_EXPIRED, 9),
        ev(EV_ORDER_REJECT, 10, aux=-2010),
        ev(EV_ORDER_FILL, 11, price=6_183_764, qty=1, seq=9003, aux=0, flags=F_SELL),  # 0.1 nano: rounded
    ]
    stats = gateway.stats
    assert (stats.acked, stats.fills, stats.canceled, stats.expired) == (2, 3, 1, 1)
    assert dict(stats.fee_notes) == {"fee_not_settlement": 1, "fee_rounded": 1}
    assert dict(stats.rejected) == {-2010: 1}


@pytest.mark.asyncio
async def test_error_responses_become_rejects_and_5xx_stays_unknown(venue, btc):
    recorder = Recorder()
    gateway, states = await connected_gateway(venue, [btc], recorder)
    async with running(gateway):
        await until(lambda: states == [True])
        gateway.submit(journal(order_record(21), order_record(22), cancel_record(23), cancel_record(24)))
        place_a = await venue.next_request("order.place")
        place_b = await venue.next_request("order.place")
        cancel_a = await venue.next_request("order.cancel")
        cancel_b = await venue.next_request("order.cancel")
        await venue.reply(
            place_a, status=400, error={"code": -2010, "msg": "Order would immediately match and take."}
        )
        await venue.reply(place_b, status=503, error={"code": -1001, "msg": "Internal error"})
        await venue.reply(cancel_a, status=400, error={"code": -2011, "msg": "Unknown order sent."})
        await venue.reply(cancel_b, result={"symbol": "BTCUSDT", "status": "CANCELED"})
        await until(lambda: gateway.stats.unknown_outcome == 1 and len(recorder) == 2)
        await asyncio.sleep(0.05)
    assert recorder.records() == [
        ev(EV_ORDER_REJECT, 21, aux=-2010, ts_event=NOW_NS),
        ev(EV_CANCEL_REJECT, 23, aux=-2011, ts_event=NOW_NS),
    ]
    assert dict(gateway.stats.rejected) == {-2010: 1} and dict(gateway.stats.cancel_rejected) == {-2011: 1}


@pytest.mark.asyncio
async def test_submit_while_disconnected_rejects_locally_on_the_next_loop_turn(btc):
    recorder = Recorder()
    gateway = BinanceOrderGateway("ws://127.0.0.1:1/ws-api/v3", API_KEY, HmacSigner(SECRET), prefix="n1",
                                  instruments=[btc], on_events=recorder, clock=fixed_clock)  # fmt: skip
    async with running(gateway):
        assert not gateway.connected
        assert (
            gateway.submit(journal(order_record(31), cancel_record(32), order_record(33, instrument=9))) == 0
        )
        assert recorder.records() == [], "never delivered inside the kernel's own turn"
        await asyncio.sleep(0)
        await until(lambda: len(recorder) == 3)
    assert recorder.records() == [
        ev(EV_ORDER_REJECT, 31, aux=-1001, ts_event=NOW_NS),
        ev(EV_CANCEL_REJECT, 32, aux=-1001, ts_event=NOW_NS),
        ev(EV_ORDER_REJECT, 33, aux=-1121, ts_event=NOW_NS, instrument=9),  # no such instrument
    ]
    assert gateway.stats.local_rejects == 3 and gateway.stats.sent_orders == 0


@pytest.mark.asyncio
async def test_reconnects_resubscribes_and_reports_connectivity(venue, btc):
    recorder = Recorder()
    gateway, states = await connected_gateway(venue, [btc], recorder, backoff_initial_s=0.05)
    async with running(gateway):
        await until(lambda: states == [True])
        gateway.submit(journal(order_record(41)))
        await venue.next_request("order.place")  # never answered: outcome unknown once the link drops
        await venue.drop_api()
        await until(lambda: states == [True, False, True])
        assert gateway.connected
        subscribes = [r for r in venue.requests if r.method == "userDataStream.subscribe.signature"]
        assert len(subscribes) == 2 and subscribes[0].connection is not subscribes[1].connection
        # the compiled path writes to the new connection's socket, not the old one's descriptor
        assert gateway.submit(journal(order_record(42))) == 1
        again = await venue.next_request("order.place")
        assert again.connection is subscribes[1].connection and again.params["newClientOrderId"] == "n1-42"
        assert gateway.stats.compiled_sends == 2
        await venue.push_api_event(execution_report("n1-41", "NEW", order_id=77))
        await until(lambda: len(recorder) == 1)
    assert recorder.records() == [ev(EV_ORDER_ACK, 41, aux=77)]
    assert states == [True, False, True, False], "stop() ends the connection too"
    # 41 lost with the first connection, 42 unanswered when stop() ended the second
    assert (gateway.stats.connects, gateway.stats.disconnects, gateway.stats.unknown_outcome) == (2, 1, 2)


@pytest.mark.asyncio
async def test_a_refused_subscription_is_counted_and_retried(venue, btc):
    venue.handshake_errors["userDataStream.subscribe.signature"] = {"code": -2015, "msg": "Invalid API-key"}
    recorder = Recorder()
    gateway, states = await connected_gateway(venue, [btc], recorder, backoff_initial_s=0.02)
    async with running(gateway):
        await until(lambda: gateway.stats.bad["handshake_error_-2015"] >= 2)
        assert states == [] and not gateway.connected
        del venue.handshake_errors["userDataStream.subscribe.signature"]
        await until(lambda: states == [True])


@pytest.mark.asyncio
async def test_foreign_ids_unknown_symbols_and_malformed_reports_never_reach_the_engine(venue, btc):
    recorder = Recorder()
    gateway, states = await connected_gateway(venue, [btc], recorder)
    bad_fill = execution_report("n1-5", "TRADE", last_qty="NaN", last_price="61837.63", trade_id=1)
    off_tick = execution_report("n1-5", "TRADE", last_qty="0.001", last_price="61837.635", trade_id=2)
    async with running(gateway):
        await until(lambda: states == [True])
        for report in (
            execution_report("n2-5", "NEW"),  # another node's order
            execution_report("web_abc123", "NEW"),  # a manual order
            execution_report("n1-05", "NEW"),  # not how we write ids
            execution_report("n1-5", "NEW", symbol="DOGEUSDT"),
            execution_report("n1-5", "TRADE_PREVENTION"),
            bad_fill,
            off_tick,
            execution_report("n1-5", "NEW", side="HOLD"),
            {"e": "outboundAccountPosition", "E": 1, "u": 1, "B": []},
        ):
            await venue.push_api_event(report)
        await venue.api_connections[-1].send(b"\x00binary")
        await venue.api_connections[-1].send('{"event": ')
        await venue.api_connections[-1].send('{"id": 424242, "status": 200, "result": {}}')
        await venue.push_api_event(execution_report("n1-5", "NEW", order_id=1))  # a good one, last
        await until(lambda: len(recorder) == 1)
    assert recorder.records() == [ev(EV_ORDER_ACK, 5, aux=1)]
    stats = gateway.stats
    assert stats.foreign_ids == 3
    assert dict(stats.skipped) == {"unknown_symbol": 1, "execution_TRADE_PREVENTION": 1,
                                   "event_outboundAccountPosition": 1}  # fmt: skip
    assert dict(stats.bad) == {"fill_nan": 1, "fill_off_tick": 1, "report_bad_side": 1, "binary_frame": 1,
                               "bad_json": 1, "unknown_response": 1}  # fmt: skip


@pytest.mark.asyncio
async def test_latency_samples_cover_send_response_and_ack(venue, btc):
    recorder = Recorder()
    samples = []
    ticks = iter(range(10**9, 10**12, 1000))
    gateway, states = await connected_gateway(
        venue, [btc], recorder, clock=lambda: next(ticks), on_latency=lambda stage, ns: samples.append(stage)
    )
    async with running(gateway):
        await until(lambda: states == [True])
        gateway.submit(journal(order_record(51)))
        request = await venue.next_request("order.place")
        await venue.reply(request, result={"orderId": 1})
        await venue.push_api_event(execution_report("n1-51", "NEW", order_id=1))
        await until(lambda: "ack" in samples)
        for trade_id in (7, 8):  # two partial fills: ack -> fill is the first one only
            await venue.push_api_event(execution_report("n1-51", "TRADE", status="PARTIALLY_FILLED", order_id=1,
                                                        last_qty="0.00050000", last_price="61837.63000000",
                                                        trade_id=trade_id))  # fmt: skip
        await until(lambda: gateway.stats.fills == 2)
    assert samples == ["send", "place_response", "ack", "fill"]
    assert all(ns > 0 for _, ns in gateway.stats.latency)


@pytest.mark.asyncio
async def test_reconciliation_helpers_return_exact_typed_results(venue, btc):
    recorder = Recorder()
    gateway, states = await connected_gateway(venue, [btc], recorder)
    order = {
        "symbol": "BTCUSDT",
        "orderId": 12,
        "orderListId": -1,
        "clientOrderId": "n1-7",
        "price": "61837.63000000",
        "origQty": "0.00150000",
        "executedQty": "0.00050000",
        "cummulativeQuoteQty": "30.91881500",
        "status": "PARTIALLY_FILLED",
        "timeInForce": "GTC",
        "type": "LIMIT",
        "side": "SELL",
        "stopPrice": "0.00000000",
        "icebergQty": "0.00000000",
        "time": 1_723_161_000_000,
        "updateTime": 1_723_161_000_100,
        "isWorking": True,
        "workingTime": 1_723_161_000_000,
        "origQuoteOrderQty": "0.00000000",
        "selfTradePreventionMode": "NONE",
    }
    manual = {**order, "orderId": 13, "clientOrderId": "web_x", "type": "LIMIT_MAKER", "side": "BUY"}
    trade = {
        "symbol": "BTCUSDT",
        "id": 9001,
        "orderId": 12,
        "orderListId": -1,
        "price": "61837.63000000",
        "qty": "0.00050000",
        "quoteQty": "30.91881500",
        "commission": "0.03091881",
        "commissionAsset": "USDT",
        "time": 1_723_161_000_050,
        "isBuyer": False,
        "isMaker": True,
        "isBestMatch": True,
    }
    canceled = {"symbol": "BTCUSDT", "origClientOrderId": "n1-7", "orderId": 12, "orderListId": -1,
                "clientOrderId": "cxl-1", "transactTime": 1_723_161_001_000, "price": "61837.63000000",
                "origQty": "0.00150000", "executedQty": "0.00050000", "cummulativeQuoteQty": "30.91881500",
                "status": "CANCELED", "timeInForce": "GTC", "type": "LIMIT", "side": "SELL",
                "selfTradePreventionMode": "NONE"}  # fmt: skip

    async def answer(method, result, **check):
        request = await venue.next_request(method)
        for key, value in check.items():
            assert request.params[key] == value
        assert verify_hmac(SECRET, request.params, request.params["signature"])
        await venue.reply(request, result)

    async with running(gateway):
        await until(lambda: states == [True])
        open_task = asyncio.create_task(gateway.open_orders("btcusdt"))
        await answer("openOrders.status", [order, manual], symbol="BTCUSDT")
        opened = await open_task
        status_task = asyncio.create_task(gateway.order_status("BTCUSDT", client_id=7))
        await answer("order.status", order, origClientOrderId="n1-7")
        status = await status_task
        trades_task = asyncio.create_task(gateway.my_trades("BTCUSDT", from_id=9000))
        await answer("myTrades", [trade], fromId=9000)
        trades = await trades_task
        account_task = asyncio.create_task(gateway.account_status())
        await answer("account.status", {"canTrade": True, "updateTime": 1_723_161_000_000, "balances": [
            {"asset": "BTC", "free": "0.50000000", "locked": "0.00150000"},
            {"asset": "USDT", "free": "1000.12345678", "locked": "0.00000000"}]})  # fmt: skip
        account = await account_task
        cancel_task = asyncio.create_task(gateway.cancel_all("BTCUSDT"))
        await answer("openOrders.cancelAll", [canceled], symbol="BTCUSDT")
        cancelled = await cancel_task
        failing = asyncio.create_task(gateway.order_status("BTCUSDT", venue_order_id=99))
        await venue.reply(
            await venue.next_request("order.status"), status=400, error={"code": -2013, "msg": "no"}
        )
        with pytest.raises(VenueError) as failure:
            await failing
        assert failure.value.code == -2013
    assert [
        (o.client_id, o.venue_order_id, o.side, o.order_type, o.price, o.qty, o.filled, o.leaves)
        for o in opened
    ] == [
        (7, 12, SELL, OT_LIMIT, 6_183_763, 1500, 500, 1000),
        (None, 13, 0, OT_LIMIT_MAKER, 6_183_763, 1500, 500, 1000),
    ]
    assert status == opened[0] and status.time_ns == 1_723_161_000_000 * MS and status.tif == TIF_GTC
    assert [
        (t.trade_id, t.venue_order_id, t.side, t.price, t.qty, t.fee_nano, t.fee_asset, t.maker)
        for t in trades
    ] == [(9001, 12, SELL, 6_183_763, 500, 30_918_810, "USDT", True)]
    assert account.can_trade and account.balances["BTC"].free_nano == 500_000_000
    assert (
        account.balances["BTC"].locked_nano == 1_500_000
        and account.balances["USDT"].free_nano == 1_000_123_456_780
    )
    assert [(o.client_id, o.status, o.filled, o.time_ns) for o in cancelled] == [
        (7, "CANCELED", 500, 1_723_161_001_000 * MS)
    ]


@pytest.mark.asyncio
async def test_reconciliation_needs_a_connection(btc):
    gateway = BinanceOrderGateway("ws://127.0.0.1:1/ws-api/v3", API_KEY, HmacSigner(SECRET), prefix="n1",
                                  instruments=[btc], on_events=Recorder())  # fmt: skip
    with pytest.raises(GatewayDisconnected):
        await gateway.open_orders()
    with pytest.raises(ValueError):
        await gateway.my_trades("DOGEUSDT")


@pytest.mark.asyncio
async def test_first_sent_marks_the_first_request_written_not_the_last(venue, btc):
    """Tick-to-order ends when the first request of a batch is on the wire."""
    ticks = iter(range(NOW_NS, NOW_NS + 10_000_000, 1_000))  # each clock() call 1 us later
    recorder = Recorder()
    gateway, states = await connected_gateway(venue, [btc], recorder, clock=lambda: next(ticks))
    async with running(gateway):
        await until(lambda: states == [True])
        before = next(ticks)
        assert gateway.submit(journal(order_record(61), order_record(62), order_record(63))) == 3
        after = next(ticks)
        first = gateway.first_sent_ns
        assert before < first < after
        sends = [ns for stage, ns in gateway.stats.latency if stage == "send"]
        # three requests, each taking clock time: the first ends well before the last
        assert len(sends) == 3 and after - first > sends[-1]
        assert gateway.submit(journal({"kind": REC_INPUT, "order_id": 1})) == 0
        assert gateway.first_sent_ns == first, "a batch without commands leaves the mark alone"
