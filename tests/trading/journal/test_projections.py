"""A real node-mode journal (the headline market maker over the 2-day BTCUSDT capture) through
the sink: the order / fill / position projections agree with the engine's own view, and the
events table serves the console's keyset queries from its indexes."""

from __future__ import annotations

import json
import uuid

import numpy as np
import psycopg
import pytest
from psycopg import sql

from hotpath.types import (
    F_MAKER,
    F_SELL,
    REC_CANCEL_SENT,
    REC_FILL,
    REC_ORDER_ACKED,
    REC_ORDER_CANCELED,
    REC_ORDER_EXPIRED,
    REC_ORDER_NEW,
    REC_ORDER_REJECTED,
)
from tests.trading.journal.conftest import batches, delete_node, fetch_events, insert_node
from trading.engine.journal import Journal
from trading.journal_sink import JournalSink

pytestmark = pytest.mark.django_db

# hotpath/orders.pxd OrderStatus -> the projection's status names
STATUS_NAMES = {
    0: "NEW",
    1: "SENT",
    2: "ACKED",
    3: "PARTIALLY_FILLED",
    4: "PENDING_CANCEL",
    5: "FILLED",
    6: "CANCELLED",
    7: "REJECTED",
    8: "EXPIRED",
}


@pytest.fixture(scope="module")
def shipped(backtest_journal, pg_conninfo, django_db_blocker, tmp_path_factory):
    """The backtest's records journaled in loop-turn-sized batches and shipped by the sink."""
    records = backtest_journal["records"]
    directory = tmp_path_factory.mktemp("journal")
    with django_db_blocker.unblock():
        node = insert_node(pg_conninfo, f"journal-projection-test-{uuid.uuid4().hex[:8]}")
    try:
        with Journal(directory) as journal:
            for batch in batches(records, sizes=(1, 64, 700, 5_000, 13)):
                journal.append(batch)
        # small sink batches: orders open in one transaction and finish in a later one
        sink = JournalSink(directory, node, pg_conninfo, instruments={0: "BTCUSDT"}, batch_records=30_000)
        sink.start()
        assert sink.wait_durable(len(records), timeout=120), sink.stats()
        assert sink.stop()
        with django_db_blocker.unblock():
            yield {"node": node, "dir": directory, **backtest_journal}
    finally:
        delete_node(pg_conninfo, node)


def test_every_record_is_in_postgres(shipped, pg_conninfo):
    stored = fetch_events(pg_conninfo, shipped["node"])
    assert len(stored) == len(shipped["records"]) > 400_000
    assert stored.tobytes() == shipped["records"].tobytes()


def test_fills_match_the_fill_records(shipped):
    from trading.models import Fill

    fills = shipped["records"][shipped["records"]["kind"] == REC_FILL]
    assert len(fills) == shipped["stats"]["fills"] == shipped["position"]["fills"] > 100
    rows = list(Fill.objects.filter(node_id=shipped["node"]).order_by("seq"))
    assert len(rows) == len(fills)
    for row, rec in zip(rows, fills, strict=True):
        assert (row.seq, row.client_order_id, row.instrument, row.symbol) == (
            rec["seq"],
            rec["order_id"],
            rec["instrument"],
            "BTCUSDT",
        )
        assert row.side == ("SELL" if rec["flags"] & F_SELL else "BUY")
        assert (row.price, row.qty, row.fee, row.is_maker) == (
            rec["price"],
            rec["qty"],
            rec["c"],
            bool(rec["flags"] & F_MAKER),
        )
        assert (row.position_after, row.realized_after, row.venue_trade_id, row.mid_x2) == (
            rec["a"],
            rec["b"],
            rec["d"],
            rec["e"],
        )
        assert (row.ts_event, row.ts_local) == (rec["ts_event"], rec["ts_local"])
    assert sum(row.fee for row in rows) > 0, "the fee configuration must make fees visible"


def test_position_matches_the_engine(shipped):
    from trading.models import Position

    engine = shipped["position"]
    row = Position.objects.get(node_id=shipped["node"], instrument=0)
    fills = shipped["records"][shipped["records"]["kind"] == REC_FILL]
    assert row.symbol == "BTCUSDT"
    assert row.qty == engine["qty"] != 0
    assert row.realized == engine["realized"] != 0
    assert row.fees == engine["fees"] > 0
    assert row.volume == engine["volume"]
    assert row.fills == engine["fills"]
    assert row.net_realized == engine["realized"] - engine["fees"]
    assert (row.last_fill_seq, row.last_fill_ts_event, row.last_fill_ts_local) == (
        fills["seq"][-1],
        fills["ts_event"][-1],
        fills["ts_local"][-1],
    )


def test_orders_match_the_engine(shipped):
    from trading.models import Order

    records = shipped["records"]
    stats = shipped["stats"]
    orders = {o.client_id: o for o in Order.objects.filter(node_id=shipped["node"])}
    new = records[records["kind"] == REC_ORDER_NEW]
    assert len(orders) == stats["orders"] == len(new) > 1000
    # the engine's open orders are exactly the projection's live ones, field by field
    live = {o["client_id"]: o for o in shipped["live_orders"]}
    assert {cid for cid, o in orders.items() if o.status in Order.LIVE_STATUSES} == set(live)
    for cid, engine_order in live.items():
        row = orders[cid]
        assert row.status == STATUS_NAMES[engine_order["status"]]
        assert (row.price, row.qty, row.filled, row.venue_order_id) == (
            engine_order["price"],
            engine_order["qty"],
            engine_order["filled"],
            engine_order["venue_id"],
        )
        assert row.side == ("SELL" if engine_order["side"] else "BUY")
        assert row.order_type == {0: "LIMIT", 1: "MARKET", 2: "LIMIT_MAKER"}[engine_order["order_type"]]
        assert row.tif == {0: "GTC", 1: "IOC", 2: "FOK"}[engine_order["tif"]]
        assert row.created_ns == engine_order["ts_created"]
    # filled lots per order = the sum of its fills
    fills = records[records["kind"] == REC_FILL]
    filled = {}
    for cid, qty in zip(fills["order_id"].tolist(), fills["qty"].tolist(), strict=True):
        filled[cid] = filled.get(cid, 0) + qty
    assert {cid: o.filled for cid, o in orders.items() if o.filled} == filled
    # every finished order ended the way its last record says
    final_status = {
        REC_ORDER_CANCELED: "CANCELLED",
        REC_ORDER_REJECTED: "REJECTED",
        REC_ORDER_EXPIRED: "EXPIRED",
        REC_FILL: "FILLED",
    }
    about_orders = records[
        np.isin(records["kind"], [REC_ORDER_NEW, REC_ORDER_ACKED, REC_CANCEL_SENT, *final_status])
    ]
    last_kind = dict(zip(about_orders["order_id"].tolist(), about_orders["kind"].tolist(), strict=True))
    last_seq = dict(zip(about_orders["order_id"].tolist(), about_orders["seq"].tolist(), strict=True))
    finished = [cid for cid in orders if cid not in live]
    statuses = {orders[cid].status for cid in finished}
    assert statuses <= {"FILLED", "CANCELLED", "REJECTED", "EXPIRED"} and {"FILLED", "CANCELLED"} <= statuses
    for cid in finished:
        assert orders[cid].status == final_status[last_kind[cid]], cid
        assert orders[cid].last_seq >= last_seq[cid]
        if orders[cid].status == "FILLED":
            assert orders[cid].filled == orders[cid].qty
    first = new[0]
    row = orders[int(first["order_id"])]
    assert (row.first_seq, row.created_ns, row.symbol) == (first["seq"], first["ts_local"], "BTCUSDT")
    assert row.sent_ns == first["ts_local"] and row.acked_ns is not None and row.acked_ns >= row.sent_ns


def _plan(conn, query: sql.Composed) -> list[dict]:
    """The nodes of the query's plan, flattened."""
    (doc,) = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + query).fetchone()
    plan = doc[0]["Plan"] if isinstance(doc, list) else json.loads(doc)[0]["Plan"]
    nodes = []

    def walk(node):
        nodes.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return nodes


@pytest.mark.parametrize(
    ("name", "where", "index_suffix"),
    [
        ("next page", "node_id = {node} AND seq > {seq}", "_pkey"),
        ("kind filter", "node_id = {node} AND kind = 10 AND seq > {seq}", "kind_seq_idx"),
        ("inputs only", "node_id = {node} AND kind = 19 AND seq > {seq}", "_pkey"),
        ("client order id", "node_id = {node} AND order_id = {order} AND seq > 0", "order_id_seq_idx"),
        ("time range", "node_id = {node} AND ts_local >= {t0} AND ts_local < {t1} AND seq > {seq}", "_pkey"),
    ],
)
def test_keyset_pages_come_from_indexes_without_sorting(shipped, pg_conninfo, name, where, index_suffix):
    records = shipped["records"]
    middle = records[len(records) // 2]
    values = {
        "node": sql.Literal(shipped["node"]),
        "seq": sql.Literal(int(middle["seq"])),
        "order": sql.Literal(int(records[records["kind"] == REC_ORDER_NEW]["order_id"][10])),
        "t0": sql.Literal(int(middle["ts_local"])),
        "t1": sql.Literal(int(middle["ts_local"]) + 60_000_000_000),
    }
    query = sql.SQL("SELECT * FROM trading_event WHERE " + where + " ORDER BY seq LIMIT 50").format(**values)
    with psycopg.connect(pg_conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE trading_event")
        nodes = _plan(conn, query)
        rows = conn.execute(query).fetchall()
        # a sequential scan is fine only on an empty partition (tomorrow's, created ahead of time)
        for node in nodes:
            if node["Node Type"] == "Seq Scan":
                (count,) = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(node["Relation Name"]))
                ).fetchone()
                assert count == 0, (name, node["Relation Name"])
    assert rows, name
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    used = [node.get("Index Name", "") for node in nodes if node["Node Type"].startswith("Index")]
    assert any(index.endswith(index_suffix) for index in used), (name, used)
    assert not [node for node in nodes if node["Node Type"].startswith("Bitmap")], name
    # no sort of a large set: pages come in (node_id, seq) order straight from the index (a
    # sort of the few records of one order is fine)
    for node in nodes:
        if node["Node Type"] == "Sort":
            assert node["Plan Rows"] <= 1_000, (name, node["Plan Rows"])
    if name == "time range":  # partition pruning: one day's partition only
        assert len({node["Relation Name"] for node in nodes if "Relation Name" in node}) == 1, nodes
