"""CPU pinning of the node, its journal sink process and the simulated venue."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.integration.harness import ROOT
from trading.engine.affinity import (
    MAX_CPU,
    AffinityError,
    check_cpus,
    online_cpus,
    parse_cpu_list,
    require_online,
)

ONLINE = sorted(online_cpus())


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0", {0}), ("0,2", {0, 2}), ("0-3", {0, 1, 2, 3}), (" 1 , 4-5 ", {1, 4, 5}), ("1023", {1023})],
)
def test_cpu_lists_in_the_taskset_format(text, cpus):
    assert parse_cpu_list(text) == frozenset(cpus)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a CPU list"),
        ("   ", "expected a CPU list"),
        ("x", "'x' is not a CPU number"),
        ("1,,2", "'' is not a CPU number"),
        ("-1", "'-1' is not a CPU number"),
        ("3-1", "'3-1' is not a CPU number or range"),
        ("0-99999999999", "is not a CPU number or range"),
        ("1024", "1024 is not a CPU number"),
        ("0,0", "listed twice"),
        ("0-2,1", "listed twice"),
        ("1e3", "is not a CPU number"),
        ("0" * 300, "expected a CPU list"),
        ("٣", "is not a CPU number"),  # int() would read this Arabic-Indic digit as 3
        ("+1", "is not a CPU number"),
        ("0x1", "is not a CPU number"),
    ],
)
def test_bad_cpu_lists_are_refused(text, message):
    with pytest.raises(AffinityError, match=message):
        parse_cpu_list(text)


@pytest.mark.parametrize(
    "value", [[], [True], [-1], [MAX_CPU + 1], [1.0], ["1"], "01", None, 5, [0, 0], [None]]
)
def test_check_cpus_refuses_what_is_not_a_set_of_cpu_numbers(value):
    with pytest.raises(AffinityError):
        check_cpus(value)


def test_cpus_that_are_not_online_are_refused_not_silently_dropped():
    assert require_online(frozenset(ONLINE), "x") == frozenset(ONLINE)
    # the kernel would accept {0, 1023} and quietly run on 0 alone
    with pytest.raises(AffinityError, match="CPU 1023 is not online"):
        require_online(frozenset({ONLINE[0], 1023}), "node")


PIN_SCRIPT = textwrap.dedent(
    """
    import os, sys, threading
    from trading.engine.affinity import pin_process
    started = threading.Event(); release = threading.Event()
    def wait():
        started.set(); release.wait()
    early = threading.Thread(target=wait); early.start(); started.wait()
    pin_process(frozenset({int(sys.argv[1])}))
    later_mask = []
    late = threading.Thread(target=lambda: later_mask.append(sorted(os.sched_getaffinity(0))))
    late.start(); late.join()
    masks = {int(t): sorted(os.sched_getaffinity(int(t))) for t in os.listdir("/proc/self/task")}
    release.set(); early.join()
    print(masks, later_mask)
    """
)


def test_pin_process_moves_every_thread_including_those_started_before_and_after():
    cpu = ONLINE[-1]
    out = subprocess.run(
        [sys.executable, "-c", PIN_SCRIPT, str(cpu)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    masks, later = out.stdout.strip().rsplit(" ", 1)
    masks = eval(masks)  # a dict literal printed by our own script
    assert len(masks) >= 2, "the main thread and the thread started before pinning"
    assert all(mask == [cpu] for mask in masks.values()), masks
    assert eval(later) == [[cpu]], "a thread started after pinning inherits it"
