"""PostgreSQL stopped while the node journals: the segments keep everything, lag grows, the sink
says why, nothing escapes; PostgreSQL back: it catches up with zero loss.

Uses a throwaway PostgreSQL (pgserver in tmp_path) with the project's schema, never the shared
embedded server under var/.
"""

from __future__ import annotations

import io
import os
import threading
import time

import psycopg
import pytest
from django.core.management import call_command

from tests.trading.journal.conftest import fetch_events, hwm_row, make_records
from trading.engine.journal import Journal, read_journal
from trading.journal_sink import JournalSink

pytestmark = pytest.mark.django_db


def migration_sql(*names: str) -> str:
    out = io.StringIO()
    for name in names:
        call_command("sqlmigrate", "trading", name, stdout=out)
    return out.getvalue()


@pytest.fixture
def throwaway_pg(tmp_path, pg_conninfo, django_db_blocker):
    """A private PostgreSQL 16 with the journal schema; `stop()` / `start()` it at will."""
    import pgserver
    from pgserver._commands import pg_ctl

    with django_db_blocker.unblock():
        schema = migration_sql("0001_initial", "0002_journal")
    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    admin = server.get_uri("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE DATABASE journal_outage")
    conninfo = server.get_uri("journal_outage")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(schema)
        node = conn.execute(
            "INSERT INTO trading_node (name, description, trading_state, created_at) "
            "VALUES ('outage', '', 'HALTED', now()) RETURNING id"
        ).fetchone()[0]
    user = "pgserver" if os.geteuid() == 0 else None

    class Control:
        def stop(self):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=user)

        def start(self):
            with server._lock:
                server.ensure_postgres_running()

    control = Control()
    control.conninfo, control.node_id = conninfo, node
    yield control
    server.cleanup()


def test_postgres_stopped_while_appending_then_back_catches_up_with_zero_loss(tmp_path, throwaway_pg):
    pg = throwaway_pg
    journal = Journal(tmp_path / "journal")
    journal.open()
    sink = JournalSink(
        tmp_path / "journal",
        pg.node_id,
        pg.conninfo,
        batch_records=20_000,
        retry_initial_s=0.05,
        retry_max_s=0.5,
        limit_seq=lambda: journal.synced_seq,
    )
    escaped: list[BaseException] = []
    threading.excepthook = lambda args: escaped.append(args.exc_value)
    seq = 1

    def append(count: int) -> None:
        nonlocal seq
        journal.append(make_records(seq, count))
        seq += count
        sink.wake()

    try:
        sink.start()
        for _ in range(50):
            append(1_000)
        assert sink.wait_durable(50_000, timeout=30) and sink.healthy

        pg.stop()
        lags = []
        for _ in range(40):  # the node keeps trading and journaling for ~2 s
            append(2_000)
            time.sleep(0.05)
            lags.append(sink.lag)
        assert journal.wait_synced(timeout=5)
        assert not sink.healthy
        assert sink.last_error.startswith("PostgreSQL unavailable:"), sink.last_error
        assert sink.durable_seq <= 50_000
        assert lags[-1] > lags[0] and sink.lag >= 80_000 - 1  # what a HALTED threshold would watch
        assert sink._thread.is_alive() and not escaped

        pg.start()
        append(500)
        assert sink.wait_durable(seq - 1, timeout=60), sink.stats()
        assert sink.healthy and sink.last_error == "" and sink.lag == 0
    finally:
        assert sink.stop()
        journal.close()
        threading.excepthook = threading.__excepthook__
    last = seq - 1
    assert last == 130_500
    stored = fetch_events(pg.conninfo, pg.node_id)
    assert stored.tobytes() == make_records(1, last).tobytes()
    local = b"".join(records.tobytes() for records in read_journal(tmp_path / "journal"))
    assert stored.tobytes() == local
    assert hwm_row(pg.conninfo, pg.node_id)[0] == last
    assert sink.stats()["failures"] >= 1
