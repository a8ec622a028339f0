"""The node end to end on real data through real websockets: simulated venue + node + PostgreSQL
+ Redis, all real processes. The node writes to the pytest database."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from hotpath.risk import RR_OPERATOR, STATE_ACTIVE, STATE_HALTED
from hotpath.types import (
    CTL_KILL,
    REC_CANCEL_REJECTED,
    REC_CANCEL_SENT,
    REC_CONTROL,
    REC_FILL,
    REC_ORDER_CANCELED,
    REC_ORDER_NEW,
    REC_TRADING_STATE,
)
from tests.integration.harness import node_document, start_node, venue_open_orders, wait_for
from trading.engine.affinity import online_cpus
from trading.engine.control import send_command
from trading.engine.journal import read_journal

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def journal_records(state_dir) -> np.ndarray:
    chunks = list(read_journal(state_dir / "journal", 1))
    return np.concatenate(chunks) if chunks else np.zeros(0)


def postgres_records(node_name: str) -> np.ndarray:
    from hotpath.types import JOURNAL_RECORD_DTYPE
    from trading.models import Event, Node

    node = Node.objects.get(name=node_name)
    fields = [name for name in JOURNAL_RECORD_DTYPE.names]
    rows = list(Event.objects.filter(node_id=node.pk).order_by("seq").values_list(*fields))
    out = np.zeros(len(rows), dtype=JOURNAL_RECORD_DTYPE)
    for k, name in enumerate(fields):
        out[name] = [row[k] for row in rows]
    return out


def unmeasured_stages(node) -> list[str]:
    """Stages whose Prometheus histogram on the node's /metrics has no sample yet."""
    import re
    import urllib.request

    from trading.engine.metrics import STAGES

    port = int((node.state_dir / "metrics.port").read_text())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    counts = dict(re.findall(r'atomic_node_stage_duration_seconds_count\{[^}]*stage="(\w+)"\} (\d+)', text))
    return [stage for stage in STAGES if int(counts.get(stage, 0)) == 0]


def thread_cpus(pid: int) -> list[frozenset[int]]:
    """The CPU mask of every thread of process `pid`."""
    return [frozenset(os.sched_getaffinity(int(tid))) for tid in os.listdir(f"/proc/{pid}/task")]


def child_pids(pid: int) -> list[int]:
    children = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as handle:
            children += [int(p) for p in handle.read().split()]
    return children


def test_node_trades_journals_and_stops_cleanly(procs, venue, var_dir, node_name, tmp_path):
    cpus = sorted(online_cpus())
    node_cpu, sink_cpu = cpus[-1], cpus[0]  # one CPU apart on a machine with two or more
    document = node_document(node_name, venue, affinity={"node_cpus": [node_cpu], "sink_cpus": [sink_cpu]})
    node = start_node(procs, var_dir, document, tmp_path / "node.json")
    node.wait_trading()
    pid = node.child.pid
    assert set(thread_cpus(pid)) == {frozenset({node_cpu})}, "every node thread on the node's CPU"
    sinks = [
        child for child in child_pids(pid) if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]
    assert sinks, f"the journal sink child of {pid}: {child_pids(pid)}"
    wait_for(lambda: node.health()["sink_healthy"], 60, "the journal sink to run")  # it pins itself first
    assert all(set(thread_cpus(child)) == {frozenset({sink_cpu})} for child in sinks), "sink on its CPU"
    health = wait_for(
        lambda: (h := node.health())["stats"]["fills"] >= 2 and h["stats"]["orders"] >= 4 and h,
        120,
        "orders placed and filled",
    )
    assert health["trading_state"] == STATE_ACTIVE and health["reconciled"]
    # the venue speaks plain TCP and Binance's compact form: the compiled order path and the
    # depth fast path carry the traffic
    assert health["counters"]["requests_compiled"] >= health["stats"]["orders"] >= 4
    assert health["counters"]["depth_fast"] > 0
    assert venue_open_orders(venue), "quotes rest at the venue"
    from trading.models import Node

    every_link_up = {"market_data": True, "order_entry": True, "journal_sink": True, "control": True}
    wait_for(lambda: Node.objects.get(name=node_name).last_status.get("connectivity") == every_link_up, 30,
             "a heartbeat with every link up")  # fmt: skip
    # every stage the metrics declare is measured by a real node (snapshots: every 2 s)
    wait_for(lambda: not unmeasured_stages(node), 30, "every latency stage to have samples")
    assert node.stop() == 0
    assert venue_open_orders(venue) == [], "a graceful stop cancels every open order at the venue"

    local = journal_records(node.state_dir)
    seqs = local["seq"]
    assert np.array_equal(seqs, np.arange(1, len(local) + 1)), "contiguous from 1"
    wait_for(lambda: len(postgres_records(node_name)) == len(local), 30,
             f"the sink to ship everything ({len(local)} local)")  # fmt: skip
    remote = postgres_records(node_name)
    assert np.array_equal(remote, local), "PostgreSQL holds exactly the local segments"
    from trading.models import Fill, Order

    fills = local[local["kind"] == REC_FILL]
    assert Fill.objects.filter(node__name=node_name).count() == len(fills) >= 2
    assert Order.objects.filter(node__name=node_name).count() == int((local["kind"] == REC_ORDER_NEW).sum())


def test_a_node_pinned_to_a_cpu_that_does_not_exist_refuses_to_start(
    procs, venue, var_dir, node_name, tmp_path
):
    document = node_document(node_name, venue, affinity={"node_cpus": [1023]})
    node = start_node(procs, var_dir, document, tmp_path / "node.json")
    assert node.child.wait(timeout=60) != 0
    assert "CPU 1023 is not online" in procs.log(node_name)
    assert not (node.state_dir / "journal").exists() or not list((node.state_dir / "journal").glob("*.seg"))


def test_kill_switch_over_redis_halts_and_cancels_everything(procs, venue, var_dir, node_name, tmp_path):
    node = start_node(procs, var_dir, node_document(node_name, venue), tmp_path / "node.json")
    node.wait_trading()
    wait_for(lambda: len(venue_open_orders(venue)) >= 2, 60, "quotes resting at the venue")
    ack = send_command(
        settings.ATOMIC_OPS["REDIS_URL"], node_name, "KILL", operator_id=42, operator="risk-desk"
    )
    assert ack is not None and ack.accepted and ack.trading_state == STATE_HALTED
    wait_for(lambda: venue_open_orders(venue) == [], 1.0, "every open order cancelled at the venue within 1 s",
             interval=0.02)  # fmt: skip
    health = node.health()
    assert health["trading_state"] == STATE_HALTED and health["trading_state_reason"] == RR_OPERATOR
    seq_at_kill = ack.seq
    wait_for(lambda: node.health()["seq"] > seq_at_kill + 2000, 60, "market data keeps flowing")
    assert venue_open_orders(venue) == []
    assert node.stop() == 0

    records = journal_records(node.state_dir)
    control = records[records["kind"] == REC_CONTROL]
    kill = control[(control["a"] == CTL_KILL) & (control["order_id"] == 42)]
    assert len(kill) == 1 and kill[0]["seq"] == seq_at_kill
    after = records[records["seq"] > seq_at_kill]
    assert not (after["kind"] == REC_ORDER_NEW).any(), "no order after the kill"
    states = records[records["kind"] == REC_TRADING_STATE]
    assert ((states["seq"] > seq_at_kill) & (states["b"] == STATE_HALTED)).any()
    cancelled = set(after["order_id"][after["kind"] == REC_CANCEL_SENT].tolist())
    # two quotes rested a moment before the kill; one may have filled or been requoted since
    assert len(cancelled) >= 1
    # every order cancelled at the kill ends: cancelled, or filled first (its cancel then refused,
    # or ignored once the order is done) - which one is the venue's race, not a lost record
    ended = after[np.isin(after["kind"], [REC_ORDER_CANCELED, REC_CANCEL_REJECTED, REC_FILL])]
    missing = cancelled - set(ended["order_id"].tolist())
    assert not missing, {oid: records["kind"][records["order_id"] == oid].tolist() for oid in missing}
    refused = set(after["order_id"][after["kind"] == REC_CANCEL_REJECTED].tolist())
    assert refused <= set(records["order_id"][records["kind"] == REC_FILL].tolist())
    assert (after["kind"] == REC_ORDER_CANCELED).sum() >= 1


def test_local_kill_switch_and_restart_stays_halted(procs, venue, var_dir, node_name, tmp_path):
    import subprocess
    import sys

    from tests.integration.harness import ROOT

    config = tmp_path / "node.json"
    node = start_node(procs, var_dir, node_document(node_name, venue), config)
    node.wait_trading()
    killed = subprocess.run(
        [sys.executable, "manage.py", "killswitch", "--node", node_name, "--reason", "test"],
        cwd=ROOT, env=procs.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert killed.returncode == 0, killed.stderr
    wait_for(lambda: node.health()["trading_state"] == STATE_HALTED, 5, "SIGUSR1 halts the node")
    wait_for(lambda: venue_open_orders(venue) == [], 5, "orders cancelled")
    assert node.stop() == 0
    restarted = start_node(procs, var_dir, node_document(node_name, venue), config)
    health = wait_for(lambda: (h := restarted.health()).get("seq", 0) > 0 and h, 30, "restart")
    wait_for(lambda: restarted.health()["reconciled"] is not None, 10, "reconciliation attempted")
    assert restarted.health()["trading_state"] == STATE_HALTED, (
        "a node restarted after a kill comes back HALTED"
    )
    assert health["trading_state_reason"] == RR_OPERATOR
    assert restarted.stop() == 0
