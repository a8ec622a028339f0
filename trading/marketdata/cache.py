"""Converted-event cache: `<key>.npy` (the array) + `<key>.json` (metadata and the LoadReport).

The key is a sha256 of everything the conversion depends on: LOADER_VERSION, the event dtype,
the symbol, the instrument spec, the instrument index and the content of every source file in
order. Writes go to a temp file in the cache directory and are published with os.replace, the
metadata last, so a reader never sees a half-written entry. A cached array is used only if its
shape, dtype, byte size and CRC-32 match the metadata; anything else is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from trading.instruments import InstrumentSpec
from trading.marketdata.kinds import MARKET_EVENT_DTYPE

# Bump whenever the conversion of the same input could produce different events or report fields.
LOADER_VERSION = "marketdata-1"
_HASH_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(paths: list[Path], symbol: str, spec: InstrumentSpec, instrument_index: int) -> str:
    digest = hashlib.sha256()
    parts: list[Any] = [
        LOADER_VERSION,
        str(MARKET_EVENT_DTYPE.descr),
        symbol.upper(),
        spec.to_json(),
        instrument_index,
        [file_digest(path) for path in paths],
    ]
    digest.update(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


def entry_paths(cache_dir: Path, symbol: str, key: str) -> tuple[Path, Path]:
    stem = f"{symbol.upper()}-{key[:40]}"
    return cache_dir / f"{stem}.npy", cache_dir / f"{stem}.json"


def array_checksum(events: np.ndarray) -> int:
    """CRC-32 of the array bytes: catches a damaged cache file (not an attack on it) in ~10 ms for 30 MB."""
    return zlib.crc32(memoryview(np.ascontiguousarray(events)).cast("B"))


def read_entry(cache_dir: Path, symbol: str, key: str) -> tuple[np.ndarray, dict[str, Any]] | str:
    """(events, metadata) on a valid hit, else a short reason string ("missing" or what is wrong)."""
    npy_path, meta_path = entry_paths(cache_dir, symbol, key)
    try:
        meta = orjson.loads(meta_path.read_bytes())
    except FileNotFoundError:
        return "missing"
    except (OSError, orjson.JSONDecodeError) as exc:
        return f"unreadable metadata ({exc.__class__.__name__})"
    if not isinstance(meta, dict) or meta.get("key") != key or meta.get("loader_version") != LOADER_VERSION:
        return "metadata does not match the key"
    if not isinstance(meta.get("report"), dict):
        return "metadata has no report"
    count = meta.get("count")
    if type(count) is not int or count < 0:
        return "metadata has no event count"
    try:
        if npy_path.stat().st_size != meta.get("npy_bytes"):
            return "array file size differs from the metadata"
        events = np.load(npy_path, allow_pickle=False)
    except FileNotFoundError:
        return "array file missing"
    except (OSError, ValueError, EOFError) as exc:
        return f"array file unreadable ({exc.__class__.__name__})"
    if events.dtype != MARKET_EVENT_DTYPE or events.shape != (count,) or not events.flags.c_contiguous:
        return "array dtype or shape differs from the metadata"
    if array_checksum(events) != meta.get("crc32"):
        return "array content differs from its checksum"
    return events, meta


def write_entry(cache_dir: Path, symbol: str, key: str, events: np.ndarray, meta: dict[str, Any]) -> Path:
    """Publish atomically; returns the array path. Raises OSError if the directory is not writable."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    npy_path, meta_path = entry_paths(cache_dir, symbol, key)
    _atomic_write(npy_path, lambda handle: np.save(handle, events, allow_pickle=False))
    meta = dict(meta, key=key, loader_version=LOADER_VERSION, count=int(len(events)))
    meta["npy_bytes"] = npy_path.stat().st_size
    meta["crc32"] = array_checksum(events)
    write_metadata(cache_dir, symbol, key, meta)
    return npy_path


def write_metadata(cache_dir: Path, symbol: str, key: str, meta: dict[str, Any]) -> None:
    _, meta_path = entry_paths(cache_dir, symbol, key)
    payload = orjson.dumps(meta, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    _atomic_write(meta_path, lambda handle: handle.write(payload))


def _atomic_write(target: Path, write) -> None:
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
