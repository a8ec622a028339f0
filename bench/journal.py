"""Journal benchmarks on realistic records: local append, and journal -> PostgreSQL (the sink).

    python -m bench.journal [--quick] [--records N] [--rate R] [--seconds S] [--keep-db]

Records come from the engine itself: the headline market maker (configs/mm_btcusdt_bench.json)
over the 2-day Binance BTCUSDT spot capture in node mode (journal_inputs=1: every input is a
REC_INPUT record, plus orders, fills, quotes, equity, state hashes), repeated with renumbered
seqs and shifted times to reach a few million records.

Three figures:
  append      Journal.append() latency per batch (1k and 10k records) with the fsync thread on
  catch-up    the sink draining a journal already on disk: rows/s into PostgreSQL (COPY + HWM
              + projections, one transaction per batch)
  live        a producer appending at --rate records/s for --seconds while the sink streams:
              lag = time from append() to the record being committed in PostgreSQL

Runs against the embedded PostgreSQL (or DATABASE_URL) in a scratch database created and dropped
here (schema from the project's migrations), never the project database. Prints one JSON object
per figure; `journal(quick)` returns them for `python -m bench`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.scratch_db import ScratchDatabase

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "mm_btcusdt_bench.json"
FILES = ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz")
COMMAND = "python -m bench.journal"


# --- records ----------------------------------------------------------------------------------


def engine_records() -> np.ndarray:
    """The node-mode journal of one run over the 2-day capture."""
    from atomic_ops.env import environment
    from trading.backtest.config import build_engine_setup, parse_config
    from trading.backtest.runner import build_engine, center_price, run_engine
    from trading.marketdata import load_events

    env = environment()
    config = json.loads(CONFIG.read_text())
    config.setdefault("engine", {})["hash_every"] = 10_000
    loaded = load_events([env.data_dir / f for f in FILES], "BTCUSDT", cache_dir=env.var_dir / "cache")
    setup = build_engine_setup(
        parse_config(config),
        "mm",
        loaded.instrument,
        latency_us=None,
        center_price=center_price(loaded.events),
    )
    setup.engine_params["journal_inputs"] = 1
    records, _, _ = run_engine(build_engine(setup), loaded.events)
    return records


def repeat_records(records: np.ndarray, total: int) -> np.ndarray:
    """`total` records: copies of `records` renumbered contiguously, each copy later in time."""
    span = int(records["ts_local"].max() - records["ts_local"].min()) + 1_000_000_000
    copies = -(-total // len(records))
    out = np.concatenate([records] * copies)[:total]
    copy_index = np.arange(len(out)) // len(records)
    out["seq"] = np.arange(1, len(out) + 1)
    out["ts_local"] += copy_index * span
    out["ts_event"] += copy_index * span
    return out


# --- the three measurements -----------------------------------------------------------------------


def bench_append(records: np.ndarray, directory: Path, batch: int) -> dict:
    from trading.engine.journal import Journal

    journal = Journal(directory / f"append-{batch}")
    journal.open()
    latencies = []
    t0 = time.perf_counter()
    for start in range(0, len(records) - batch + 1, batch):
        chunk = records[start : start + batch]
        t = time.perf_counter()
        journal.append(chunk)
        latencies.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    journal.wait_synced(timeout=60)
    synced_after = time.perf_counter() - t0
    journal.close()
    appended = len(latencies) * batch
    us = np.array(latencies) * 1e6
    return {
        "name": f"journal append, {batch}-record batches (96 B records, fsync thread on)",
        "command": COMMAND,
        "records": appended,
        "median_us_per_append": round(float(np.median(us)), 1),
        "p99_us_per_append": round(float(np.percentile(us, 99)), 1),
        "records_per_sec": round(appended / wall),
        "mb_per_sec": round(appended * records.dtype.itemsize / wall / 1e6, 1),
        "seconds_until_all_synced": round(synced_after, 3),
    }


def bench_catch_up(records: np.ndarray, directory: Path, db: ScratchDatabase, batch_records: int) -> dict:
    from trading.engine.journal import Journal
    from trading.journal_sink import JournalSink

    path = directory / "catch-up"
    with Journal(path) as journal:
        for start in range(0, len(records), 2_000):
            journal.append(records[start : start + 2_000])
    node = db.new_node()
    sink = JournalSink(path, node, db.url, instruments={0: "BTCUSDT"}, batch_records=batch_records)
    t0 = time.perf_counter()
    sink.start()
    ok = sink.wait_durable(len(records), timeout=600)
    wall = time.perf_counter() - t0
    stats = sink.stats()
    sink.stop()
    if not ok:
        raise SystemExit(f"sink did not catch up: {stats}")
    return {
        "name": f"journal -> PostgreSQL catch-up (sink, batches of {batch_records})",
        "command": COMMAND,
        "records": len(records),
        "seconds": round(wall, 3),
        "rows_per_sec": round(len(records) / wall),
        "transactions": stats["transactions"],
        "target": ">= 200k events/s into PostgreSQL",
    }


def bench_live(records: np.ndarray, directory: Path, db: ScratchDatabase, rate: int, seconds: float) -> dict:
    """Append at `rate` records/s in 5 ms loop turns while the sink streams; measure lag."""
    from trading.engine.journal import Journal
    from trading.journal_sink import JournalSink

    path = directory / "live"
    journal = Journal(path)
    journal.open()
    node = db.new_node()
    sink = JournalSink(
        path,
        node,
        db.url,
        instruments={0: "BTCUSDT"},
        batch_records=50_000,
        limit_seq=lambda: journal.synced_seq,
    )
    sink.start()
    turn_s = 0.005
    per_turn = max(1, int(rate * turn_s))
    turns = min(int(seconds / turn_s), len(records) // per_turn)
    appended_at = np.zeros(turns)  # monotonic time of each turn's append
    last_seq = np.zeros(turns, dtype=np.int64)
    durable_at = np.full(turns, np.nan)
    lag_records: list[int] = []
    done = threading.Event()

    def watch() -> None:
        # the time each turn's last record became durable in PostgreSQL
        next_turn = 0
        while next_turn < turns:
            durable, now = sink.durable_seq, time.monotonic()
            lag_records.append(journal.last_seq - durable)
            while next_turn < turns and last_seq[next_turn] and last_seq[next_turn] <= durable:
                durable_at[next_turn] = now
                next_turn += 1
            if done.is_set() and next_turn < turns and not last_seq[next_turn]:
                return
            time.sleep(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.monotonic()
    for turn in range(turns):
        target = start + turn * turn_s
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        chunk = records[turn * per_turn : (turn + 1) * per_turn]
        journal.append(chunk)
        appended_at[turn] = time.monotonic()
        last_seq[turn] = chunk["seq"][-1]
        sink.wake()
    produce_wall = time.monotonic() - start
    done.set()
    watcher.join(timeout=120)
    sink.stop()
    journal.close()
    lag_s = durable_at - appended_at
    if np.isnan(lag_s).any():
        raise SystemExit(f"records never became durable: {sink.stats()}")
    return {
        "name": f"journal -> PostgreSQL live lag at {rate:,} records/s",
        "command": f"{COMMAND} --rate {rate} --seconds {seconds:g}",
        "records": int(turns * per_turn),
        "achieved_records_per_sec": round(turns * per_turn / produce_wall),
        "lag_p50_ms": round(float(np.percentile(lag_s, 50)) * 1e3, 1),
        "lag_p99_ms": round(float(np.percentile(lag_s, 99)) * 1e3, 1),
        "lag_max_ms": round(float(lag_s.max()) * 1e3, 1),
        "lag_records_max": int(max(lag_records)) if lag_records else 0,
        "lag_records_median": int(statistics.median(lag_records)) if lag_records else 0,
        "target": "lag <= 1 s at >= 200k events/s, zero loss",
    }


def run(records_total: int, rate: int, seconds: float, keep_db: bool = False) -> list[dict]:
    from trading.engine.journal import read_journal

    base = engine_records()
    records = repeat_records(base, records_total)
    work = Path(tempfile.mkdtemp(prefix="bench-journal-", dir=ROOT / "var"))
    results = []
    try:
        for batch in (1_000, 10_000):
            results.append(bench_append(records, work, batch))
        with ScratchDatabase("bench_journal", keep=keep_db) as db:
            results.append(bench_catch_up(records, work, db, batch_records=50_000))
            live = records[: int(rate * seconds) + rate]
            results.append(bench_live(live, work, db, rate, seconds))
        # zero loss: what the sink read back from the segments is the engine's output, bit for bit
        back = np.concatenate(list(read_journal(work / "catch-up")))
        assert back.tobytes() == records.tobytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for row in results:
        row["source_records"] = (
            f"{len(base):,} node-mode records of the MM over the 2-day BTCUSDT capture, repeated"
        )
    return results


def journal(quick: bool) -> list[dict]:
    """Entry point for `python -m bench` (suite "journal")."""
    if quick:
        return run(records_total=1_000_000, rate=200_000, seconds=3)
    return run(records_total=3_000_000, rate=200_000, seconds=10)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND)
    parser.add_argument("--quick", action="store_true", help="1M records, 3 s live run")
    parser.add_argument("--records", type=int, default=None, help="records for append and catch-up (3M)")
    parser.add_argument("--rate", type=int, default=200_000, help="live run append rate, records/s")
    parser.add_argument("--seconds", type=float, default=None, help="live run duration (10)")
    parser.add_argument("--keep-db", action="store_true", help="keep the scratch database for inspection")
    args = parser.parse_args(argv)
    total = args.records or (1_000_000 if args.quick else 3_000_000)
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    for row in run(total, args.rate, seconds, keep_db=args.keep_db):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    from bench.stopping import exit_cleanly_on_sigterm

    exit_cleanly_on_sigterm()
    sys.exit(main(sys.argv[1:]))
