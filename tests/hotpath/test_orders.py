"""hotpath.orders: order state machine table, order table (slot pool + hash index), open exposure,
fill dedup and canonical bytes, against tests/hotpath/reference/orders_ref.py."""

from __future__ import annotations

import copy
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotpath import orders as m
from hotpath.orders import OrderManager, fsm_next, order_fsm_table
from tests.hotpath.reference.orders_ref import (
    DEDUP_CAPACITY,
    FSM_REF,
    INT64_MAX,
    INT64_MIN,
    DedupRef,
    OrderTableRef,
)

BUY, SELL = 0, 1
OT_LIMIT, OT_MARKET, OT_LIMIT_MAKER = 0, 1, 2
GTC, IOC, FOK = 0, 1, 2
ORDER_FIELDS = 15
HEADER_WORDS = 8 + 2 * 16 + 16  # magic, capacity, next id, n_live, 4 counters, open_qty, open_count

STATUSES = [
    "NEW",
    "SENT",
    "ACKED",
    "PARTIALLY_FILLED",
    "PENDING_CANCEL",
    "FILLED",
    "CANCELLED",
    "REJECTED",
    "EXPIRED",
]
EVENTS = [
    "SUBMIT",
    "ACK",
    "REJECT",
    "PARTIAL_FILL",
    "FILL",
    "CANCEL_REQUEST",
    "CANCELLED",
    "CANCEL_REJECT",
    "EXPIRE",
]
S = {name: i for i, name in enumerate(STATUSES)}
E = {name: i for i, name in enumerate(EVENTS)}
RESTORE, ILLEGAL = 254, 255

# The drawing in orders.pxd, cell by cell, by name (independent of FSM_REF's layout).
LEGAL = {
    ("NEW", "SUBMIT"): "SENT",
    ("NEW", "REJECT"): "REJECTED",
    ("NEW", "CANCEL_REQUEST"): "CANCELLED",
    ("SENT", "ACK"): "ACKED",
    ("SENT", "REJECT"): "REJECTED",
    ("SENT", "PARTIAL_FILL"): "PARTIALLY_FILLED",
    ("SENT", "FILL"): "FILLED",
    ("SENT", "CANCEL_REQUEST"): "PENDING_CANCEL",
    ("SENT", "CANCELLED"): "CANCELLED",
    ("SENT", "EXPIRE"): "EXPIRED",
    ("PENDING_CANCEL", "ACK"): "PENDING_CANCEL",
    ("PENDING_CANCEL", "REJECT"): "REJECTED",
    ("PENDING_CANCEL", "PARTIAL_FILL"): "PENDING_CANCEL",
    ("PENDING_CANCEL", "FILL"): "FILLED",
    ("PENDING_CANCEL", "CANCELLED"): "CANCELLED",
    ("PENDING_CANCEL", "CANCEL_REJECT"): "RESTORE",
    ("PENDING_CANCEL", "EXPIRE"): "EXPIRED",
}
for _st in ("ACKED", "PARTIALLY_FILLED"):
    LEGAL.update(
        {
            (_st, "PARTIAL_FILL"): "PARTIALLY_FILLED",
            (_st, "FILL"): "FILLED",
            (_st, "CANCEL_REQUEST"): "PENDING_CANCEL",
            (_st, "CANCELLED"): "CANCELLED",
            (_st, "EXPIRE"): "EXPIRED",
        }
    )
TERMINAL = {"FILLED", "CANCELLED", "REJECTED", "EXPIRED"}

QTY = 10
# How to reach each status from NEW: apply events (str) or fill quantities (int).
PATHS = {
    "NEW": [],
    "SENT": ["SUBMIT"],
    "ACKED": ["SUBMIT", "ACK"],
    "PARTIALLY_FILLED": ["SUBMIT", "ACK", 3],
    "PENDING_CANCEL": ["SUBMIT", "ACK", "CANCEL_REQUEST"],
    "FILLED": ["SUBMIT", "ACK", QTY],
    "CANCELLED": ["SUBMIT", "ACK", "CANCELLED"],
    "REJECTED": ["SUBMIT", "REJECT"],
    "EXPIRED": ["SUBMIT", "ACK", "EXPIRE"],
}


def drive(om: OrderManager, status: str, instrument: int = 0, side: int = BUY) -> int:
    cid = om.new(instrument, side, OT_LIMIT, GTC, 0, 100, QTY, 1)
    assert cid is not None
    for ts, step in enumerate(PATHS[status], start=2):
        r = om.fill(cid, step, ts) if isinstance(step, int) else om.apply(cid, E[step], ts)
        assert r != -1
    assert om.get(cid)["status"] == S[status]
    return cid


# ---------------------------------------------------------------------------------------------
# the table


def test_table_is_the_drawing():
    expected = [[ILLEGAL] * 9 for _ in range(9)]
    for (status, event), nxt in LEGAL.items():
        expected[S[status]][E[event]] = RESTORE if nxt == "RESTORE" else S[nxt]
    assert order_fsm_table() == expected
    assert expected == FSM_REF
    assert sum(v != ILLEGAL for row in expected for v in row) == 27


def test_module_exports_enums():
    assert (m.OS_NEW, m.OS_EXPIRED, m.OS_RESTORE, m.OS_ILLEGAL) == (0, 8, 254, 255)
    assert (m.OE_SUBMIT, m.OE_FILL, m.OE_EXPIRE, m.N_ORDER_EVENTS) == (0, 4, 8, 9)


@pytest.mark.parametrize(
    ("status", "event"), [(-1, 0), (9, 0), (0, 9), (0, -1), (254, 0), (255, 3), (2**31 - 1, 0), (0, -(2**31))]
)
def test_fsm_next_out_of_range_is_illegal(status, event):
    assert fsm_next(status, event) == ILLEGAL


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("status", STATUSES)
def test_every_cell(status, event):
    om = OrderManager(16)
    cid = drive(om, status)
    before = om.get(cid)
    counters = om.counters
    ts = 100
    if event == "PARTIAL_FILL":
        assert om.apply(cid, E[event], ts) == -1  # fills never go through apply
        assert om.counters["n_illegal_transitions"] == counters["n_illegal_transitions"] + 1
        counters = om.counters
        r = om.fill(cid, 1, ts)
    elif event == "FILL":
        assert om.apply(cid, E[event], ts) == -1
        assert om.counters["n_illegal_transitions"] == counters["n_illegal_transitions"] + 1
        counters = om.counters
        r = om.fill(cid, QTY - before["filled"], ts)
    else:
        r = om.apply(cid, E[event], ts)
    after = om.get(cid)
    nxt = LEGAL.get((status, event))
    if nxt is None:
        assert r == -1
        assert after == before
        assert om.counters["n_illegal_transitions"] == counters["n_illegal_transitions"] + 1
        return
    if nxt == "RESTORE":
        nxt = "PARTIALLY_FILLED" if before["filled"] > 0 else "ACKED"
    assert r == S[nxt]
    assert after["status"] == S[nxt]
    assert after["ts_updated"] == ts
    assert om.counters == counters
    leaves = QTY - after["filled"]
    assert om.open_qty(0, BUY) == (0 if nxt in TERMINAL else leaves)
    assert om.open_count(0) == (0 if nxt in TERMINAL else 1)
    assert om.open_qty(0, SELL) == 0


def test_restore_without_and_with_fills():
    om = OrderManager(16)
    a = drive(om, "PENDING_CANCEL")
    assert om.apply(a, E["CANCEL_REJECT"], 50) == S["ACKED"]
    b = drive(om, "PARTIALLY_FILLED")
    assert om.apply(b, E["CANCEL_REQUEST"], 51) == S["PENDING_CANCEL"]
    assert om.fill(b, 2, 52) == S["PENDING_CANCEL"]  # partial fill while cancel pending
    assert om.apply(b, E["CANCEL_REJECT"], 53) == S["PARTIALLY_FILLED"]
    ob = om.get(b)
    assert (ob["filled"], ob["ts_updated"]) == (5, 53)
    assert om.open_qty(0, BUY) == QTY + (QTY - 5)
    assert om.open_count(0) == 2
    # restored orders keep working: the rest fills
    assert om.fill(b, 5, 54) == S["FILLED"]
    assert om.open_qty(0, BUY) == QTY
    assert om.open_count(0) == 1


def test_timestamps():
    om = OrderManager(16)
    cid = om.new(3, SELL, OT_LIMIT, GTC, 8, 100, 5, 11)
    o = om.get(cid)
    assert (o["ts_created"], o["ts_sent"], o["ts_acked"], o["ts_updated"]) == (11, 0, 0, 11)
    om.apply(cid, E["SUBMIT"], 12)
    om.apply(cid, E["CANCEL_REQUEST"], 13)  # cancel requested before the ack arrived
    assert om.apply(cid, E["ACK"], 14) == S["PENDING_CANCEL"]
    o = om.get(cid)
    assert (o["ts_created"], o["ts_sent"], o["ts_acked"], o["ts_updated"]) == (11, 12, 14, 14)
    assert om.apply(cid, E["SUBMIT"], 99) == -1  # illegal: nothing moves
    assert om.get(cid) == o
    assert om.apply(cid, E["CANCELLED"], 15) == S["CANCELLED"]
    assert om.get(cid)["ts_updated"] == 15
    assert om.set_venue_id(cid, 777)
    assert om.get(cid)["venue_id"] == 777
    assert om.get(cid)["flags"] == 8


# ---------------------------------------------------------------------------------------------
# open exposure, arguments, capacity


def test_open_exposure_accounting():
    om = OrderManager(16)
    a = om.new(0, BUY, OT_LIMIT, GTC, 0, 100, 10, 1)
    b = om.new(0, SELL, OT_LIMIT, GTC, 0, 101, 7, 1)
    c = om.new(2, BUY, OT_MARKET, IOC, 0, 0, 4, 1)
    assert (om.open_qty(0, BUY), om.open_qty(0, SELL), om.open_qty(2, BUY)) == (10, 7, 4)
    assert (om.open_count(0), om.open_count(1), om.open_count(2)) == (2, 0, 1)
    for cid in (a, b, c):
        om.apply(cid, E["SUBMIT"], 2)
    assert om.fill(a, 3, 3) == S["PARTIALLY_FILLED"]  # fill before the ack
    assert om.open_qty(0, BUY) == 7
    assert om.apply(a, E["ACK"], 4) == -1  # SENT→PARTIAL already; ACK now illegal
    assert om.fill(a, 20, 5) == S["FILLED"]  # overfill clamped to leaves
    assert om.get(a)["filled"] == 10
    assert om.counters["n_overfills"] == 1
    assert (om.open_qty(0, BUY), om.open_count(0)) == (0, 1)
    assert om.fill(c, 1, 6) == S["PARTIALLY_FILLED"]
    assert om.apply(c, E["EXPIRE"], 7) == S["EXPIRED"]  # IOC remainder expires
    assert (om.open_qty(2, BUY), om.open_count(2)) == (0, 0)
    assert om.apply(b, E["REJECT"], 8) == S["REJECTED"]
    assert (om.open_qty(0, SELL), om.open_count(0)) == (0, 0)
    assert om.fill(b, 1, 9) == -1  # terminal: exposure untouched
    assert om.open_qty(0, SELL) == 0
    assert om.counters["n_illegal_transitions"] == 2
    with pytest.raises(IndexError):
        om.open_qty(16, BUY)
    with pytest.raises(IndexError):
        om.open_qty(0, 2)
    with pytest.raises(IndexError):
        om.open_count(-1)


@pytest.mark.parametrize(
    "args",
    [
        (-1, BUY, OT_LIMIT, GTC, 100, 1),
        (16, BUY, OT_LIMIT, GTC, 100, 1),
        (0, 2, OT_LIMIT, GTC, 100, 1),
        (0, -1, OT_LIMIT, GTC, 100, 1),
        (0, BUY, 3, GTC, 100, 1),
        (0, BUY, -1, GTC, 100, 1),
        (0, BUY, OT_LIMIT, 3, 100, 1),
        (0, BUY, OT_LIMIT, -1, 100, 1),
        (0, BUY, OT_LIMIT, GTC, 100, 0),
        (0, BUY, OT_LIMIT, GTC, 100, -1),
        (0, BUY, OT_LIMIT, GTC, 100, INT64_MIN),
        (0, BUY, OT_LIMIT, GTC, -1, 1),
        (0, BUY, OT_LIMIT, GTC, INT64_MIN, 1),
        (0, BUY, OT_LIMIT, GTC, 0, 1),
        (0, BUY, OT_LIMIT_MAKER, GTC, 0, 1),
        (0, BUY, OT_MARKET, IOC, -5, 1),
    ],
)
def test_new_refuses_bad_arguments(args):
    om = OrderManager(16)
    instrument, side, otype, tif, price, qty = args
    assert om.new(instrument, side, otype, tif, 0, price, qty, 1) is None
    assert om.next_client_id == 1
    assert om.n_live == 0
    assert om.live_ids() == []


def test_new_accepts_edges():
    om = OrderManager(16)
    assert om.new(15, SELL, OT_MARKET, FOK, 0, 0, 1, 1) == 1  # market without price
    assert om.new(0, BUY, OT_LIMIT, GTC, 0, INT64_MAX, INT64_MAX, 1) == 2
    assert om.open_qty(0, BUY) == INT64_MAX
    # one more lot would make open exposure unrepresentable: refused, nothing counted
    assert om.new(0, BUY, OT_LIMIT, GTC, 0, 1, 1, 1) is None
    assert om.new(0, SELL, OT_LIMIT, GTC, 0, 1, 1, 1) == 3  # other side unaffected
    assert om.open_count(0) == 2


@pytest.mark.parametrize("capacity", [0, 1, 8, 15, 17, 24, 1000, 2**31, -16])
def test_bad_capacity(capacity):
    with pytest.raises(ValueError):
        OrderManager(capacity)


def test_capacity_release_and_ids_never_reused():
    om = OrderManager(16)
    ids = [om.new(0, BUY, OT_LIMIT, GTC, 0, 100, 1, t) for t in range(16)]
    assert ids == list(range(1, 17))
    assert om.new(0, BUY, OT_LIMIT, GTC, 0, 100, 1, 99) is None  # full
    assert not om.release(5)  # live orders keep their slot
    assert om.get(5) is not None
    assert om.apply(5, E["CANCEL_REQUEST"], 100) == S["CANCELLED"]
    assert om.release(5)
    assert not om.release(5)
    assert om.get(5) is None
    assert om.n_live == 15
    assert om.new(0, BUY, OT_LIMIT, GTC, 0, 100, 1, 101) == 17  # next id, not 5
    assert om.live_ids() == [i for i in range(1, 18) if i != 5]
    assert om.live_ids(max_n=3) == [1, 2, 3]
    assert om.live_ids(max_n=0) == []


def test_terminal_orders_stay_until_released():
    om = OrderManager(16)
    a = drive(om, "FILLED")
    assert om.live_ids() == [a]
    assert om.open_count(0) == 0
    assert om.release(a)
    assert om.live_ids() == []


def test_unknown_ids_are_counted():
    om = OrderManager(16)
    for cid in (0, -1, 1, 999, INT64_MAX, INT64_MIN):
        assert om.apply(cid, E["SUBMIT"], 1) == -1
        assert om.fill(cid, 1, 1) == -1
    assert om.counters["n_unknown_orders"] == 12
    assert om.counters["n_illegal_transitions"] == 0


def test_bad_fill_quantities():
    om = OrderManager(16)
    cid = drive(om, "ACKED")
    for q in (0, -1, INT64_MIN):
        assert om.fill(cid, q, 5) == -1
    assert om.counters["n_illegal_transitions"] == 3
    assert om.get(cid)["filled"] == 0
    assert om.fill(cid, INT64_MAX, 6) == S["FILLED"]
    assert om.get(cid)["filled"] == QTY
    assert om.counters["n_overfills"] == 1


def test_fill_in_new_is_refused():
    om = OrderManager(16)
    cid = om.new(0, BUY, OT_LIMIT, GTC, 0, 100, 5, 1)
    assert om.fill(cid, 1, 2) == -1
    assert om.open_qty(0, BUY) == 5
    assert om.counters["n_illegal_transitions"] == 1


# ---------------------------------------------------------------------------------------------
# the table against the dict reference


def assert_same(om: OrderManager, ref: OrderTableRef, instruments=range(3)) -> None:
    assert om.live_ids() == ref.live_ids()
    assert om.n_live == len(ref.orders)
    assert om.next_client_id == ref.next_client_id
    for cid in range(-1, ref.next_client_id + 2):
        assert om.get(cid) == ref.get(cid), cid
    for i in instruments:
        assert om.open_count(i) == ref.open_count(i)
        for side in (BUY, SELL):
            assert om.open_qty(i, side) == ref.open_qty(i, side)
    assert om.counters == ref.counters


def run_op(om: OrderManager, ref: OrderTableRef, op: tuple) -> None:
    kind = op[0]
    if kind == "new":
        args = op[1:]
        assert om.new(*args) == ref.new(*args)
    elif kind == "apply":
        _, cid, event, ts = op
        assert om.apply(cid, event, ts) == ref.apply(cid, event, ts)
    elif kind == "fill":
        _, cid, qty, ts = op
        assert om.fill(cid, qty, ts) == ref.fill(cid, qty, ts)
    elif kind == "release":
        assert om.release(op[1]) == ref.release(op[1])
    elif kind == "dedup":
        assert om.dedup_check(op[1], op[2]) == ref.dedup_check(op[1], op[2])
    else:  # pragma: no cover
        raise AssertionError(kind)


def random_ops(rng: random.Random, n: int, max_id: int) -> list[tuple]:
    ops = []
    for t in range(n):
        r = rng.random()
        cid = rng.randint(-1, max_id)
        if r < 0.3:
            ops.append(
                (
                    "new",
                    rng.choice([0, 1, 2, 2, 16]),
                    rng.choice([BUY, SELL]),
                    rng.choice([OT_LIMIT, OT_MARKET, OT_LIMIT_MAKER]),
                    rng.choice([GTC, IOC, FOK]),
                    rng.choice([0, 8, 16]),
                    rng.choice([0, 1, 100, 101]),
                    rng.choice([1, 2, 5, 10, 0]),
                    t,
                )
            )
        elif r < 0.6:
            ops.append(("apply", cid, rng.randint(-1, 9), t))
        elif r < 0.75:
            ops.append(("fill", cid, rng.choice([1, 2, 3, 20, 0]), t))
        elif r < 0.95:
            ops.append(("release", cid))
        else:
            ops.append(("dedup", rng.randint(-1, 16), rng.randint(-1, 30)))
    return ops


op_strategy = st.one_of(
    st.tuples(
        st.just("new"),
        st.sampled_from([0, 1, 2, 16]),
        st.sampled_from([BUY, SELL, 2]),
        st.sampled_from([OT_LIMIT, OT_MARKET, OT_LIMIT_MAKER]),
        st.sampled_from([GTC, IOC, FOK]),
        st.sampled_from([0, 8]),
        st.sampled_from([0, 1, 100]),
        st.integers(-1, 12),
        st.integers(0, 10**12),
    ),
    st.tuples(st.just("apply"), st.integers(-1, 40), st.integers(-1, 9), st.integers(0, 10**12)),
    st.tuples(st.just("fill"), st.integers(-1, 40), st.integers(-1, 15), st.integers(0, 10**12)),
    st.tuples(st.just("release"), st.integers(-1, 40)),
    st.tuples(st.just("dedup"), st.integers(-1, 16), st.integers(-1, 50)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(capacity=st.sampled_from([16, 32]), ops=st.lists(op_strategy, max_size=120))
def test_table_matches_reference(capacity, ops):
    om = OrderManager(capacity)
    ref = OrderTableRef(capacity)
    for op in ops:
        run_op(om, ref, op)
    assert_same(om, ref)


def test_index_stress_many_inserts_and_removals():
    # Thousands of inserts/removals through a 16-slot pool: the 32-position index sees every
    # wrap-around and backward-shift case; every id must stay findable until released.
    rng = random.Random(20240808)
    om = OrderManager(16)
    live: list[int] = []
    for t in range(20_000):
        if len(live) < 16 and (not live or rng.random() < 0.55):
            cid = om.new(rng.randrange(3), rng.randrange(2), OT_LIMIT, GTC, 0, 100, rng.randint(1, 9), t)
            assert cid == om.next_client_id - 1
            live.append(cid)
        else:
            cid = live.pop(rng.randrange(len(live)))
            assert om.apply(cid, E["CANCEL_REQUEST"], t) == S["CANCELLED"]
            assert om.release(cid)
            assert om.get(cid) is None
        if t % 97 == 0:
            assert om.live_ids() == sorted(live)
            for cid in live:
                assert om.get(cid)["client_id"] == cid
    assert om.live_ids() == sorted(live)
    assert om.next_client_id > 10_000


def test_long_random_sequence_matches_reference():
    rng = random.Random(7)
    om = OrderManager(64)
    ref = OrderTableRef(64)
    for _ in range(20):
        for op in random_ops(rng, 1000, ref.next_client_id + 2):
            run_op(om, ref, op)
        assert_same(om, ref, instruments=range(16))


# ---------------------------------------------------------------------------------------------
# fill dedup


def test_dedup_duplicates_and_instruments():
    om = OrderManager(16)
    assert om.dedup_check(0, 42) == 0
    assert om.dedup_check(0, 42) == 1
    assert om.dedup_check(0, 42) == 1
    assert om.dedup_check(1, 42) == 0  # same trade id, other instrument: different fill
    assert om.dedup_check(0, 0) == 0
    assert om.dedup_check(15, 2**58 - 1) == 0
    assert om.dedup_check(15, 2**58 - 1) == 1
    assert om.counters["n_duplicate_fills"] == 3
    assert om.dedup_count == 4


@pytest.mark.parametrize(
    ("instrument", "trade_id"),
    [(0, -1), (0, 2**58), (0, INT64_MAX), (0, INT64_MIN), (-1, 1), (16, 1), (INT64_MAX, 1)],
)
def test_dedup_refuses(instrument, trade_id):
    om = OrderManager(16)
    assert om.dedup_check(instrument, trade_id) == -1
    assert om.dedup_check(instrument, trade_id) == -1  # not remembered
    assert om.dedup_count == 0
    assert om.counters["n_duplicate_fills"] == 0


def test_dedup_generations_forget_only_keys_older_than_a_full_generation():
    om = OrderManager(16)
    for i in range(DEDUP_CAPACITY):
        assert om.dedup_check(i % 16, 1000 + i) == 0
    assert om.dedup_count == DEDUP_CAPACITY
    assert om.dedup_check(0, 1000) == 1  # the oldest is still remembered
    assert om.dedup_check(3, 5) == 0  # starts a second generation: nothing is forgotten
    assert om.dedup_count == DEDUP_CAPACITY + 1
    assert om.dedup_check(0, 1000) == 1
    for i in range(DEDUP_CAPACITY - 1):  # fill the second generation
        assert om.dedup_check(i % 16, 10_000_000 + i) == 0
    assert om.dedup_count == 2 * DEDUP_CAPACITY
    assert om.dedup_check(0, 1000) == 1  # 2 * capacity keys are remembered at most
    assert om.dedup_check(7, 7) == 0  # a third generation: the first one is forgotten
    assert om.dedup_count == DEDUP_CAPACITY + 1
    assert om.dedup_check(0, 1000) == 0  # forgotten, so new again
    assert om.dedup_check(3, 5) == 1  # second generation survives
    assert om.dedup_check(7, 7) == 1


def test_dedup_stress_matches_reference():
    # Random keys from a space a bit larger than the capacity: duplicates, evictions and
    # backward-shift deletions all happen thousands of times.
    rng = random.Random(99)
    om = OrderManager(16)
    ref = DedupRef()
    for _ in range(60_000):
        inst, tid = rng.randrange(16), rng.randrange(800) * 7919 + rng.randrange(3)
        assert om.dedup_check(inst, tid) == ref.check(inst, tid)
    assert om.dedup_count == len(ref.ring)


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 300)), max_size=400))
def test_dedup_small_capacity_semantics(keys):
    om = OrderManager(16)
    ref = DedupRef()
    for inst, tid in keys:
        assert om.dedup_check(inst, tid) == ref.check(inst, tid)


# ---------------------------------------------------------------------------------------------
# canonical bytes


def words(b: bytes) -> list[int]:
    assert len(b) % 8 == 0
    return list(struct.unpack(f"<{len(b) // 8}q", b))


def test_bytes_layout():
    om = OrderManager(16)
    ids = [om.new(i % 3, i % 2, OT_LIMIT, GTC, 0, 100 + i, 5 + i, 10 + i) for i in range(6)]
    om.apply(ids[1], E["CANCEL_REQUEST"], 20)
    om.release(ids[1])
    later = om.new(0, SELL, OT_LIMIT, GTC, 0, 50, 3, 21)  # reuses a freed slot
    om.dedup_check(2, 7)
    om.dedup_check(1, 9)
    w = words(om.to_bytes())
    assert w[1:4] == [16, 8, 6]  # capacity, next id, n_live
    assert w[4:8] == [0, 0, 0, 0]
    open_qty = w[8:40]
    assert open_qty[0 * 2 + BUY] == om.open_qty(0, BUY)
    assert open_qty[0 * 2 + SELL] == om.open_qty(0, SELL)
    assert w[40:56][:3] == [om.open_count(0), om.open_count(1), om.open_count(2)]
    body = w[HEADER_WORDS : HEADER_WORDS + 6 * ORDER_FIELDS]
    client_ids = body[0::ORDER_FIELDS]
    assert client_ids == [1, 3, 4, 5, 6, later]  # ascending, whatever the slots
    first = om.get(1)
    assert body[:ORDER_FIELDS] == list(first.values())
    tail = w[HEADER_WORDS + 6 * ORDER_FIELDS :]
    assert tail[0:2] == [2, 2]  # keys held, keys in the current generation
    assert tail[2:4] == [7 * 16 + 2, 9 * 16 + 1]  # oldest first, key = trade_id * 16 + instrument
    assert len(tail) == 5


def test_round_trip_simple_and_corruption():
    om = OrderManager(32)
    rng = random.Random(3)
    ref = OrderTableRef(32)
    for op in random_ops(rng, 400, 60):
        run_op(om, ref, op)
    data = om.to_bytes()
    back = OrderManager.from_bytes(data)
    assert back.to_bytes() == data
    assert back.capacity == 32
    assert_same(back, ref, instruments=range(16))
    # every truncation and trailing garbage are refused
    for cut in range(0, len(data), 8):
        with pytest.raises(ValueError):
            OrderManager.from_bytes(data[:cut])
    with pytest.raises(ValueError):
        OrderManager.from_bytes(data + b"\0" * 8)
    with pytest.raises(ValueError):
        OrderManager.from_bytes(data[:-3])


def _tamper(data: bytes, index: int, value: int) -> bytes:
    w = words(data)
    w[index] = value
    return struct.pack(f"<{len(w)}q", *w)


def test_corrupted_fields_are_refused_and_leave_the_table_unchanged():
    om = OrderManager(16)
    a = drive(om, "PARTIALLY_FILLED")
    b = drive(om, "ACKED", instrument=1, side=SELL)
    om.dedup_check(0, 1)
    om.dedup_check(0, 2)
    data = om.to_bytes()
    o0 = HEADER_WORDS  # first order's words
    o1 = HEADER_WORDS + ORDER_FIELDS
    dedup = HEADER_WORDS + 2 * ORDER_FIELDS
    bad = {
        "magic": (0, 0),
        "capacity not power of two": (1, 24),
        "capacity too small": (1, 8),
        "next id below live ids": (2, b),
        "n_live above capacity": (3, 17),
        "negative counter": (4, -1),
        "open qty mismatch": (8, 8),
        "open count mismatch": (40, 2),
        "ids not ascending": (o1, a),
        "id zero": (o0, 0),
        "bad instrument": (o0 + 2, 16),
        "bad side": (o0 + 3, 2),
        "bad type": (o0 + 4, 3),
        "bad tif": (o0 + 5, 3),
        "zero limit price": (o0 + 7, 0),
        "zero qty": (o0 + 8, 0),
        "filled above qty": (o0 + 9, QTY + 1),
        "negative filled": (o0 + 9, -1),
        "bad status": (o0 + 10, 9),
        "filled status with leaves": (o0 + 10, S["FILLED"]),
        "new with fills": (o0 + 10, S["NEW"]),
        "dedup count": (dedup, DEDUP_CAPACITY + 1),
        "dedup generation count": (dedup + 1, 1),
        "dedup generation above capacity": (dedup + 1, DEDUP_CAPACITY + 1),
        "dedup duplicate key": (dedup + 3, 16),
        "dedup key out of range": (dedup + 2, 2**62),
        "end marker": (dedup + 4, 0),
    }
    target = OrderManager(16)
    target.new(0, BUY, OT_LIMIT, GTC, 0, 1, 1, 1)
    target_bytes = target.to_bytes()
    for name, (index, value) in bad.items():
        with pytest.raises(ValueError):
            OrderManager.from_bytes(_tamper(data, index, value))
        with pytest.raises(ValueError):
            target.load_bytes(_tamper(data, index, value))
        assert target.to_bytes() == target_bytes, name
    for junk in (data + b"\0" * 8, data[:-8], b""):
        with pytest.raises(ValueError):
            target.load_bytes(junk)
        assert target.to_bytes() == target_bytes
    target.load_bytes(data)
    assert target.to_bytes() == data


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    capacity=st.sampled_from([16, 32]),
    before=st.lists(op_strategy, max_size=80),
    after=st.lists(op_strategy, max_size=80),
)
def test_restored_table_behaves_identically(capacity, before, after):
    om = OrderManager(capacity)
    ref = OrderTableRef(capacity)
    for op in before:
        run_op(om, ref, op)
    data = om.to_bytes()
    back = OrderManager.from_bytes(data)
    assert back.to_bytes() == data
    ref_copy = copy.deepcopy(ref)
    for op in after:
        run_op(om, ref, op)
        run_op(back, ref_copy, op)
        assert back.to_bytes() == om.to_bytes()
    assert_same(back, ref_copy)


def test_restored_dedup_evicts_in_the_same_order():
    om = OrderManager(16)
    for i in range(DEDUP_CAPACITY + 100):  # the ring has wrapped
        om.dedup_check(i % 16, i)
    back = OrderManager.from_bytes(om.to_bytes())
    rng = random.Random(5)
    for _ in range(3000):
        inst, tid = rng.randrange(16), rng.randrange(DEDUP_CAPACITY + 400)
        assert back.dedup_check(inst, tid) == om.dedup_check(inst, tid)
    assert back.to_bytes() == om.to_bytes()
