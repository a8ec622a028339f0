"""The local journal: segment files, checksums, torn tails, corruption, fsync thread, readers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hotpath.types import JOURNAL_RECORD_DTYPE
from tests.trading.journal.conftest import batches, child_env, make_records
from trading.engine.journal import (
    HEADER_SIZE,
    RECORD_SIZE,
    Journal,
    JournalCorrupt,
    JournalError,
    JournalReader,
    list_segments,
    read_journal,
    segment_name,
)


def write_journal(directory: Path, records: np.ndarray, sizes=(1, 7, 1000, 4096, 333), **options) -> None:
    with Journal(directory, **options) as journal:
        for batch in batches(records, sizes):
            journal.append(batch)


def read_all(directory: Path, from_seq: int = 1) -> np.ndarray:
    parts = list(read_journal(directory, from_seq))
    return np.concatenate(parts) if parts else np.empty(0, dtype=JOURNAL_RECORD_DTYPE)


def test_round_trip_keeps_every_field(tmp_path):
    records = make_records(1, 20_000)
    write_journal(tmp_path, records)
    journal = Journal(tmp_path)
    assert journal.open() == 20_000
    back = read_all(tmp_path)
    assert back.dtype == JOURNAL_RECORD_DTYPE
    assert back.tobytes() == records.tobytes()  # every field, bit for bit
    for name in JOURNAL_RECORD_DTYPE.names:
        assert np.array_equal(back[name], records[name]), name
    window = np.concatenate(list(journal.read(from_seq=4_321, to_seq=12_345)))
    assert window["seq"][0] == 4_321 and window["seq"][-1] == 12_345
    assert window.tobytes() == records[4_320:12_345].tobytes()
    journal.append(make_records(20_001, 5))
    assert journal.last_seq == 20_005
    journal.close()
    assert read_all(tmp_path)["seq"][-1] == 20_005


def test_batch_layout_on_disk(tmp_path):
    with Journal(tmp_path) as journal:
        journal.append(make_records(1, 3))
        journal.append(make_records(4, 2))
    (path,) = [p for _, p in list_segments(tmp_path)]
    assert path.name == segment_name(1) == "journal-00000000000000000001.seg"
    data = path.read_bytes()
    assert len(data) == 2 * HEADER_SIZE + 5 * RECORD_SIZE
    assert data[:4] == b"AOJ1" and data[HEADER_SIZE + 3 * RECORD_SIZE :][:4] == b"AOJ1"
    payload = np.frombuffer(data[HEADER_SIZE : HEADER_SIZE + 3 * RECORD_SIZE], dtype=JOURNAL_RECORD_DTYPE)
    assert payload.tobytes() == make_records(1, 3).tobytes()


def test_append_refuses_anything_but_the_next_contiguous_seqs(tmp_path):
    journal = Journal(tmp_path)
    journal.open()
    journal.append(make_records(1, 10))
    size = sum(p.stat().st_size for _, p in list_segments(tmp_path))
    gap = make_records(11, 10)
    gap["seq"][5:] += 1
    wrong_dtype = np.zeros(3, dtype=[("seq", "<i8")])
    for bad, message in [
        (make_records(12, 5), "continues at 11"),
        (make_records(10, 5), "continues at 11"),
        (gap, "not contiguous"),
        (make_records(11, 8)[::2], "not contiguous"),  # a strided view: copied, then checked
        (make_records(11, 4)[::-1].copy(), "continues at 11"),
        (wrong_dtype, "JOURNAL_RECORD_DTYPE"),
        (make_records(11, 4).reshape(2, 2), "1-d"),
        ([1, 2, 3], "JOURNAL_RECORD_DTYPE"),
    ]:
        with pytest.raises(JournalError, match=message):
            journal.append(bad)
    assert journal.last_seq == 10
    assert sum(p.stat().st_size for _, p in list_segments(tmp_path)) == size  # nothing written
    journal.append(np.empty(0, dtype=JOURNAL_RECORD_DTYPE))  # an empty drain is fine
    journal.append(make_records(11, 4))
    journal.close()
    assert read_all(tmp_path)["seq"].tolist() == list(range(1, 15))
    with pytest.raises(JournalError, match="not open"):
        journal.append(make_records(15, 1))


def test_one_writer_per_directory(tmp_path):
    with Journal(tmp_path), pytest.raises(JournalError, match="open for writing by another"):
        Journal(tmp_path).open()
    Journal(tmp_path).open()  # released on close


def test_rollover_across_segments(tmp_path):
    records = make_records(1, 10_000)
    write_journal(tmp_path, records, sizes=(1, 7, 100, 333, 50), segment_max_bytes=64 * 1024)
    segments = list_segments(tmp_path)
    assert len(segments) > 10
    for (first, path), (next_first, _) in zip(segments, segments[1:], strict=False):
        assert path.name == segment_name(first)
        assert 64 * 1024 - HEADER_SIZE - 333 * RECORD_SIZE < path.stat().st_size <= 64 * 1024
        # each segment holds exactly the seqs up to the next one's first
        seqs = np.concatenate([a["seq"] for a in read_journal(tmp_path, first, next_first - 1)])
        assert seqs[0] == first and seqs[-1] == next_first - 1
    assert read_all(tmp_path).tobytes() == records.tobytes()
    middle = segments[len(segments) // 2][0] + 3
    assert read_all(tmp_path, middle).tobytes() == records[middle - 1 :].tobytes()
    journal = Journal(tmp_path, segment_max_bytes=64 * 1024)
    assert journal.open() == 10_000
    journal.append(make_records(10_001, 700))  # continues in the newest segment or a new one
    journal.close()
    assert read_all(tmp_path).tobytes() == make_records(1, 10_700).tobytes()


def test_a_batch_bigger_than_a_segment_gets_a_segment_of_its_own(tmp_path):
    with Journal(tmp_path, segment_max_bytes=HEADER_SIZE + 10 * RECORD_SIZE) as journal:
        journal.append(make_records(1, 3))
        journal.append(make_records(4, 50))
        journal.append(make_records(54, 2))
    assert [first for first, _ in list_segments(tmp_path)] == [1, 4, 54]
    assert read_all(tmp_path)["seq"].tolist() == list(range(1, 56))


def test_torn_tail_is_cut_at_every_byte_offset_of_the_last_batch(tmp_path):
    source = tmp_path / "source"
    with Journal(source) as journal:
        journal.append(make_records(1, 5))
        journal.append(make_records(6, 4))
        journal.append(make_records(10, 3))
    (path,) = [p for _, p in list_segments(source)]
    full = path.read_bytes()
    last_batch_start = 2 * HEADER_SIZE + 9 * RECORD_SIZE
    assert len(full) == last_batch_start + HEADER_SIZE + 3 * RECORD_SIZE
    work = tmp_path / "work"
    for cut in range(last_batch_start + 1, len(full)):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        (work / path.name).write_bytes(full[:cut])
        journal = Journal(work)
        assert journal.open() == 9, f"cut at {cut}"
        assert (work / path.name).stat().st_size == last_batch_start
        (kept,) = list(work.glob(f"{path.name}.torn-{last_batch_start}-*"))
        assert kept.read_bytes() == full[last_batch_start:cut]  # the torn bytes are kept aside
        journal.append(make_records(10, 3))  # the node re-journals from where it really got to
        journal.close()
        assert (work / path.name).read_bytes() == full
    # cut exactly at a batch boundary: nothing torn, nothing cut
    shutil.rmtree(work)
    work.mkdir()
    (work / path.name).write_bytes(full[:last_batch_start])
    assert Journal(work).open() == 9
    assert not list(work.glob("*.torn-*"))


def test_torn_tail_of_a_new_empty_segment(tmp_path):
    with Journal(tmp_path, segment_max_bytes=HEADER_SIZE + 4 * RECORD_SIZE) as journal:
        journal.append(make_records(1, 4))
        journal.append(make_records(5, 4))
    newest = list_segments(tmp_path)[-1][1]
    newest.write_bytes(newest.read_bytes()[:10])  # died inside the first write to the new segment
    journal = Journal(tmp_path)
    assert journal.open() == 4
    journal.append(make_records(5, 2))
    journal.close()
    assert read_all(tmp_path)["seq"].tolist() == list(range(1, 7))


def _corrupt(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("where", "problem"),
    [
        ("payload of the first batch", "payload checksum mismatch"),
        ("header of the second batch", "header checksum mismatch"),
        ("magic of the second batch", "bad batch magic"),
        ("payload of the last complete batch", "payload checksum mismatch"),
    ],
)
def test_corruption_is_refused_with_file_and_offset(tmp_path, where, problem):
    with Journal(tmp_path) as journal:
        journal.append(make_records(1, 10))
        journal.append(make_records(11, 10))
        journal.append(make_records(21, 10))
    path = list_segments(tmp_path)[0][1]
    batch = HEADER_SIZE + 10 * RECORD_SIZE
    offset, batch_offset = {
        "payload of the first batch": (HEADER_SIZE + 5 * RECORD_SIZE + 3, 0),
        "header of the second batch": (batch + 12, batch),
        "magic of the second batch": (batch + 1, batch),
        "payload of the last complete batch": (2 * batch + HEADER_SIZE + 7, 2 * batch),
    }[where]
    _corrupt(path, offset)
    before = path.read_bytes()
    with pytest.raises(JournalCorrupt) as info:
        Journal(tmp_path).open()
    assert info.value.path == path and info.value.offset == batch_offset
    assert (
        problem in str(info.value)
        and str(path) in str(info.value)
        and f"offset {batch_offset}" in str(info.value)
    )
    assert path.read_bytes() == before  # refused: nothing cut, nothing lost
    with pytest.raises(JournalCorrupt, match=problem):
        read_all(tmp_path)
    # the lock was released: once repaired (here: the bit flipped back) it opens
    _corrupt(path, offset)
    assert Journal(tmp_path).open() == 30


def test_broken_seq_chain_between_segments_is_refused(tmp_path):
    with Journal(tmp_path, segment_max_bytes=HEADER_SIZE + 5 * RECORD_SIZE) as journal:
        for first in range(1, 31, 5):
            journal.append(make_records(first, 5))
    segments = list_segments(tmp_path)
    assert [first for first, _ in segments] == [1, 6, 11, 16, 21, 26]
    segments[2][1].unlink()  # a lost segment in the middle
    with pytest.raises(JournalCorrupt, match="segment starts at seq 16, the previous one ends at 10"):
        Journal(tmp_path).open()
    with pytest.raises(JournalCorrupt, match="starts at seq 16, the previous one ends at 10"):
        read_all(tmp_path)


def test_incomplete_batch_in_an_older_segment_is_corruption_not_a_torn_tail(tmp_path):
    with Journal(tmp_path, segment_max_bytes=HEADER_SIZE + 5 * RECORD_SIZE) as journal:
        for first in range(1, 16, 5):
            journal.append(make_records(first, 5))
    older = list_segments(tmp_path)[1][1]
    older.write_bytes(older.read_bytes()[:-10])
    with pytest.raises(JournalCorrupt, match="incomplete batch in a segment that is not the newest"):
        Journal(tmp_path).open()


def test_segment_name_must_match_its_first_batch(tmp_path):
    with Journal(tmp_path) as journal:
        journal.append(make_records(1, 5))
    path = list_segments(tmp_path)[0][1]
    path.rename(tmp_path / segment_name(2))
    with pytest.raises(JournalCorrupt, match="batch starts at seq 1, expected 2"):
        Journal(tmp_path).open()


def test_fsync_happens_in_the_background_thread_and_advances_synced_seq(tmp_path, monkeypatch):
    calls: list[str] = []
    real_fdatasync = os.fdatasync

    def recording_fdatasync(fd):
        calls.append(threading.current_thread().name)
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", recording_fdatasync)
    journal = Journal(tmp_path, fsync_interval_s=0.2)
    assert journal.open() == 0
    assert (journal.last_seq, journal.synced_seq, journal.backlog) == (0, 0, 0)
    journal.append(make_records(1, 1000))
    # the append returned without syncing: the thread waits fsync_interval_s to batch appends
    assert journal.last_seq == 1000 and journal.synced_seq == 0 and journal.backlog == 1000
    assert calls == []
    journal.append(make_records(1001, 500))
    assert journal.wait_synced(1500, timeout=5)
    assert journal.synced_seq == 1500 and journal.backlog == 0
    assert calls and all(name.startswith("journal-fsync") for name in calls)
    assert len(calls) == 1  # both appends made durable by one fdatasync
    journal.close()
    assert Journal(tmp_path).open() == 1500


def test_reopen_after_sigkill_style_exit_counts_everything_as_synced(tmp_path):
    journal = Journal(tmp_path, fsync_interval_s=60)
    journal.open()
    journal.append(make_records(1, 10))
    assert journal.synced_seq == 0
    # no close(): the process "died"; the lock file descriptor goes with it
    journal._release_lock()
    reopened = Journal(tmp_path)
    assert reopened.open() == 10
    assert reopened.synced_seq == 10  # open() fsyncs what the page cache held


WRITER = """
import sys, time
from pathlib import Path
from tests.trading.journal.conftest import make_records
from trading.engine.journal import Journal
directory, total = Path(sys.argv[1]), int(sys.argv[2])
with Journal(directory, segment_max_bytes=256 * 1024, fsync_interval_s=0.002) as journal:
    seq, size = 1, 1
    while seq <= total:
        size = min(size * 3 % 997 + 1, total - seq + 1)
        journal.append(make_records(seq, size))
        seq += size
        time.sleep(0.0005)
"""


def test_reader_follows_a_writer_in_another_process(tmp_path, repo_root):
    total = 60_000
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), str(total)], env=child_env(repo_root), cwd=repo_root
    )
    reader = JournalReader(tmp_path, 1)
    parts, polls, deadline = [], 0, time.monotonic() + 60
    got = 0
    try:
        while got < total and time.monotonic() < deadline:
            records = reader.read(5_000)
            polls += 1
            if len(records):
                parts.append(records.copy())
                got += len(records)
                assert reader.visible_seq() >= got
            else:
                assert writer.poll() in (None, 0)
                time.sleep(0.001)
        assert writer.wait(timeout=30) == 0
        assert len(reader.read(10)) == 0 and reader.visible_seq() == total  # nothing more
    finally:
        writer.kill()
        reader.close()
    records = np.concatenate(parts)
    assert len(parts) > 20, "the reader must have caught up with the writer many times"
    assert records.tobytes() == make_records(1, total).tobytes()
    assert len(list_segments(tmp_path)) > 5  # it followed rollovers
    with pytest.raises(JournalError, match="closed"):
        reader.read(10)


def test_reader_skips_a_torn_tail_until_the_writer_rewrites_it(tmp_path):
    with Journal(tmp_path) as journal:
        journal.append(make_records(1, 5))
        journal.append(make_records(6, 5))
    path = list_segments(tmp_path)[0][1]
    full = path.read_bytes()
    path.write_bytes(full[:-100])  # the writer died mid-write of 6..10
    reader = JournalReader(tmp_path, 1)
    assert reader.read(100)["seq"].tolist() == [1, 2, 3, 4, 5]
    assert len(reader.read(100)) == 0 and reader.visible_seq() == 5
    journal = Journal(tmp_path)
    assert journal.open() == 5  # cuts the torn batch...
    replacement = make_records(6, 3)
    replacement["price"] = -1
    journal.append(replacement)  # ...and journals what the restarted node really did
    journal.close()
    again = reader.read(100)
    assert again["seq"].tolist() == [6, 7, 8] and again["price"].tolist() == [-1, -1, -1]


def test_prune_deletes_whole_synced_segments_only(tmp_path):
    journal = Journal(tmp_path, segment_max_bytes=HEADER_SIZE + 10 * RECORD_SIZE)
    journal.open()
    for first in range(1, 51, 10):
        journal.append(make_records(first, 10))
    assert journal.wait_synced(timeout=5)
    assert [first for first, _ in list_segments(tmp_path)] == [1, 11, 21, 31, 41]
    removed = journal.prune(25)  # 21..30 is not wholly <= 25: kept
    assert [p.name for p in removed] == [segment_name(1), segment_name(11)]
    assert [first for first, _ in list_segments(tmp_path)] == [21, 31, 41]
    assert journal.prune(10_000) and [first for first, _ in list_segments(tmp_path)] == [41]  # newest stays
    with pytest.raises(JournalError, match="pruned"):
        read_all(tmp_path, 5)
    assert read_all(tmp_path, 41)["seq"].tolist() == list(range(41, 51))
    journal.close()
    assert Journal(tmp_path).open() == 50


def test_read_on_a_missing_directory_is_empty_and_bad_arguments_are_refused(tmp_path):
    assert read_all(tmp_path / "nothing-here").size == 0
    with pytest.raises(JournalError, match="from_seq"):
        JournalReader(tmp_path, 0)
    with pytest.raises(JournalError, match="segment_max_bytes"):
        Journal(tmp_path, segment_max_bytes=10)


def test_a_failed_write_leaves_no_torn_batch_behind(tmp_path, monkeypatch):
    import errno

    journal = Journal(tmp_path)
    journal.open()
    journal.append(make_records(1, 10))
    path = list_segments(tmp_path)[0][1]
    size = path.stat().st_size
    real_writev = os.writev

    def half_then_disk_full(fd, buffers):
        data = b"".join(bytes(b) for b in buffers)
        return real_writev(fd, [data[: len(data) // 2]])  # a short write...

    def disk_full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")  # ...and then the disk is full

    monkeypatch.setattr(os, "writev", half_then_disk_full)
    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(JournalError, match="No space left on device.*batch from seq 11 not written"):
        journal.append(make_records(11, 10))
    monkeypatch.undo()
    assert path.stat().st_size == size and journal.last_seq == 10  # the half batch was taken back
    journal.append(make_records(11, 10))
    journal.close()
    assert read_all(tmp_path).tobytes() == make_records(1, 20).tobytes()


def test_on_synced_reports_append_to_durable_time(tmp_path):
    lags = []
    journal = Journal(tmp_path, fsync_interval_s=0.02)
    journal.on_synced = lags.append
    journal.open()
    try:
        journal.append(make_records(1, 10))
        journal.append(make_records(11, 10))
        assert journal.wait_synced(timeout=10)
        time.sleep(0.05)
        assert lags, "one report per fsync round"
        # the oldest append of the round waited at least the gathering interval
        assert 0.015e9 <= lags[0] < 5e9
        count = len(lags)
        time.sleep(0.1)
        assert len(lags) == count, "no appends, no fsync rounds, no reports"
    finally:
        journal.close()
