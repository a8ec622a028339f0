"""Fixtures for the journal and its PostgreSQL sink.

The sink runs in its own thread with its own psycopg connection, so these tests write to the real
test database through psycopg (committed, outside pytest-django's per-test transaction) and clean
up their own node's rows.
"""

from __future__ import annotations

import copy
import itertools
import os
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from hotpath.types import JOURNAL_RECORD_DTYPE
from tests.conftest import MM_BENCH_CONFIG

TABLES_OF_A_NODE = (
    "trading_fill",
    "trading_order",
    "trading_position",
    "trading_journal_hwm",
    "trading_event",
    "trading_risklimit",
)


def make_records(first_seq: int, count: int, *, ts_start: int = 1_723_075_200_000_000_000):
    """`count` journal records from `first_seq` whose every field is derived from seq (so a
    copy can be checked anywhere), 1 ms apart in ts_local, covering every field's range."""
    seqs = np.arange(first_seq, first_seq + count, dtype=np.int64)
    records = np.zeros(count, dtype=JOURNAL_RECORD_DTYPE)
    records["seq"] = seqs
    records["ts_local"] = ts_start + (seqs - 1) * 1_000_000
    records["ts_event"] = records["ts_local"] - 250_000
    for k, name in enumerate(("order_id", "price", "qty", "a", "b", "c", "d", "e")):
        records[name] = seqs * (k + 3) - (seqs % 7) * 1_000_003
    records["e"] = np.where(seqs % 5 == 0, np.iinfo(np.int64).min + seqs, records["e"])
    records["d"] = np.where(seqs % 11 == 0, np.iinfo(np.int64).max - seqs, records["d"])
    records["kind"] = 19  # REC_INPUT: no projection rows
    records["flags"] = (seqs * 2654435761) % 65536  # the whole uint16 range
    records["reason"] = 65535 - (seqs % 65536)
    records["instrument"] = seqs % 16
    return records


def expected_record(seq: int) -> np.ndarray:
    return make_records(seq, 1)[0]


@pytest.fixture(scope="session")
def pg_conninfo(django_db_setup, django_db_blocker) -> str:
    """libpq conninfo of the test database pytest-django created (with the migrations)."""
    from django.db import connection

    with django_db_blocker.unblock():
        params = connection.get_connection_params()
    keep = {k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port") and v}
    # never the development database: pytest-django only creates the test database when a
    # collected test is marked django_db
    assert keep["dbname"].startswith("test_"), f"not a test database: {keep['dbname']}"
    return make_conninfo(**keep)


def insert_node(conninfo: str, name: str) -> int:
    """A trading_node row, written through the Django model's own field defaults for the columns
    the database has (robust to model fields whose migration is still on someone's desk)."""
    from django.db import connection

    from trading.models import Node

    node = Node(name=name)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'trading_node'"
            )
        }
        fields = [f for f in Node._meta.concrete_fields if not f.primary_key and f.column in columns]
        values = [f.get_db_prep_save(f.pre_save(node, add=True), connection) for f in fields]
        values = [psycopg.types.json.Jsonb(v) if isinstance(v, dict | list) else v for v in values]
        sql = (
            f"INSERT INTO trading_node ({', '.join(f.column for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING id"
        )
        return conn.execute(sql, values).fetchone()[0]


def delete_node(conninfo: str, node_id: int) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in TABLES_OF_A_NODE:
            conn.execute(f"DELETE FROM {table} WHERE node_id = %s", (node_id,))
        conn.execute("DELETE FROM trading_node WHERE id = %s", (node_id,))


@pytest.fixture
def pg(pg_conninfo) -> str:
    """conninfo of the test database for psycopg connections of the sink and the checks (their
    writes commit; the modules are marked django_db so the database exists and the ORM works)."""
    return pg_conninfo


@pytest.fixture
def node_id(pg):
    """A fresh node row; its journal rows are deleted afterwards."""
    node = insert_node(pg, f"journal-test-{uuid.uuid4().hex[:12]}")
    yield node
    delete_node(pg, node)


def fetch_events(conninfo: str, node: int) -> np.ndarray:
    """trading_event rows of a node as journal records, in seq order."""
    names = JOURNAL_RECORD_DTYPE.names
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            f"SELECT {', '.join(names)} FROM trading_event WHERE node_id = %s ORDER BY seq", (node,)
        ).fetchall()
    out = np.zeros(len(rows), dtype=JOURNAL_RECORD_DTYPE)
    if rows:
        columns = list(zip(*rows, strict=True))
        for name, values in zip(names, columns, strict=True):
            out[name] = values
    return out


def hwm_row(conninfo: str, node: int) -> tuple | None:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "SELECT seq, ts_local, journal_seq FROM trading_journal_hwm WHERE node_id = %s", (node,)
        ).fetchone()


# --- a real journal: the engine over the 2-day BTCUSDT capture in node mode -----------------------


@pytest.fixture(scope="session")
def backtest_journal(spot_btc_files, cache_dir):
    """Records of the headline market maker over the 2-day capture with journal_inputs=1 and a
    maker fee (so fees are not all zero), with the engine's own view at the end."""
    from trading.backtest.config import build_engine_setup, parse_config
    from trading.backtest.runner import build_engine, center_price, run_engine
    from trading.marketdata import load_events

    config = copy.deepcopy(MM_BENCH_CONFIG)
    config["venue"]["maker_fee_ppm"] = 200
    config["venue"]["taker_fee_ppm"] = 400
    config.setdefault("engine", {})["hash_every"] = 10_000
    loaded = load_events(list(spot_btc_files), "BTCUSDT", cache_dir=cache_dir)
    setup = build_engine_setup(
        parse_config(config),
        "mm",
        loaded.instrument,
        latency_us=None,
        center_price=center_price(loaded.events),
    )
    setup.engine_params["journal_inputs"] = 1
    engine = build_engine(setup)
    records, _, _ = run_engine(engine, loaded.events)
    return {
        "records": records,
        "stats": engine.stats(),
        "position": engine.position(0),
        "live_orders": engine.live_orders(),
        "symbol": loaded.instrument.symbol,
    }


def batches(records: np.ndarray, sizes=(1, 7, 1000, 4096, 333)):
    """Split records into batches of varying sizes, as the node's loop turns would."""
    start = 0
    for size in itertools.cycle(sizes):
        if start >= len(records):
            return
        yield records[start : start + size]
        start += size


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def child_env(repo_root: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(repo_root) + os.pathsep + env.get("PYTHONPATH", "")
    return env
