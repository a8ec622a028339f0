"""What one live-panel frame costs the node's own loop (it runs ten times a second there):
the metrics snapshot (per-stage percentiles, recent window, log2 buckets) and the engine
read-outs of the panel, after a real BTCUSDT run; and the frame's size.

    python -m bench.panel_frame [--quick]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import orjson

COMMAND = "python -m bench.panel_frame"
CAPTURE = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
)


def _best_us(fn, rounds: int, per_round: int) -> dict:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(per_round):
            fn()
        times.append((time.perf_counter_ns() - t0) / per_round / 1000)
    return {"median_us": round(float(np.median(times)), 1), "best_us": round(min(times), 1)}


def panel_frame(quick: bool) -> list[dict]:
    from trading.backtest.config import build_engine_setup, parse_config
    from trading.backtest.runner import build_engine, center_price, run_engine
    from trading.engine.metrics import STAGES, NodeMetrics
    from trading.instruments import InstrumentRegistry
    from trading.marketdata import load_events

    rng = random.Random(7)
    metrics = NodeMetrics("bench")
    for name in STAGES:  # a node some minutes in: every stage has history
        histogram = metrics.stage(name)
        for _ in range(5000):
            histogram.record(int(rng.lognormvariate(11, 1.2)))

    rounds, per_round = (3, 20) if quick else (7, 100)
    samples = [int(rng.lognormvariate(11, 1.2)) for _ in range(20)]
    times = []
    for _ in range(rounds * per_round):
        for name in STAGES:  # what ~100 ms of trading adds between two frames (not timed)
            histogram = metrics.stage(name)
            for value in samples:
                histogram.record(value)
        t0 = time.perf_counter_ns()
        metrics.snapshot()
        times.append((time.perf_counter_ns() - t0) / 1000)
    rows = [{
        "name": "node metrics snapshot per panel frame (10 stages, 20 new samples each)",
        "median_us": round(float(np.median(times)), 1),
        "p99_us": round(float(np.percentile(times, 99)), 1),
        "frame_metrics_bytes": len(orjson.dumps(metrics.snapshot())),
        "command": COMMAND,
    }]  # fmt: skip

    spec = InstrumentRegistry().get("BTCUSDT", "spot")
    events = load_events([CAPTURE], "BTCUSDT").events[: 100_000 if quick else 300_000]
    config = parse_config({"strategy": {"order_qty": "0.001", "max_position": "0.01"}})
    engine = build_engine(
        build_engine_setup(config, "mm", spec, latency_us=None, center_price=center_price(events))
    )
    run_engine(engine, events)

    def readouts() -> None:
        engine.position(0), engine.book(0, 20), engine.signals(0), engine.quotes(0)
        (
            engine.risk_usage(0),
            engine.strategy_state(0),
            engine.risk_status(),
            engine.stats(),
            engine.live_orders(),
        )

    rows.append({"name": "engine read-outs of one panel frame (one instrument)", **_best_us(readouts, rounds, per_round),
                 "command": COMMAND})  # fmt: skip
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    for row in panel_frame(args.quick):
        print(orjson.dumps(row).decode())
    return 0


if __name__ == "__main__":
    from bench.stopping import exit_cleanly_on_sigterm

    exit_cleanly_on_sigterm()
    sys.exit(main(sys.argv[1:]))
