"""hotpath.book (L2Book) against the dict-based reference, plus boundaries and real Binance data."""

from __future__ import annotations

import gzip
import itertools
import json
import random
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotpath.book import L2Book
from hotpath.types import BUY, SELL
from tests.hotpath.reference.book_ref import INT64_MAX, BookRef, window_base

HEADER_BYTES = 11 * 8
SPOT_FILE = "hftbacktest/spot/btcusdt_20240808.gz"  # under the data_dir fixture (tests/conftest.py)


def assert_same(book: L2Book, ref: BookRef) -> None:
    """Complete observable state: canonical bytes cover scalars, counters and every level."""
    assert book.best_bid == ref.best_bid
    assert book.best_ask == ref.best_ask
    for side in (BUY, SELL):
        assert book.n_levels(side) == ref.n_levels(side)
    assert book.crossed() == ref.crossed()
    assert book.base == ref.base
    assert book.to_bytes() == ref.to_bytes()


# ---------------------------------------------------------------------------------------------
# property tests against the reference

CENTER = 10_000_000


def _price_pool(window_log2: int) -> st.SearchStrategy[list[int]]:
    """Absolute prices around the initial window: inside, at and across both edges, far away."""
    cap = 1 << window_log2
    base = window_base(CENTER, cap)
    inside = st.integers(base, base + cap - 1)
    lo_edge = st.integers(base - 3, base + 3)
    hi_edge = st.integers(base + cap - 4, base + cap + 2)
    cluster = st.integers(CENTER - 130, CENTER + 130)  # several levels per bitmap word
    far_low = st.integers(1, max(1, base - 1))
    far_high = st.integers(base + cap, 2**61)
    word_edges = st.sampled_from([base + k * 64 + d for k in (1, 63, 64, 65) for d in (-1, 0)])
    any_price = st.one_of(inside, lo_edge, hi_edge, cluster, far_low, far_high, word_edges)
    return st.lists(any_price, min_size=2, max_size=10, unique=True)  # small: prices recur often


@st.composite
def book_scenarios(draw):
    window_log2 = draw(st.sampled_from([12, 13, 19]))
    pool = draw(_price_pool(window_log2))
    set_op = st.tuples(
        st.just("set"),
        st.sampled_from([BUY, SELL]),
        st.sampled_from(pool),
        st.one_of(st.just(0), st.integers(1, 1000), st.integers(1, 2**62)),
    )
    recenter_op = st.tuples(st.just("recenter"), st.sampled_from(pool + [CENTER, 1, 2**61]))
    bad_op = st.tuples(
        st.just("bad"), st.sampled_from([BUY, SELL, 2, -1]), st.integers(-5, 0), st.integers(-5, 5)
    )
    clear_op = st.tuples(st.just("clear"))
    # Mostly level updates so that books grow; the rest are rare events (clear wipes the state).
    op = st.integers(0, 39).flatmap(
        lambda k: set_op if k < 34 else recenter_op if k < 37 else bad_op if k < 39 else clear_op
    )
    ops = draw(st.lists(op, min_size=1, max_size=60))
    return window_log2, pool, ops


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book_scenarios())
def test_random_operations_match_reference(scenario):
    window_log2, pool, ops = scenario
    book = L2Book(CENTER, window_log2)
    ref = BookRef(CENTER, window_log2)
    rng = random.Random(0)
    probes = sorted(set(pool) | {1, 2**61 + 5} | {p + 1 for p in pool} | {p - 1 for p in pool if p > 1})
    for op in ops:
        if op[0] == "set":
            _, side, price, qty = op
            assert book.set(side, price, qty) == ref.set(side, price, qty)
        elif op[0] == "recenter":
            assert book.recenter(op[1]) == ref.recenter(op[1])
        elif op[0] == "clear":
            book.clear()
            ref.clear()
        else:
            _, side, price, qty = op  # price <= 0 always: refused
            assert book.set(side, price, qty) == -1
            ref.set(side, price, qty)
        assert_same(book, ref)
        for side in (BUY, SELL):
            assert book.depth(side, 5) == ref.depth(side, 5)
            for levels in (1, 3, 7, 20):
                assert book.depth_qty(side, levels) == ref.depth_qty(side, levels)
        for p in rng.sample(probes, min(8, len(probes))):
            for side in (BUY, SELL):
                assert book.qty(side, p) == ref.qty(side, p)
                assert book.next(side, p) == ref.next(side, p)
    # Walking with next() from the touch visits exactly the reference levels, best first.
    for side in (BUY, SELL):
        walked, p = [], (book.best_bid if side == BUY else book.best_ask)
        while p:
            walked.append((p, book.qty(side, p)))
            p = book.next(side, p)
        assert walked == ref.sorted_levels(side)
        assert book.depth(side, 10**6) == ref.sorted_levels(side)
    # Round trip of whatever state the sequence left.
    data = book.to_bytes()
    again = L2Book.from_bytes(data)
    assert again.to_bytes() == data
    assert_same(again, ref)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([12, 19]),
    st.lists(st.integers(0, 13), min_size=1, max_size=3, unique=True),
    st.lists(
        st.tuples(st.sampled_from([BUY, SELL]), st.integers(0, 3), st.sampled_from([0, 0, 1, 2])),
        max_size=60,
    ),
    st.integers(1, 10**6),
    st.integers(2**40, 2**61),
)
def test_edge_focused_operations_match_reference(window_log2, active, ops, far_low, far_high):
    """Levels only at a few of the interesting places (both window edges, inside and just
    outside, far below and far above), so best removal and next() constantly cross between
    window and overflow with nothing else in between."""
    book = L2Book(CENTER, window_log2)
    ref = BookRef(CENTER, window_log2)
    base, top = book.base, book.base + book.cap - 1
    places = [far_low, base - 2, base - 1, base, base + 1, base + 64, CENTER]
    places += [top - 64, top - 1, top, top + 1, top + 2, top + 3, far_high]
    for side, where, qty in ops:
        price = places[active[where % len(active)]]
        assert book.set(side, price, qty) == ref.set(side, price, qty)
        assert (book.best_bid, book.best_ask) == (ref.best_bid, ref.best_ask)
        for p in places:
            for s in (BUY, SELL):
                assert book.next(s, p) == ref.next(s, p)
                assert book.next(s, p + 1) == ref.next(s, p + 1)
    for side in (BUY, SELL):
        assert book.depth(side, 20) == ref.depth(side, 20)
    assert book.to_bytes() == ref.to_bytes()


@pytest.mark.parametrize("window_log2", [12, 19])
def test_exhaustive_small_configurations_at_the_edges(window_log2):
    """Every set of up to three levels on one side drawn from the edge places, removed in
    every order: best, next() and depth after each step equal the reference."""
    probe = L2Book(CENTER, window_log2)
    base, top = probe.base, probe.base + probe.cap - 1
    places = [7, base - 2, base - 1, base, base + 1, base + 64, CENTER, top - 1, top, top + 1, top + 2, 2**50]
    probes = sorted({p + d for p in places for d in (-1, 0, 1)})
    for side in (BUY, SELL):
        for combo in itertools.combinations(places, 3):
            for order in itertools.permutations(combo):
                book, ref = L2Book(CENTER, window_log2), BookRef(CENTER, window_log2)
                for i, price in enumerate(order):
                    assert book.set(side, price, i + 1) == ref.set(side, price, i + 1) == 0
                if order == combo:  # full next() sweep once per level set
                    for p in probes:
                        assert book.next(side, p) == ref.next(side, p)
                for price in order:  # remove in this permutation's order
                    assert book.set(side, price, 0) == ref.set(side, price, 0)
                    assert (book.best_bid, book.best_ask) == (ref.best_bid, ref.best_ask)
                    assert book.depth(side, 3) == ref.depth(side, 3)
                assert book.n_levels(side) == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([BUY, SELL]), st.integers(1, 2**40), st.integers(1, 10**6)),
        min_size=1,
        max_size=40,
        unique_by=lambda t: (t[0], t[1]),
    ),
    st.randoms(use_true_random=False),
)
def test_same_levels_in_any_order_give_identical_bytes(levels, rnd):
    a, b = L2Book(2**20, 12), L2Book(2**20, 12)
    for side, price, qty in levels:
        a.set(side, price, qty)
    shuffled = list(levels)
    rnd.shuffle(shuffled)
    for side, price, qty in shuffled:
        b.set(side, price, qty)
    assert a.to_bytes() == b.to_bytes()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([BUY, SELL]), st.integers(1, 2**40), st.integers(0, 50)),
        min_size=1,
        max_size=80,
    ),
    st.integers(1, 2**40),
)
def test_different_histories_same_levels_same_level_bytes(ops, center):
    """A book built by any history (with overwrites, deletes, recenters) serialises its levels
    exactly like a book built directly from the final levels."""
    book = L2Book(2**20, 12)
    ref = BookRef(2**20, 12)
    for i, (side, price, qty) in enumerate(ops):
        book.set(side, price, qty)
        ref.set(side, price, qty)
        if i == len(ops) // 2:
            book.recenter(center)
    direct = L2Book(2**20, 12)
    for side in (BUY, SELL):
        for price, qty in ref.sorted_levels(side):
            direct.set(side, price, qty)
    direct.recenter(center)
    assert book.to_bytes()[HEADER_BYTES:] == direct.to_bytes()[HEADER_BYTES:]


# ---------------------------------------------------------------------------------------------
# window edges, overflow and best maintenance


def test_window_edges_and_overflow_placement():
    book = L2Book(100_000, 12)
    base, cap = book.base, book.cap
    assert (base, cap) == (100_000 - 2048, 4096)
    for price in (base, base + cap - 1):
        book.set(BUY, price, 1)
    assert book.n_overflow(BUY) == 0
    for price in (base - 1, base + cap):
        book.set(BUY, price, 2)
    assert book.n_overflow(BUY) == 2
    assert book.n_levels(BUY) == 4
    assert book.depth(BUY, 10) == [(base + cap, 2), (base + cap - 1, 1), (base, 1), (base - 1, 2)]
    assert book.next(BUY, base + cap) == base + cap - 1
    assert book.next(BUY, base) == base - 1
    assert book.next(BUY, base - 1) == 0


def test_bids_and_asks_straddling_the_window_walk_seamlessly():
    book = L2Book(1_000_000, 12)
    base, top = book.base, book.base + book.cap - 1
    bids = [top + 500, top + 1, top, base + 7, base, base - 1, 17, 1]
    asks = [2, base - 900, base - 1, base, base + 64, top, top + 1, 2**61]
    for i, p in enumerate(bids):
        book.set(BUY, p, i + 1)
    for i, p in enumerate(asks):
        book.set(SELL, p, i + 1)
    assert book.depth(BUY, 100) == [(p, i + 1) for i, p in enumerate(bids)]
    assert book.depth(SELL, 100) == [(p, i + 1) for i, p in enumerate(asks)]
    assert book.depth_qty(BUY, 3) == 1 + 2 + 3
    assert book.n_overflow(BUY) == 5 and book.n_overflow(SELL) == 5
    assert book.crossed()


@pytest.mark.parametrize("side", [BUY, SELL])
def test_top_n_sums_read_off_the_bitmap_match_a_level_walk(side):
    """depth_qty reads levels near the touch straight off the bitmap words, then continues with
    next(): sparse levels (more empty words than it scans), both window edges and the overflow
    beyond them must all be summed exactly as a walk with next() does."""
    book = L2Book(1_000_000, 12)
    base, top = book.base, book.base + book.cap - 1
    sign = -1 if side == BUY else 1
    touch = top if side == BUY else base  # best at the window edge: the walk runs the whole window
    offsets = [0, 1, 63, 64, 65, 127, 128, 64 * 5 + 3, 64 * 6, 64 * 11 + 1, 64 * 30, 4000, 4095]
    prices = [touch + sign * k for k in offsets]
    prices += [base - 1, base - 700] if side == BUY else [top + 1, top + 900]  # overflow beyond the edge
    for k, price in enumerate(prices):
        book.set(side, price, k + 1)
    walk, p = [], book.best_bid if side == BUY else book.best_ask
    while p:
        walk.append(book.qty(side, p))
        p = book.next(side, p)
    assert len(walk) == len(prices)
    for levels in range(len(prices) + 3):
        assert book.depth_qty(side, levels) == sum(walk[:levels]), levels
    huge = L2Book(1_000_000, 12)
    huge.set(side, 1_000_000, 2**62)
    huge.set(side, 1_000_000 + sign, 2**62)
    assert huge.depth_qty(side, 2) == INT64_MAX, "saturates instead of wrapping"


def test_next_just_beyond_the_window_edges_sees_the_edge_overflow_level():
    # The first tick outside the window (base + cap for bids, base - 1 for asks) lives in the
    # overflow and must not be skipped when walking in from one tick further out.
    book = L2Book(1_000_000, 12)
    base, cap = book.base, book.cap
    for p in (base + cap + 1, base + cap, base + cap - 1, base + 3):
        book.set(BUY, p, 1)
    for p in (base - 2, base - 1, base, base + cap - 5):
        book.set(SELL, p, 1)
    assert book.next(BUY, base + cap + 1) == base + cap
    assert book.next(BUY, base + cap) == base + cap - 1
    assert book.next(SELL, base - 2) == base - 1
    assert book.next(SELL, base - 1) == base
    assert [p for p, _ in book.depth(BUY, 9)] == [base + cap + 1, base + cap, base + cap - 1, base + 3]
    assert [p for p, _ in book.depth(SELL, 9)] == [base - 2, base - 1, base, base + cap - 5]


def test_removing_best_moves_to_next_level_across_window_and_overflow():
    book = L2Book(1_000_000, 12)
    base, top = book.base, book.base + book.cap - 1
    book.set(BUY, top + 10, 1)  # overflow above the window
    book.set(BUY, base + 100, 2)  # window
    book.set(BUY, base - 10, 3)  # overflow below
    assert book.best_bid == top + 10
    assert book.set(BUY, top + 10, 0) == 1
    assert book.best_bid == base + 100
    assert book.set(BUY, base + 100, 0) == 2
    assert book.best_bid == base - 10
    assert book.set(BUY, base - 10, 0) == 3
    assert book.best_bid == 0
    book.set(SELL, base - 10, 1)
    book.set(SELL, base + 5, 2)
    book.set(SELL, top + 3, 3)
    assert book.set(SELL, base - 10, 0) == 1
    assert book.best_ask == base + 5
    assert book.set(SELL, base + 5, 0) == 2
    assert book.best_ask == top + 3
    assert book.set(SELL, top + 3, 0) == 3
    assert book.best_ask == 0
    assert book.n_levels(BUY) == book.n_levels(SELL) == 0


def test_best_search_crosses_every_bitmap_level():
    # 2**20 ticks: 16384 l0 words, 256 l1 words, 4 l2 words; levels at the two extremes force
    # the search through all three levels and across l2 words.
    book = L2Book(2**20, 20)
    base, cap = book.base, book.cap
    lo, hi = base, base + cap - 1
    for side in (BUY, SELL):
        book.set(side, lo, 5)
        book.set(side, hi, 6)
    assert book.set(BUY, hi, 0) == 6
    assert book.best_bid == lo
    assert book.set(SELL, lo, 0) == 5
    assert book.best_ask == hi
    assert book.next(BUY, hi) == lo
    assert book.next(SELL, lo) == hi
    # a level in the middle of an l2 word boundary
    mid = base + 3 * 262144
    book.set(BUY, mid, 1)
    book.set(BUY, mid - 1, 1)
    assert book.next(BUY, mid) == mid - 1
    assert book.next(BUY, mid - 1) == lo


def test_next_from_arbitrary_prices():
    book = L2Book(50_000, 12)
    book.set(BUY, 50_000, 1)
    book.set(SELL, 50_010, 1)
    assert book.next(BUY, INT64_MAX) == 50_000  # from above everything: the best
    assert book.next(BUY, 50_001) == 50_000
    assert book.next(BUY, 50_000) == 0
    assert book.next(BUY, 1) == 0
    assert book.next(BUY, -5) == 0
    assert book.next(SELL, -5) == 50_010
    assert book.next(SELL, 0) == 50_010
    assert book.next(SELL, 50_010) == 0
    assert book.next(SELL, INT64_MAX) == 0
    assert book.next(2, 1) == 0


# ---------------------------------------------------------------------------------------------
# hostile input


def test_refused_updates_leave_the_book_unchanged():
    book = L2Book(10_000, 12)
    book.set(BUY, 9_999, 4)
    before = book.to_bytes()
    for side, price, qty in [
        (BUY, 0, 1),
        (SELL, -1, 1),
        (BUY, 10, -1),
        (2, 10, 1),
        (-1, 10, 1),
        (BUY, -(2**63), 0),
    ]:
        assert book.set(side, price, qty) == -1
    assert book.n_rejected == 6
    assert book.n_updates == 1
    assert book.to_bytes()[HEADER_BYTES:] == before[HEADER_BYTES:]
    assert book.qty(BUY, 0) == 0 and book.qty(BUY, -3) == 0 and book.qty(5, 9_999) == 0
    assert book.depth(3, 5) == [] and book.depth_qty(3, 5) == 0
    with pytest.raises(OverflowError):
        book.set(BUY, 2**63, 1)


_OOM_SCRIPT = """
import json, resource
import numpy as np
from hotpath.book import L2Book

n = 1_000_000
book = L2Book(1_000_000, 12)
top = book.base + book.cap
prices = np.arange(top, top + n, dtype=np.int64)  # all above the window: overflow only
sides = np.ones(n, dtype=np.int64)
qtys = np.full(n, 3, dtype=np.int64)
book.set(1, 1_000_000, 9)
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
with open("/proc/self/statm") as f:
    vm = int(f.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (vm + 3 * 2**20, hard))  # a few MB of headroom
try:
    for start in range(0, n, 4096):
        if book.set_many(sides[start:start + 4096], prices[start:start + 4096], qtys[start:start + 4096]):
            break
    stored = book.n_overflow(1)
    counters = (book.n_updates, book.n_rejected)
    again = book.set(1, int(top + stored), 1)
    counters_after = (book.n_updates, book.n_rejected)
finally:
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
print(json.dumps({
    "stored": stored, "again": again, "levels": book.n_levels(1), "best": book.best_ask,
    "missing": book.qty(1, int(top + stored)), "last": book.qty(1, int(top + stored - 1)),
    "counters": counters, "counters_after": counters_after,
    "after": book.set(1, int(top + stored), 1), "levels_after": book.n_levels(1),
}))
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux address-space limits")
def test_overflow_allocation_failure_returns_minus_two_and_leaves_book_intact():
    # A subprocess with a tight RLIMIT_AS makes the overflow realloc fail for real.
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _OOM_SCRIPT], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    stored = r["stored"]
    assert stored >= 4096 and stored & (stored - 1) == 0  # failed exactly at a capacity doubling
    assert r["again"] == -2
    assert r["counters_after"] == r["counters"]  # neither applied nor counted as refused
    assert r["levels"] == stored + 1 and r["best"] == 1_000_000
    assert (r["missing"], r["last"]) == (0, 3)
    assert (r["after"], r["levels_after"]) == (0, stored + 2)  # fine again once memory is back


def test_huge_prices_near_int64_limits():
    book = L2Book(100, 12)
    assert book.base == 1
    for p in (2**61, 2**61 + 1, INT64_MAX):
        assert book.set(SELL, p, 7) == 0
    assert book.best_ask == 2**61
    assert book.depth(SELL, 5) == [(2**61, 7), (2**61 + 1, 7), (INT64_MAX, 7)]
    assert book.next(SELL, 2**61 + 1) == INT64_MAX
    assert book.set(SELL, 2**61, 0) == 7
    assert book.best_ask == 2**61 + 1
    book.set(BUY, INT64_MAX, 3)
    assert book.best_bid == INT64_MAX and book.crossed()

    top = L2Book(INT64_MAX, 12)  # window pushed down so base + cap still fits in int64
    assert top.base == INT64_MAX - 4096
    assert top.set(BUY, INT64_MAX - 1, 2) == 0
    assert top.n_overflow(BUY) == 0
    assert top.set(BUY, INT64_MAX, 1) == 0
    assert top.n_overflow(BUY) == 1  # base + cap itself is just outside
    assert top.depth(BUY, 3) == [(INT64_MAX, 1), (INT64_MAX - 1, 2)]


@pytest.mark.parametrize("center,window_log2", [(0, 12), (-5, 12), (100, 11), (100, 27), (100, -1)])
def test_bad_construction_arguments(center, window_log2):
    with pytest.raises(ValueError):
        L2Book(center, window_log2)


def test_empty_book():
    book = L2Book(1, 12)
    assert book.base == 1
    assert (book.best_bid, book.best_ask) == (0, 0)
    assert book.depth(BUY, 5) == [] and book.depth(SELL, 0) == [] and book.depth(SELL, -3) == []
    assert book.depth_qty(SELL, 5) == 0
    assert not book.crossed()
    assert book.next(BUY, 100) == 0 and book.next(SELL, 100) == 0
    assert book.set(BUY, 5, 0) == 0  # removing a missing level is a no-op update
    assert book.set(BUY, 10**12, 0) == 0
    assert book.n_levels(BUY) == 0 and book.n_updates == 2
    with pytest.raises(ValueError):
        book.n_levels(2)


# ---------------------------------------------------------------------------------------------
# clear, recenter, serialisation


def test_clear_keeps_scalars_and_allows_reuse():
    book = L2Book(1_000, 12)
    for p in (5, 900, 1_000, 4_000, 99_999):
        book.set(BUY, p, 1)
        book.set(SELL, p + 1, 2)
    book.last_update_id, book.valid, book.ts_event, book.ts_local = 77, 1, 10, 11
    book.n_crossed, book.n_gaps = 3, 4
    book.clear()
    assert (book.best_bid, book.best_ask) == (0, 0)
    assert book.n_levels(BUY) == book.n_levels(SELL) == 0
    assert book.n_overflow(BUY) == book.n_overflow(SELL) == 0
    assert (book.last_update_id, book.valid, book.ts_event, book.ts_local) == (77, 1, 10, 11)
    assert (book.n_crossed, book.n_gaps, book.n_updates) == (3, 4, 10)
    for p in (5, 900, 1_000, 4_000, 99_999):
        assert book.qty(BUY, p) == 0 and book.qty(SELL, p + 1) == 0
        assert book.set(BUY, p, 3) == 0  # nothing stale left in the window
    assert book.depth(BUY, 10) == [(99_999, 3), (4_000, 3), (1_000, 3), (900, 3), (5, 3)]


def test_recenter_preserves_levels_and_moves_them_between_window_and_overflow():
    book = L2Book(10_000, 12)
    prices = [1, 5_000, 8_000, 9_999, 10_000, 12_000, 20_000, 2**50]
    for i, p in enumerate(prices):
        book.set(BUY, p, i + 1)
        book.set(SELL, p, i + 10)
    levels = (book.depth(BUY, 100), book.depth(SELL, 100))
    assert book.recenter(20_000) == 0
    assert book.base == 20_000 - 2048
    assert (book.depth(BUY, 100), book.depth(SELL, 100)) == levels
    assert book.n_overflow(BUY) == len(prices) - 1  # only 20_000 lies in the new window
    assert (book.best_bid, book.best_ask) == (2**50, 1)
    assert book.recenter(2**50) == 0
    assert (book.depth(BUY, 100), book.depth(SELL, 100)) == levels
    assert book.recenter(0) == -1 and book.recenter(-1) == -1
    assert book.base == window_base(2**50, 4096)
    # removal of the best still finds the next level after recentering
    assert book.set(BUY, 2**50, 0) == 8
    assert book.best_bid == 20_000
    assert book.set(SELL, 1, 0) == 10
    assert book.best_ask == 5_000


def test_to_bytes_layout_is_exactly_the_contract():
    book = L2Book(1_000, 12)
    book.set(BUY, 999, 5)
    book.set(BUY, 10, 6)
    book.set(SELL, 1_001, 7)
    book.set(BUY, 0, 1)  # refused
    book.last_update_id, book.ts_event, book.ts_local, book.valid = 42, 100, 101, 1
    book.n_crossed, book.n_gaps = 2, 3
    header = [1, 4096, 12, 42, 100, 101, 1, 3, 1, 2, 3]  # base, cap, log2, ids, ts, valid, counters
    levels = [2, 999, 5, 10, 6, 1, 1_001, 7]  # bids best-first, then asks best-first
    expected = struct.pack("<19q", *header, *levels)
    assert book.to_bytes() == expected
    again = L2Book.from_bytes(expected)
    assert again.to_bytes() == expected
    assert (again.last_update_id, again.ts_event, again.ts_local, again.valid) == (42, 100, 101, 1)
    assert (again.n_updates, again.n_rejected, again.n_crossed, again.n_gaps) == (3, 1, 2, 3)
    assert (again.best_bid, again.best_ask, again.base, again.cap) == (999, 1_001, 1, 4096)
    # the restored book is fully functional, with the stored window
    assert again.set(BUY, 999, 0) == 5
    assert again.best_bid == 10


def test_from_bytes_rejects_malformed_input():
    book = L2Book(1_000, 12)
    book.set(BUY, 999, 5)
    book.set(BUY, 998, 4)
    good = book.to_bytes()
    words = list(struct.unpack(f"<{len(good) // 8}q", good))

    def pack(ws):
        return struct.pack(f"<{len(ws)}q", *ws)

    bad = {
        "truncated": good[:-8],
        "empty": b"",
        "trailing": good + b"\0" * 8,
        "cap_mismatch": pack([words[0], 8192] + words[2:]),
        "window_too_small": pack([words[0], 2048, 11] + words[3:]),
        "base_zero": pack([0] + words[1:]),
        "base_too_high": pack([INT64_MAX - 100] + words[1:]),
        "bids_not_descending": pack(words[:12] + [998, 4, 999, 5] + words[16:]),
        "zero_qty": pack(words[:12] + [999, 0] + words[14:]),
        "negative_count": pack(words[:11] + [-1] + words[12:]),
        "huge_count": pack(words[:11] + [2**40] + words[12:]),
    }
    for name, data in bad.items():
        with pytest.raises(ValueError):
            L2Book.from_bytes(data)
            pytest.fail(name)


def test_set_many_equals_individual_sets():
    rng = np.random.default_rng(7)
    n = 5_000
    sides = rng.integers(0, 2, n).astype(np.int64)
    prices = rng.integers(99_000, 101_000, n).astype(np.int64)
    prices[::97] = -3  # some refused
    sides[5] = 2**32  # would wrap to BUY in a C int: must be refused
    qtys = rng.integers(0, 4, n).astype(np.int64)
    a, b = L2Book(100_000, 12), L2Book(100_000, 12)
    refused = a.set_many(sides, prices, qtys)
    for s, p, q in zip(sides.tolist(), prices.tolist(), qtys.tolist(), strict=True):
        b.set(s if s in (BUY, SELL) else -1, p, q)
    assert refused == b.n_rejected == a.n_rejected == len(range(0, n, 97)) + 1
    assert a.to_bytes() == b.to_bytes()


# ---------------------------------------------------------------------------------------------
# real data: Binance spot BTCUSDT diff-depth stream + REST snapshot


def _decimal_to_int(text: str, decimals: int, off_grid: list[str] | None = None) -> int:
    """Decimal string -> integer units of 10**-decimals, exactly. Digits finer than the unit
    are only tolerated when off_grid is given: the value is then truncated and recorded."""
    whole, _, frac = text.partition(".")
    frac = frac.ljust(decimals, "0")
    if frac[decimals:].strip("0"):
        assert off_grid is not None, f"{text} is finer than 1e-{decimals}"
        off_grid.append(text)
    return int(whole) * 10**decimals + int(frac[:decimals] or "0")


def _load_spot(path: Path):
    snapshot, diffs = None, []
    with gzip.open(path, "rt") as f:
        for line in f:
            _, payload = line.split(" ", 1)
            if '"lastUpdateId"' in payload:
                snapshot = json.loads(payload)
            elif '"btcusdt@depth@100ms"' in payload:
                diffs.append(json.loads(payload)["data"])
    return snapshot, diffs


def test_real_binance_spot_depth_stream_matches_reference(data_dir: Path):
    snapshot, diffs = _load_spot(data_dir / SPOT_FILE)
    assert snapshot is not None and len(diffs) > 3000
    last_id = snapshot["lastUpdateId"]

    def tick(p):
        return _decimal_to_int(p, 2)  # tick 0.01

    # lot 0.00001. A few legacy far-away levels (80000, 200000 USDT ...) carry quantities from
    # before the lot size was raised (e.g. 25.42618900): the sub-lot dust is truncated, counted.
    off_grid: list[str] = []

    def lots(q):
        return _decimal_to_int(q, 5, off_grid)

    center = tick(snapshot["bids"][0][0])
    book = L2Book(center, 16)  # 655.36 USDT window: the far levels live in overflow
    ref = BookRef(center, 16)
    for side, key in ((BUY, "bids"), (SELL, "asks")):
        for p, q in snapshot[key]:
            assert book.set(side, tick(p), lots(q)) == ref.set(side, tick(p), lots(q)) == 0
    assert_same(book, ref)

    prev_u, applied, max_overflow = None, 0, 0
    for d in diffs:  # diffs buffered before the snapshot arrived come first, as Binance says
        if d["u"] <= last_id:
            continue
        if prev_u is None:
            assert d["U"] <= last_id + 1 <= d["u"]
        else:
            assert d["U"] == prev_u + 1, "sequence gap in the recorded stream"
        prev_u = d["u"]
        for side, key in ((BUY, "b"), (SELL, "a")):
            for p, q in d[key]:
                assert book.set(side, tick(p), lots(q)) == ref.set(side, tick(p), lots(q))
        book.last_update_id = ref.last_update_id = d["u"]
        applied += 1
        for side in (BUY, SELL):
            assert book.depth(side, 20) == ref.depth(side, 20)
        assert not book.crossed()
        assert book.best_bid == ref.best_bid and book.best_ask == ref.best_ask
        max_overflow = max(max_overflow, book.n_overflow(BUY) + book.n_overflow(SELL))
    assert applied > 3000
    assert 0 < len(off_grid) <= 10
    assert max_overflow > 100  # the small window really pushed levels into overflow
    assert_same(book, ref)
    restored = L2Book.from_bytes(book.to_bytes())
    assert_same(restored, ref)
