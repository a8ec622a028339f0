"""The journal sink hosted in a child process (what runnode uses): same guarantees as the
thread, and the child never outlives or silently abandons its node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psycopg
import pytest

from tests.integration.harness import ROOT, wait_for
from tests.trading.journal.conftest import batches, fetch_events, make_records
from trading.engine.journal import Journal, read_journal
from trading.journal_sink_process import JournalSinkProcess

pytestmark = pytest.mark.django_db


def durable_in_db(conninfo: str, node_id: int) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM trading_event WHERE node_id = %s", (node_id,)).fetchone()
    return row[0]


def test_ships_every_record_and_never_past_the_fsynced_seq(tmp_path, pg, node_id):
    journal = Journal(tmp_path / "journal")
    journal.open()
    limit = {"seq": 0}
    sink = JournalSinkProcess(tmp_path / "journal", node_id, pg, limit_seq=lambda: limit["seq"])
    sink.start()
    try:
        records = make_records(1, 60_000)
        for batch in batches(records):
            journal.append(batch)
        journal.wait_synced()
        limit["seq"] = 25_000
        assert sink.wait_durable(25_000, timeout=60), sink.stats()
        time.sleep(0.3)
        assert sink.durable_seq == 25_000, "nothing past the limit"
        assert wait_for(lambda: sink.lag == 35_000, 10, "the lag to count the unsynced records")
        limit["seq"] = journal.synced_seq
        assert sink.wait_durable(60_000, timeout=60), sink.stats()
        assert sink.healthy and sink.last_error == "" and sink.stats()["pid"] != os.getpid()
        assert 0 <= sink.stats()["seconds_since_commit"] < 60
    finally:
        assert sink.stop()
        journal.close()
    assert not sink.alive
    assert fetch_events(pg, node_id).tobytes() == records.tobytes()


def test_a_child_that_dies_is_restarted_and_resumes_from_the_durable_mark(tmp_path, pg, node_id):
    with Journal(tmp_path) as journal:
        journal.append(make_records(1, 5_000))
    sink = JournalSinkProcess(tmp_path, node_id, pg)
    sink.start()
    try:
        assert sink.wait_durable(5_000, timeout=60)
        os.kill(sink.stats()["pid"], signal.SIGKILL)
        wait_for(lambda: not sink.alive, 10, "the child to die")
        assert not sink.healthy and "exited" in sink.last_error
        assert sink.restart_if_dead() is True
        assert sink.restart_if_dead() is False, "only a dead child is restarted"
        with Journal(tmp_path) as journal:
            journal.append(make_records(5_001, 5_000))
        assert sink.wait_durable(10_000, timeout=60), sink.stats()
    finally:
        assert sink.stop()
    assert sink.restart_if_dead() is False, "a stopped sink stays stopped"
    assert fetch_events(pg, node_id).tobytes() == make_records(1, 10_000).tobytes()


def test_the_child_dies_with_a_sigkilled_parent(tmp_path, pg, node_id):
    """A node killed with SIGKILL must not leave its sink running beside the next node's."""
    with Journal(tmp_path / "journal") as journal:
        journal.append(make_records(1, 1_000))
    script = textwrap.dedent(
        f"""
        import sys, time
        from trading.journal_sink_process import JournalSinkProcess
        sink = JournalSinkProcess({str(tmp_path / "journal")!r}, {node_id}, {pg!r})
        sink.start()
        assert sink.wait_durable(1_000, timeout=60)
        print(sink.stats()["pid"], flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        os.kill(child_pid, 0)  # running
        parent.kill()
        parent.wait(10)

        def gone() -> bool:
            try:
                os.kill(child_pid, 0)
            except ProcessLookupError:
                return True
            with open(f"/proc/{child_pid}/stat") as stat:  # a zombie awaiting its reaper is gone too
                return stat.read().split(") ")[1].startswith("Z")

        wait_for(gone, 10, "the sink child to die with its parent")
    finally:
        parent.kill()
    assert durable_in_db(pg, node_id) == 1_000
    assert len(list(read_journal(tmp_path / "journal"))) >= 1


@pytest.mark.parametrize(
    ("node", "conninfo", "message"),
    [
        (0, "dbname=x", "node_id"),
        (-5, "dbname=x", "node_id"),
        ("3", "dbname=x", "node_id"),
        (3, "", "conninfo"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, node, conninfo, message):
    with pytest.raises(ValueError, match=message):
        JournalSinkProcess(tmp_path, node, conninfo)


@pytest.mark.parametrize(
    ("cpus", "message"),
    [
        (frozenset({1023}), "CPU 1023 is not online"),
        (frozenset(), "give at least one CPU"),
        ([0, 0], "listed twice"),
        ("0", "expected a list of CPU numbers"),
    ],
)
def test_cpus_the_child_could_not_run_on_are_refused_before_it_starts(tmp_path, cpus, message):
    with pytest.raises(ValueError, match=message):
        JournalSinkProcess(tmp_path, 3, "dbname=x", cpus=cpus)
