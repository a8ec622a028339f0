"""The log2 latency buckets the live panels draw: exact power-of-two bounds, the recent window."""

from __future__ import annotations

from collections import Counter

import pytest

from trading.engine.metrics import OVERFLOW, LatencyHistogram, NodeMetrics, bucket_index


def expected_buckets(samples: list[int]) -> list[list[int | None]]:
    """Independently: the smallest power of two >= the sample (16 ns at least), None above 2^36."""
    counts: Counter = Counter()
    for v in samples:
        v = max(v, 0)
        if v > 1 << 36:
            counts[None] += 1
        else:
            counts[max(16, 1 << (v - 1).bit_length() if v > 1 else 1)] += 1
    ordered = sorted(k for k in counts if k is not None)
    return [[k, counts[k]] for k in ordered] + ([[None, counts[None]]] if None in counts else [])


def test_bucket_bounds_are_upper_inclusive_powers_of_two():
    samples = [-5, 0, 1, 16, 17, 32, 33, 100, 128, 129, 1000, 65_536, 65_537, 1 << 36, (1 << 36) + 1, 10**13]
    hist = LatencyHistogram("t")
    for v in samples:
        hist.record(v)
    buckets = hist.log2_buckets()
    assert buckets == expected_buckets(samples)
    assert buckets[0] == [16, 4] and [32, 2] in buckets and [64, 1] in buckets and [1 << 36, 1] in buckets
    assert buckets[-1] == [None, 2], "above 2^36 ns: the overflow bucket"
    assert sum(n for _, n in buckets) == hist.count


def test_idle_histograms_have_no_buckets_and_many_samples_stay_compact():
    assert LatencyHistogram("idle").log2_buckets() == []
    hist = LatencyHistogram("busy")
    for v in range(1, 200_000, 7):
        hist.record(v)
    buckets = hist.log2_buckets()
    assert len(buckets) <= 34 and buckets == expected_buckets(list(range(1, 200_000, 7)))


def test_the_panel_snapshot_carries_the_recent_windows_buckets():
    m = NodeMetrics("n1", clock=lambda: 1.0)
    engine = m.stage("engine")
    for v in (1000, 1000, 3000):
        engine.record(v)
    first = m.snapshot()["stages"]
    assert first["engine"]["buckets"] == [[1024, 2], [4096, 1]]
    assert first["journal_lag"]["buckets"] == []
    engine.record(70_000)
    assert m.snapshot()["stages"]["engine"]["buckets"] == [[131_072, 1]], (
        "only the samples since the last frame"
    )
    assert m.snapshot()["stages"]["engine"]["buckets"] == []


def test_raw_counts_round_trip_and_refuse_malformed_buckets():
    hist = LatencyHistogram("stage")
    for ns in (0, 7, 16, 17, 1_000, 123_456, 10**9, 1 << 40):
        hist.record(ns)
    reading = hist.to_counts()
    again = LatencyHistogram.from_counts("stage", reading)
    assert again.bucket_counts() == hist.bucket_counts()
    assert (again.count, again.sum, again.max) == (hist.count, hist.sum, hist.max)
    assert again.percentiles((1, 50, 90, 99, 100)) == hist.percentiles((1, 50, 90, 99, 100))
    # without max_ns: the upper bound of the last non-empty bucket caps the percentiles
    capped = LatencyHistogram.from_counts("stage", {"buckets": [[bucket_index(1_000), 2]]})
    assert capped.count == 2 and 1_000 <= capped.percentile(100) < 1_000 * (1 + 1 / 32)
    assert LatencyHistogram.from_counts("stage", {"buckets": []}).percentile(99) == 0
    for bad in ([-1, 1], [OVERFLOW + 1, 1], [3, -1], [1.5, 1], ["3", 1], [True, 1], [3], [1, 2, 3], "ab", 7):
        with pytest.raises(ValueError, match="bad histogram bucket"):
            LatencyHistogram.from_counts("stage", {"buckets": [bad]})
