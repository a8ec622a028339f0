"""Binance depth-sync rules at their boundaries (spot and futures), without sockets."""

from __future__ import annotations

import pytest

from trading.engine.feeds.depth_sync import (
    INVALID,
    LIVE,
    SYNCING,
    BookSync,
    DiffAction,
    SnapshotOutcome,
)

LAST = 100  # the snapshot's lastUpdateId

# (first U, final u) of the first diff after a snapshot with lastUpdateId = 100
SPOT_FIRST_DIFF = [
    ((90, 100), DiffAction.STALE),  # u <= lastUpdateId
    ((100, 100), DiffAction.STALE),
    ((101, 101), DiffAction.APPLY),  # U == lastUpdateId + 1
    ((95, 101), DiffAction.APPLY),  # U <= lastUpdateId + 1 <= u
    ((100, 120), DiffAction.APPLY),
    ((102, 110), DiffAction.GAP),  # U > lastUpdateId + 1: update 101 is missing
]
FUTURES_FIRST_DIFF = [
    ((90, 99), DiffAction.STALE),  # u < lastUpdateId
    ((100, 100), DiffAction.APPLY),  # u == lastUpdateId is kept on futures
    ((90, 100), DiffAction.APPLY),  # U <= lastUpdateId <= u
    ((100, 130), DiffAction.APPLY),
    ((101, 110), DiffAction.GAP),  # U > lastUpdateId
]


def live_sync(futures: bool) -> BookSync:
    sync = BookSync(futures)
    assert sync.state == INVALID
    assert sync.apply_snapshot(LAST).outcome is SnapshotOutcome.APPLIED
    assert sync.state == LIVE
    return sync


@pytest.mark.parametrize(("ids", "action"), SPOT_FIRST_DIFF)
def test_spot_first_diff_after_the_snapshot(ids, action):
    sync = live_sync(futures=False)
    assert sync.on_diff(*ids, 0) is action
    assert sync.state == (SYNCING if action is DiffAction.GAP else LIVE)


@pytest.mark.parametrize(("ids", "action"), FUTURES_FIRST_DIFF)
def test_futures_first_diff_after_the_snapshot(ids, action):
    sync = live_sync(futures=True)
    assert sync.on_diff(*ids, ids[0] - 1) is action


def test_spot_chain_needs_u_plus_one_and_drops_repeats():
    sync = live_sync(futures=False)
    assert sync.on_diff(98, 105, 0) is DiffAction.APPLY
    assert sync.on_diff(106, 106, 0) is DiffAction.APPLY
    assert sync.on_diff(101, 106, 0) is DiffAction.STALE  # a repeat: the book holds these
    assert sync.on_diff(108, 109, 0) is DiffAction.GAP  # 107 missing
    assert sync.state == SYNCING and not sync.pending


def test_futures_chain_follows_pu_not_u():
    sync = live_sync(futures=True)
    assert sync.on_diff(95, 103, 94) is DiffAction.APPLY
    assert sync.on_diff(110, 112, 103) is DiffAction.APPLY  # U jumps, but pu == previous u
    assert sync.on_diff(113, 115, 111) is DiffAction.GAP  # pu != 112


@pytest.mark.parametrize("futures", [False, True])
def test_buffered_diffs_are_replayed_after_the_snapshot_and_stale_ones_dropped(futures):
    sync = BookSync(futures)
    diffs = [(80, 90, 79), (91, 99, 90), (95, 104, 99), (105, 110, 104), (111, 111, 110)]
    for first, final, prev in diffs:
        assert sync.on_diff(first, final, prev) is DiffAction.BUFFER
        sync.buffer(first, final, prev, payload=(first, final))
    assert sync.state == SYNCING
    result = sync.apply_snapshot(LAST)
    assert result.outcome is SnapshotOutcome.APPLIED
    assert result.stale == 2
    assert [d.payload for d in result.replay] == [(95, 104), (105, 110), (111, 111)]
    assert result.gap is None and sync.state == LIVE and sync.prev_final == 111


@pytest.mark.parametrize(("futures", "first"), [(False, 102), (True, 101)])
def test_a_snapshot_older_than_the_first_needed_diff_is_too_old_and_the_buffer_kept(futures, first):
    sync = BookSync(futures)
    sync.buffer(first, first + 5, first - 1, payload="kept")
    result = sync.apply_snapshot(LAST)
    assert result.outcome is SnapshotOutcome.TOO_OLD
    assert sync.state == SYNCING and [d.payload for d in sync.pending] == ["kept"]
    assert sync.apply_snapshot(first + 2).outcome is SnapshotOutcome.APPLIED


def test_a_gap_inside_the_buffer_keeps_the_rest_for_the_next_snapshot():
    sync = BookSync(False)
    for first, final in [(99, 101), (102, 103), (107, 108), (109, 110)]:
        sync.buffer(first, final, 0, payload=final)
    result = sync.apply_snapshot(LAST)
    assert [d.payload for d in result.replay] == [101, 103]
    assert result.gap is not None and result.gap.payload == 108
    assert sync.state == SYNCING
    assert [d.payload for d in sync.pending] == [108, 110]
    again = sync.apply_snapshot(106)
    assert [d.payload for d in again.replay] == [108, 110] and sync.state == LIVE


def test_the_buffer_is_bounded():
    sync = BookSync(False, max_buffered=3)
    for k in range(5):
        sync.buffer(10 * k + 1, 10 * k + 10, 0, payload=k)
    assert [d.payload for d in sync.pending] == [2, 3, 4] and sync.overflowed == 2
