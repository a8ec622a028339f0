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
    [["--viewers", "0"], ["--viewers", "x"], ["--viewers", "5000"], ["--seconds", "1"], ["--seconds", "nan"]],
)
def test_viewers_benchmark_refuses_bad_arguments(argv, capsys):
    from bench import viewers

    with pytest.raises(SystemExit) as exit_info:
        viewers.main(argv)
    assert exit_info.value.code == 2 and "must be between" in capsys.readouterr().err
