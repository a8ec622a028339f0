"""Backtest throughput on real data: the headline skewed market maker over Binance BTCUSDT spot.

    python -m bench.backtest cold [--repeat N]    one backtest in this (fresh) process, JSON timings
    python -m bench.backtest warm [--repeat N]    several runs in one process, JSON timings

Cold includes interpreter start-up (measured by the caller around the subprocess), imports,
loading the converted events from the .npy cache and the engine run. Warm repeats the engine
run on events already in memory. Events/s counts L2 level updates (the figure hftbacktest and
NautilusTrader report); all-events/s counts every input (depth, trades, bookTicker).
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "mm_btcusdt_bench.json"
FILES = ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz")


def data_files(data_dir: Path) -> list[Path]:
    return [data_dir / name for name in FILES]


def prepare(data_dir: Path, cache_dir: Path):
    """Load (building the .npy cache if needed) and return (events, setup)."""
    from trading.backtest.config import build_engine_setup, parse_config
    from trading.backtest.runner import center_price
    from trading.marketdata import load_events

    loaded = load_events(data_files(data_dir), "BTCUSDT", cache_dir=cache_dir)
    setup = build_engine_setup(
        parse_config(CONFIG.read_bytes()), "mm", loaded.instrument, latency_us=None,
        center_price=center_price(loaded.events),
    )  # fmt: skip
    return loaded.events, setup


def one_run(events, setup) -> dict:
    import numpy as np

    from hotpath.types import EV_DEPTH, EV_DEPTH_SNAPSHOT
    from trading.backtest.runner import build_engine, run_engine

    engine = build_engine(setup)
    records, _, wall = run_engine(engine, events)
    kinds = events["kind"]
    l2 = int(np.count_nonzero((kinds == EV_DEPTH) | (kinds == EV_DEPTH_SNAPSHOT)))
    stats = engine.stats()
    return {
        "wall_seconds": wall,
        "events": len(events),
        "l2_events": l2,
        "l2_events_per_sec": l2 / wall,
        "events_per_sec": len(events) / wall,
        "orders": stats["orders"],
        "fills": stats["fills"],
        "state_hash": f"{engine.state_hash():016x}",
        "records": len(records),
    }


def cold(args) -> dict:
    from atomic_ops.env import environment
    from trading.backtest.runner import repeat_events

    t_imports = time.perf_counter()
    env = environment()
    events, setup = prepare(env.data_dir, args.cache_dir or env.var_dir / "cache")
    events = repeat_events(events, args.repeat)
    t_loaded = time.perf_counter()
    result = one_run(events, setup)
    t_done = time.perf_counter()
    result.update(
        {
            "mode": "cold",
            "repeat": args.repeat,
            "in_process_seconds": t_done - _T_START,
            "imports_seconds": t_imports - _T_START,
            "load_seconds": t_loaded - t_imports,
        }
    )
    return result


def warm(args) -> dict:
    from atomic_ops.env import environment
    from trading.backtest.runner import repeat_events

    env = environment()
    events, setup = prepare(env.data_dir, args.cache_dir or env.var_dir / "cache")
    events = repeat_events(events, args.repeat)
    runs = [one_run(events, setup) for _ in range(args.runs)]
    hashes = {r["state_hash"] for r in runs}
    if len(hashes) != 1:
        raise SystemExit(f"non-deterministic: {hashes}")
    best = max(runs, key=lambda r: r["l2_events_per_sec"])
    return {
        "mode": "warm",
        "repeat": args.repeat,
        "runs": args.runs,
        "events": best["events"],
        "l2_events": best["l2_events"],
        "median_l2_events_per_sec": statistics.median(r["l2_events_per_sec"] for r in runs),
        "best_l2_events_per_sec": best["l2_events_per_sec"],
        "median_events_per_sec": statistics.median(r["events_per_sec"] for r in runs),
        "median_wall_seconds": statistics.median(r["wall_seconds"] for r in runs),
        "fills": best["fills"],
        "orders": best["orders"],
        "state_hash": best["state_hash"],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backtest")
    parser.add_argument("mode", choices=("cold", "warm"))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    result = cold(args) if args.mode == "cold" else warm(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    from bench.stopping import exit_cleanly_on_sigterm

    exit_cleanly_on_sigterm()
    sys.exit(main(sys.argv[1:]))
