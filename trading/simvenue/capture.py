"""Binance capture files as the replay reads them: one CaptureLine per usable line, in file order.

A capture line is `<receive_ts_ns> <json>` where the JSON is a combined-stream message
(`{"stream": "btcusdt@depth@100ms", "data": {...}}`) or a REST depth snapshot
(`{"lastUpdateId": ..., "bids": [...], "asks": [...]}`). The recorded JSON text is kept next to
the parsed message so that the first pass of the replay can publish it byte for byte.

Lines of other symbols, raw (non-combined) payloads and malformed lines are skipped and counted.
Files are read in bounded chunks, so a capture of any size costs a few hundred KiB of memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from trading.marketdata.sources import iter_lines

INT64_MAX = 2**63 - 1
READ_CHUNK_BYTES = 1 << 18  # small chunks: decompressing one never stalls the event loop for long
PROBE_LINES = 2000

STREAM = 1
SNAPSHOT = 2


@dataclass(slots=True)
class CaptureLine:
    ts_local: int  # receive time of the recording, ns
    kind: int  # STREAM or SNAPSHOT
    channel: str  # "depth@100ms", "trade", "bookTicker" ("" for a snapshot)
    message: dict  # the parsed JSON of the line
    raw: bytes  # the JSON text as recorded


@dataclass
class CaptureCounts:
    lines: int = 0
    used: int = 0
    other_symbols: int = 0
    malformed: int = 0
    unsupported: int = 0  # raw payloads and anything that is neither a stream message nor a snapshot


@dataclass
class CaptureProbe:
    """What the first lines of a symbol's capture say about it."""

    depth_channel: str | None = None
    first_price: str | None = None  # a decimal price string seen early (centres the venue's book)


def read_capture(files: tuple[Path, ...], symbol: str, counts: CaptureCounts) -> Iterator[CaptureLine]:
    """Usable lines of `symbol` across `files`, in order."""
    prefix = symbol.lower() + "@"
    loads = orjson.loads
    for path in files:
        foreign_depth = False
        for line in iter_lines(path, READ_CHUNK_BYTES):
            counts.lines += 1
            space = line.find(b" ")
            stamp = line[:space] if space > 0 else b""
            if not stamp.isdigit() or len(stamp) > 19 or int(stamp) > INT64_MAX:
                counts.malformed += 1
                continue
            raw = line[space + 1 :]
            try:
                message = loads(raw)
            except orjson.JSONDecodeError:
                counts.malformed += 1
                continue
            if type(message) is not dict:
                counts.malformed += 1
                continue
            stream = message.get("stream")
            if stream is not None:
                data = message.get("data")
                if type(stream) is not str or type(data) is not dict:
                    counts.malformed += 1
                    continue
                if not stream.startswith(prefix):
                    counts.other_symbols += 1
                    foreign_depth = foreign_depth or "@depth" in stream
                    continue
                counts.used += 1
                yield CaptureLine(int(stamp), STREAM, stream[len(prefix) :], message, raw)
            elif "lastUpdateId" in message and not foreign_depth:
                # REST snapshots name no symbol: only a single-symbol capture can attribute them
                counts.used += 1
                yield CaptureLine(int(stamp), SNAPSHOT, "", message, raw)
            else:
                counts.unsupported += 1


def probe_capture(path: Path, symbol: str) -> CaptureProbe:
    """Channels and an early price of `symbol` from the first lines of one file."""
    probe = CaptureProbe()
    counts = CaptureCounts()
    for index, line in enumerate(read_capture((path,), symbol, counts)):
        if index >= PROBE_LINES:
            break
        if line.kind == SNAPSHOT:
            levels = line.message.get("bids") or line.message.get("asks")
            probe.first_price = probe.first_price or _first_level_price(levels)
            continue
        data = line.message["data"]
        if line.channel.startswith("depth"):
            probe.depth_channel = probe.depth_channel or line.channel
            probe.first_price = probe.first_price or _first_level_price(data.get("b") or data.get("a"))
        elif line.channel == "trade" and type(data.get("p")) is str:
            probe.first_price = probe.first_price or data["p"]
        elif line.channel == "bookTicker" and type(data.get("b")) is str:
            probe.first_price = probe.first_price or data["b"]
    return probe


def _first_level_price(levels: object) -> str | None:
    if type(levels) is list and levels and type(levels[0]) is list and levels[0]:
        price = levels[0][0]
        return price if type(price) is str else None
    return None
