"""Latency of the node's venue clients on the tick-to-order path (the budget is p99 <= 50 us from
message received to order sent, engine included).

  decode:  a real BTCUSDT spot capture, frame by frame, as the feed sees it: orjson + the
           compiled decoder (per message type), the depth fast path (read from the frame's
           text), and the feed's whole frame handling (decode + depth sync + emit) on a live book
  submit:  BinanceOrderGateway.submit() of one order record (select, build, sign, frame, write to
           a loopback socket), for HMAC-signed requests (the compiled order path, and the Python
           path for comparison), an Ed25519 session (unsigned requests) and Ed25519 per-request
           signatures; the same with the caches swept or the CPU idle before each order; and
           how a websockets write is issued (eager / task / await)

    python -m bench.node_clients [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = "hftbacktest/spot/btcusdt_20240808.gz"
COMMAND = "python -m bench.node_clients"
HANDSHAKE = ("session.logon", "userDataStream.subscribe", "userDataStream.subscribe.signature")


def _summary(samples: list[int]) -> dict:
    values = np.asarray(samples, dtype=np.int64)
    return {
        "median_ns": round(float(np.median(values)), 1),
        "p90_ns": round(float(np.percentile(values, 90)), 1),
        "p99_ns": round(float(np.percentile(values, 99)), 1),
        "samples": len(values),
    }


def _capture_frames(data_dir: Path, limit: int) -> tuple[dict, list[tuple[str, str]]]:
    """(first REST snapshot, [(channel, stream frame text)] after it) of the real capture."""
    snapshot = None
    frames: list[tuple[str, str]] = []
    with gzip.open(data_dir / CAPTURE, "rb") as lines:
        for line in lines:
            text = line[line.index(b" ") + 1 :].rstrip().decode()
            if snapshot is None:
                if text.startswith('{"lastUpdateId"'):
                    snapshot = orjson.loads(text)
                continue
            if text.startswith('{"stream"'):
                channel = text[text.index("@") + 1 : text.index('"', text.index("@"))]
                frames.append((channel, text))
                if len(frames) >= limit:
                    break
    return snapshot, frames


def decode(quick: bool) -> list[dict]:
    from atomic_ops.env import environment
    from trading.engine.feeds.binance import BinanceMarketData
    from trading.engine.feeds.binance_decode import EventWriter, InstrumentCodec
    from trading.engine.venue_types import FeedInstrument
    from trading.instruments import InstrumentRegistry

    spec = InstrumentRegistry().get("BTCUSDT", "spot")
    snapshot, frames = _capture_frames(environment().data_dir, 30_000 if quick else 200_000)
    codec = InstrumentCodec(0, spec, False)
    writer = EventWriter()
    loads = orjson.loads
    clock = time.perf_counter_ns
    methods = {"depth@100ms": writer.depth, "trade": writer.trade, "bookTicker": writer.bbo}
    samples: dict[str, list[int]] = {name: [] for name in methods}
    levels: list[int] = []
    for _ in range(2):  # the first pass warms caches and orjson's key cache
        for name in samples:
            samples[name].clear()
        levels.clear()
        for channel, text in frames:
            method = methods[channel]
            t0 = clock()
            message = loads(text)
            writer.reset()
            method(codec, message["data"], 1)
            view = writer.view()
            samples[channel].append(clock() - t0)
            if channel == "depth@100ms":
                levels.append(len(view))
    fast_samples: list[int] = []
    for _ in range(2):
        fast_samples.clear()
        for channel, text in frames:
            if channel == "depth@100ms":
                t0 = clock()
                writer.stream_of(text)
                writer.reset()
                count = writer.depth_frame(codec, 1)
                fast_samples.append(clock() - t0)
                assert count >= 0, "a real frame the fast path declined"
    rows = [
        {"name": "decode depth diff, fast path (read from the frame's text), real BTCUSDT capture",
         **_summary(fast_samples)},
        {"name": "decode depth diff (orjson + compiled decoder), real BTCUSDT capture",
         "median_levels": float(np.median(levels)), "p99_levels": float(np.percentile(levels, 99)),
         **_summary(samples["depth@100ms"])},
        {"name": "decode trade", **_summary(samples["trade"])},
        {"name": "decode bookTicker", **_summary(samples["bookTicker"])},
    ]  # fmt: skip

    # the feed's whole frame handling on a live book: decode + sync + emit (a no-op consumer)
    feed = BinanceMarketData("ws://127.0.0.1:1", "ws://127.0.0.1:1", [FeedInstrument(0, spec)], on_events=len)
    slot = feed._slots[0]  # prime the book as a snapshot response would (benchmark only)
    last_id = snapshot["lastUpdateId"]
    frame_samples: list[int] = []
    on_frame = feed._on_frame
    slot.sync.apply_snapshot(last_id)
    for _, text in frames:
        t0 = clock()
        on_frame(text)
        frame_samples.append(clock() - t0)
    rows.append(
        {"name": "feed frame handling (decode + depth sync + emit), live book, all frame types",
         "gaps": feed.stats.gaps, **_summary(frame_samples)}
    )  # fmt: skip
    for row in rows:
        row["command"] = COMMAND
    return rows


# -- submit: a venue in another process, so its reads never share our interpreter --


def _venue_process(port_pipe, echo: bool) -> None:
    from websockets.asyncio.server import serve

    async def handle(ws):
        async for frame in ws:
            message = orjson.loads(frame)
            if message.get("method") in HANDSHAKE:
                await ws.send(orjson.dumps({"id": message["id"], "status": 200, "result": {}}).decode())
            elif echo:
                await ws.send('{"pong":1}')

    async def main():
        async with serve(handle, "127.0.0.1", 0, compression=None, max_size=None) as server:
            port_pipe.send(server.sockets[0].getsockname()[1])
            await asyncio.Future()

    asyncio.run(main())


def _start_venue(echo: bool = False):
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_venue_process, args=(child, echo), daemon=True)
    process.start()
    return process, parent.recv()


class _SecretlessSigner:
    """An HMAC signer that does not hand its secret to the compiled path: the Python path."""

    def __init__(self, secret: str):
        from trading.binance.keyed_hmac import KeyedHmacSigner

        self.sign = KeyedHmacSigner(secret).sign


async def _submit_samples(
    port: int, signer, use_session_logon: bool, n: int, sweep_mb: int = 0, idle_ms: float = 0
) -> tuple[list[int], int, int]:
    """Submit n orders one by one and time each; (samples, deferred sends, compiled sends).
    sweep_mb > 0: before each submit, write that many MB of numpy memory and touch a
    proportional heap of Python dicts, as the node's other work (frames, decoding, the engine,
    the journal) does between two orders. idle_ms > 0: sleep that long before each submit, as
    the node waits for the next frame."""
    from hotpath.types import JOURNAL_RECORD_DTYPE, OT_LIMIT_MAKER, REC_ORDER_SENT
    from trading.engine.gateway.binance import BinanceOrderGateway
    from trading.engine.venue_types import FeedInstrument
    from trading.instruments import InstrumentRegistry

    spec = InstrumentRegistry().get("BTCUSDT", "spot")
    gateway = BinanceOrderGateway(f"ws://127.0.0.1:{port}/ws-api/v3", "bench-key", signer, prefix="bench",
                                  instruments=[FeedInstrument(0, spec)], on_events=len,
                                  use_session_logon=use_session_logon)  # fmt: skip
    task = asyncio.create_task(gateway.run())
    async with asyncio.timeout(10):
        while not gateway.connected:
            await asyncio.sleep(0.005)
    records = np.zeros(4, dtype=JOURNAL_RECORD_DTYPE)  # what a turn drains: inputs, then the order
    records[3] = (4, 0, 0, 1, 6_183_763, 1000, OT_LIMIT_MAKER, 0, 0, 0, 0, REC_ORDER_SENT, 0, 0, 0)
    clock = time.perf_counter_ns
    samples = []
    sweep = np.ones(sweep_mb * 131_072) if sweep_mb else None
    heap = [{"price": str(i), "qty": i} for i in range(sweep_mb * 5_000)]
    for k in range(n):
        records[3]["order_id"] = k + 1
        if sweep is not None:
            sweep += 1.0
            for item in heap[::7]:
                item["qty"] += 1
        if idle_ms:
            await asyncio.sleep(idle_ms / 1000)
        t0 = clock()
        sent = gateway.submit(records)
        samples.append(clock() - t0)
        assert sent == 1
        if k % 8 == 7:
            await asyncio.sleep(0)  # let the loop run now and then, as a kernel's turns would
    gateway.stop()
    await task
    assert gateway.stats.send_errors == 0
    return samples, gateway.stats.deferred_sends, gateway.stats.compiled_sends


async def _write_modes(port: int, n: int) -> dict[str, list[int]]:
    """Call -> echo round trips for the ways of issuing a websockets send from synchronous code."""
    from websockets.asyncio.client import connect

    from trading.engine.gateway.eager_send import send_now

    results: dict[str, list[int]] = {"eager": [], "task": [], "await": []}
    text = '{"id":1,"method":"order.place","params":{"symbol":"BTCUSDT"}}'
    clock = time.perf_counter_ns
    async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
        for _ in range(2):
            for values in results.values():
                values.clear()
            for _ in range(n):
                t0 = clock()
                send_now(ws.send(text), print)
                await ws.recv()
                results["eager"].append(clock() - t0)
                t0 = clock()
                asyncio.ensure_future(ws.send(text))
                await ws.recv()
                results["task"].append(clock() - t0)
                t0 = clock()
                await ws.send(text)
                await ws.recv()
                results["await"].append(clock() - t0)
    return results


def submit(quick: bool) -> list[dict]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from trading.binance.keyed_hmac import KeyedHmacSigner
    from trading.binance.signing import Ed25519Signer, HmacSigner

    n = 2_000 if quick else 20_000
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    cases = [
        ("submit one order, HMAC-SHA256 signed, compiled path (KeyedHmacSigner: what runnode uses)",
         KeyedHmacSigner("bench" * 8), False),
        ("submit one order, HMAC-SHA256 signed, compiled path (signing.HmacSigner)", HmacSigner("bench" * 8), False),
        ("submit one order, HMAC-SHA256 signed, Python path (RequestBuilder + websockets framing)",
         _SecretlessSigner("bench" * 8), False),
        ("submit one order, Ed25519 session (session.logon: request unsigned), compiled path",
         Ed25519Signer(pem), True),
        ("submit one order, Ed25519 signature per request (no session), Python path", Ed25519Signer(pem), False),
    ]  # fmt: skip
    rows = []
    process, port = _start_venue()
    cold_n = 200 if quick else 1_000
    try:
        for name, signer, logon in cases:
            samples, deferred, compiled = asyncio.run(_submit_samples(port, signer, logon, n))
            rows.append({"name": name, "deferred_sends": deferred, "compiled_sends": compiled,
                         **_summary(samples[n // 10 :])})  # fmt: skip
        for path, signer in (
            ("compiled", KeyedHmacSigner("bench" * 8)),
            ("Python", _SecretlessSigner("bench" * 8)),
        ):
            for sweep_mb, idle_ms in ((1, 0), (4, 0), (16, 0), (0, 1)):
                samples, deferred, compiled = asyncio.run(
                    _submit_samples(port, signer, False, cold_n, sweep_mb, idle_ms)
                )
                before = f"caches swept with {sweep_mb} MB" if sweep_mb else f"the CPU idle for {idle_ms} ms"
                rows.append({"name": f"submit one order, HMAC, {path} path, {before} before each",
                             "deferred_sends": deferred, "compiled_sends": compiled,
                             **_summary(samples[cold_n // 10 :])})  # fmt: skip
    finally:
        process.kill()
    process, port = _start_venue(echo=True)
    try:
        modes = asyncio.run(_write_modes(port, 500 if quick else 3000))
    finally:
        process.kill()
    for mode, samples in modes.items():
        rows.append({"name": f"send -> loopback echo round trip, send issued by {mode}", **_summary(samples)})
    for row in rows:
        row["command"] = COMMAND
    return rows


def _drain_process(port_pipe) -> None:
    """A loopback TCP peer that reads and discards everything (the floor measurement's venue)."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    port_pipe.send(server.getsockname()[1])
    connection, _ = server.accept()
    while connection.recv(1 << 16):
        pass


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


# what happens before each timed call: nothing, the CPU asleep (the node waiting for a frame:
# 0.3 ms is the gap between frames at 20x), or the CPU kept busy for as long
_GAPS = (
    ("back to back", lambda: None),
    ("after the CPU idled 0.3 ms", lambda: time.sleep(0.0003)),
    ("after the CPU idled 1 ms", lambda: time.sleep(0.001)),
    ("after 1 ms of spinning", lambda: _spin(0.001)),
)


def order_build(quick: bool) -> list[dict]:
    """The compiled order path's build + sign alone (no write), back to back and after the
    gaps above: how much slower the same code runs once the CPU has been elsewhere."""
    from hotpath.types import BUY, OT_LIMIT, TIF_GTC
    from trading.engine.gateway.order_wire import OrderWire
    from trading.engine.gateway.requests import ORDER_TYPES

    wire = OrderWire("k" * 64, b"bench-secret", "bench", 5000, ORDER_TYPES)
    wire.add_instrument(0, "BTCUSDT", 2, 1, 5, 1, False)
    clock = time.perf_counter_ns
    rows = []
    for when, before in _GAPS:
        samples = []
        for k in range(300 if quick else 2_000):
            before()
            t0 = clock()
            wire.place_json(k + 1, 0, k + 1, BUY, OT_LIMIT, TIF_GTC, 6_183_763, 100, False, 1_723_161_300_000)
            samples.append(clock() - t0)
        rows.append({"name": f"compiled order build + HMAC (no write), {when}", "command": COMMAND,
                     **_summary(samples)})  # fmt: skip
    return rows


def send_floor(quick: bool) -> list[dict]:
    """What the operating system alone charges an order on this machine: one send() of an
    order-sized message on a loopback TCP connection, back to back and after the gaps above. No
    Python on the path but the call itself: whatever this costs, tick-to-order pays on top of its
    own work."""
    import socket

    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=_drain_process, args=(child,), daemon=True)
    process.start()
    rows = []
    try:
        connection = socket.create_connection(("127.0.0.1", parent.recv()))
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        message = b"x" * 400  # a signed order.place frame is ~400 bytes
        clock = time.perf_counter_ns
        for when, before in _GAPS:
            samples = []
            for _ in range(300 if quick else 2_000):
                before()
                t0 = clock()
                connection.send(message)
                samples.append(clock() - t0)
            rows.append({"name": f"one send() of 400 bytes on loopback TCP, {when}", **_summary(samples)})
        connection.close()
    finally:
        process.kill()
    for row in rows:
        row["command"] = COMMAND
    return rows


def clients(quick: bool) -> list[dict]:
    """Rows in bench/__main__.py's format: decode costs on the real capture, then submit costs,
    then the operating system's own floor for a send."""
    return decode(quick) + submit(quick) + order_build(quick) + send_floor(quick)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    for row in clients(args.quick):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    from bench.stopping import exit_cleanly_on_sigterm

    exit_cleanly_on_sigterm()
    sys.exit(main(sys.argv[1:]))
