"""The benchmark command lines refuse bad arguments before starting anything."""

from __future__ import annotations

import pytest

from bench import __main__ as bench_main
from bench import node


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


def test_make_bench_lists_the_node_suites():
    assert {"hotpath", "backtest", "journal", "node_clients", "node"} <= set(bench_main.SUITES)
