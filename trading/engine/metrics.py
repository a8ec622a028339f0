"""Node metrics: latency histograms per stage, counters and gauges, published as a dict for the
live panels and as Prometheus text (exposition format 0.0.4) on a small HTTP port.

Everything here is recorded from the node's one asyncio thread; there are no locks.

Latency histograms are log-linear: exact up to 64 ns, then every power of two is split into 32
equal sub-buckets (a percentile is less than 1/32, 3.1 %, above the sample it stands for: fine
enough to tell a 10 % change in a p99), up to 2^36 ns (68.7 s); longer samples go to an
overflow bucket. A bucket holds the samples v with lower < v <= upper (upper-inclusive, like
Prometheus `le`), so that the power-of-two bucket bounds published to Prometheus count exactly. The counts live in a
preallocated array('q'): recording keeps no new object alive (only transient ints).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import time
from array import array
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

SUB_BITS = 5
SUB_BUCKETS = 1 << SUB_BITS  # per power of two: relative error of a percentile below 1/32
EXACT_NS = 2 * SUB_BUCKETS  # 0..64 ns have a bucket each
MAX_TRACKED_NS = 1 << 36
MAX_SHIFT = 36 - SUB_BITS - 1  # the last regular bucket holds (63 << 30, 64 << 30] ns
REGULAR_BUCKETS = (MAX_SHIFT + 2) * SUB_BUCKETS + 1  # 1025: 0..64 ns exact, then 32 per power of 2
OVERFLOW = REGULAR_BUCKETS  # samples above 2^36 ns
_TOP_BITS = SUB_BITS + 1  # the bits of a sample that choose its bucket within its power of two
PROMETHEUS_BOUNDS_POW2 = range(7, 37)  # le = 2^7 ns (128 ns) ... 2^36 ns (68.7 s)
TOTALS_INTERVAL_S = 1.0  # the panels' since-start percentiles: refreshed once a second
_NO_MIN = 1 << 62  # min before the first sample: any sample is below it


def bucket_index(ns: int) -> int:
    """The bucket of a sample (the same arithmetic as record(), for tests and tools)."""
    if ns <= EXACT_NS:
        return ns if ns > 0 else 0
    w = ns - 1  # v - 1 puts powers of two at the top of a bucket: (lower, upper] bounds
    shift = w.bit_length() - _TOP_BITS
    index = (shift << SUB_BITS) + (w >> shift) + 1
    return index if index < OVERFLOW else OVERFLOW


def bucket_upper(index: int) -> int:
    """The largest sample a bucket holds (inclusive); the overflow bucket has no bound."""
    if index <= EXACT_NS:
        return index
    if index >= OVERFLOW:
        raise ValueError("the overflow bucket has no upper bound")
    j = index - 1
    shift = (j >> SUB_BITS) - 1
    return (j - (shift << SUB_BITS) + 1) << shift


def _bucket_of_power(power: int) -> int:
    """The bucket whose upper bound is 2^power ns (2^power > EXACT_NS)."""
    return SUB_BUCKETS * (power - SUB_BITS + 1)


def _view(counts: array) -> np.ndarray:
    """The counts as a numpy array sharing their memory (no copy)."""
    return np.frombuffer(counts, dtype=np.int64)


_UPPER_LIST = [bucket_upper(index) for index in range(OVERFLOW)]
# log2_buckets(): (0, 16 ns], then (2^(p-1), 2^p] for p = 5..36, then the overflow bucket
_LOG2_STARTS = np.array([0, *(bucket_index((1 << (p - 1)) + 1) for p in range(5, 37)), OVERFLOW])
_LOG2_UPPERS: list[int | None] = [16, *(1 << p for p in range(5, 37)), None]


class LatencyHistogram:
    """Durations in integer nanoseconds.

    percentile(q) returns the upper bound of the bucket holding the sample of rank
    ceil(count * q / 100) (numpy's "inverted_cdf"), capped at the largest sample: never below
    that sample and less than 1/32 (3.1 %) above it; exact up to 64 ns. Samples above 2^36 ns
    report the largest sample seen. Negative durations (a clock stepped back) count as 0 and
    are counted in `negatives`.
    """

    __slots__ = ("name", "_counts", "count", "sum", "_min", "max", "negatives")

    def __init__(self, name: str) -> None:
        self.name = name
        self._counts = array("q", bytes(8 * (OVERFLOW + 1)))
        self.count = 0
        self.sum = 0
        self._min = _NO_MIN
        self.max = 0
        self.negatives = 0

    @property
    def min(self) -> int:
        return self._min if self.count else 0

    def record(self, ns: int) -> None:
        if ns <= EXACT_NS:
            if ns < 0:
                self.negatives += 1
                ns = 0
            index = ns
        else:
            w = ns - 1
            shift = w.bit_length() - _TOP_BITS
            index = (shift << SUB_BITS) + (w >> shift) + 1
            if index > OVERFLOW:
                index = OVERFLOW
        self._counts[index] += 1
        self.count += 1
        self.sum += ns
        if ns > self.max:
            self.max = ns
        if ns < self._min:
            self._min = ns

    def percentile(self, q: float) -> int:
        """The q-th percentile (0 <= q <= 100) in ns; 0 when there are no samples."""
        return self.percentiles((q,))[0]

    def percentiles(self, qs) -> list[int]:
        """Several percentiles from one pass over the counts (numpy: the panels ask for eight
        per stage ten times a second, on the node's own thread)."""
        for q in qs:
            if not 0 <= q <= 100:
                raise ValueError(f"percentile must be between 0 and 100, got {q!r}")
        if self.count == 0:
            return [0] * len(qs)
        cumulative = np.cumsum(_view(self._counts)[:OVERFLOW])
        ranks = [min(max(math.ceil(self.count * (q / 100)), 1), self.count) for q in qs]  # as numpy does
        indexes = np.searchsorted(cumulative, ranks).tolist()  # the first bucket reaching each rank
        return [min(_UPPER_LIST[i], self.max) if i < OVERFLOW else self.max for i in indexes]

    def bucket_counts(self) -> list[int]:
        return self._counts.tolist()

    def reset(self) -> None:
        _view(self._counts)[:] = 0
        self.count = self.sum = self.max = self.negatives = 0
        self._min = _NO_MIN

    def merge(self, other: LatencyHistogram) -> None:
        if other.count == 0:
            return
        view = _view(self._counts)
        view += _view(other._counts)
        self._min = min(self._min, other._min)
        self.max = max(self.max, other.max)
        self.count += other.count
        self.sum += other.sum
        self.negatives += other.negatives

    def copy(self) -> LatencyHistogram:
        clone = LatencyHistogram(self.name)
        clone._counts = array("q", self._counts)  # a C copy
        clone.count, clone.sum, clone._min, clone.max = self.count, self.sum, self._min, self.max
        clone.negatives = self.negatives
        return clone

    def since(self, earlier: LatencyHistogram) -> LatencyHistogram:
        """The samples recorded after `earlier` (a copy() of this histogram) was taken. Its min
        and max are bucket bounds, clamped to this histogram's min and max."""
        delta = LatencyHistogram(self.name)
        difference = _view(self._counts) - _view(earlier._counts)
        delta._counts = array("q", difference.tobytes())
        filled = np.flatnonzero(difference)
        first, last = (int(filled[0]), int(filled[-1])) if len(filled) else (-1, -1)
        delta.count = self.count - earlier.count
        delta.sum = self.sum - earlier.sum
        delta.negatives = self.negatives - earlier.negatives
        if delta.count > 0:
            delta._min = max(bucket_upper(first - 1) + 1 if first > 0 else 0, self.min)
            delta.max = self.max if last >= OVERFLOW else min(bucket_upper(last), self.max)
        return delta

    def to_counts(self) -> dict:
        """The raw histogram for tools (GET /histograms): count, sum, max and the non-empty
        buckets as [index, count]. Two readings subtracted give the samples of a window at
        full resolution (from_counts), which the since-start percentiles cannot."""
        counts = _view(self._counts)
        filled = np.flatnonzero(counts)
        return {
            "count": self.count,
            "sum_ns": self.sum,
            "max_ns": self.max,
            "buckets": np.column_stack((filled, counts[filled])).tolist(),
        }

    @classmethod
    def from_counts(cls, name: str, reading: dict) -> LatencyHistogram:
        """A histogram from to_counts() output (or the bucket-wise difference of two). Its max
        is the given max_ns, or the upper bound of the last non-empty bucket if none is given."""
        hist = cls(name)
        counts = _view(hist._counts)
        for bucket in reading["buckets"]:
            index, n = bucket if type(bucket) in (list, tuple) and len(bucket) == 2 else (None, None)
            if type(index) is not int or type(n) is not int or not 0 <= index <= OVERFLOW or n < 0:
                raise ValueError(f"bad histogram bucket {bucket!r}")
            counts[index] += n
        filled = np.flatnonzero(counts)
        hist.count = int(counts.sum())
        hist.sum = int(reading.get("sum_ns", 0))
        if len(filled):
            first, last = int(filled[0]), int(filled[-1])
            hist._min = bucket_upper(first - 1) + 1 if first > 0 else 0
            top = reading.get("max_ns") or (bucket_upper(last) if last < OVERFLOW else MAX_TRACKED_NS)
            hist.max = int(top)
        return hist

    def log2_buckets(self) -> list[list[int | None]]:
        """The non-empty power-of-two buckets as [upper_ns, count], upper-inclusive: first
        (0, 16 ns], then (2^(p-1), 2^p] up to 2^36 ns, then [None, count] above it. Compact for
        the live panels' histogram; an idle stage costs nothing."""
        if self.count == 0:
            return []
        sums = np.add.reduceat(_view(self._counts), _LOG2_STARTS).tolist()
        return [[upper, n] for upper, n in zip(_LOG2_UPPERS, sums, strict=True) if n]

    def snapshot(self) -> dict:
        return {
            "count": self.count,
            "sum_ns": self.sum,
            "min_ns": self.min,
            "max_ns": self.max,
            "mean_ns": self.sum / self.count if self.count else 0.0,
            **dict(
                zip(
                    ("p50_ns", "p90_ns", "p99_ns", "p999_ns"),
                    self.percentiles((50, 90, 99, 99.9)),
                    strict=True,
                )
            ),
        }


_EMPTY_SNAPSHOT = LatencyHistogram("empty").snapshot()

STAGES: dict[str, str] = {
    "feed_recv_to_decode": "feed message received to decoded into events",
    "decode_to_engine": "events decoded to handed to the engine",
    "engine": "engine.process of one batch (book, signals, strategy, risk, order state machine)",
    "tick_to_order": "market data received to the order it caused sent",
    "order_submit_to_ack": "order sent to the venue to acknowledged",
    "cancel_submit_to_ack": "cancel sent to the venue to the order's CANCELED report",
    "order_send": "one order request built, signed and written to the socket",
    "ack_to_fill": "order acknowledged to its first fill",
    "journal_lag": "record appended to the journal to fsync'ed (durable on disk)",
    "state_hash": "computing the engine state hash",
}
COUNTERS: dict[str, str] = {
    "events": "input events processed by the engine",
    "orders": "orders sent to the venue",
    "fills": "fills received",
    "rejects": "orders rejected by the venue",
    "risk_denied": "orders denied by the pre-trade risk gate",
    "sequence_gaps": "feed sequence gaps detected",
    "resyncs": "book resyncs after a gap",
    "bad_messages": "feed or venue messages refused as malformed or invalid",
    "control_commands": "operator control commands received",
    "control_refused": "operator control commands refused (stale, replayed, malformed)",
    "journal_records": "records written to the journal",
    "alerts": "engine alerts (unknown orders, duplicate fills, bad events, overflows)",
    "reconciliations": "reconciliations with the venue completed",
    "feed_reconnects": "market-data feed reconnects",
    "gateway_reconnects": "order gateway reconnects",
    "requests_compiled": "order and cancel requests written by the compiled order path (the rest: Python path)",
    "depth_fast": "depth diffs read from the frame's text by the fast path (the rest: through orjson)",
}
GAUGES: dict[str, str] = {
    "trading_state": "trading state: 0 ACTIVE, 1 REDUCING, 2 HALTED",
    "journal_backlog": "journal records not yet durable on disk",
    "pg_lag": "journal records durable on disk but not yet in PostgreSQL",
    "durable_seq": "highest journal seq durable on disk",
    "feeds_connected": "market-data feeds connected",
    "gateway_connected": "order gateway connected (1) or not (0)",
    "control_connected": "control channel connected to Redis (1) or not (0)",
}
PREFIX = "atomic_node_"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class NodeMetrics:
    """The metrics of one node. In the hot loop keep the histogram (`metrics.stage("engine")`)
    or its bound `record`; counters and gauges are looked up by name (a dict access)."""

    def __init__(self, node: str, *, clock: Callable[[], float] = time.time) -> None:
        self.node = node
        self.clock = clock
        self.started_at = clock()
        self.stages = {name: LatencyHistogram(name) for name in STAGES}
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._gauges: dict[str, float] = dict.fromkeys(GAUGES, 0)
        self._previous = {name: hist.copy() for name, hist in self.stages.items()}
        # since-start percentiles change slowly: recomputed at most once per TOTALS_INTERVAL_S,
        # which also keeps them out of most panel deltas (unchanged values are not resent)
        self._totals: dict[str, tuple[float, int, dict]] = {}

    def stage(self, name: str) -> LatencyHistogram:
        try:
            return self.stages[name]
        except KeyError:
            raise KeyError(f"unknown stage {name!r}; known: {', '.join(STAGES)}") from None

    def inc(self, name: str, n: int = 1) -> None:
        if n < 0:
            raise ValueError(f"counter {name} cannot go down (n={n})")
        try:
            self._counters[name] += n
        except KeyError:
            raise KeyError(f"unknown counter {name!r}; known: {', '.join(COUNTERS)}") from None

    def counter(self, name: str) -> int:
        return self._counters[name]

    def set(self, name: str, value: float) -> None:
        if name not in self._gauges:
            raise KeyError(f"unknown gauge {name!r}; known: {', '.join(GAUGES)}")
        if isinstance(value, bool):
            value = int(value)  # connected flags
        elif not isinstance(value, (int, float)):
            raise TypeError(f"gauge {name} must be a number, got {type(value).__name__}")
        self._gauges[name] = value

    def gauge(self, name: str) -> float:
        return self._gauges[name]

    def to_prometheus(self) -> str:
        node = f'node="{_label(self.node)}"'
        lines: list[str] = []
        name = PREFIX + "stage_duration_seconds"
        lines.append(f"# HELP {name} Latency of each node stage (see the stage label).")
        lines.append(f"# TYPE {name} histogram")
        for stage, hist in self.stages.items():
            labels = f'{node},stage="{_label(stage)}"'
            counts = hist._counts
            cumulative = 0
            index = 0
            for power in PROMETHEUS_BOUNDS_POW2:
                last = _bucket_of_power(power)
                while index <= last:
                    cumulative += counts[index]
                    index += 1
                lines.append(f'{name}_bucket{{{labels},le="{_number((1 << power) / 1e9)}"}} {cumulative}')
            lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {hist.count}')
            lines.append(f"{name}_sum{{{labels}}} {_number(hist.sum / 1e9)}")
            lines.append(f"{name}_count{{{labels}}} {hist.count}")
        for counter, text in COUNTERS.items():
            name = f"{PREFIX}{counter}_total"
            lines.append(f"# HELP {name} {text.capitalize()}.")
            lines.append(f"# TYPE {name} counter")
            lines.append(f"{name}{{{node}}} {self._counters[counter]}")
        for gauge, text in GAUGES.items():
            name = PREFIX + gauge
            lines.append(f"# HELP {name} {text.capitalize()}.")
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name}{{{node}}} {_number(self._gauges[gauge])}")
        return "\n".join(lines) + "\n"

    def histograms(self) -> dict[str, dict]:
        """Every stage's raw histogram (LatencyHistogram.to_counts)."""
        return {name: hist.to_counts() for name, hist in self.stages.items()}

    def snapshot(self) -> dict:
        """For the live panels: per stage the percentiles since the previous snapshot
        ("recent") and since start ("total", refreshed at most once per TOTALS_INTERVAL_S) and
        the recent window's log2 buckets, the counters and the gauges."""
        # this runs on the node's own loop ten times a second: a stage without a new sample
        # skips the window's work
        stages = {}
        now = self.clock()
        totals = self._totals
        for name, hist in self.stages.items():
            previous = self._previous[name]
            if hist.count == previous.count:
                recent, buckets = _EMPTY_SNAPSHOT, []
            else:
                window = hist.since(previous)
                self._previous[name] = hist.copy()
                # buckets: the recent window's distribution (the page accumulates the frames)
                recent, buckets = window.snapshot(), window.log2_buckets()
            computed_at, count, total = totals.get(name) or (0.0, -1, None)
            if count != hist.count and (total is None or now - computed_at >= TOTALS_INTERVAL_S):
                total = hist.snapshot()
                totals[name] = (now, hist.count, total)
            stages[name] = {"recent": recent, "total": total, "buckets": buckets}
        return {
            "node": self.node,
            "ts_ms": int(now * 1000),
            "uptime_s": now - self.started_at,
            "stages": stages,
            "counters": dict(self._counters),
            "gauges": dict(self._gauges),
        }


# ---------------------------------------------------------------------------- HTTP

TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
TARGET = re.compile(rb"/[!-~]{0,2047}")
HEADER_VALUE = re.compile(rb"[\t -~\x80-\xff]*")
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _BadRequest(ValueError):
    pass


def parse_request_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    """(method, path, headers) of an HTTP/1.x request head ending in CRLF CRLF; raises
    _BadRequest for anything not strictly well formed."""
    lines = head[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise _BadRequest("request line must be METHOD SP TARGET SP HTTP-VERSION")
    method, target, version = parts
    if not TOKEN.fullmatch(method):
        raise _BadRequest("bad method")
    if not TARGET.fullmatch(target):
        raise _BadRequest("request target must be an absolute path")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise _BadRequest("only HTTP/1.0 and HTTP/1.1 are served")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.fullmatch(name):
            raise _BadRequest("malformed header line")  # also obs-fold and space before ':'
        value = value.strip(b" \t")
        if not HEADER_VALUE.fullmatch(value):
            raise _BadRequest("control characters in a header value")
        key = name.decode("ascii").lower()
        if key in headers and key in ("host", "content-length", "transfer-encoding"):
            raise _BadRequest(f"repeated {key} header")
        headers[key] = value.decode("latin-1")
    if version == b"HTTP/1.1" and "host" not in headers:
        raise _BadRequest("HTTP/1.1 request without Host")
    if "transfer-encoding" in headers or headers.get("content-length", "0") != "0":
        raise _BadRequest("request bodies are not accepted")
    path = target.split(b"?", 1)[0].decode("ascii")
    return method.decode("ascii"), path, headers


class MetricsServer:
    """GET /metrics (Prometheus text), GET /healthz (JSON) and GET /histograms (every stage's raw
    histogram as JSON, for benchmarks and tools that need windows at full resolution) on the
    node's loop.

    One request per connection (Connection: close). The request head must arrive complete
    within read_timeout_s (408) and fit in max_header_bytes (400); anything not strictly
    HTTP/1.x is 400, other paths 404, other methods 405. At most max_connections at a time.
    `health`, if given, returns extra fields for /healthz.
    """

    PATHS = ("/metrics", "/healthz", "/histograms")
    LINGER_S = 0.5

    def __init__(
        self,
        metrics: NodeMetrics,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        read_timeout_s: float = 5.0,
        max_header_bytes: int = 8192,
        max_connections: int = 32,
        health: Callable[[], dict] | None = None,
    ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.read_timeout_s = read_timeout_s
        self.max_header_bytes = max_header_bytes
        self.max_connections = max_connections
        self.health = health
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=self.max_header_bytes
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= self.max_connections:
            await self._respond(writer, 503, "too many connections\n")
            await self._close(writer)
            return
        self._connections.add(task)
        try:
            status, body, content_type, extra, head_only = await self._handle(reader)
            if status:
                await self._respond(writer, status, body, content_type, extra, head_only)
                if status >= 400:
                    await self._linger(reader, writer)
            await self._close(writer)
        finally:
            self._connections.discard(task)

    async def _handle(self, reader: asyncio.StreamReader):
        plain = "text/plain; charset=utf-8"
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.read_timeout_s)
        except TimeoutError:
            return 408, "request not received in time\n", plain, (), False
        except asyncio.LimitOverrunError:
            return 400, f"request head larger than {self.max_header_bytes} bytes\n", plain, (), False
        except (asyncio.IncompleteReadError, ConnectionError):
            return 0, "", plain, (), False  # the client went away: nobody to answer
        try:
            method, path, _headers = parse_request_head(head)
        except _BadRequest as exc:
            return 400, f"bad request: {exc}\n", plain, (), False
        if path not in self.PATHS:
            return 404, "not found\n", plain, (), False
        if method not in ("GET", "HEAD"):
            return 405, "method not allowed\n", plain, (("Allow", "GET, HEAD"),), False
        try:
            if path == "/metrics":
                return 200, self.metrics.to_prometheus(), PROMETHEUS_CONTENT_TYPE, (), method == "HEAD"
            if path == "/histograms":
                body = {"node": self.metrics.node, "stages": self.metrics.histograms()}
                return 200, json.dumps(body) + "\n", "application/json", (), method == "HEAD"
            return 200, json.dumps(self._health()) + "\n", "application/json", (), method == "HEAD"
        except Exception:  # a bug in a gauge or health callback must not kill the connection silently
            log.exception("metrics server: rendering %s failed", path)
            return 500, "internal error\n", plain, (), False

    def _health(self) -> dict:
        metrics = self.metrics
        body = {
            "status": "ok",
            "node": metrics.node,
            "uptime_s": round(metrics.clock() - metrics.started_at, 3),
            "trading_state": metrics.gauge("trading_state"),
            "durable_seq": metrics.gauge("durable_seq"),
        }
        if self.health is not None:
            body.update(self.health())
        return body

    async def _respond(
        self, writer, status, body, content_type="text/plain; charset=utf-8", extra=(), head_only=False
    ):
        payload = body.encode()
        lines = [
            f"HTTP/1.1 {status} {REASONS[status]}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(payload)}",
            "Cache-Control: no-store",
            "Connection: close",
            *(f"{name}: {value}" for name, value in extra),
        ]
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (b"" if head_only else payload))
            await asyncio.wait_for(writer.drain(), self.read_timeout_s)
        except (TimeoutError, ConnectionError) as exc:
            log.debug("metrics client went away: %s", exc)

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """After an error answer, signal EOF and drop what the client is still sending (at most
        1 MiB or LINGER_S): closing with unread input would reset the connection and could
        destroy our answer before the client reads it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.LINGER_S
        budget = 1 << 20
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
        while budget > 0 and (remaining := deadline - loop.time()) > 0:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), remaining)
            except (TimeoutError, ConnectionError):
                return
            if not chunk:
                return
            budget -= len(chunk)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
