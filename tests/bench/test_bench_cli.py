"""The benchmark command lines refuse bad arguments before starting anything."""

from __future__ import annotations

import numpy as np
import pytest

from bench import __main__ as bench_main
from bench import console, node
from bench.event_rows import KIND_MIX, synthetic_records


@pytest.mark.parametrize(
    "argv",
    [
        ["--speed", "abc"],
        ["--speed", "nan"],
        ["--speed", "inf"],
        ["--speed", "-3"],
        ["--speed", "0"],
        ["--speed", ""],
        ["--seconds", "0"],
        ["--seconds", "x"],
        ["--seconds", "1e9"],
        ["--unknown"],
    ],
)
def test_node_benchmark_refuses_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        node.main(argv)
    assert exit_info.value.code == 2
    assert "error: " in capsys.readouterr().err


@pytest.mark.parametrize("value", ["max", "1", "20", "0.5", "10000"])
def test_speeds_accepted(value):
    assert node._speed(value) == value


def test_make_bench_refuses_an_unknown_suite(capsys):
    with pytest.raises(SystemExit):
        bench_main.main(["--only", "hotpath,nonsense"])
    assert "unknown suites ['nonsense']" in capsys.readouterr().err


def test_make_bench_lists_every_suite():
    assert {"hotpath", "backtest", "journal", "node_clients", "node", "console"} <= set(bench_main.SUITES)


@pytest.mark.parametrize(
    "argv", [["--rows", "5"], ["--rows", "abc"], ["--rows", str(10**9)], ["--rows", "-1"]]
)
def test_console_benchmark_refuses_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        console.main(argv)
    assert exit_info.value.code == 2 and "rows must be between" in capsys.readouterr().err


def test_synthetic_journal_rows_are_contiguous_and_mixed_like_a_node():
    records = synthetic_records(1_001, 50_000)
    assert records["seq"][0] == 1_001 and (records["seq"][1:] - records["seq"][:-1] == 1).all()
    assert (records["ts_local"][1:] > records["ts_local"][:-1]).all()
    kinds, counts = np.unique(records["kind"], return_counts=True)
    assert set(kinds.tolist()) == {kind for kind, _ in KIND_MIX}
    assert 0.83 < counts[kinds.tolist().index(19)] / len(records) < 0.89, "mostly market-data inputs"
    assert (records["order_id"][records["kind"] == 19] == 0).all() and (
        records["order_id"][records["kind"] != 19] > 0
    ).all()
    assert (synthetic_records(1_001, 10)["price"] == synthetic_records(1_001, 10)["price"]).all(), "seeded"


@pytest.mark.parametrize(
    "argv",
    [
        ["--viewers", "0"],
        ["--viewers", "x"],
        ["--viewers", "5000"],
        ["--seconds", "1"],
        ["--seconds", "nan"],
        ["--pairs", "0"],
        ["--pairs", "51"],
        ["--pairs", "two"],
    ],
)
def test_viewers_benchmark_refuses_bad_arguments(argv, capsys):
    from bench import viewers

    with pytest.raises(SystemExit) as exit_info:
        viewers.main(argv)
    assert exit_info.value.code == 2 and "must be between" in capsys.readouterr().err


def test_viewer_windows_alternate_abba_and_pool_exactly():
    from bench import viewers
    from trading.engine.metrics import LatencyHistogram

    assert viewers._schedule(1) == [False, True]
    assert viewers._schedule(3) == [False, True, True, False, False, True]
    hist = LatencyHistogram("t")
    for ns in (1_000, 2_000):
        hist.record(ns)
    before = hist.to_counts()
    for ns in (500_000, 510_000, 520_000):
        hist.record(ns)
    window = viewers._window(before, hist.to_counts())
    assert window.count == 3 and 500_000 <= window.percentile(50) < 520_000 * (1 + 1 / 32)


def test_services_are_moved_off_the_node_cpu_and_restored():
    """The benchmark's pinning of PostgreSQL and Redis (real processes of this machine)."""
    import os

    pids = node._service_pids()
    if not pids or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs PostgreSQL or Redis running and two CPUs")
    plan = node.pinning_plan(True)
    before = {pid: os.sched_getaffinity(pid) for pid in pids}
    with node.services_off_the_node_cpu(plan):
        for pid in pids:
            assert os.sched_getaffinity(pid) == set(plan["venue_and_sink"])
    for pid in pids:
        assert os.sched_getaffinity(pid) == before[pid]


def test_sigterm_unwinds_a_benchmark_run_through_its_clean_up(tmp_path):
    """A benchmark killed with SIGTERM runs its finally blocks (which stop the venue and the node
    it started) instead of dying with them still running."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    marker = tmp_path / "cleaned-up"
    script = (
        "import time\n"
        "from bench.stopping import exit_cleanly_on_sigterm\n"
        "exit_cleanly_on_sigterm()\n"
        "try:\n"
        "    print('running', flush=True)\n"
        "    time.sleep(60)\n"
        "finally:\n"
        f"    open({str(marker)!r}, 'w').write('stopped')\n"
    )
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "running"
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=10) == 128 + signal.SIGTERM
    assert marker.read_text() == "stopped"
