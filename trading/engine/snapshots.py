"""Engine snapshots and configuration versions in the node's state directory.

A snapshot file is `snap-<seq>.bin`: an 8-byte magic, a 4-byte little-endian header length, a
JSON header (seq of the last record covered, state hash, config version, payload checksum)
and the engine's canonical state bytes. Writes are atomic (temp file, fsync, rename), reads
verify the checksum; a damaged snapshot is skipped, never trusted.

Configuration versions are the node documents the engine has run with, stored as
`configs/<version>.json`; the version is a content hash, so the same document always has the
same version on every node and in the database. Replay reads them back at each
CTL_RELOAD_CONFIG marker of the journal.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
import xxhash

MAGIC = b"AOSNAP01"


class SnapshotError(RuntimeError):
    pass


@dataclass(frozen=True)
class Snapshot:
    seq: int
    state_hash: int
    config_version: int
    engine_bytes: bytes
    path: Path


def _atomic_write(path: Path, payload: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class SnapshotStore:
    def __init__(self, directory: Path, keep: int = 5):
        self.directory = Path(directory)
        self.keep = keep
        self.directory.mkdir(parents=True, exist_ok=True)

    def save(self, *, seq: int, engine_bytes: bytes, state_hash: int, config_version: int) -> Path:
        header = orjson.dumps(
            {
                "seq": seq,
                "state_hash": state_hash,
                "config_version": config_version,
                "created_ns": time.time_ns(),
                "length": len(engine_bytes),
                "xxh3": xxhash.xxh3_64_intdigest(engine_bytes),
            }
        )
        path = self.directory / f"snap-{seq:020d}.bin"
        _atomic_write(path, MAGIC + struct.pack("<I", len(header)) + header + engine_bytes)
        self._prune()
        return path

    def _prune(self) -> None:
        for old in self._paths()[: -self.keep]:
            old.unlink(missing_ok=True)

    def _paths(self) -> list[Path]:
        return sorted(self.directory.glob("snap-*.bin"))

    @staticmethod
    def read(path: Path) -> Snapshot:
        data = path.read_bytes()
        if len(data) < 12 or data[:8] != MAGIC:
            raise SnapshotError(f"{path.name}: not a snapshot")
        (header_len,) = struct.unpack_from("<I", data, 8)
        try:
            header = orjson.loads(data[12 : 12 + header_len])
            payload = data[12 + header_len :]
            ok = len(payload) == header["length"] and xxhash.xxh3_64_intdigest(payload) == header["xxh3"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise SnapshotError(f"{path.name}: damaged header") from exc
        if not ok:
            raise SnapshotError(f"{path.name}: checksum mismatch")
        return Snapshot(
            seq=header["seq"],
            state_hash=header["state_hash"],
            config_version=header["config_version"],
            engine_bytes=payload,
            path=path,
        )

    def latest(self, max_seq: int | None = None) -> Snapshot | None:
        """The newest intact snapshot with seq <= max_seq (damaged ones are skipped)."""
        for path in reversed(self._paths()):
            try:
                snap = self.read(path)
            except (SnapshotError, OSError):
                continue
            if max_seq is None or snap.seq <= max_seq:
                return snap
        return None


def config_version(document: dict) -> int:
    """63-bit content hash of a node document (canonical JSON: sorted keys)."""
    digest = hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class ConfigStore:
    """configs/<version>.json; `fallback(version) -> document` (e.g. the database) fills a miss."""

    def __init__(self, directory: Path, fallback=None):
        self.directory = Path(directory)
        self.fallback = fallback
        self.directory.mkdir(parents=True, exist_ok=True)

    def save(self, document: dict) -> int:
        version = config_version(document)
        path = self.directory / f"{version}.json"
        if not path.exists():
            _atomic_write(path, orjson.dumps(document, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
        return version

    def load(self, version: int) -> dict:
        path = self.directory / f"{version}.json"
        try:
            document = orjson.loads(path.read_bytes())
        except FileNotFoundError as exc:
            if self.fallback is None:
                raise SnapshotError(f"configuration version {version} is not in {self.directory}") from exc
            try:
                document = self.fallback(version)
            except Exception as fallback_exc:  # the source says why in its own words
                raise SnapshotError(
                    f"configuration version {version} is neither in {self.directory} nor available: {fallback_exc}"
                ) from exc
            if config_version(document) == version:
                self.save(document)
        except orjson.JSONDecodeError as exc:
            raise SnapshotError(f"configuration version {version} is damaged") from exc
        if config_version(document) != version:
            raise SnapshotError(f"configuration version {version} does not match its content")
        return document
