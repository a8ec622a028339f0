"""The console's event-log browser on a big journal.

    python -m bench.console [--quick] [--rows N]

A scratch PostgreSQL database (migrated here, dropped afterwards) gets N journal rows (10
million by default; 1 million with --quick) for one node, by binary COPY as the journal sink
writes them: synthetic node output, 86 % market-data inputs and the rest orders, cancels and
fills (bench/event_rows.py). Then a viewer's requests for event-log pages go through the whole
Django stack (URL routing, session, permission check, form validation, the keyset query,
template rendering) in a subprocess whose settings point at that database, and each request
is timed: the newest page, deep pages at random positions, kind / client-order / time / seq
filters with their own deep pages. Target: any page <= 150 ms at p95.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

import numpy as np

from bench.scratch_db import ROOT, ScratchDatabase

COMMAND = "python -m bench.console"
CHUNK = 1_000_000


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def measure(node_name: str, rows: int, requests_per_kind: int) -> dict:
    """Runs in the subprocess (DATABASE_URL = the scratch database)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atomic_ops.settings.local")
    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from bench.event_rows import T0

    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    user = get_user_model().objects.create_user(username=f"bench-viewer-{time.time_ns()}", password="x" * 16)
    user.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(user)
    rng = random.Random(11)
    span_s = rows * 50_000 / 1e9

    def at(offset_s: float) -> str:
        import datetime as dt

        return dt.datetime.fromtimestamp(T0 / 1e9 + offset_s, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    kinds = {
        "newest page": dict,
        "deep page (random position)": lambda: {"before": rng.randint(100, rows)},
        "kind = FILL, deep": lambda: {"kind": 10, "before": rng.randint(100, rows)},
        "kind = CANCEL_SENT, newest": lambda: {"kind": 6},
        "client order id": lambda: {"order_id": rng.randint(1, rows // 40)},
        "seq range of 1,000": lambda: (lambda a: {"seq_from": a, "seq_to": a + 999})(
            rng.randint(1, rows - 1000)
        ),
        "time range of 10 s": lambda: (lambda t: {"since": at(t), "until": at(t + 10)})(
            rng.uniform(0, span_s - 10)
        ),
    }
    results = {}
    every = []
    for name, params in kinds.items():
        client.get("/events/", {"node": node_name, **params()})  # warm this query's plan and pages
        samples = []
        for _ in range(requests_per_kind):
            query = {"node": node_name, **params()}
            t0 = time.perf_counter()
            response = client.get("/events/", query)
            samples.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200 and b'id="filter-error"' not in response.content, query
        every += samples
        results[name] = {"p50_ms": round(statistics.median(samples), 1), "p95_ms": round(_percentile(samples, 95), 1),
                         "max_ms": round(max(samples), 1), "requests": len(samples)}  # fmt: skip
    results["all pages"] = {"p50_ms": round(statistics.median(every), 1), "p95_ms": round(_percentile(every, 95), 1),
                            "max_ms": round(max(every), 1), "requests": len(every)}  # fmt: skip
    return results


def run(rows: int, requests_per_kind: int) -> list[dict]:
    from bench.event_rows import load_events, synthetic_records

    with ScratchDatabase("bench_console") as db:
        node_id = db.new_node()
        import psycopg

        with psycopg.connect(db.url) as conn:
            node_name = conn.execute("SELECT name FROM trading_node WHERE id = %s", (node_id,)).fetchone()[0]
        t0 = time.perf_counter()
        for start in range(1, rows + 1, CHUNK):
            count = min(CHUNK, rows + 1 - start)
            load_events(db.url, node_id, synthetic_records(start, count))
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE trading_event")
        load_seconds = time.perf_counter() - t0
        env = dict(os.environ, DATABASE_URL=db.url, DJANGO_SETTINGS_MODULE="atomic_ops.settings.local")
        out = subprocess.run(
            [sys.executable, "-m", "bench.console", "--measure", node_name, "--rows", str(rows),
             "--requests", str(requests_per_kind)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        measured = json.loads(out.stdout.strip().splitlines()[-1])
    command = COMMAND if rows == 10_000_000 else f"{COMMAND} --rows {rows}"
    rows_out = []
    for name, figures in measured.items():
        rows_out.append({"name": f"event browser on {rows:,} events: {name}", **figures, "command": command,
                         "target": "p95 <= 150 ms" if name == "all pages" else ""})  # fmt: skip
    rows_out[-1]["load_seconds"] = round(load_seconds, 1)
    return rows_out


def console(quick: bool) -> list[dict]:
    return run(1_000_000 if quick else 10_000_000, 10 if quick else 40)


def _rows(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 10_000 <= value <= 100_000_000:
        raise argparse.ArgumentTypeError(f"rows must be between 10000 and 100000000, got {text!r}")
    return value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND)
    parser.add_argument("--quick", action="store_true", help="1 million events, fewer requests")
    parser.add_argument("--rows", type=_rows, default=None, help="events in the journal (10 million)")
    parser.add_argument("--requests", type=int, default=40, help=argparse.SUPPRESS)
    parser.add_argument("--measure", metavar="NODE", help=argparse.SUPPRESS)  # the subprocess step
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.rows or 10_000_000, args.requests)))
        return 0
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    for row in run(rows, 10 if args.quick else args.requests):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    from bench.stopping import exit_cleanly_on_sigterm

    exit_cleanly_on_sigterm()
    sys.exit(main(sys.argv[1:]))
