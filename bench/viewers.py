"""Console viewers against the node: does watching slow trading?

    python -m bench.viewers [--quick] [--viewers N] [--seconds S] [--pairs K]

One running stack, measured in windows of S seconds (30) that alternate without and with N
(100) signed-in viewers on the node's live page socket, K (3) windows each, in ABBA order so
that a drift of the machine during the run falls on both sides alike. Each window's samples
are the node's raw tick-to-order histogram read at its start and end (GET /histograms, full
resolution); the windows of each side are pooled. (Two separate runs, as this benchmark did
before, differed by up to 1.8x in p99 between identical runs without viewers.)

The stack: the simulated venue replaying the BTCUSDT capture at 20x, the node quoting the
market maker with no decision throttle and publishing panels at 10 Hz, the console server
(daphne) and the panel relay, PostgreSQL and Redis. With two or more CPUs the node is alone on
the last one and everything else (venue, journal sink, console, relay, viewers, PostgreSQL,
Redis) on the others.
Figures: the node's tick-to-order percentiles per side and per window, and the frames per
second each viewer received. Target: p99 with viewers <= 1.10 x p99 without.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.node import _document, pinning_plan, services_off_the_node_cpu, start_bench_venue
from bench.scratch_db import ROOT, ScratchDatabase, project_settings

COMMAND = "python -m bench.viewers"
CONSOLE_NICE = 0  # --console-nice N: console, relay and viewers at a lower CPU priority
PAIRS = 3  # windows on each side

_SESSION_SCRIPT = """
import django, sys
django.setup()
from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
user = get_user_model().objects.create_user(username=sys.argv[1], password="bench-viewer-password")
user.groups.add(Group.objects.get(name="viewer"))
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""


def _nice_pid(pid: int, niceness: int) -> None:
    """Lower the priority of every thread of a process (nice is per thread on Linux)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, int(task), niceness)


def _pin_pid(pid: int, cpus: list[int]) -> None:
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(task), cpus)


async def _watch(
    port: int,
    node: str,
    cookie: str,
    viewers: int,
    stop: threading.Event,
    frames: list[int],
    failures: list[int],
) -> None:
    from websockets.asyncio.client import connect

    async def one(k: int) -> None:
        # viewers arrive spread over a second, as browsers do; one that is dropped reconnects
        # (as the page does) instead of ending the measurement for all the others
        await asyncio.sleep(k / max(viewers, 1))
        headers = {"Cookie": f"sessionid={cookie}", "Origin": f"http://127.0.0.1:{port}"}
        while not stop.is_set():
            try:
                async with connect(f"ws://127.0.0.1:{port}/ws/nodes/{node}/", additional_headers=headers,
                                   max_size=None, open_timeout=30) as ws:  # fmt: skip
                    while not stop.is_set():
                        try:
                            await asyncio.wait_for(ws.recv(), timeout=0.5)
                        except TimeoutError:
                            continue
                        frames[k] += 1
            except Exception:  # refused or dropped: count it, try again
                failures[0] += 1
                await asyncio.sleep(0.5)

    await asyncio.gather(*(one(k) for k in range(viewers)))


def _histogram(node, stage: str = "tick_to_order") -> dict:
    """The node's raw histogram of one stage, over its metrics port (GET /histograms)."""
    import urllib.request

    port = int((node.state_dir / "metrics.port").read_text())
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/histograms", timeout=5) as response:
        return json.loads(response.read())["stages"][stage]


def _window(before: dict, after: dict):
    """The samples recorded between two readings, as a LatencyHistogram."""
    from trading.engine.metrics import LatencyHistogram

    later = LatencyHistogram.from_counts("tick_to_order", after)
    return later.since(LatencyHistogram.from_counts("tick_to_order", before))


def _figures(hist) -> dict:
    p50, p99, p999 = hist.percentiles((50, 99, 99.9))
    return {
        "tick_to_order_p50_ns": p50,
        "tick_to_order_p99_ns": p99,
        "tick_to_order_p999_ns": p999,
        "orders": hist.count,
    }


def _schedule(pairs: int) -> list[bool]:
    """Window modes (True: with viewers) in ABBA order, so that a drift of the machine over
    the run (a noisy neighbour coming and going) falls on both sides alike."""
    modes: list[bool] = []
    for k in range(pairs):
        modes += [False, True] if k % 2 == 0 else [True, False]
    return modes


def interleaved_run(
    seconds: float, pairs: int, viewers: int, pin: bool, console_nice: int = CONSOLE_NICE
) -> dict:
    """One stack; windows of `seconds` without and with `viewers` alternate (ABBA). Each
    window's tick-to-order samples come from the node's raw histogram read at its start and
    end; the windows of each mode are pooled."""
    from tests.integration.harness import (
        Processes,
        start_node,
        start_panel_relay,
        start_web,
        subprocess_env,
    )
    from trading.engine.metrics import LatencyHistogram

    settings = project_settings()
    data_dir = Path(settings.ATOMIC_OPS["DATA_DIR"])
    var_dir = Path(settings.ATOMIC_OPS["VAR_DIR"])
    name = f"bench-{uuid.uuid4().hex[:8]}"
    logs = Path(tempfile.mkdtemp(prefix="bench-viewers-", dir=var_dir))
    pinning = pinning_plan(pin)
    others = pinning["venue_and_sink"] if pinning else None
    original_cpus = os.sched_getaffinity(0)
    pooled = {False: LatencyHistogram("without"), True: LatencyHistogram("with")}
    windows: list[dict] = []
    frames_seen = connected = 0
    failures = [0]
    with_seconds = 0.0
    with ScratchDatabase("bench_viewers") as db, services_off_the_node_cpu(pinning):
        env = subprocess_env(db.url, settings.ATOMIC_OPS["REDIS_URL"])
        env["DJANGO_SETTINGS_MODULE"] = "atomic_ops.settings.local"
        procs = Processes(env=env, logs=logs)
        stop = threading.Event()
        try:
            port = start_bench_venue(procs, data_dir, "20", pinning)
            document = _document(name, port, pinning)
            document["metrics"] = {"panel_interval_ms": 100}  # 10 Hz panels, as the console uses
            node = start_node(procs, var_dir, document, logs / "node.json")
            web = start_web(procs)
            start_panel_relay(procs)
            if others:
                for child in procs.children[2:]:  # spawned in order: venue, node, then web and relay
                    _pin_pid(child.pid, others)
                os.sched_setaffinity(0, others)  # the viewers (this process) off the node's CPU too
            if console_nice:  # the console yields the shared core to the venue and the sink
                for child in procs.children[2:]:
                    _nice_pid(child.pid, console_nice)
            cookie = subprocess.run([sys.executable, "-c", _SESSION_SCRIPT, f"viewer-{uuid.uuid4().hex[:8]}"],
                                    cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.split()[-1]  # fmt: skip
            node.wait_trading(timeout=120)
            time.sleep(5)  # past the warm-up and the first requotes
            for with_viewers in _schedule(pairs):
                frames = [0] * viewers
                stop = threading.Event()
                watcher = None
                if with_viewers:

                    def watch(stop=stop, frames=frames) -> None:
                        if console_nice:  # the viewers stand for browsers on other machines
                            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), console_nice)
                        asyncio.run(_watch(web, name, cookie, viewers, stop, frames, failures))

                    watcher = threading.Thread(target=watch, daemon=True)
                    watcher.start()
                    deadline = time.monotonic() + 20  # every viewer connected and fed
                    while min(frames) == 0 and time.monotonic() < deadline:
                        time.sleep(0.1)
                else:
                    time.sleep(2)  # the previous window's sockets closed
                before, frames_before = _histogram(node), sum(frames)
                t0 = time.monotonic()
                time.sleep(seconds)
                elapsed = time.monotonic() - t0
                after, frames_after = _histogram(node), sum(frames)
                stop.set()
                if watcher is not None:
                    watcher.join(10)
                    frames_seen += frames_after - frames_before
                    connected = min(connected or viewers, sum(1 for f in frames if f > 0))
                    with_seconds += elapsed
                window = _window(before, after)
                pooled[with_viewers].merge(window)
                windows.append({"viewers": viewers if with_viewers else 0, **_figures(window),
                                "seconds": round(elapsed, 1)})  # fmt: skip
            node.stop(timeout=60)
        finally:
            stop.set()
            procs.stop_all()
            os.sched_setaffinity(0, original_cpus)
            shutil.rmtree(var_dir / "nodes" / name, ignore_errors=True)
    shutil.rmtree(logs, ignore_errors=True)
    return {
        "without": {"viewers": 0, **_figures(pooled[False])},
        "with": {
            "viewers": viewers,
            **_figures(pooled[True]),
            "frames_per_viewer_per_sec": round(frames_seen / viewers / with_seconds, 2),
            "viewers_connected": connected,
            "viewer_connection_failures": failures[0],
        },
        "windows": windows,
        "cpu_pinning": pinning,
    }


def _panel(redis_url: str, node: str) -> dict:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        subscriber = client.pubsub()
        subscriber.subscribe(f"atomic:node:{node}:panel")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = subscriber.get_message(timeout=1.0)
            if message and message["type"] == "message":
                return json.loads(message["data"])
        raise RuntimeError("no panel from the node")
    finally:
        client.close()


def run(
    seconds: float, viewers: int, pairs: int, pin: bool = True, console_nice: int = CONSOLE_NICE
) -> list[dict]:
    result = interleaved_run(seconds, pairs, viewers, pin, console_nice)
    without, with_viewers = result["without"], result["with"]
    ratio = with_viewers["tick_to_order_p99_ns"] / max(without["tick_to_order_p99_ns"], 1)
    command = (
        COMMAND
        if (viewers, seconds, pairs) == (100, 30.0, PAIRS)
        else f"{COMMAND} --viewers {viewers} --seconds {seconds:g} --pairs {pairs}"
    ) + (f" --console-nice {console_nice}" if console_nice != CONSOLE_NICE else "")
    common = {"window_seconds": seconds, "windows_per_side": pairs, "cpu_pinning": result["cpu_pinning"],
              "command": command}  # fmt: skip
    return [
        {"name": "node tick-to-order, no console viewers (pooled windows)", **without, **common},
        {
            "name": f"node tick-to-order, {viewers} console viewers at 10 Hz (pooled windows)",
            **with_viewers,
            **common,
        },  # fmt: skip
        {"name": "node tick-to-order per window, in order", "windows": result["windows"], "command": command},
        {
            "name": "p99 with viewers / p99 without",
            "ratio": round(ratio, 3),
            "target": "<= 1.10",
            "command": command,
        },
    ]


def viewers_suite(quick: bool) -> list[dict]:
    return run(10.0 if quick else 30.0, 20 if quick else 100, 1 if quick else PAIRS)


def _positive(text: str, low: float, high: float, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{what} must be between {low:g} and {high:g}, got {text!r}")
    return value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND)
    parser.add_argument("--quick", action="store_true", help="20 viewers, 10 s windows")
    parser.add_argument("--viewers", type=lambda t: int(_positive(t, 1, 1000, "viewers")), default=None)
    parser.add_argument("--seconds", type=lambda t: _positive(t, 5, 3600, "seconds"), default=None,
                        help="length of each window (30)")  # fmt: skip
    parser.add_argument("--pairs", type=lambda t: int(_positive(t, 1, 50, "pairs")), default=None,
                        help=f"windows on each side, alternating ABBA ({PAIRS})")  # fmt: skip
    parser.add_argument("--console-nice", type=lambda t: int(_positive(t, 0, 19, "console-nice")),
                        default=CONSOLE_NICE, help="niceness of console, relay and viewers (default 0)")  # fmt: skip
    args = parser.parse_args(argv)
    viewers = args.viewers or (20 if args.quick else 100)
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    pairs = args.pairs or (1 if args.quick else PAIRS)
    for row in run(seconds, viewers, pairs, console_nice=args.console_nice):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    from bench.stopping import exit_cleanly_on_sigterm

    exit_cleanly_on_sigterm()
    sys.exit(main(sys.argv[1:]))
