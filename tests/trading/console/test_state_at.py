"""'State at seq N' of the event-log browser: snapshot + replay of a real journal in PostgreSQL.

The journal is made the way a node makes it: the node engine (node mode, no simulated venue)
driven by the kernel over the first real BTCUSDT events of ../shared/data, a scripted venue that
acknowledges, cancels and fills the orders it is sent, two operator commands, snapshots in the
node's state directory, and every record written to segments and shipped to PostgreSQL by the
journal sink. While it runs, the engine's own state is kept at the end of every batch it
drained: what state_at(N) must rebuild.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import psycopg
import pytest
from django.db import connection
from django.urls import reverse

from hotpath.orders import OS_ACKED, OS_PARTIALLY_FILLED
from hotpath.types import (
    BUY,
    CTL_REDUCE_ONLY,
    CTL_RELOAD_CONFIG,
    CTL_RESUME,
    EV_ORDER_ACK,
    EV_ORDER_CANCELED,
    EV_ORDER_FILL,
    EV_TRADE,
    F_MAKER,
    MARKET_EVENT_DTYPE,
    REC_CANCEL_SENT,
    REC_INPUT,
    REC_ORDER_NEW,
    REC_ORDER_SENT,
    REC_STATE_HASH,
)
from tests.trading.journal.conftest import TABLES_OF_A_NODE
from trading.engine import paths
from trading.engine.journal import Journal, read_journal
from trading.engine.kernel import Kernel
from trading.engine.metrics import NodeMetrics
from trading.engine.recovery import build_node_engine
from trading.engine.snapshots import SnapshotStore
from trading.journal_sink import JournalSink, read_journal_rows, restore_journal
from trading.marketdata import load_events
from trading.selectors.state_at import StateAtError, parse_seq, state_at

pytestmark = pytest.mark.django_db

MARKET_EVENTS = 9_000
HASH_EVERY = 700


def document(name: str) -> dict:
    return {
        "node": name,
        "venue": {"api_key": "k", "hmac_secret": "s"},
        "instruments": [
            {
                "symbol": "BTCUSDT",
                "market": "spot",
                "strategy": "mm",
                "config": {
                    "strategy": {
                        "order_qty": "0.001",
                        "max_position": "0.01",
                        "half_spread_ticks": 2,
                        "requote_ticks": 2,
                        "warmup_events": 0,
                    }
                },
            }
        ],
        "engine": {"hash_every": HASH_EVERY},
    }


class ScriptedVenue:
    """Acknowledges every order sent, confirms every cancel, and fills a resting order whole
    (maker, at its price) when a public trade of the same batch reaches it."""

    def __init__(self):
        self.sent: list[int] = []
        self.cancels: list[int] = []
        self.trade_id = 70_000
        self.fills = 0

    def submit(self, records: np.ndarray) -> int:
        kinds = records["kind"]
        self.sent += records["order_id"][kinds == REC_ORDER_SENT].tolist()
        self.cancels += records["order_id"][kinds == REC_CANCEL_SENT].tolist()
        return int(np.count_nonzero((kinds == REC_ORDER_SENT) | (kinds == REC_CANCEL_SENT)))

    def acks(self, ts: int) -> np.ndarray:
        out = np.zeros(len(self.sent) + len(self.cancels), dtype=MARKET_EVENT_DTYPE)
        out["ts_event"] = out["ts_local"] = ts
        for k, client_id in enumerate(self.sent):
            out[k]["kind"], out[k]["order_id"], out[k]["aux"] = EV_ORDER_ACK, client_id, 900_000 + client_id
        for k, client_id in enumerate(self.cancels, start=len(self.sent)):
            out[k]["kind"], out[k]["order_id"] = EV_ORDER_CANCELED, client_id
        self.sent, self.cancels = [], []
        return out

    def fills_for(self, engine, market: np.ndarray, ts: int) -> np.ndarray:
        trades = market[market["kind"] == EV_TRADE]
        rows = []
        if len(trades):
            low, high = int(trades["price"].min()), int(trades["price"].max())
            for order in engine.live_orders():
                if order["status"] not in (OS_ACKED, OS_PARTIALLY_FILLED):
                    continue
                reached = low <= order["price"] if order["side"] == BUY else high >= order["price"]
                if reached:
                    self.trade_id += 1
                    rows.append(
                        (order["client_id"], order["price"], order["qty"] - order["filled"], self.trade_id)
                    )
        out = np.zeros(len(rows), dtype=MARKET_EVENT_DTYPE)
        out["ts_event"] = out["ts_local"] = ts
        out["kind"], out["flags"] = EV_ORDER_FILL, F_MAKER
        for k, (client_id, price, qty, trade_id) in enumerate(rows):
            out[k]["order_id"], out[k]["price"], out[k]["qty"], out[k]["venue_seq"] = (
                client_id,
                price,
                qty,
                trade_id,
            )
            out[k]["aux"] = qty * 3  # a small fee in nano-units
        self.fills += len(rows)
        return out


@dataclass
class Recorded:
    name: str
    node_id: int
    version: int
    records: np.ndarray  # the whole journal, from the segments
    state_dir: Path
    # after every drained batch: last seq -> the live engine's state at that seq
    checkpoints: dict[int, dict] = field(default_factory=dict)
    snapshot_seqs: list[int] = field(default_factory=list)
    reduce_only_seqs: tuple[int, int] = (0, 0)

    def hash_at(self, seq: int) -> str:
        return self.checkpoints[seq]["hash"]


def _conninfo() -> str:
    params = connection.get_connection_params()
    keep = {k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port") and v}
    assert keep["dbname"].startswith("test_"), keep["dbname"]
    return psycopg.conninfo.make_conninfo(**keep)


@pytest.fixture(scope="module")
def recorded(django_db_setup, django_db_blocker, spot_btc_files, cache_dir) -> Recorded:
    from django.conf import settings

    from trading.services.nodes import node_config_activate

    name = f"stateat-{uuid.uuid4().hex[:8]}"
    state_dir = paths.node_state_dir(Path(settings.ATOMIC_OPS["VAR_DIR"]), name)
    market = load_events([spot_btc_files[0]], "BTCUSDT", cache_dir=cache_dir).events[:MARKET_EVENTS]
    with django_db_blocker.unblock():
        node, version_row, config = node_config_activate(node_name=name, document=document(name))
        conninfo = _conninfo()
    engine = build_node_engine(config)
    engine.set_next_seq(1)
    journal = Journal(paths.journal_dir(state_dir))
    journal.open()
    sink = JournalSink(paths.journal_dir(state_dir), node.pk, conninfo, batch_records=1_500,
                       instruments={0: "BTCUSDT"}, limit_seq=lambda: journal.synced_seq)  # fmt: skip
    snapshots = SnapshotStore(paths.snapshot_dir(state_dir))
    venue = ScriptedVenue()
    out = Recorded(name=name, node_id=node.pk, version=version_row.version, records=np.zeros(0),
                   state_dir=state_dir)  # fmt: skip
    now = [int(market["ts_local"][0])]

    def append(records: np.ndarray) -> None:
        journal.append(records)
        sink.wake()
        out.checkpoints[int(records["seq"][-1])] = {
            "hash": f"{engine.state_hash():016x}",
            "position": engine.position(0),
            "live_orders": engine.live_orders(),
            "trading_state": engine.trading_state,
        }

    kernel = Kernel(engine, append, venue.submit, NodeMetrics(name), clock=lambda: now[0])
    sink.start()
    try:
        kernel.control(CTL_RELOAD_CONFIG, value=out.version)  # a fresh node's first input
        sizes = (1, 40, 7, 120, 13)
        start, turn = 0, 0
        while start < len(market):
            batch = np.ascontiguousarray(market[start : start + sizes[turn % len(sizes)]])
            start, turn = start + len(batch), turn + 1
            now[0] = int(batch["ts_local"][-1])
            kernel.process(batch)
            acks = venue.acks(now[0] + 1)
            if len(acks):
                kernel.process(acks)
            fills = venue.fills_for(engine, batch, now[0] + 2)
            if len(fills):
                kernel.process(fills)
            if turn in (80, 170):  # of ~250 turns
                seq = engine.next_seq - 1
                snapshots.save(seq=seq, engine_bytes=engine.snapshot(), state_hash=engine.state_hash(),
                               config_version=out.version)  # fmt: skip
                out.snapshot_seqs.append(seq)
            if turn == 120:
                kernel.control(CTL_REDUCE_ONLY, operator_id=3, nonce_id=41)
                reduce_from = engine.next_seq - 1
            if turn == 140:
                out.reduce_only_seqs = (reduce_from, engine.next_seq - 1)
                kernel.control(CTL_RESUME, operator_id=4, nonce_id=42)
        last = engine.next_seq - 1
        assert sink.wait_durable(last, timeout=60), sink.stats()
    finally:
        sink.stop()
        journal.close()
    out.records = np.concatenate(list(read_journal(paths.journal_dir(state_dir))))
    assert int(out.records["seq"][-1]) == last and venue.fills > 3, "a journal with fills to look at"
    yield out
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in TABLES_OF_A_NODE:
            conn.execute(f"DELETE FROM {table} WHERE node_id = %s", (node.pk,))
        conn.execute("UPDATE trading_node SET active_config_id = NULL WHERE id = %s", (node.pk,))
        conn.execute("DELETE FROM trading_nodeconfigversion WHERE node_id = %s", (node.pk,))
        conn.execute("DELETE FROM trading_node WHERE id = %s", (node.pk,))
    shutil.rmtree(state_dir, ignore_errors=True)


def execute(sql: str, params: list) -> None:
    """A change inside the test's transaction (rolled back after the test)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def live_view(orders: list[dict]) -> list[tuple]:
    return sorted((o["client_id"], o["status"], o["price"], o["qty"], o["filled"]) for o in orders)


def shown_orders(state) -> list[int]:
    return [o["client_id"] for o in state.orders]


# ---------------------------------------------------------------------------- the state itself


def test_state_at_n_is_the_engine_that_processed_exactly_up_to_n(recorded):
    ends = sorted(recorded.checkpoints)
    holding = [
        s
        for s in ends
        if recorded.checkpoints[s]["position"]["qty"] and recorded.checkpoints[s]["live_orders"]
    ]
    reducing = [s for s in ends if recorded.reduce_only_seqs[0] <= s < recorded.reduce_only_seqs[1]]
    assert holding and reducing, "the journal must hold a position with live orders, and a reduce-only spell"
    picks = [ends[0], ends[len(ends) // 3], holding[len(holding) // 2], reducing[-1], ends[-1]]
    for seq in picks:
        want = recorded.checkpoints[seq]
        for snapshot_dir in (None, paths.snapshot_dir(recorded.state_dir)):
            state = state_at(recorded.name, seq, snapshot_dir=snapshot_dir)
            assert (state.seq, state.input_seq <= seq) == (seq, True)
            assert state.state_hash == want["hash"], (seq, snapshot_dir)
            assert state.next_seq == seq + 1
            position = state.instruments[0]["position"]
            assert position["qty_lots"] == want["position"]["qty"]
            assert position["fills"] == want["position"]["fills"]
            assert shown_orders(state) == sorted(o["client_id"] for o in want["live_orders"])
            assert state.trading_state == {0: "ACTIVE", 1: "REDUCING", 2: "HALTED"}[want["trading_state"]]
    # integers inside, decimal strings at the edge (BTCUSDT: tick 0.01, lot 0.000001)
    seq = holding[len(holding) // 2]
    state, want = state_at(recorded.name, seq, snapshot_dir=None), recorded.checkpoints[seq]
    position = state.instruments[0]["position"]
    assert Decimal(position["qty"]) == want["position"]["qty"] * Decimal("0.000001") != 0
    assert Decimal(position["realized"]) == Decimal(want["position"]["realized"]) / 10**9
    assert Decimal(position["fees"]) == Decimal(want["position"]["fees"]) / 10**9 > 0
    order = want["live_orders"][0]
    row = next(o for o in state.orders if o["client_id"] == order["client_id"])
    assert Decimal(row["price"]) == order["price"] * Decimal("0.01") and "." in row["price"]
    assert Decimal(row["qty"]) == order["qty"] * Decimal("0.000001")
    assert row["side"] == ("BUY" if order["side"] == BUY else "SELL")
    assert state_at(recorded.name, reducing[-1]).trading_state_reason == "OPERATOR"


def test_book_is_the_engines_depth_20_in_decimals(recorded):
    seq = sorted(recorded.checkpoints)[len(recorded.checkpoints) // 2]
    state = state_at(recorded.name, seq)
    book = state.instruments[0]
    assert book["book_valid"] and len(book["bids"]) == 20 and len(book["asks"]) == 20
    bid, ask = book["bids"][0][0], book["asks"][0][0]
    assert float(bid) < float(ask) and "." in bid and len(bid.split(".")[1]) == 2
    assert [float(p) for p, _ in book["bids"]] == sorted((float(p) for p, _ in book["bids"]), reverse=True)
    assert book["ladder"][0] == (book["bids"][0], book["asks"][0])


def test_a_seq_inside_an_input_is_the_state_after_that_input(recorded):
    records = recorded.records
    inputs = records["seq"][records["kind"] == REC_INPUT]
    # batch ends whose last input produced a few records: a seq among those records
    ends = [
        s for s in sorted(recorded.checkpoints) if s - inputs[np.searchsorted(inputs, s, "right") - 1] > 2
    ]
    end = ends[len(ends) // 2]
    first = int(inputs[np.searchsorted(inputs, end, "right") - 1])
    state = state_at(recorded.name, first + 1)
    assert (state.requested_seq, state.input_seq, state.seq) == (first + 1, first, end)
    assert state.state_hash == recorded.hash_at(end)
    body_of_input = state_at(recorded.name, first)
    assert (body_of_input.input_seq, body_of_input.seq) == (first, end), "the input record itself too"


def test_a_snapshot_shortens_the_replay_and_changes_nothing(recorded):
    snap = recorded.snapshot_seqs[0]
    seq = min(s for s in recorded.checkpoints if s > snap + 200)
    from_snapshot = state_at(recorded.name, seq)
    straight = state_at(recorded.name, seq, snapshot_dir=None)
    assert from_snapshot.start_seq == snap and from_snapshot.replayed_records == seq - snap
    assert straight.start_seq == 0 and straight.replayed_records == seq
    assert from_snapshot.state_hash == straight.state_hash == recorded.hash_at(seq)
    at_snapshot = state_at(recorded.name, snap)
    assert at_snapshot.replayed_records == 0 and at_snapshot.state_hash == recorded.hash_at(snap)


def test_a_damaged_or_foreign_snapshot_is_not_trusted(recorded, tmp_path):
    snap_dir = tmp_path / "snapshots"
    shutil.copytree(paths.snapshot_dir(recorded.state_dir), snap_dir)
    first, second = recorded.snapshot_seqs
    seq = min(s for s in recorded.checkpoints if s > second)
    damaged = next(snap_dir.glob(f"snap-{second:020d}.bin"))
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))
    state = state_at(recorded.name, seq, snapshot_dir=snap_dir)
    assert state.start_seq == first and any("checksum" in note for note in state.notes)
    assert state.state_hash == recorded.hash_at(seq)
    # an intact snapshot of some other engine state, filed under this seq (a reused node name)
    store = SnapshotStore(snap_dir)
    earlier = SnapshotStore.read(next(snap_dir.glob(f"snap-{first:020d}.bin")))
    damaged.unlink()
    store.save(seq=second, engine_bytes=earlier.engine_bytes, state_hash=earlier.state_hash,
               config_version=recorded.version)  # fmt: skip
    state = state_at(recorded.name, seq, snapshot_dir=snap_dir)
    assert state.start_seq == 0 and state.state_hash == recorded.hash_at(seq), "the straight replay"
    assert any(f"snap-{second:020d}.bin" in note and "not used" in note for note in state.notes), state.notes
    # no snapshot directory on this host (the node runs elsewhere): from the first record
    nowhere = state_at(recorded.name, seq, snapshot_dir=tmp_path / "not-here")
    assert (nowhere.start_seq, nowhere.state_hash) == (0, recorded.hash_at(seq))
    assert not (tmp_path / "not-here").exists(), "a read never creates the directory"


def test_the_nearest_journaled_state_hash_was_regenerated(recorded):
    records = recorded.records
    hashes = records[records["kind"] == REC_STATE_HASH]
    assert len(hashes) > 5
    target = hashes[len(hashes) // 2]
    seq = int(target["seq"]) + 2
    state = state_at(recorded.name, seq, snapshot_dir=None)
    check = state.hash_record
    assert check["seq"] == int(target["seq"]) and check["inputs"] == int(target["b"])
    assert check["hash"] == f"{int(target['a']) & (2**64 - 1):016x}" and check["verified"]
    assert state.verified_hashes == int(np.count_nonzero(hashes["seq"] <= state.seq))
    # from a snapshot taken after it, the hash is shown but not re-checked by this replay
    snap = recorded.snapshot_seqs[-1]
    state = state_at(recorded.name, snap)
    assert (state.start_seq, state.replayed_records, state.verified_hashes) == (snap, 0, 0)
    assert state.hash_record["seq"] == int(hashes["seq"][hashes["seq"] <= snap][-1])
    assert not state.hash_record["verified"]


# ---------------------------------------------------------------------------- what it refuses


def test_a_tampered_row_is_a_divergence_at_its_seq(recorded):
    records = recorded.records
    seq = max(recorded.checkpoints)
    victim = int(records["seq"][(records["kind"] == REC_ORDER_NEW) & (records["seq"] < seq // 2)][-1])
    execute(
        "UPDATE trading_event SET price = price + 1 WHERE node_id = %s AND seq = %s",
        [recorded.node_id, victim],
    )
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, seq, snapshot_dir=None)
    assert caught.value.kind == "diverged" and caught.value.seq == victim
    assert f"diverged at seq {victim}" in caught.value.message
    # up to the input that produced the tampered row, the journal still replays
    inputs = records["seq"][records["kind"] == REC_INPUT]
    its_input = int(inputs[inputs < victim][-1])
    assert state_at(recorded.name, its_input - 1, snapshot_dir=None).seq == its_input - 1
    with pytest.raises(StateAtError, match=f"diverged at seq {victim}"):
        state_at(recorded.name, its_input, snapshot_dir=None)


def test_a_tampered_row_after_the_snapshot_is_found_from_the_snapshot_too(recorded):
    records = recorded.records
    snap = recorded.snapshot_seqs[-1]
    victim = int(records["seq"][(records["kind"] == REC_ORDER_NEW) & (records["seq"] > snap)][0])
    execute(
        "UPDATE trading_event SET qty = qty + 1 WHERE node_id = %s AND seq = %s", [recorded.node_id, victim]
    )
    seq = max(recorded.checkpoints)
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, seq, max_records=seq - snap)  # only the snapshot is in reach
    assert caught.value.kind == "diverged" and caught.value.seq == victim


def test_a_missing_row_is_a_gap(recorded):
    seq = max(recorded.checkpoints)
    execute("DELETE FROM trading_event WHERE node_id = %s AND seq = %s", [recorded.node_id, seq // 3])
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, seq, snapshot_dir=None)
    assert caught.value.kind == "gap" and f"gap after seq {seq // 3 - 1}" in caught.value.message


def test_a_missing_configuration_version_is_named(recorded):
    execute("UPDATE trading_node SET active_config_id = NULL WHERE id = %s", [recorded.node_id])
    execute("DELETE FROM trading_nodeconfigversion WHERE node_id = %s", [recorded.node_id])
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, 50, snapshot_dir=None)
    assert caught.value.kind == "replay_refused"
    assert f"configuration version {recorded.version} is not stored" in caught.value.message


def test_records_of_an_input_not_all_durable_yet(recorded):
    records = recorded.records
    inputs = records["seq"][records["kind"] == REC_INPUT]
    k = int(np.flatnonzero(np.diff(inputs) > 3)[0])
    cut = int(inputs[k]) + 1  # the mark inside the records of one input
    execute("UPDATE trading_journal_hwm SET seq = %s WHERE node_id = %s", [cut, recorded.node_id])
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, cut, snapshot_dir=None)
    assert caught.value.kind == "incomplete" and "try again" in caught.value.message
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, cut + 1, snapshot_dir=None)
    assert caught.value.kind == "beyond_durable" and caught.value.status == 404


def test_the_work_is_bounded(recorded):
    seq = max(recorded.checkpoints)
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, seq, snapshot_dir=None, max_records=seq - 1)
    assert caught.value.kind == "too_much_work" and f"at most {seq - 1:,} records" in caught.value.message
    assert "the journal's first record" in caught.value.message
    snap = recorded.snapshot_seqs[-1]
    state = state_at(recorded.name, seq, max_records=seq - snap)  # the snapshot brings it in reach
    assert state.start_seq == snap
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, seq, max_records=seq - snap - 1)
    assert caught.value.kind == "too_much_work" and f"snapshot at seq {snap}" in caught.value.message
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, seq, snapshot_dir=None, time_budget_s=1e-9, batch_records=500)
    assert caught.value.kind == "too_slow"


def test_the_bounds_come_from_the_settings(recorded, settings):
    seq = max(recorded.checkpoints)
    assert settings.ATOMIC_OPS["STATE_AT_MAX_RECORDS"] >= seq, "the declared default reaches it"
    settings.ATOMIC_OPS = {**settings.ATOMIC_OPS, "STATE_AT_MAX_RECORDS": seq - 1}
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, seq, snapshot_dir=None)
    assert caught.value.kind == "too_much_work" and f"at most {seq - 1:,} records" in caught.value.message
    settings.ATOMIC_OPS = {**settings.ATOMIC_OPS, "STATE_AT_MAX_RECORDS": seq, "STATE_AT_TIME_BUDGET_S": 1e-9}
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, seq, snapshot_dir=None, batch_records=500)
    assert caught.value.kind == "too_slow"


@pytest.mark.parametrize("seq", [0, -1, 2**63, 2**70, "12", 1.0, True, None])
def test_the_selector_refuses_seqs_that_are_not_journal_seqs(recorded, seq):
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, seq)
    assert caught.value.kind == "bad_seq" and caught.value.status == 400


def test_missing_node_empty_journal_and_beyond_the_end(recorded):
    from trading.models import Node

    with pytest.raises(StateAtError) as caught:
        state_at("no-such-node", 1)
    assert (caught.value.kind, caught.value.status) == ("no_node", 404)
    Node.objects.create(name="stateat-empty")
    with pytest.raises(StateAtError) as caught:
        state_at("stateat-empty", 1)
    assert caught.value.kind == "no_journal"
    last = int(recorded.records["seq"][-1])
    with pytest.raises(StateAtError) as caught:
        state_at(recorded.name, last + 1)
    assert (
        caught.value.kind == "beyond_durable"
        and f"high-water mark of node {recorded.name} (seq {last})" in str(caught.value)
    )


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("1", 1),
        (" 42 ", 42),
        (str(2**63 - 1), 2**63 - 1),
        (str(2**63), None),
        (str(2**70), None),
        ("0", None),
        ("-1", None),
        ("+1", None),
        ("1.5", None),
        ("1e3", None),
        ("0x10", None),
        ("", None),
        ("   ", None),
        ("１２", None),  # full-width digits: isdigit() says yes, a seq says no
        ("1; DROP TABLE trading_event", None),
        ("9" * 5000, None),
        (None, None),
        (["1"], None),
    ],
)
def test_parse_seq(raw, ok):
    if ok is None:
        with pytest.raises(StateAtError) as caught:
            parse_seq(raw)
        assert caught.value.kind == "bad_seq" and len(caught.value.message) < 200
    else:
        assert parse_seq(raw) == ok


def test_the_journal_reader_streams_in_chunks_what_restore_rebuilds(recorded, tmp_path):
    """read_journal_rows is restore_journal's reader: both give back the segments exactly."""
    with connection.cursor() as cursor:
        chunks = list(read_journal_rows(cursor, recorded.node_id, 0, None, chunk=4_096))
        assert max(len(c) for c in chunks) == 4_096
        assert np.concatenate(chunks).tobytes() == recorded.records.tobytes()
        tail = list(read_journal_rows(cursor, recorded.node_id, 100, 250, chunk=60))
        assert [len(c) for c in tail] == [60, 60, 30] and int(tail[-1]["seq"][-1]) == 250
    journal = Journal(tmp_path / "restored")
    journal.open()
    try:
        assert restore_journal(_conninfo(), recorded.node_id, journal) == len(recorded.records)
    finally:
        journal.close()
    restored = np.concatenate(list(read_journal(tmp_path / "restored")))
    assert restored.tobytes() == recorded.records.tobytes()


# ---------------------------------------------------------------------------- the page


def test_the_page_shows_book_orders_positions_and_the_check(client, make_user, recorded):
    client.force_login(make_user("viewer"))
    ends = sorted(recorded.checkpoints)
    seq = next(s for s in ends[len(ends) // 2 :] if recorded.checkpoints[s]["live_orders"])
    response = client.get(reverse("event-state-at", args=[recorded.name]), {"seq": seq})
    body = response.content.decode()
    assert response.status_code == 200, body[:2000]
    assert f'<code id="state-hash">{recorded.hash_at(seq)}</code>' in body
    assert 'id="ladder-0"' in body and 'id="position-0"' in body and 'id="orders"' in body
    for order in recorded.checkpoints[seq]["live_orders"]:
        assert f'data-client-id="{order["client_id"]}"' in body
    assert 'data-verified="yes"' in body and 'id="state-error"' not in body
    empty = client.get(reverse("event-state-at", args=[recorded.name]))
    assert empty.status_code == 200 and 'id="state-form"' in empty.content.decode()


def test_the_event_pages_link_to_it(client, make_user, recorded):
    client.force_login(make_user("viewer"))
    detail = client.get(reverse("event-detail", args=[recorded.name, 77])).content.decode()
    assert f'href="{reverse("event-state-at", args=[recorded.name])}?seq=77"' in detail
    listing = client.get(reverse("event-list"), {"node": recorded.name}).content.decode()
    assert (
        f'action="{reverse("event-state-at", args=[recorded.name])}"' in listing
        and 'id="state-at-form"' in listing
    )


@pytest.mark.parametrize(
    ("seq", "status"),
    [("0", 400), ("-1", 400), ("abc", 400), ("1.5", 400), ("", 400), (str(2**70), 400), (str(2**63), 400)],
)
def test_the_page_refuses_bad_seqs_with_a_message(client, make_user, recorded, seq, status):
    client.force_login(make_user("viewer"))
    response = client.get(reverse("event-state-at", args=[recorded.name]), {"seq": seq})
    assert response.status_code == status
    assert 'id="state-error" data-kind="bad_seq"' in response.content.decode()


def test_the_page_answers_the_other_refusals_with_their_status(client, make_user, recorded):
    client.force_login(make_user("viewer"))
    url = reverse("event-state-at", args=[recorded.name])
    last = int(recorded.records["seq"][-1])
    beyond = client.get(url, {"seq": last + 1})
    assert beyond.status_code == 404 and 'data-kind="beyond_durable"' in beyond.content.decode()
    assert client.get(reverse("event-state-at", args=["no-such-node"]), {"seq": 1}).status_code == 404
    victim = int(recorded.records["seq"][recorded.records["kind"] == REC_ORDER_NEW][3])
    execute(
        "UPDATE trading_event SET price = price + 1 WHERE node_id = %s AND seq = %s",
        [recorded.node_id, victim],
    )
    assert victim + 100 < recorded.snapshot_seqs[0], "replayed from the first record, not from a snapshot"
    diverged = client.get(url, {"seq": victim + 100})
    body = diverged.content.decode()
    assert (
        diverged.status_code == 409 and 'data-kind="diverged"' in body and f"diverged at seq {victim}" in body
    )


def test_the_page_needs_the_event_permission(client, make_user, recorded):
    url = reverse("event-state-at", args=[recorded.name])
    anonymous = client.get(url, {"seq": 10})
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    client.force_login(make_user(None))
    assert client.get(url, {"seq": 10}).status_code == 403
    assert client.post(url, {"seq": 10}).status_code in (403, 405)
