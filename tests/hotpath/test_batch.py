"""hotpath.batch.scan_records against a plain-Python reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotpath.batch import scan_records
from hotpath.types import JOURNAL_RECORD_DTYPE, MARKET_EVENT_DTYPE


def reference(seqs: list[int], kinds: list[int], n_kinds: int):
    counts = [0] * n_kinds
    for kind in kinds:
        if kind < n_kinds:
            counts[kind] += 1
    contiguous = all(seq == seqs[0] + i for i, seq in enumerate(seqs)) if seqs else True
    first = seqs[0] if seqs else 0
    last = seqs[-1] if seqs else 0
    return (len(seqs), first, last, contiguous), counts


def records_of(seqs, kinds):
    out = np.zeros(len(seqs), dtype=JOURNAL_RECORD_DTYPE)
    out["seq"] = seqs
    out["kind"] = kinds
    return out


@given(
    st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(0, 65535)), max_size=50),
    st.integers(0, 40),
)
def test_matches_the_reference_on_any_batch(pairs, n_kinds):
    seqs = [p[0] for p in pairs]
    kinds = [p[1] for p in pairs]
    counts = np.full(n_kinds, 7, dtype=np.int64)  # adds into what is there
    result = scan_records(records_of(seqs, kinds), counts)
    expected, expected_counts = reference(seqs, kinds, n_kinds)
    assert result == expected
    assert counts.tolist() == [7 + c for c in expected_counts]


@given(st.integers(-(2**62), 2**62), st.integers(1, 300))
def test_contiguous_runs_are_recognised(first, count):
    seqs = list(range(first, first + count))
    assert scan_records(records_of(seqs, [3] * count)) == (count, first, first + count - 1, True)


@pytest.mark.parametrize("seqs", [[1, 3], [1, 2, 2, 3], [5, 4], [1, 2, 4, 5], [2**63 - 1, -(2**63)]])
def test_holes_repeats_and_wraps_are_not_contiguous(seqs):
    assert scan_records(records_of(seqs, [0] * len(seqs)))[3] is False


def test_empty_batch():
    counts = np.zeros(4, dtype=np.int64)
    assert scan_records(records_of([], []), counts) == (0, 0, 0, True)
    assert counts.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(3, dtype=MARKET_EVENT_DTYPE),
        np.zeros((2, 2), dtype=JOURNAL_RECORD_DTYPE),
        np.zeros(96 * 2, dtype=np.uint8),
        [1, 2, 3],
        None,
        b"x" * 96,
    ],
)
def test_anything_but_a_record_array_is_refused(bad):
    with pytest.raises(TypeError):
        scan_records(bad)


def test_a_strided_view_is_refused_not_misread():
    records = records_of([1, 2, 3, 4], [0, 0, 0, 0])
    with pytest.raises((BufferError, ValueError)):
        scan_records(records[::2])


def test_counts_must_be_int64():
    with pytest.raises(ValueError):
        scan_records(records_of([1], [0]), np.zeros(4, dtype=np.int32))
