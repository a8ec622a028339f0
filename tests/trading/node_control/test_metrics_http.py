"""The node's metrics HTTP port: /metrics, /healthz, and refusing everything else strictly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from trading.engine.metrics import LatencyHistogram, MetricsServer, NodeMetrics, bucket_index

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def server():
    metrics = NodeMetrics("http-node")
    metrics.stage("engine").record(1500)
    metrics.inc("fills", 2)
    metrics.set("trading_state", 2)
    server = MetricsServer(metrics, read_timeout_s=0.4, health=lambda: {"feeds": ["btcusdt"]})
    port = await server.start()
    assert port > 0 and server.port == port
    yield server
    await server.stop()


async def exchange(port: int, request: bytes, *, read_timeout_s: float = 5.0) -> tuple[int, dict, bytes]:
    """Send raw bytes, read until the server closes; (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), read_timeout_s)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, status, _reason = status_line.split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status), headers, body


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n".encode()


async def test_metrics_is_prometheus_text(server):
    status, headers, body = await exchange(server.port, get("/metrics"))
    assert status == 200
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert headers["connection"] == "close" and int(headers["content-length"]) == len(body)
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    [fills] = families["atomic_node_fills"].samples
    assert fills.value == 2 and fills.labels == {"node": "http-node"}
    engine_count = [s for s in families["atomic_node_stage_duration_seconds"].samples
                    if s.name.endswith("_count") and s.labels["stage"] == "engine"]  # fmt: skip
    assert [s.value for s in engine_count] == [1]


async def test_metrics_with_a_query_string_and_http_1_0(server):
    status, _, body = await exchange(server.port, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n")
    assert status == 200 and b"atomic_node_trading_state" in body


async def test_head_has_no_body(server):
    status, headers, body = await exchange(server.port, get("/metrics", "HEAD"))
    assert status == 200 and body == b"" and int(headers["content-length"]) > 1000


async def test_healthz_is_json(server):
    status, headers, body = await exchange(server.port, get("/healthz"))
    assert status == 200 and headers["content-type"] == "application/json"
    health = json.loads(body)
    assert health["status"] == "ok" and health["node"] == "http-node" and health["trading_state"] == 2
    assert health["feeds"] == ["btcusdt"] and health["uptime_s"] >= 0


async def test_histograms_is_every_stage_raw_and_windows_subtract_exactly(server):

    status, headers, body = await exchange(server.port, get("/histograms"))
    assert status == 200 and headers["content-type"] == "application/json"
    before = json.loads(body)
    assert before["node"] == "http-node"
    assert before["stages"]["engine"] == {
        "count": 1,
        "sum_ns": 1500,
        "max_ns": 1500,
        "buckets": [[bucket_index(1500), 1]],
    }
    engine = server.metrics.stage("engine")
    for ns in (40_000, 41_000, 900_000):
        engine.record(ns)
    status, _, body = await exchange(server.port, get("/histograms"))
    after = json.loads(body)["stages"]["engine"]
    earlier = dict(before["stages"]["engine"]["buckets"])
    window = {
        "buckets": [[i, n - earlier.get(i, 0)] for i, n in after["buckets"] if n - earlier.get(i, 0)],
        "sum_ns": after["sum_ns"] - before["stages"]["engine"]["sum_ns"],
    }
    hist = LatencyHistogram.from_counts("engine", window)
    assert hist.count == 3 and hist.sum == 981_000
    assert 41_000 <= hist.percentile(50) < 41_000 * (1 + 1 / 32)  # the window's own median, not 1.5 us
    assert 900_000 <= hist.percentile(99) < 900_000 * (1 + 1 / 32)


async def test_unknown_path_is_404(server):
    status, _, body = await exchange(server.port, get("/admin"))
    assert status == 404 and body == b"not found\n"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
async def test_other_methods_are_405(server, method):
    status, headers, _ = await exchange(server.port, get("/metrics", method))
    assert status == 405 and headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    ("request_bytes", "says"),
    [
        (b"GARBAGE\r\n\r\n", b"request line"),
        (b"GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"request line"),
        (b"GET /metrics HTTP/1.1 extra\r\nHost: x\r\n\r\n", b"request line"),
        (b"G(T /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"bad method"),
        (b"GET http://x/metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"absolute path"),
        (b"GET /met\x01rics HTTP/1.1\r\nHost: x\r\n\r\n", b"absolute path"),
        (b"GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", b"HTTP/1.0 and HTTP/1.1"),
        (b"GET /metrics HTTP/1.1\r\n\r\n", b"without Host"),
        (b"GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", b"malformed header"),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", b"malformed header"),
        (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", b"malformed header"),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", b"control characters"),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", b"repeated host"),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", b"bodies"),
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", b"bodies"),
    ],
)
async def test_malformed_requests_are_400(server, request_bytes, says):
    status, headers, body = await exchange(server.port, request_bytes)
    assert status == 400 and says in body, body
    assert headers["connection"] == "close"


async def test_oversized_headers_are_400_and_closed(server):
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 9000 + b"\r\n\r\n"
    status, _, body = await exchange(server.port, request)
    assert status == 400 and b"larger than 8192 bytes" in body


async def test_a_flood_of_headers_still_gets_its_400(server):
    """Far more than the limit: the answer must not be lost to a reset (lingering close)."""
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n" * 6000
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    assert raw.startswith(b"HTTP/1.1 400 ") and b"larger than 8192 bytes" in raw


async def test_just_under_the_header_limit_is_served(server):
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 7000 + b"\r\n\r\n"
    status, _, _ = await exchange(server.port, request)
    assert status == 200


async def test_a_silent_client_times_out_with_408(server):
    started = time.monotonic()
    status, _, body = await exchange(server.port, b"GET /metrics HTTP/1.1\r\n")
    elapsed = time.monotonic() - started
    assert status == 408 and b"not received in time" in body
    assert 0.35 <= elapsed < 2


async def test_a_trickling_client_times_out_too(server):
    """The deadline is for the whole head, not per byte (slowloris)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    answer = asyncio.create_task(reader.read())
    try:
        for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"z" * 100:
            if answer.done():
                break  # answered (and the server signalled EOF): stop sending
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)
        raw = await asyncio.wait_for(answer, 3)
    finally:
        writer.close()
    assert raw.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 1.5


async def test_connection_limit(server):
    server.max_connections = 2
    idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(2)]
    await asyncio.sleep(0.05)
    status, _, _ = await exchange(server.port, get("/metrics"))
    assert status == 503
    for _, writer in idle:
        writer.close()


async def test_a_failing_health_callback_is_a_500_not_a_hang():
    def broken() -> dict:
        raise RuntimeError("boom")

    server = MetricsServer(NodeMetrics("sick-node"), health=broken)
    port = await server.start()
    try:
        status, _, body = await exchange(port, get("/healthz"))
        assert status == 500 and body == b"internal error\n"
        status, _, _ = await exchange(port, get("/metrics"))
        assert status == 200
    finally:
        await server.stop()


async def test_stop_closes_the_port():
    server = MetricsServer(NodeMetrics("stop-node"))
    port = await server.start()
    await server.stop()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
