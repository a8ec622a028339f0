"""SIGTERM for a benchmark run: exit through the finally blocks.

Python's default SIGTERM action ends the process at once, so the processes a benchmark started
(the simulated venue at full speed, the node, daphne) kept running and skewed every later
measurement. Raised as SystemExit, the signal unwinds the run and its clean-up stops them.
"""

from __future__ import annotations

import signal


def exit_cleanly_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, _exit)


def _exit(signum, frame) -> None:
    raise SystemExit(128 + signum)
