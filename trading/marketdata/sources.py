"""Source files: open (gzip or plain), iterate lines in bounded memory, recognise the format.

Every failure to read a file becomes a one-line DataError naming the file.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from trading.marketdata.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 1 << 22
SNIFF_BYTES = 1 << 16
SNIFF_LINES = 50

TARDIS_PREFIX = "exchange,symbol,timestamp,local_timestamp,"
TARDIS_KINDS = {
    "is_snapshot,side,price,amount": "incremental_book_L2",
    "id,side,price,amount": "trades",
    "ask_amount,ask_price,bid_price,bid_amount": "quotes",
}
_BINANCE_LINE_RE = re.compile(rb"[0-9]+ \{")


@dataclass(frozen=True)
class SourceInfo:
    path: Path
    format: str  # "binance", "tardis", "bitmex"
    tardis_kind: str = ""  # incremental_book_L2, trades, quotes, book_snapshot
    snapshot_depth: int = 0  # book_snapshot_N: N


def check_path(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a data file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot stat: {exc.strerror or exc}") from None
    if size == 0:
        raise DataError(f"{path}: empty file")


def iter_chunks(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Decompressed content in chunks; an unreadable file or a corrupt/truncated gzip raises DataError."""
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            while True:
                try:
                    chunk = stream.read(chunk_bytes)
                except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                    raise DataError(f"{path}: unreadable gzip data: {exc}") from None
                if not chunk:
                    return
                yield chunk
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None


def iter_lines(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Lines without their terminator (\\n or \\r\\n); the last line may lack a newline."""
    rest = b""
    for chunk in iter_chunks(path, chunk_bytes):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line
    if rest:
        yield rest[:-1] if rest.endswith(b"\r") else rest


def read_head(path: Path, nbytes: int = SNIFF_BYTES) -> bytes:
    head = b""
    for chunk in iter_chunks(path, nbytes):
        head += chunk
        if len(head) >= nbytes:
            break
    return head


def sniff(path: Path) -> SourceInfo:
    """Recognise a file's format from its content."""
    check_path(path)
    head = read_head(path)
    lines = [line.rstrip(b"\r") for line in head.split(b"\n")[:SNIFF_LINES]]
    complete = lines[:-1] if len(head) >= SNIFF_BYTES else lines  # the last line may be cut off
    first = next((line for line in lines if line.strip()), b"")
    if not first:
        raise DataError(f"{path}: no content (only blank lines)")
    if first.startswith(TARDIS_PREFIX.encode()):
        return _sniff_tardis(path, first)
    if _BINANCE_LINE_RE.match(first):
        for line in complete:
            message = _loads_or_none(line.partition(b" ")[2])
            if isinstance(message, dict) and (
                ("stream" in message and "data" in message) or "lastUpdateId" in message or "e" in message
            ):
                return SourceInfo(path, "binance")
        raise DataError(
            f"{path}: '<timestamp> <json>' capture but not Binance market data (unsupported venue)"
        )
    if first.lstrip().startswith(b"{"):
        for line in complete:
            message = _loads_or_none(line)
            if isinstance(message, dict) and (
                "table" in message or "BitMEX" in str(message.get("info", "")) or "subscribe" in message
            ):
                return SourceInfo(path, "bitmex")
        raise DataError(f"{path}: JSON lines but not a BitMEX websocket dump")
    raise DataError(f"{path}: unrecognised format (expected a Binance capture, Tardis CSV or BitMEX dump)")


def _loads_or_none(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _sniff_tardis(path: Path, header_line: bytes) -> SourceInfo:
    try:
        header = header_line.decode("ascii").strip()
    except UnicodeDecodeError:
        raise DataError(f"{path}: Tardis header is not ASCII") from None
    tail = header[len(TARDIS_PREFIX) :]
    kind = TARDIS_KINDS.get(tail)
    if kind:
        return SourceInfo(path, "tardis", kind)
    columns = tail.split(",")
    depth = len(columns) // 4
    expected = [
        f"{side}[{i}].{field}"
        for i in range(depth)
        for side in ("asks", "bids")
        for field in ("price", "amount")
    ]
    if depth and columns == expected:
        return SourceInfo(path, "tardis", "book_snapshot", depth)
    raise DataError(f"{path}: unsupported Tardis CSV columns: {tail[:120]}")
