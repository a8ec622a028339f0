"""The journal sink: segments -> trading_event with binary COPY, high-water mark, restarts."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time

import numpy as np
import psycopg
import pytest

from tests.trading.journal.conftest import (
    batches,
    child_env,
    fetch_events,
    hwm_row,
    make_records,
)
from trading.engine.journal import Journal, read_journal
from trading.journal_sink import (
    COPY_HEADER,
    COPY_TRAILER,
    DAY_NS,
    JournalSink,
    encode_copy_rows,
    partition_name,
)

pytestmark = pytest.mark.django_db


def segment_records(directory) -> np.ndarray:
    return np.concatenate(list(read_journal(directory)))


def assert_contiguous_and_unique(conninfo: str, node: int, last: int) -> None:
    with psycopg.connect(conninfo) as conn:
        count, distinct, low, high = conn.execute(
            "SELECT count(*), count(DISTINCT seq), min(seq), max(seq) FROM trading_event WHERE node_id = %s",
            (node,),
        ).fetchone()
    assert (count, distinct, low, high) == (last, last, 1, last)


def test_copy_encoding_is_postgres_binary_format():
    records = make_records(1, 2)
    rows = encode_copy_rows(records, node_id=7)
    assert rows.dtype.itemsize == 2 + 16 * 4 + 12 * 8 + 2 * 2 + 2 * 4
    raw = rows.tobytes()
    assert raw[:2] == (16).to_bytes(2, "big")  # field count
    assert raw[2:6] == (8).to_bytes(4, "big") and raw[6:14] == (7).to_bytes(8, "big")  # node_id
    assert raw[14:18] == (8).to_bytes(4, "big") and raw[18:26] == (1).to_bytes(8, "big")  # seq
    assert b"PGCOPY\n\xff\r\n\x00" + bytes(8) == COPY_HEADER and COPY_TRAILER == b"\xff\xff"


def test_rows_in_postgres_equal_the_segments_field_by_field(tmp_path, pg, node_id):
    journal = Journal(tmp_path / "journal")
    journal.open()
    sink = JournalSink(
        tmp_path / "journal", node_id, pg, batch_records=20_000, limit_seq=lambda: journal.synced_seq
    )
    sink.start()
    try:
        records = make_records(1, 150_000)
        for batch in batches(records):
            journal.append(batch)
            sink.wake()
        assert sink.wait_durable(150_000, timeout=60), sink.stats()
        assert sink.healthy and sink.last_error == "" and sink.lag == 0
    finally:
        assert sink.stop()
        journal.close()
    stored = fetch_events(pg, node_id)
    assert stored.tobytes() == segment_records(tmp_path / "journal").tobytes() == records.tobytes()
    assert_contiguous_and_unique(pg, node_id, 150_000)
    assert hwm_row(pg, node_id) == (150_000, int(records["ts_local"][-1]), 150_000)
    assert sink.durable_seq == 150_000 and sink.stats()["rows"] == 150_000
    assert sink.stats()["transactions"] >= 150_000 // 20_000


def test_the_durable_mark_is_readable_through_django(tmp_path, pg, node_id):
    from trading.models import Event, JournalHighWaterMark

    with Journal(tmp_path) as journal:
        journal.append(make_records(1, 1_000))
    sink = JournalSink(tmp_path, node_id, pg)
    sink.start()
    assert sink.wait_durable(1_000, timeout=30)
    assert sink.stop()
    mark = JournalHighWaterMark.objects.get(node_id=node_id)
    assert (mark.seq, mark.journal_seq, mark.lag) == (1_000, 1_000, 0)
    page = list(Event.objects.filter(node_id=node_id, seq__gt=500).order_by("seq")[:3])
    assert [e.seq for e in page] == [501, 502, 503]
    assert page[0].kind == 19 and page[0].get_kind_display() == "Input"
    assert page[0].price == int(make_records(501, 1)["price"][0])


def test_limit_seq_keeps_unsynced_records_out_of_postgres(tmp_path, pg, node_id):
    with Journal(tmp_path) as journal:
        journal.append(make_records(1, 1_000))
    limit = {"seq": 400}
    sink = JournalSink(tmp_path, node_id, pg, limit_seq=lambda: limit["seq"])
    sink.start()
    try:
        assert sink.wait_durable(400, timeout=30)
        time.sleep(0.2)
        assert sink.durable_seq == 400 and sink.lag == 600
        limit["seq"] = 1_000
        assert sink.wait_durable(1_000, timeout=30)
    finally:
        assert sink.stop()


def _terminate_sink_backends(conninfo: str, node: int) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (f"atomic-journal-sink-{node}",),
        ).fetchall()
    return len(rows)


def test_connections_killed_mid_stream_and_sink_restarts_lose_and_duplicate_nothing(tmp_path, pg, node_id):
    total = 400_000
    with Journal(tmp_path) as journal:
        for batch in batches(make_records(1, total), sizes=(5000, 1, 3000)):
            journal.append(batch)
    rng = np.random.default_rng(7)
    killed = 0
    for _ in range(4):  # each round: a new sink object resumes from whatever committed
        sink = JournalSink(
            tmp_path, node_id, pg, batch_records=10_000, retry_initial_s=0.01, retry_max_s=0.05
        )
        sink.start()
        for _ in range(3):
            time.sleep(float(rng.uniform(0.02, 0.15)))
            killed += _terminate_sink_backends(pg, node_id)
        assert sink.stop()  # stopped abruptly, possibly between COPY and COMMIT
        assert 0 <= sink.durable_seq <= total
    assert killed >= 6
    sink = JournalSink(tmp_path, node_id, pg, batch_records=50_000)
    sink.start()
    try:
        assert sink.wait_durable(total, timeout=60), sink.stats()
    finally:
        assert sink.stop()
    assert_contiguous_and_unique(pg, node_id, total)
    assert fetch_events(pg, node_id).tobytes() == segment_records(tmp_path).tobytes()


SINK_PROCESS = """
import sys, time
from trading.journal_sink import JournalSink
sink = JournalSink(sys.argv[1], int(sys.argv[2]), sys.argv[3], batch_records=int(sys.argv[4]))
sink.start()
print("started", flush=True)
while True:
    time.sleep(1)
"""


def test_sink_process_killed_with_sigkill_resumes_without_gaps_or_duplicates(
    tmp_path, pg, node_id, repo_root
):
    total = 300_000
    with Journal(tmp_path) as journal:
        for batch in batches(make_records(1, total), sizes=(2000, 3, 7000)):
            journal.append(batch)
    rng = np.random.default_rng(11)
    marks = []
    for _ in range(5):
        child = subprocess.Popen(
            [sys.executable, "-c", SINK_PROCESS, str(tmp_path), str(node_id), pg, "7000"],
            env=child_env(repo_root),
            cwd=repo_root,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout.readline().strip() == "started"
        time.sleep(float(rng.uniform(0.1, 0.4)))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        marks.append(hwm_row(pg, node_id)[0] if hwm_row(pg, node_id) else 0)
    assert marks == sorted(marks)
    sink = JournalSink(tmp_path, node_id, pg)
    sink.start()
    try:
        assert sink.wait_durable(total, timeout=60), sink.stats()
    finally:
        assert sink.stop()
    assert_contiguous_and_unique(pg, node_id, total)
    assert fetch_events(pg, node_id).tobytes() == segment_records(tmp_path).tobytes()


def test_day_partitions_are_created_across_midnight(tmp_path, pg, node_id):
    midnight = dt.datetime(2031, 3, 4, tzinfo=dt.UTC)
    start_ns = int(midnight.timestamp()) * 1_000_000_000 - 2_000 * 1_000_000  # 2 s before midnight
    records = make_records(1, 5_000, ts_start=start_ns)
    records["ts_local"][-1] += 3 * DAY_NS  # and one record three days later
    with Journal(tmp_path) as journal:
        journal.append(records[:1_000])
        journal.append(records[1_000:])
    sink = JournalSink(tmp_path, node_id, pg, batch_records=1_500)
    sink.start()
    try:
        assert sink.wait_durable(5_000, timeout=30), sink.stats()
    finally:
        assert sink.stop()
    # the days of the records, and the day after the last one (created ahead of its midnight)
    days = [dt.date(2031, 3, 3), dt.date(2031, 3, 4), dt.date(2031, 3, 7), dt.date(2031, 3, 8)]
    with psycopg.connect(pg) as conn:
        bounds = dict(
            conn.execute(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'trading_event'::regclass"
            ).fetchall()
        )
        per_partition = dict(
            conn.execute(
                "SELECT tableoid::regclass::text, count(*) FROM trading_event WHERE node_id = %s GROUP BY 1",
                (node_id,),
            ).fetchall()
        )
    for day in days:
        low = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
        assert bounds[partition_name(day)] == f"FOR VALUES FROM ('{low}') TO ('{low + DAY_NS}')"
    before = int(np.count_nonzero(records["ts_local"] < start_ns + 2_000 * 1_000_000))
    assert per_partition == {
        partition_name(days[0]): before,
        partition_name(days[1]): 5_000 - before - 1,
        partition_name(days[2]): 1,
    }
    assert (
        partition_name(dt.date(2031, 3, 6)) not in bounds
    )  # none for days without records (3/5: ahead of 3/4)
    assert before == 2_000


def test_a_second_sink_creating_the_same_partitions_concurrently_is_safe(tmp_path, pg, node_id):
    from tests.trading.journal.conftest import delete_node, insert_node

    other = insert_node(pg, f"journal-test-other-{node_id}")
    try:
        start_ns = int(dt.datetime(2033, 1, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
        for name in ("a", "b"):
            with Journal(tmp_path / name) as journal:
                journal.append(make_records(1, 20_000, ts_start=start_ns))  # ~ 20 s: one day
        sinks = [JournalSink(tmp_path / "a", node_id, pg), JournalSink(tmp_path / "b", other, pg)]
        for sink in sinks:
            sink.start()
        for sink in sinks:
            assert sink.wait_durable(20_000, timeout=30), sink.stats()
            assert sink.stop()
        assert_contiguous_and_unique(pg, node_id, 20_000)
        assert_contiguous_and_unique(pg, other, 20_000)
    finally:
        delete_node(pg, other)


def test_a_journal_that_disagrees_with_postgres_is_not_shipped(tmp_path, pg, node_id):
    with Journal(tmp_path / "first") as journal:
        journal.append(make_records(1, 1_000))
    sink = JournalSink(tmp_path / "first", node_id, pg)
    sink.start()
    assert sink.wait_durable(1_000, timeout=30)
    assert sink.stop()
    # another journal for the same node (a wiped disk, the wrong directory): same seqs, other content
    other = make_records(1, 2_000)
    other["price"] += 1
    with Journal(tmp_path / "second") as journal:
        journal.append(other)
    sink = JournalSink(tmp_path / "second", node_id, pg, retry_initial_s=0.01, retry_max_s=0.05)
    sink.start()
    try:
        deadline = time.monotonic() + 10
        while "diverged" not in sink.last_error and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "node" in sink.last_error and "diverged: record 1000" in sink.last_error
        assert not sink.healthy and sink.durable_seq == 1_000
    finally:
        assert sink.stop()
    assert hwm_row(pg, node_id)[0] == 1_000
    assert_contiguous_and_unique(pg, node_id, 1_000)


def test_a_journal_behind_postgres_waits_and_says_so(tmp_path, pg, node_id):
    with Journal(tmp_path / "full") as journal:
        journal.append(make_records(1, 1_000))
    sink = JournalSink(tmp_path / "full", node_id, pg)
    sink.start()
    assert sink.wait_durable(1_000, timeout=30)
    assert sink.stop()
    with Journal(tmp_path / "short") as journal:
        journal.append(make_records(1, 600))
    sink = JournalSink(tmp_path / "short", node_id, pg)
    sink.start()
    try:
        deadline = time.monotonic() + 10
        while "waiting" not in sink.last_error and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.last_error.startswith("waiting: PostgreSQL holds node")
        assert "up to seq 1000 but the local journal ends at 600" in sink.last_error
        assert not sink.healthy and sink.lag == 0
    finally:
        assert sink.stop()


def test_records_pruned_before_they_were_shipped_are_a_loud_gap(tmp_path, pg, node_id):
    from trading.engine.journal import HEADER_SIZE, RECORD_SIZE

    journal = Journal(tmp_path, segment_max_bytes=HEADER_SIZE + 100 * RECORD_SIZE)
    journal.open()
    for first in range(1, 501, 100):
        journal.append(make_records(first, 100))
    journal.wait_synced(timeout=5)
    journal.prune(300)  # wrongly: nothing is in PostgreSQL yet
    journal.close()
    sink = JournalSink(tmp_path, node_id, pg, retry_initial_s=0.01)
    sink.start()
    try:
        deadline = time.monotonic() + 10
        while not sink.last_error and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.last_error == (
            f"records 1..300 are neither in PostgreSQL nor in the local journal {tmp_path} "
            "(pruned before they were shipped)"
        )
        assert not sink.healthy and sink.durable_seq == 0
    finally:
        assert sink.stop()
    assert hwm_row(pg, node_id)[0] == 0


def test_an_unknown_node_is_a_clear_error_not_an_exception(tmp_path, pg):
    with Journal(tmp_path) as journal:
        journal.append(make_records(1, 10))
    sink = JournalSink(tmp_path, 987_654_321, pg, retry_initial_s=0.01)
    sink.start()
    try:
        deadline = time.monotonic() + 10
        while not sink.last_error and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.last_error == (
            "node id 987654321 does not exist in trading_node: create the node before its sink runs"
        )
        assert not sink.healthy and sink.lag == 10
    finally:
        assert sink.stop()


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="node_id"):
        JournalSink(tmp_path, 0, "dbname=x")
    with pytest.raises(ValueError, match="batch_records"):
        JournalSink(tmp_path, 1, "dbname=x", batch_records=0)
    with pytest.raises(ValueError, match="conninfo"):
        JournalSink(tmp_path, 1, "")
    sink = JournalSink(tmp_path, 1, "dbname=x")
    sink.start()
    with pytest.raises(RuntimeError, match="already started"):
        sink.start()
    assert sink.stop()


def test_the_sink_and_the_journal_import_nothing_from_django(repo_root):
    probe = (
        "import sys, trading.journal_sink, trading.engine.journal; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'atomic_ops', 'channels')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], env=child_env(repo_root), cwd=repo_root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_long_reader_of_the_events_table_does_not_stall_shipping(tmp_path, pg, node_id):
    from trading.journal_sink import create_partition_sql

    day = dt.date(2035, 6, 1)
    start_ns = int(dt.datetime(2035, 6, 1, 12, tzinfo=dt.UTC).timestamp()) * 1_000_000_000
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(create_partition_sql(day))
    with Journal(tmp_path) as journal:
        journal.append(make_records(1, 3_000, ts_start=start_ns))
    with psycopg.connect(pg) as reader:  # a console query left open: holds a lock on the table
        reader.execute("SELECT count(*) FROM trading_event WHERE node_id = %s", (node_id,))
        sink = JournalSink(tmp_path, node_id, pg)
        sink.start()
        try:
            # creating tomorrow's partition would wait for the reader: it is skipped, not waited for
            assert sink.wait_durable(3_000, timeout=10), sink.stats()
            assert sink.healthy
        finally:
            assert sink.stop()
        with psycopg.connect(pg, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT to_regclass(%s)", (partition_name(dt.date(2035, 6, 2)),)
            ).fetchone()[0]
        assert exists is None


def test_a_corrupt_segment_stops_the_sink_at_the_last_good_record(tmp_path, pg, node_id):
    from trading.engine.journal import HEADER_SIZE, RECORD_SIZE, list_segments

    with Journal(tmp_path) as journal:
        for first in (1, 101, 201):
            journal.append(make_records(first, 100))
    path = list_segments(tmp_path)[0][1]
    data = bytearray(path.read_bytes())
    data[2 * HEADER_SIZE + 100 * RECORD_SIZE + 40 * RECORD_SIZE] ^= 0xFF  # inside record 141
    path.write_bytes(bytes(data))
    sink = JournalSink(tmp_path, node_id, pg, retry_initial_s=0.01, retry_max_s=0.05)
    sink.start()
    try:
        deadline = time.monotonic() + 10
        while "corrupt" not in sink.last_error and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.last_error == (
            f"journal segment {path} is corrupt at offset {HEADER_SIZE + 100 * RECORD_SIZE}: "
            "batch payload checksum mismatch"
        )
        assert not sink.healthy and sink.durable_seq == 100  # nothing at or past the bad batch
    finally:
        assert sink.stop()
    assert_contiguous_and_unique(pg, node_id, 100)
