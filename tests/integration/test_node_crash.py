"""Crash and outage: the node killed with SIGKILL at random moments under load, and PostgreSQL
stopped while it trades. Nothing journaled is lost or duplicated; recovery proves its state."""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import time

import numpy as np
import pytest

from hotpath.risk import RR_JOURNAL, STATE_ACTIVE, STATE_HALTED
from tests.integration.harness import ROOT, node_document, start_node, wait_for
from tests.integration.test_node_e2e import journal_records, postgres_records
from trading.engine.config import parse_node_config
from trading.engine.journal import read_journal
from trading.engine.recovery import recover
from trading.engine.snapshots import ConfigStore

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CYCLES = 20


def straight_replay_hash(state_dir, upto_seq: int) -> str:
    """The hash of a fresh engine fed every journaled input from seq 1 (no snapshot)."""
    result = recover(
        lambda seq: read_journal(state_dir / "journal", seq + 1, upto_seq),
        upto_seq,
        ConfigStore(state_dir / "configs"),
        None,
        load_config=parse_node_config,
    )
    return f"{result.engine.state_hash():016x}"


def test_sigkill_at_random_moments_loses_nothing(procs, venue, var_dir, node_name, tmp_path):
    rng = random.Random(20261122)
    config = tmp_path / "node.json"
    document = node_document(node_name, venue, recovery={"snapshot_interval_s": 0.5})
    recoveries = []
    for cycle in range(CYCLES):
        node = start_node(procs, var_dir, document, config)
        if cycle > 0:
            report = json.loads((node.state_dir / "recovered.json").read_text())
            recoveries.append(report)
            assert report["last_seq"] >= recoveries[-2]["last_seq"] if len(recoveries) > 1 else True
        node.wait_trading(timeout=60)
        time.sleep(rng.uniform(0.05, 1.5))  # under load: the venue replays at 20x
        node.kill()
    final = start_node(procs, var_dir, document, config)
    final.wait_trading(timeout=60)
    recoveries.append(json.loads((final.state_dir / "recovered.json").read_text()))
    assert final.stop() == 0

    assert len(recoveries) == CYCLES
    assert any(r["snapshot_seq"] > 0 for r in recoveries), "some recoveries started from a snapshot"
    assert sum(r["verified_hashes"] for r in recoveries) > 0
    # every recovered state equals a straight replay of the journal up to that point
    for report in recoveries:
        assert straight_replay_hash(final.state_dir, report["last_seq"]) == report["state_hash"], report

    local = journal_records(final.state_dir)
    assert np.array_equal(local["seq"], np.arange(1, len(local) + 1)), "no record lost or duplicated locally"
    wait_for(lambda: len(postgres_records(node_name)) == len(local), 60, "PostgreSQL to catch up")
    assert np.array_equal(postgres_records(node_name), local), "PostgreSQL equals the segments"


@pytest.fixture
def throwaway_postgres(tmp_path):
    """A PostgreSQL of our own that the test can stop and start (never the shared one)."""
    import pgserver

    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    server.psql("CREATE DATABASE atomic_outage;")
    yield server
    # the test restarts it with pg_ctl, behind pgserver's back: stop it here or it outlives the run
    with contextlib.suppress(Exception):
        pg_stop(server)


def _pg_ctl(server, args: list[str]) -> None:
    import os

    from pgserver._commands import pg_ctl

    pg_ctl(args, pgdata=server.pgdata, user="pgserver" if os.geteuid() == 0 else None)


def pg_stop(server) -> None:
    _pg_ctl(server, ["-w", "-m", "fast", "stop"])


def pg_start(server, socket_dir) -> None:
    _pg_ctl(
        server, ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.pgdata / "log"), "start"]
    )


def test_postgres_outage_halts_past_the_threshold_and_resumes(procs, venue, var_dir, node_name, tmp_path,
                                                              throwaway_postgres):  # fmt: skip
    from tests.integration.harness import database_url_for

    url = database_url_for(throwaway_postgres.get_uri(), "atomic_outage")
    env = dict(procs.env, DATABASE_URL=url)
    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    procs.env = env
    document = node_document(node_name, venue, journal={"halt_lag_records": 4000, "resume_lag_records": 1000})
    node = start_node(procs, var_dir, document, tmp_path / "node.json")
    node.wait_trading()
    socket_dir = throwaway_postgres.get_postmaster_info().socket_dir
    pg_stop(throwaway_postgres)
    halted = wait_for(lambda: (h := node.health())["trading_state"] == STATE_HALTED and h, 60,
                      "HALTED once the PostgreSQL lag passes the threshold")  # fmt: skip
    assert halted["trading_state_reason"] == RR_JOURNAL and halted["pg_lag"] > 4000
    assert halted["sink_healthy"] is False
    wait_for(
        lambda: node.health()["seq"] > halted["seq"] + 5000, 60, "the journal keeps everything meanwhile"
    )
    pg_start(throwaway_postgres, socket_dir)
    wait_for(lambda: node.health()["trading_state"] == STATE_ACTIVE, 90, "trading again once drained")
    assert node.stop() == 0

    import psycopg

    local = journal_records(node.state_dir)
    with psycopg.connect(url) as conn:
        seqs = [row[0] for row in conn.execute(
            "SELECT seq FROM trading_event e JOIN trading_node n ON n.id = e.node_id WHERE n.name = %s ORDER BY seq",
            (node_name,),
        )]  # fmt: skip
    assert seqs == list(range(1, len(local) + 1)), "no loss: PostgreSQL caught up with every record"
