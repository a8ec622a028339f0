"""The kernel's tick-to-order stage: input receipt to the first order request written."""

from __future__ import annotations

import numpy as np

from hotpath.types import JOURNAL_RECORD_DTYPE, REC_FILL, REC_ORDER_NEW, REC_TRADING_STATE
from trading.engine.kernel import Kernel
from trading.engine.metrics import NodeMetrics


class StubEngine:
    """Drains prepared batches; the kernel's bookkeeping is what is under test."""

    trading_state = 0

    def __init__(self, batches):
        self.batches = list(batches)

    def process(self, events, start):
        return len(events)

    def drain(self):
        return self.batches.pop(0) if self.batches else np.zeros(0, dtype=JOURNAL_RECORD_DTYPE)


def batch(first_seq: int, kinds: list[int], ts_local: int) -> np.ndarray:
    out = np.zeros(len(kinds), dtype=JOURNAL_RECORD_DTYPE)
    out["seq"] = np.arange(first_seq, first_seq + len(kinds))
    out["kind"] = kinds
    out["ts_local"] = ts_local
    return out


def events(n: int, ts_local: int) -> np.ndarray:
    from hotpath.types import MARKET_EVENT_DTYPE

    out = np.zeros(n, dtype=MARKET_EVENT_DTYPE)
    out["ts_local"] = ts_local
    return out


def test_tick_to_order_uses_the_first_send_time_and_counters_sync_lazily():
    metrics = NodeMetrics("t")
    appended = []
    engine = StubEngine(
        [batch(1, [19, REC_ORDER_NEW, REC_ORDER_NEW], 1_000), batch(4, [19, REC_FILL], 5_000)]
    )
    kernel = Kernel(engine, appended.append, lambda records: 2, metrics, clock=lambda: 90_000,
                    sent_at=lambda: 31_000)  # fmt: skip
    kernel.process(events(3, 1_000))
    kernel.process(events(1, 5_000))
    hist = metrics.stage("tick_to_order")
    assert hist.count == 2
    assert hist.min == 26_000 and hist.max <= 30_000 * 1.04, "first send minus receipt, not clock()"
    assert metrics.counter("orders") == 0, "counters are mirrored by sync_counters(), not per batch"
    kernel.sync_counters()
    assert (metrics.counter("orders"), metrics.counter("fills"), metrics.counter("events")) == (2, 1, 4)
    assert metrics.counter("journal_records") == 5
    kernel.sync_counters()
    assert metrics.counter("orders") == 2, "syncing twice counts once"
    assert [len(b) for b in appended] == [3, 2]


def test_without_sent_at_the_clock_after_submit_is_used_and_state_changes_update_the_gauge():
    metrics = NodeMetrics("t")
    engine = StubEngine([batch(1, [REC_ORDER_NEW, REC_TRADING_STATE], 1_000)])
    engine.trading_state = 2
    kernel = Kernel(engine, lambda r: None, lambda records: 1, metrics, clock=lambda: 11_000)
    kernel.process(events(1, 1_000))
    assert metrics.stage("tick_to_order").min == 10_000
    assert metrics.gauge("trading_state") == 2.0
