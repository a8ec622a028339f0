"""The node's write-ahead event journal: append-only, checksummed segment files on local disk.

Every record the engine emits (inputs in node mode, order and fill state changes, verdicts, state
hashes, ...) is appended here BEFORE the node acts on it. `append()` costs one writev() system call
in the caller's thread: once it returns, a SIGKILL of the process loses nothing (the bytes are in
the kernel's page cache). A background thread makes them durable against power loss with
fdatasync() every `fsync_interval_s` and advances `synced_seq`; the caller never waits for it.

On disk, a journal is a directory of segment files `journal-<first seq, 20 digits>.seg`, each a
sequence of batches; one batch is one append():

    header (48 bytes, little endian)
        magic        4s   b"AOJ1"
        record_size  u32  96 (JOURNAL_RECORD_DTYPE.itemsize)
        count        u64  records in the batch (>= 1)
        first_seq    i64  seq of the first record; the others follow contiguously
        payload_len  u64  count * record_size
        payload_hash u64  xxh3-64 of the payload
        header_hash  u64  xxh3-64 of the 40 bytes above
    payload  count records of JOURNAL_RECORD_DTYPE, as the engine produced them

A crash can only leave an incomplete batch at the very end of the newest segment (the write was
cut short); `Journal.open()` cuts it off (keeping a copy of the bytes next to the segment) since
append() never returned for it. Anything else that does not verify - a bad checksum, a bad header,
an incomplete batch in an older segment, a seq that does not continue the previous batch or
segment - is corruption, and opening refuses with the file and offset instead of guessing.

`JournalReader` (and `read_journal()`) read a journal directory without opening it for writing,
safely while a writer (in this or another process) appends: only complete, verified batches are
returned. The journal sink uses it to stream records to PostgreSQL.

Never imports Django (trading.engine is the node runtime).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from hotpath.batch import scan_records
from hotpath.types import JOURNAL_RECORD_DTYPE

MAGIC = b"AOJ1"
RECORD_SIZE = JOURNAL_RECORD_DTYPE.itemsize
_HEAD = struct.Struct("<4sIQqQQ")  # everything the header hash covers
_HEADER_HASH = struct.Struct("<Q")
HEADER_SIZE = _HEAD.size + _HEADER_HASH.size  # 48: payloads stay 8-byte aligned in the file
SEGMENT_NAME = re.compile(r"^journal-(\d{20})\.seg$")
LOCK_NAME = "journal.lock"
DEFAULT_SEGMENT_MAX_BYTES = 64 << 20
READ_CHUNK_BYTES = 8 << 20  # one pread() fetches this much when batches are small

_hash = xxhash.xxh3_64_intdigest


class JournalError(Exception):
    """The journal refused an operation (bad arguments, wrong seq, I/O failure, locked)."""


class JournalCorrupt(JournalError):
    """A segment does not verify. `path` and `offset` locate the first bad byte range."""

    def __init__(self, path: Path, offset: int, problem: str):
        self.path = Path(path)
        self.offset = offset
        self.problem = problem
        super().__init__(f"journal segment {self.path} is corrupt at offset {offset}: {problem}")


def segment_name(first_seq: int) -> str:
    return f"journal-{first_seq:020d}.seg"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """(first seq, path) of every segment in the directory, in seq order."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        match = SEGMENT_NAME.match(name)
        if match:
            found.append((int(match.group(1)), Path(directory) / name))
    found.sort()
    return found


def encode_batch_header(count: int, first_seq: int, payload_hash: int) -> bytes:
    head = _HEAD.pack(MAGIC, RECORD_SIZE, count, first_seq, count * RECORD_SIZE, payload_hash)
    return head + _HEADER_HASH.pack(_hash(head))


@dataclass(frozen=True)
class BatchHeader:
    count: int
    first_seq: int
    payload_len: int
    payload_hash: int

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.count - 1

    @property
    def total_len(self) -> int:
        return HEADER_SIZE + self.payload_len


def decode_batch_header(buf, offset: int = 0) -> BatchHeader | str:
    """The header at buf[offset:offset + 48], or a string saying why it is not a valid one."""
    magic, record_size, count, first_seq, payload_len, payload_hash = _HEAD.unpack_from(buf, offset)
    (header_hash,) = _HEADER_HASH.unpack_from(buf, offset + _HEAD.size)
    if magic != MAGIC:
        return f"bad batch magic {bytes(magic)!r} (expected {MAGIC!r})"
    if header_hash != _hash(bytes(buf[offset : offset + _HEAD.size])):
        return "batch header checksum mismatch"
    if record_size != RECORD_SIZE:
        return f"record size {record_size} (this build reads {RECORD_SIZE}-byte records)"
    if count < 1 or payload_len != count * RECORD_SIZE:
        return f"inconsistent batch header: count {count}, payload length {payload_len}"
    if first_seq < 1:
        return f"batch first seq {first_seq} < 1"
    return BatchHeader(count, first_seq, payload_len, payload_hash)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- reading ----------------------------------------------------------------------------------


class JournalReader:
    """Verified records of a journal directory from `from_seq` on, following a live writer.

    `read()` returns what is complete on disk now (possibly nothing) and remembers where it got
    to, so calling it again later returns what has been appended since. It moves to the next
    segment only once that segment exists (the writer never touches the previous one again) and
    the current one is read to its end. An incomplete batch at the end of the newest segment is
    a write in progress (or a crash the writer will cut off when it reopens): not returned, not
    an error. Corruption raises JournalCorrupt; records that are no longer on disk (pruned)
    raise JournalError.
    """

    def __init__(self, directory: Path, from_seq: int = 1, *, chunk_bytes: int = READ_CHUNK_BYTES):
        if not isinstance(from_seq, int) or from_seq < 1:
            raise JournalError(f"from_seq must be an int >= 1, got {from_seq!r}")
        self.directory = Path(directory)
        self.next_seq = from_seq  # seq of the next record read() returns
        self._chunk = max(int(chunk_bytes), HEADER_SIZE)
        self._path: Path | None = None  # current segment
        self._fd: int | None = None
        self._offset = 0  # file offset of the first batch not yet parsed
        self._seq_at_offset = 0  # first seq of that batch (expected)
        self._buf = b""  # bytes read ahead; self._buf[self._buf_pos] is at file offset self._offset
        self._buf_pos = 0
        self._pending: np.ndarray | None = None  # verified records of a parsed batch not yet returned
        self._closed = False
        # header-only walk ahead of the reader, for visible_seq()
        self._scan_path: Path | None = None
        self._scan_offset = 0
        self._scan_seq = 0

    # the public part

    def read(self, max_records: int = 1 << 16, upto_seq: int | None = None) -> np.ndarray:
        """Up to max_records verified records continuing next_seq (and <= upto_seq), in order.

        Returns an empty array when nothing new is complete on disk. Raises JournalCorrupt when
        the next batch does not verify (after returning the good records before it)."""
        if max_records < 1:
            raise JournalError(f"max_records must be >= 1, got {max_records}")
        if self._closed:
            raise JournalError(f"reader of {self.directory} is closed")
        parts: list[np.ndarray] = []
        wanted = max_records
        while wanted > 0:
            if upto_seq is not None and self.next_seq > upto_seq:
                break
            if self._pending is None or len(self._pending) == 0:
                try:
                    self._pending = self._next_batch()
                except JournalCorrupt:
                    if parts:  # return the good records before it; the next read() raises
                        break
                    raise
                if self._pending is None:
                    break
            take = self._pending
            if upto_seq is not None:
                take = take[: max(0, upto_seq - self.next_seq + 1)]
            take = take[:wanted]
            if len(take) == 0:
                break
            parts.append(take)
            self._pending = self._pending[len(take) :]
            self.next_seq += len(take)
            wanted -= len(take)
        if not parts:
            return np.empty(0, dtype=JOURNAL_RECORD_DTYPE)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def visible_seq(self) -> int:
        """The last seq of the complete batches on disk now (walks headers only, no payloads).

        0 for an empty journal; may be below next_seq - 1 when the journal does not reach
        from_seq (yet). The sink's lag is visible_seq - durable seq."""
        if self._scan_path is None or self._scan_seq < self._seq_at_offset - 1:
            if self._path is not None:  # (re)start the walk where the reader is
                self._scan_path, self._scan_offset, self._scan_seq = (
                    self._path,
                    self._offset,
                    self._seq_at_offset - 1,
                )
            else:
                located = self._locate(self.next_seq)
                if located is None:  # the journal ends before next_seq: walk its newest segment
                    segments = list_segments(self.directory)
                    if not segments:
                        return 0
                    located = (segments[-1][1], 0, segments[-1][0])
                self._scan_path, self._scan_offset, self._scan_seq = located[0], located[1], located[2] - 1
        while True:
            self._scan_walk()
            later = [p for _, p in list_segments(self.directory) if p.name > self._scan_path.name]
            if not later:
                break
            self._scan_walk()  # it may have grown before the writer rolled over
            self._scan_path, self._scan_offset = later[0], 0
        return self._scan_seq

    def close(self) -> None:
        self._closed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._buf, self._buf_pos = b"", 0
        self._pending = None

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # finding the segment and the batch of a seq

    def _locate(self, seq: int) -> tuple[Path, int, int] | None:
        """(segment, offset, first seq of the batch there) where the batch holding `seq` starts,
        or the end of the newest segment when seq is the next one to be written there.

        None: the journal does not reach that far yet (nothing to read, not an error)."""
        segments = list_segments(self.directory)
        if not segments:
            return None
        if seq < segments[0][0]:
            raise JournalError(
                f"journal {self.directory} starts at seq {segments[0][0]}: records from {seq} were pruned"
            )
        index = max(i for i, (first, _) in enumerate(segments) if first <= seq)
        first, path = segments[index]
        offset, expected = 0, first
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            while offset + HEADER_SIZE <= size:
                handle.seek(offset)
                header = decode_batch_header(handle.read(HEADER_SIZE))
                if isinstance(header, str):
                    raise JournalCorrupt(path, offset, header)
                if header.first_seq != expected:
                    raise JournalCorrupt(
                        path, offset, f"batch starts at seq {header.first_seq}, expected {expected}"
                    )
                if header.last_seq >= seq:
                    return path, offset, expected  # the batch holding seq (complete or being written)
                if offset + header.total_len > size:
                    break  # being written
                offset += header.total_len
                expected = header.last_seq + 1
        if expected < seq:
            if index == len(segments) - 1:
                return None
            raise JournalCorrupt(path, offset, f"seq {seq} is missing: the segment ends at {expected - 1}")
        return path, offset, expected

    def _open_at(self, path: Path, offset: int, seq: int) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self._path, self._offset, self._seq_at_offset = path, offset, seq
        self._buf, self._buf_pos = b"", 0

    # parsing batches

    def _next_batch(self) -> np.ndarray | None:
        """The records of the next complete batch (from next_seq on), or None if there is none yet."""
        if self._path is None:
            located = self._locate(self.next_seq)
            if located is None:
                return None
            self._open_at(*located)
        batch = self._parse_at_offset()
        while batch is None:
            later = [(s, p) for s, p in list_segments(self.directory) if p.name > self._path.name]
            if not later:
                return None
            # The writer creates the next segment after its last write to this one, so this one
            # is final now - but it may have grown since we looked: parse once more, and
            # anything left over after that is corruption.
            batch = self._parse_at_offset()
            if batch is not None:
                break
            if os.fstat(self._fd).st_size != self._offset:
                raise JournalCorrupt(
                    self._path, self._offset, "incomplete batch in a segment that is not the newest"
                )
            first, path = later[0]
            if first != self._seq_at_offset:
                raise JournalCorrupt(
                    path,
                    0,
                    f"segment starts at seq {first}, the previous one ends at {self._seq_at_offset - 1}",
                )
            self._open_at(path, 0, first)
            batch = self._parse_at_offset()
        skip = self.next_seq - int(batch["seq"][0])
        return batch[skip:] if skip > 0 else batch

    def _parse_at_offset(self) -> np.ndarray | None:
        """Verify and consume the batch at the current offset; None if it is not complete yet."""
        header = self._complete_header()
        if header is None:
            return None
        start = self._buf_pos
        payload = memoryview(self._buf)[start + HEADER_SIZE : start + header.total_len]
        if _hash(payload) != header.payload_hash:
            raise JournalCorrupt(self._path, self._offset, "batch payload checksum mismatch")
        records = np.frombuffer(
            self._buf, dtype=JOURNAL_RECORD_DTYPE, count=header.count, offset=start + HEADER_SIZE
        )  # a view: returned records share the read buffer, nothing is copied
        seqs = records["seq"]
        if seqs[0] != header.first_seq or np.any(np.diff(seqs) != 1):
            raise JournalCorrupt(self._path, self._offset, "record seqs do not match the batch header")
        self._buf_pos += header.total_len
        self._offset += header.total_len
        self._seq_at_offset = header.last_seq + 1
        return records

    def _complete_header(self) -> BatchHeader | None:
        """The header of a batch wholly in the buffer at the current offset, reading if needed."""
        header = self._buffered_header()
        if header is None or len(self._buf) - self._buf_pos < header.total_len:
            # Read again from the batch start (never append to stale bytes): past the last
            # complete batch there may have been a torn write that the writer has since cut
            # off and overwritten.
            want = self._chunk if header is None else max(self._chunk, header.total_len)
            self._buf, self._buf_pos = os.pread(self._fd, want, self._offset), 0
            header = self._buffered_header()
            if header is None or len(self._buf) < header.total_len:
                return None
        return header

    def _buffered_header(self) -> BatchHeader | None:
        if len(self._buf) - self._buf_pos < HEADER_SIZE:
            return None
        header = decode_batch_header(self._buf, self._buf_pos)
        if isinstance(header, str):
            raise JournalCorrupt(self._path, self._offset, header)
        if header.first_seq != self._seq_at_offset:
            raise JournalCorrupt(
                self._path,
                self._offset,
                f"batch starts at seq {header.first_seq}, expected {self._seq_at_offset}",
            )
        return header

    def _scan_walk(self) -> None:
        try:
            fd = os.open(self._scan_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # pruned under us: the reader is past it
        try:
            size = os.fstat(fd).st_size
            while self._scan_offset + HEADER_SIZE <= size:
                header = decode_batch_header(os.pread(fd, HEADER_SIZE, self._scan_offset))
                if isinstance(header, str) or self._scan_offset + header.total_len > size:
                    return  # read() reports corruption; an incomplete batch is being written
                self._scan_offset += header.total_len
                self._scan_seq = header.last_seq
        finally:
            os.close(fd)


def read_journal(directory: Path, from_seq: int = 1, to_seq: int | None = None) -> Iterator[np.ndarray]:
    """Verified records of a journal directory, in order, in arrays of up to 64k records.

    Does not open the journal for writing (works while a node appends, and on a copy). Stops at
    the end of what is complete on disk, or after to_seq."""
    with JournalReader(directory, from_seq) as reader:
        while True:
            records = reader.read(1 << 16, upto_seq=to_seq)
            if len(records) == 0:
                return
            yield records


# --- writing ----------------------------------------------------------------------------------


@dataclass
class _SegmentScan:
    last_seq: int  # last seq in the segment (first seq - 1 when empty)
    end: int  # offset after the last complete batch
    size: int  # file size


def _scan_segment(path: Path, first_seq: int, *, newest: bool) -> _SegmentScan:
    """Verify every batch of a segment. A torn tail is reported (end < size) only when newest."""
    offset, expected = 0, first_seq
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        while offset < size:
            if size - offset < HEADER_SIZE:
                break
            handle.seek(offset)
            head = handle.read(HEADER_SIZE)
            header = decode_batch_header(head)
            if isinstance(header, str):
                raise JournalCorrupt(path, offset, header)
            if header.first_seq != expected:
                raise JournalCorrupt(
                    path, offset, f"batch starts at seq {header.first_seq}, expected {expected}"
                )
            if size - offset < header.total_len:
                break
            payload = handle.read(header.payload_len)
            if _hash(payload) != header.payload_hash:
                raise JournalCorrupt(path, offset, "batch payload checksum mismatch")
            seqs = np.frombuffer(payload, dtype=JOURNAL_RECORD_DTYPE)["seq"]
            if seqs[0] != header.first_seq or np.any(np.diff(seqs) != 1):
                raise JournalCorrupt(path, offset, "record seqs do not match the batch header")
            offset += header.total_len
            expected = header.last_seq + 1
    if offset < size and not newest:
        raise JournalCorrupt(path, offset, "incomplete batch in a segment that is not the newest")
    return _SegmentScan(last_seq=expected - 1, end=offset, size=size)


class Journal:
    """Journal(directory, *, segment_max_bytes=64 MiB, fsync_interval_s=0.005).

    One writer per directory (an exclusive lock file enforces it across processes); append()
    from one thread. Use: `last = journal.open()`, then `journal.append(records)` for every
    batch the engine drains, before acting on it; `close()` at the end.
    """

    def __init__(
        self,
        directory: Path,
        *,
        segment_max_bytes: int = DEFAULT_SEGMENT_MAX_BYTES,
        fsync_interval_s: float = 0.005,
    ):
        if not isinstance(segment_max_bytes, int) or segment_max_bytes < HEADER_SIZE + RECORD_SIZE:
            raise JournalError(f"segment_max_bytes must be an int >= {HEADER_SIZE + RECORD_SIZE}")
        if not fsync_interval_s >= 0:
            raise JournalError(f"fsync_interval_s must be >= 0, got {fsync_interval_s!r}")
        self.directory = Path(directory)
        self.segment_max_bytes = segment_max_bytes
        self.fsync_interval_s = float(fsync_interval_s)
        self._lock_fd: int | None = None
        self._fd: int | None = None  # the newest segment, opened for appending
        self._segment_first_seq = 0
        self._segment_size = 0
        self._last_seq = 0
        self._synced_seq = 0
        self._opened = False
        self._closed = False
        self._sync_error: BaseException | None = None
        # shared with the fsync thread
        self._state_lock = threading.Lock()
        self._retired_fds: list[int] = []  # older segments still to fsync and close
        self._directory_dirty = False  # a segment was created since the last directory fsync
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._synced = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pending_since_ns = 0  # monotonic time of the oldest append not yet fsync'ed
        # called from the fsync thread after each fsync: ns from the oldest append it covered to
        # durable (the node's journal_lag stage)
        self.on_synced: Callable[[int], None] | None = None

    # --- state

    @property
    def last_seq(self) -> int:
        """The last seq appended (0 for an empty journal)."""
        return self._last_seq

    @property
    def synced_seq(self) -> int:
        """Every record up to this seq is on stable storage (fdatasync'ed)."""
        return self._synced_seq

    @property
    def backlog(self) -> int:
        """Records appended but not yet fsync'ed: the kernel's HALTED threshold watches this."""
        return self._last_seq - self._synced_seq

    @property
    def error(self) -> str:
        """Why the fsync thread stopped ('' while healthy): the journal refuses appends then."""
        return "" if self._sync_error is None else f"{type(self._sync_error).__name__}: {self._sync_error}"

    # --- open / close

    def open(self) -> int:
        """Verify the segments, cut off a torn tail, start the fsync thread; returns the last seq."""
        if self._opened:
            raise JournalError(f"journal {self.directory} is already open")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        except OSError as exc:
            raise JournalError(
                f"cannot open journal directory {self.directory}: {exc.strerror or exc}"
            ) from exc
        try:
            self._last_seq = self._recover()
        except BaseException:
            self._release_lock()
            raise
        self._synced_seq = self._last_seq
        self._opened = True
        self._thread = threading.Thread(
            target=self._sync_loop, name=f"journal-fsync:{self.directory.name}", daemon=True
        )
        self._thread.start()
        return self._last_seq

    def close(self) -> None:
        """Final fsync, stop the fsync thread, release the directory. Idempotent."""
        if not self._opened or self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join()
        try:
            if self._sync_error is None:
                self._sync_once()
        finally:
            with self._state_lock:
                fds, self._retired_fds = self._retired_fds, []
                if self._fd is not None:
                    fds.append(self._fd)
                    self._fd = None
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._release_lock()

    def __enter__(self) -> Journal:
        if not self._opened:
            self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _take_lock(self) -> None:
        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalError(
                f"journal {self.directory} is open for writing by another process (or Journal object)"
            ) from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _recover(self) -> int:
        segments = list_segments(self.directory)
        last_seq = 0
        for index, (first_seq, path) in enumerate(segments):
            newest = index == len(segments) - 1
            if index > 0 and first_seq != last_seq + 1:
                raise JournalCorrupt(
                    path, 0, f"segment starts at seq {first_seq}, the previous one ends at {last_seq}"
                )
            scan = _scan_segment(path, first_seq, newest=newest)
            if scan.last_seq < first_seq and not newest:
                raise JournalCorrupt(path, 0, "empty segment that is not the newest")
            if scan.end < scan.size:
                self._cut_torn_tail(path, scan.end, scan.size)
            last_seq = scan.last_seq
        for _, path in segments:
            # a SIGKILL leaves written data in the page cache only: make it durable before
            # calling it synced
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_directory(self.directory)
        if segments:
            first_seq, path = segments[-1]
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            self._segment_first_seq = first_seq
            self._segment_size = os.fstat(self._fd).st_size
        return last_seq

    def _cut_torn_tail(self, path: Path, end: int, size: int) -> None:
        # the batch at `end` was being written when the node died: append() never returned for
        # it, so nothing acted on it. Keep its bytes for forensics, then cut it off.
        with open(path, "rb") as handle:
            handle.seek(end)
            torn = handle.read()
        keep = path.with_name(f"{path.name}.torn-{end}-{int(time.time())}")
        keep.write_bytes(torn)
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.ftruncate(fd, end)
            os.fsync(fd)
        finally:
            os.close(fd)
        if os.stat(path).st_size != end:
            raise JournalError(f"could not cut the torn tail of {path} at {end} (file has {size} bytes)")

    # --- append

    def append(self, records: np.ndarray) -> None:
        """Write one batch (one writev() call). The seqs must continue last_seq contiguously.

        Raises JournalError, having written nothing, on bad input or I/O failure."""
        if not self._opened or self._closed:
            raise JournalError(f"journal {self.directory} is not open")
        if self._sync_error is not None:
            raise JournalError(f"journal {self.directory} cannot be trusted: fsync failed ({self.error})")
        if type(records) is not np.ndarray or records.dtype != JOURNAL_RECORD_DTYPE or records.ndim != 1:
            raise JournalError("append() takes a 1-d numpy array of JOURNAL_RECORD_DTYPE")
        if not records.flags.c_contiguous:
            records = np.ascontiguousarray(records)
        count, first_seq, last_seq, contiguous = scan_records(records)  # one compiled pass
        if count == 0:
            return
        if first_seq != self._last_seq + 1:
            raise JournalError(
                f"batch starts at seq {first_seq}; the journal continues at {self._last_seq + 1}"
            )
        if not contiguous:
            raise JournalError(f"batch seqs are not contiguous from {first_seq}")
        payload = records.view(np.uint8)
        header = encode_batch_header(count, first_seq, _hash(payload))
        total = HEADER_SIZE + payload.nbytes
        if self._fd is None or (
            self._segment_size > 0 and self._segment_size + total > self.segment_max_bytes
        ):
            self._start_segment(first_seq)
        self._write_all(header, payload, total, first_seq)
        self._segment_size += total
        self._last_seq = last_seq
        if not self._dirty.is_set():  # set() takes a lock and notifies: only when it changes
            self._pending_since_ns = time.monotonic_ns()
            self._dirty.set()

    def _start_segment(self, first_seq: int) -> None:
        path = self.directory / segment_name(first_seq)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise JournalError(f"cannot create journal segment {path}: {exc.strerror}") from exc
        with self._state_lock:
            if self._fd is not None:
                self._retired_fds.append(self._fd)
            self._fd = fd
            self._directory_dirty = True
        self._segment_first_seq = first_seq
        self._segment_size = 0

    def _write_all(self, header: bytes, payload: np.ndarray, total: int, first_seq: int) -> None:
        try:
            written = os.writev(self._fd, [header, payload])
            if written < total:  # a short write (disk full, signal): finish it or undo it
                data = memoryview(header + payload.tobytes())
                while written < total:
                    written += os.write(self._fd, data[written:])
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self._segment_size)
            except OSError as undo:
                self._sync_error = undo  # the segment now ends in a torn batch: stop appending
            raise JournalError(
                f"journal write to {self.directory} failed ({exc.strerror}): batch from seq {first_seq} not written"
            ) from exc

    # --- fsync thread

    def _sync_loop(self) -> None:
        while not self._stopping.is_set():  # close() does the final fsync itself
            self._dirty.wait()
            if self._stopping.is_set():
                return
            # gather more appends into one fsync (unless closing)
            self._stopping.wait(self.fsync_interval_s)
            since = self._pending_since_ns  # read before clear(): later appends start a new round
            self._dirty.clear()
            try:
                self._sync_once()
                if self.on_synced is not None and since:
                    self.on_synced(time.monotonic_ns() - since)
            except OSError as exc:
                # after a failed fsync the page cache may have dropped the data (Linux marks the
                # pages clean): nothing written since can be called durable, ever. Stop; the
                # backlog grows and the node halts.
                self._sync_error = exc
                return

    def _sync_once(self) -> None:
        target = self._last_seq  # read before collecting the descriptors: see _start_segment
        with self._state_lock:
            retired, self._retired_fds = self._retired_fds, []
            current = self._fd
            directory_dirty, self._directory_dirty = self._directory_dirty, False
        for fd in retired:
            os.fdatasync(fd)
            os.close(fd)
        if current is not None and target > self._synced_seq:
            os.fdatasync(current)
        if directory_dirty:
            _fsync_directory(self.directory)
        with self._synced:
            self._synced_seq = max(self._synced_seq, target)
            self._synced.notify_all()

    def wait_synced(self, seq: int | None = None, timeout: float | None = None) -> bool:
        """Block until synced_seq >= seq (default: last_seq). True if reached."""
        target = self._last_seq if seq is None else seq
        with self._synced:
            return (
                self._synced.wait_for(
                    lambda: self._synced_seq >= target or self._sync_error is not None, timeout
                )
                and self._synced_seq >= target
            )

    # --- reading and pruning

    def read(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[np.ndarray]:
        """Verified records from_seq..to_seq (default: last_seq) in order, across segments."""
        end = self._last_seq if to_seq is None else min(to_seq, self._last_seq)
        if from_seq > end:
            return iter(())
        return read_journal(self.directory, from_seq, end)

    def prune(self, upto_seq: int) -> list[Path]:
        """Delete whole segments whose records are all <= upto_seq (and synced); never the newest.

        The kernel calls it once those records are durable in PostgreSQL and covered by a
        snapshot. Returns the deleted paths."""
        limit = min(int(upto_seq), self._synced_seq)
        segments = list_segments(self.directory)
        removed = []
        for (first_seq, path), (next_first, _) in zip(segments, segments[1:], strict=False):
            del first_seq
            if next_first - 1 > limit:
                break
            path.unlink()
            removed.append(path)
        if removed:
            _fsync_directory(self.directory)
        return removed
