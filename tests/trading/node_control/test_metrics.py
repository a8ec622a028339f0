"""Latency histograms (against numpy), their cost, NodeMetrics and its Prometheus text."""

from __future__ import annotations

import math
import random
import timeit
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from trading.engine import metrics as metrics_module
from trading.engine.metrics import (
    COUNTERS,
    GAUGES,
    MAX_TRACKED_NS,
    OVERFLOW,
    STAGES,
    LatencyHistogram,
    NodeMetrics,
    bucket_index,
    bucket_upper,
)

DURATIONS = st.integers(min_value=0, max_value=MAX_TRACKED_NS)
SKEWED = st.one_of(  # latencies cluster: most in one decade, a tail a few decades up
    st.integers(0, 100), st.integers(100, 50_000), st.integers(50_000, 10**8), DURATIONS
)


def histogram_of(samples) -> LatencyHistogram:
    hist = LatencyHistogram("t")
    for value in samples:
        hist.record(value)
    return hist


def test_buckets_tile_the_range_with_upper_inclusive_bounds():
    assert bucket_upper(0) == 0
    previous_upper = 0
    for index in range(1, OVERFLOW):
        upper = bucket_upper(index)
        assert upper > previous_upper
        assert bucket_index(upper) == index and bucket_index(previous_upper + 1) == index
        width = upper - previous_upper
        assert width == 1 or width * 32 <= previous_upper, f"bucket {index} is wider than 1/32 of its bound"
        previous_upper = upper
    assert previous_upper == MAX_TRACKED_NS == 1 << 36
    assert bucket_index(MAX_TRACKED_NS + 1) == OVERFLOW and bucket_index(10**15) == OVERFLOW
    assert bucket_index(0) == bucket_index(-5) == 0 and bucket_index(1) == 1 and bucket_index(64) == 64
    assert bucket_index(65) == bucket_index(66) == 65 and bucket_upper(65) == 66  # 2 ns wide above 64 ns
    for power in metrics_module.PROMETHEUS_BOUNDS_POW2:  # the published le bounds are bucket bounds
        assert bucket_upper(metrics_module._bucket_of_power(power)) == 1 << power


@settings(max_examples=300, deadline=None)
@given(
    samples=st.lists(SKEWED, min_size=1, max_size=400),
    q=st.one_of(st.sampled_from([0, 50, 90, 99, 99.9, 100]), st.floats(0, 100)),
)
def test_percentile_is_within_a_thirty_second_above_numpy(samples, q):
    hist = histogram_of(samples)
    exact = int(np.percentile(np.array(samples, dtype=np.int64), q, method="inverted_cdf"))
    estimate = hist.percentile(q)
    assert exact <= estimate, (exact, estimate)
    if exact <= 64:
        assert estimate == exact
    else:
        assert estimate - exact < exact / 32, (exact, estimate)


@settings(max_examples=100, deadline=None)
@given(st.lists(DURATIONS, min_size=1, max_size=300))
def test_count_sum_min_max_are_exact(samples):
    hist = histogram_of(samples)
    assert (hist.count, hist.sum, hist.min, hist.max) == (
        len(samples),
        sum(samples),
        min(samples),
        max(samples),
    )
    assert sum(hist.bucket_counts()) == len(samples)


@settings(max_examples=60, deadline=None)
@given(st.lists(DURATIONS, max_size=200), st.lists(DURATIONS, max_size=200))
def test_merge_equals_recording_everything(left, right):
    merged = histogram_of(left)
    merged.merge(histogram_of(right))
    both = histogram_of(left + right)
    assert merged.bucket_counts() == both.bucket_counts()
    assert merged.snapshot() == both.snapshot()


@settings(max_examples=60, deadline=None)
@given(st.lists(DURATIONS, max_size=200), st.lists(DURATIONS, min_size=1, max_size=200))
def test_since_holds_only_the_later_samples(first, later):
    hist = histogram_of(first)
    mark = hist.copy()
    for value in later:
        hist.record(value)
    delta = hist.since(mark)
    alone = histogram_of(later)
    assert delta.bucket_counts() == alone.bucket_counts()
    assert (delta.count, delta.sum) == (alone.count, alone.sum)
    for q in (50, 99, 99.9):
        assert delta.percentile(q) == pytest.approx(alone.percentile(q), rel=1 / 32)
    # The interval's min and max are bucket bounds: never inside the true range.
    assert delta.min <= alone.min and delta.max >= alone.max


def test_overflow_negative_empty_and_reset():
    hist = LatencyHistogram("t")
    assert hist.percentile(99) == 0 and hist.snapshot()["count"] == 0
    hist.record(10**12)  # 1000 s: beyond the tracked range
    hist.record(-40)  # a clock stepped back
    assert hist.negatives == 1 and hist.min == 0 and hist.max == 10**12
    assert hist.percentile(100) == 10**12 and hist.percentile(50) == 0
    assert hist.bucket_counts()[OVERFLOW] == 1
    hist.reset()
    assert hist.count == hist.sum == hist.max == hist.negatives == 0 and sum(hist.bucket_counts()) == 0
    with pytest.raises(ValueError, match="between 0 and 100"):
        hist.percentile(101)


def test_record_keeps_no_allocation():
    hist = LatencyHistogram("t")
    rng = random.Random(7)
    values = [rng.randrange(1, 10**9) for _ in range(1000)]
    record = hist.record
    tracemalloc.start()
    try:
        for value in values:
            record(value)  # warm, traced: count and sum are now traced ints of their final size
        before = tracemalloc.take_snapshot()
        tracemalloc.reset_peak()
        current_before, _ = tracemalloc.get_traced_memory()
        for _ in range(50):
            for value in values:
                record(value)
        _, peak = tracemalloc.get_traced_memory()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    only_metrics = [tracemalloc.Filter(True, metrics_module.__file__)]
    grown = [s for s in after.filter_traces(only_metrics).compare_to(before.filter_traces(only_metrics), "lineno")
             if s.size_diff > 0 or s.count_diff > 0]  # fmt: skip
    assert grown == [], "record() kept new objects alive"
    assert peak - current_before < 1024, "record() should only ever hold a few transient ints"
    assert hist.count == 51_000


def test_record_costs_under_a_microsecond():
    hist = LatencyHistogram("t")
    record = hist.record
    for value in (90, 25_000, 3_000_000, 10**11):
        per_call = min(timeit.repeat(lambda v=value: record(v), number=20_000, repeat=5)) / 20_000
        assert per_call < 1e-6, f"record({value}) costs {per_call * 1e9:.0f} ns"


def test_node_metrics_api():
    m = NodeMetrics("n1", clock=lambda: 1000.0)
    assert set(m.stages) == set(STAGES) >= {
        "feed_recv_to_decode", "decode_to_engine", "engine", "tick_to_order", "order_submit_to_ack",
        "ack_to_fill", "journal_lag", "state_hash",
    }  # fmt: skip
    assert set(COUNTERS) >= {"events", "orders", "fills", "rejects", "sequence_gaps", "resyncs", "bad_messages",
                             "control_commands", "control_refused"}  # fmt: skip
    assert set(GAUGES) >= {"trading_state", "journal_backlog", "pg_lag", "durable_seq", "feeds_connected",
                           "gateway_connected"}  # fmt: skip
    m.inc("events", 5)
    m.inc("events")
    m.set("trading_state", 2)
    assert m.counter("events") == 6 and m.gauge("trading_state") == 2
    with pytest.raises(KeyError, match="unknown counter 'event'"):
        m.inc("event")
    with pytest.raises(ValueError, match="cannot go down"):
        m.inc("events", -1)
    with pytest.raises(KeyError, match="unknown gauge"):
        m.set("mood", 1)
    with pytest.raises(TypeError, match="gauge durable_seq must be a number"):
        m.set("durable_seq", "12")
    m.set("gateway_connected", True)
    assert (
        m.gauge("gateway_connected") == 1
        and 'atomic_node_gateway_connected{node="n1"} 1\n' in m.to_prometheus()
    )
    with pytest.raises(KeyError, match="unknown stage"):
        m.stage("warp")


def test_snapshot_for_the_live_panels():
    now = [1000.0]
    m = NodeMetrics("n1", clock=lambda: now[0])
    engine = m.stage("engine")
    for value in range(1, 1001):
        engine.record(value * 1000)  # 1 µs .. 1 ms
    m.inc("fills", 3)
    m.set("durable_seq", 77)
    first = m.snapshot()
    assert first["node"] == "n1" and first["ts_ms"] == 1_000_000
    total = first["stages"]["engine"]["total"]
    assert total["count"] == 1000 and total["max_ns"] == 1_000_000 and total["min_ns"] == 1000
    assert 500_000 <= total["p50_ns"] < 500_000 * (1 + 1 / 32)
    assert 990_000 <= total["p99_ns"] < 990_000 * (1 + 1 / 32)
    assert 999_000 <= total["p999_ns"] <= 1_000_000
    assert first["stages"]["engine"]["recent"]["count"] == 1000
    assert first["counters"]["fills"] == 3 and first["gauges"]["durable_seq"] == 77
    engine.record(5_000_000)
    now[0] += 0.1  # the next frame: the since-start figures are the same object, left out of deltas
    second = m.snapshot()["stages"]["engine"]
    assert second["recent"]["count"] == 1 and second["recent"]["p50_ns"] == 5_000_000
    assert second["total"] is total and total["count"] == 1000
    now[0] = 1001.0  # a second after they were computed: refreshed
    third = m.snapshot()["stages"]["engine"]
    assert third["total"]["count"] == 1001 and third["total"]["max_ns"] == 5_000_000
    assert third["recent"]["count"] == 0
    # a stage's first samples show at once, whatever the interval
    m.stage("journal_lag").record(700)
    assert m.snapshot()["stages"]["journal_lag"]["total"]["count"] == 1


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_prometheus_text_parses_with_exact_buckets():
    m = NodeMetrics('n"1')
    samples = [100, 128, 129, 1000, 1 << 20, 1 << 36, (1 << 36) + 1, 10**13]
    hist = m.stage("order_submit_to_ack")
    for value in samples:
        hist.record(value)
    m.inc("orders", 4)
    m.inc("sequence_gaps")
    m.set("trading_state", 1)
    m.set("pg_lag", 12.5)
    text = m.to_prometheus()
    families = _families(text)

    family = families["atomic_node_stage_duration_seconds"]
    assert family.type == "histogram"
    buckets = {}
    for sample in family.samples:
        assert sample.labels["node"] == 'n"1'
        if sample.labels["stage"] != "order_submit_to_ack":
            assert sample.value == 0
            continue
        if sample.name.endswith("_bucket"):
            buckets[sample.labels["le"]] = sample.value
        elif sample.name.endswith("_count"):
            assert sample.value == len(samples)
        elif sample.name.endswith("_sum"):
            assert sample.value == pytest.approx(sum(samples) / 1e9)
    bounds = sorted((float(le), count) for le, count in buckets.items())
    assert len(bounds) == len(metrics_module.PROMETHEUS_BOUNDS_POW2) + 1
    for le, count in bounds:
        assert count == sum(1 for v in samples if v / 1e9 <= le), le  # exact: bounds are 2^k ns
    assert bounds[0][0] == pytest.approx(128e-9) and bounds[0][1] == 2
    assert bounds[-2][0] == pytest.approx(2**36 / 1e9) and bounds[-2][1] == 6
    assert bounds[-1] == (math.inf, len(samples))

    assert families["atomic_node_orders"].type == "counter"
    [orders] = families["atomic_node_orders"].samples
    assert orders.name == "atomic_node_orders_total" and orders.value == 4
    assert families["atomic_node_sequence_gaps"].samples[0].value == 1
    assert families["atomic_node_trading_state"].type == "gauge"
    assert families["atomic_node_trading_state"].samples[0].value == 1
    assert families["atomic_node_pg_lag"].samples[0].value == 12.5
    for name in COUNTERS:
        assert f"# TYPE atomic_node_{name}_total counter" in text
        assert f"# HELP atomic_node_{name}_total " in text
    for name in GAUGES:
        assert f"# TYPE atomic_node_{name} gauge" in text
