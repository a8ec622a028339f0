"""A node process (journal writer + sink) killed with SIGKILL at random moments and restarted 20
times: no record lost or duplicated, seq contiguous, locally and in PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import psycopg
import pytest

from tests.trading.journal.conftest import child_env, fetch_events, hwm_row, make_records
from trading.engine.journal import list_segments, read_journal

pytestmark = pytest.mark.django_db

# A stand-in for the node's journaling: every record's content is a function of its seq, so
# whatever a restarted process journals again is checkable byte for byte.
NODE = """
import sys, time
from pathlib import Path
from tests.trading.journal.conftest import make_records
from trading.engine.journal import Journal
from trading.journal_sink import JournalSink

directory, node, conninfo, extra = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
journal = Journal(directory, segment_max_bytes=256 * 1024, fsync_interval_s=0.002)
last = journal.open()
final_seq = last + extra if extra else 0  # 0: run until killed
sink = JournalSink(directory, node, conninfo, batch_records=4_000, retry_initial_s=0.01,
                   limit_seq=lambda: journal.synced_seq)
sink.start()
print(f"ready {last}", flush=True)
seq, size = last + 1, last % 997 + 1
while final_seq == 0 or seq <= final_seq:
    size = (size * 7 + 3) % 400 + 1
    if final_seq:
        size = min(size, final_seq - seq + 1)
    journal.append(make_records(seq, size))  # write-ahead: the node acts only after this
    seq += size
    sink.wake()
    time.sleep(0.002)
assert journal.wait_synced(timeout=30)
assert sink.wait_durable(journal.last_seq, timeout=60), sink.stats()
assert sink.stop()
journal.close()
print(f"done {journal.last_seq}", flush=True)
"""


def run_node(directory, node: int, conninfo: str, repo_root, extra: int = 0) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", NODE, str(directory), str(node), conninfo, str(extra)],
        env=child_env(repo_root),
        cwd=repo_root,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_sigkill_at_random_moments_20_times(tmp_path, pg, node_id, repo_root):
    rng = np.random.default_rng(20)
    ready = []
    for _ in range(20):
        node = run_node(tmp_path, node_id, pg, repo_root)
        line = node.stdout.readline().split()
        assert line[0] == "ready", line
        ready.append(int(line[1]))
        time.sleep(float(rng.uniform(0.05, 0.5)))
        node.send_signal(signal.SIGKILL)
        assert node.wait(timeout=10) == -signal.SIGKILL
    # a restarted journal never goes back: what was written before the kill survives it
    assert ready == sorted(ready) and ready[-1] > ready[0] and ready[-1] > 20_000
    durable_before = hwm_row(pg, node_id)[0]
    assert durable_before > 0

    node = run_node(tmp_path, node_id, pg, repo_root, extra=10_000)  # a clean run to the end
    out, _ = node.communicate(timeout=120)
    assert node.returncode == 0, out
    (_, last), (_, final) = (line.split() for line in out.splitlines())
    assert int(last) >= max(ready[-1], durable_before)  # PostgreSQL never holds more than the segments
    final_seq = int(last) + 10_000
    assert int(final) == final_seq

    local = np.concatenate(list(read_journal(tmp_path)))
    assert local.tobytes() == make_records(1, final_seq).tobytes()  # contiguous, nothing lost or doubled
    assert len(list_segments(tmp_path)) > 3
    stored = fetch_events(pg, node_id)
    assert stored.tobytes() == local.tobytes()
    with psycopg.connect(pg) as conn:
        count, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT seq) FROM trading_event WHERE node_id = %s", (node_id,)
        ).fetchone()
    assert count == distinct == final_seq
    assert hwm_row(pg, node_id)[0] == final_seq
