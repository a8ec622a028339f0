"""The whole node against the simulated venue replaying the real capture at maximum speed.

    python -m bench.node [--quick] [--seconds S] [--speed max|N] [--no-pin]

Real processes, as `make run` starts them: `manage.py simvenue --speed max` on the 2-day BTCUSDT
spot capture and `manage.py runnode` quoting the skewed market maker, with the journal streaming
into a scratch PostgreSQL database (migrated here, dropped afterwards) and panels on the real
Redis. With two or more CPUs the node is pinned alone to the last one and the venue, the journal
sink, PostgreSQL and Redis to the others, as a trading host would run it (`--no-pin` leaves
them to the scheduler). Figures:

  messages/s       websocket frames the node's feed processed per second (its own counter)
  tick-to-order    market-data frame received -> the order it caused written to the socket,
                   from the node's own histogram (log buckets, ~3% resolution)
  journal -> PG    records/s journaled and streamed to PostgreSQL, and the lag: for each 100 ms
                   sample, the time until PostgreSQL's high-water mark passed the seq journaled
                   at that moment (upper bound, 100 ms resolution)
  zero loss        after a clean stop, the rows in PostgreSQL equal the local segments
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from bench.scratch_db import ScratchDatabase, project_settings

ROOT = Path(__file__).resolve().parent.parent
FILES = ("hftbacktest/spot/btcusdt_20240808.gz", "hftbacktest/spot/btcusdt_20240809.gz")
COMMAND = "python -m bench.node"


def pinning_plan(pin: bool) -> dict | None:
    """With two or more CPUs: the node alone on the last one; the venue and the journal sink on
    the others (and PostgreSQL and Redis: services_off_the_node_cpu). None: nothing pinned."""
    from trading.engine.affinity import online_cpus

    cpus = sorted(online_cpus())
    if not pin or len(cpus) < 2:
        return None
    return {"node": cpus[-1:], "venue_and_sink": cpus[:-1]}


_SERVICE_NAMES = ("postgres", "redis-server")


def _service_pids() -> list[int]:
    """PostgreSQL (postmaster and backends) and Redis processes on this machine."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as handle:
                name = handle.read().strip()
        except OSError:
            continue
        if name.startswith(_SERVICE_NAMES):
            pids.append(int(entry))
    return pids


def _set_affinity(pid: int, cpus) -> None:
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread or process that ended meanwhile
            os.sched_setaffinity(int(task), cpus)


@contextlib.contextmanager
def services_off_the_node_cpu(pinning: dict | None):
    """PostgreSQL and Redis kept off the node's CPU for the measurement (new backends inherit the
    postmaster's mask), as the node's own core would be isolated on a trading host; left to the
    scheduler they moved onto the node's core whenever the other one was busy. Restored after."""
    if not pinning:
        yield
        return
    pids = _service_pids()
    before = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            before[pid] = os.sched_getaffinity(pid)
            _set_affinity(pid, pinning["venue_and_sink"])
    try:
        yield
    finally:
        everything = os.sched_getaffinity(0) | set(pinning["node"]) | set(pinning["venue_and_sink"])
        for pid in _service_pids():  # backends started meanwhile inherited the narrow mask
            with contextlib.suppress(OSError):
                _set_affinity(pid, before.get(pid, everything))


def start_bench_venue(procs, data_dir: Path, speed: str, pinning: dict | None) -> int:
    """The simulated venue on the 2-day capture, its order rate limits off (the market maker
    requotes on every tick), pinned off the node's CPU when there is a pinning plan."""
    from tests.integration.harness import start_simvenue

    venue_args = ("--cpus", ",".join(map(str, pinning["venue_and_sink"]))) if pinning else ()
    limits_off = ("--orders-per-window", "100000", "--orders-per-day", "100000000")
    return start_simvenue(procs, [data_dir / f for f in FILES], speed=speed, extra=(*limits_off, *venue_args))


def _document(name: str, port: int, pinning: dict | None) -> dict:
    from tests.integration.harness import node_document

    document = node_document(name, port)
    if pinning:
        document["affinity"] = {"node_cpus": pinning["node"], "sink_cpus": pinning["venue_and_sink"]}
    strategy = document["instruments"][0]["config"]["strategy"]
    # requote on every 1-tick move with no decision throttle: as many orders as the data causes
    strategy.update({"requote_ticks": 1, "decision_interval_ms": 0, "warmup_events": 100})
    document["metrics"] = {"panel_interval_ms": 500}
    return document


def _lag_seconds(samples: list[tuple[float, int, int]], count: int) -> list[float]:
    """For each of the first `count` (t, seq, durable_seq) samples: seconds until a later
    durable_seq reached its seq (a sample never reached is left out and shows in lag_samples)."""
    lags = []
    for i, (t, seq, _) in enumerate(samples[:count]):
        for t_later, _, durable in samples[i:]:
            if durable >= seq:
                lags.append(t_later - t)
                break
    return lags


def run(seconds: float, speed: str = "max", pin: bool = True) -> list[dict]:
    import redis

    from hotpath.risk import RR_JOURNAL
    from tests.integration.harness import (
        Processes,
        start_node,
        subprocess_env,
    )
    from trading.engine.journal import list_segments, read_journal

    settings = project_settings()
    data_dir = Path(settings.ATOMIC_OPS["DATA_DIR"])
    var_dir = Path(settings.ATOMIC_OPS["VAR_DIR"])
    redis_url = settings.ATOMIC_OPS["REDIS_URL"]
    name = f"bench-{uuid.uuid4().hex[:8]}"
    logs = Path(tempfile.mkdtemp(prefix="bench-node-", dir=var_dir))
    results: list[dict] = []
    pinning = pinning_plan(pin)
    with ScratchDatabase("bench_node") as db, services_off_the_node_cpu(pinning):
        procs = Processes(env=subprocess_env(db.url, redis_url), logs=logs)
        try:
            port = start_bench_venue(procs, data_dir, speed, pinning)
            config = logs / "node.json"
            node = start_node(procs, var_dir, _document(name, port, pinning), config)
            subscriber = redis.Redis.from_url(redis_url).pubsub()
            subscriber.subscribe(f"atomic:node:{name}:panel")
            node.wait_trading(timeout=120)
            time.sleep(1.0)  # past the start-up snapshot and first quotes
            first = node.health()
            t0 = time.monotonic()
            samples = []
            while time.monotonic() - t0 < seconds:
                health = node.health()
                samples.append((time.monotonic(), health["seq"], health["durable_seq"]))
                time.sleep(0.1)
            last = node.health()
            elapsed = time.monotonic() - t0
            window = len(samples)
            # keep sampling until PostgreSQL has passed the window's last seq: every sample its lag
            target = samples[-1][1]
            deadline = time.monotonic() + 30
            while samples[-1][2] < target and time.monotonic() < deadline:
                health = node.health()
                samples.append((time.monotonic(), health["seq"], health["durable_seq"]))
                time.sleep(0.1)
            # the newest panel: drain what is queued, then take the next one published
            panel = None
            while (message := subscriber.get_message(timeout=0.01)) is not None:
                pass
            deadline = time.monotonic() + 5
            while panel is None and time.monotonic() < deadline:
                message = subscriber.get_message(timeout=1.0)
                if message and message["type"] == "message":
                    panel = json.loads(message["data"])
            subscriber.close()
            assert node.stop(timeout=60) == 0, procs.log(name)[-3000:]
            # Zero loss: PostgreSQL holds 1..K without a hole or a repeat, and the segments still
            # hold everything after K (the sink ships it at the next start: at max speed it may be
            # behind when the node stops). Segments covered by a snapshot and PostgreSQL are pruned.
            segments = list_segments(node.state_dir / "journal")
            local = np.concatenate(list(read_journal(node.state_dir / "journal", segments[0][0])))
            last_seq = int(local["seq"][-1])
            time.sleep(1.0)
            in_pg = db.journal_seqs(name)
            durable = len(in_pg)
            zero_loss = (
                bool(np.array_equal(in_pg, np.arange(1, durable + 1)))
                and int(local["seq"][0]) <= durable + 1
                and bool(np.array_equal(local["seq"], np.arange(int(local["seq"][0]), last_seq + 1)))
            )
            halted_for_journal = last["trading_state_reason"] == RR_JOURNAL and last["trading_state"] != 0
        finally:
            procs.stop_all()
            shutil.rmtree(var_dir / "nodes" / name, ignore_errors=True)
    messages = last["feed"]["messages"] - first["feed"]["messages"]
    events = last["counters"]["events"] - first["counters"]["events"]
    orders = last["counters"]["orders"] - first["counters"]["orders"]
    records = last["seq"] - first["seq"]
    stages = panel["metrics"]["stages"] if panel else {}
    tick = stages.get("tick_to_order", {}).get("total", {})
    lags = _lag_seconds(samples, window)
    command = COMMAND if speed == "max" else f"{COMMAND} --speed {speed}"
    command += "" if pin else " --no-pin"
    common = {
        "command": command,
        "venue_speed": speed,
        "cpu_pinning": pinning,
        "window_seconds": round(elapsed, 2),
    }
    results.append(
        {
            "name": f"node feed: websocket messages processed (simvenue at {speed} speed)",
            "messages_per_sec": round(messages / elapsed),
            "engine_events_per_sec": round(events / elapsed),
            "bad_messages": last["feed"]["bad_total"],
            "gaps": last["feed"]["gaps"],
            "resyncs": last["feed"]["resyncs"],
            **common,
        }
    )
    results.append(
        {
            "name": "node tick-to-order (frame received -> order written to the socket)",
            "orders": tick.get("count", 0),
            "orders_in_window": orders,
            "p50_ns": tick.get("p50_ns"),
            "p99_ns": tick.get("p99_ns"),
            "p999_ns": tick.get("p999_ns"),
            "max_ns": tick.get("max_ns"),
            "target": "p99 <= 50 us",
            **common,
        }
    )
    for stage in ("feed_recv_to_decode", "engine", "order_send", "order_submit_to_ack"):
        total = stages.get(stage, {}).get("total", {})
        results.append(
            {
                "name": f"node stage {stage}",
                "count": total.get("count", 0),
                "p50_ns": total.get("p50_ns"),
                "p99_ns": total.get("p99_ns"),
                "p999_ns": total.get("p999_ns"),
                **common,
            }
        )
    results.append(
        {
            "name": "node journal -> PostgreSQL",
            "records_per_sec": round(records / elapsed),
            "lag_p50_s": round(float(np.median(lags)), 3) if lags else None,
            "lag_max_s": round(max(lags), 3) if lags else None,
            "lag_samples": len(lags),
            "records_total": last_seq,
            "records_in_postgres_at_stop": durable,
            "halted_for_journal_lag_at_window_end": halted_for_journal,
            "zero_loss": zero_loss,
            "target": ">= 200k events/s with lag <= 1 s; zero loss",
            **common,
        }
    )
    shutil.rmtree(logs, ignore_errors=True)
    return results


def node(quick: bool) -> list[dict]:
    """Entry point for `python -m bench` (suite "node"): throughput with the venue at maximum
    speed (on 2 cores it takes one of them), latency also with the venue paced at 20x."""
    seconds = 5.0 if quick else 20.0
    return run(seconds, "max") + run(seconds, "20")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"seconds must be between 1 and 3600, got {text!r}")
    return value


def _speed(text: str) -> str:
    if text == "max":
        return text
    try:
        factor = float(text)
    except ValueError:
        factor = float("nan")
    if not 0 < factor <= 10_000:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"speed must be 'max' or a factor in (0, 10000], got {text!r}")
    return text


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND)
    parser.add_argument("--quick", action="store_true", help="5 s window")
    parser.add_argument("--seconds", type=_seconds, default=None, help="measurement window (20)")
    parser.add_argument(
        "--speed", default="max", type=_speed, help="the venue's replay speed: max or a factor (20)"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="leave every process to the scheduler (no CPU pinning)"
    )
    args = parser.parse_args(argv)
    for row in run(args.seconds or (5.0 if args.quick else 20.0), args.speed, pin=not args.no_pin):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    from bench.stopping import exit_cleanly_on_sigterm

    exit_cleanly_on_sigterm()
    sys.exit(main(sys.argv[1:]))
