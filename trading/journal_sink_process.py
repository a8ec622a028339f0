"""The journal sink in a child process: same interface as JournalSink, none of its GIL.

In the node's process the sink thread (COPY encoding, psycopg, segment scans) competed with the
event loop for the GIL, and every syscall the loop made (socket writes, journal appends) could
hand the GIL to the sink for a whole switch interval: milliseconds on the tick-to-order path.
The sink only reads the segments and writes PostgreSQL, so it runs just as well next door.

Shared memory carries the state both ways: the node writes the seq the segments are fsync'ed to
(the sink never ships past it) and a stop flag; the child publishes durable/visible seqs, health,
counters and the last error. The child dies with the node (PR_SET_PDEATHSIG, and a parent check):
a SIGKILLed node never leaves a second sink shipping its journal. Shipping is idempotent, so
a child killed mid-batch loses nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from trading.engine.affinity import check_cpus, require_online

log = logging.getLogger(__name__)

# slots of the shared int64 array
LIMIT, STOP, DURABLE, VISIBLE, HEALTHY, ROWS, TRANSACTIONS, FAILURES, LAST_COMMIT_US, ALIVE = range(10)
SLOTS = 10
ERROR_BYTES = 1024
PUBLISH_INTERVAL_S = 0.002
PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    with contextlib.suppress(Exception):  # Linux only; the parent check below covers the rest
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _child_main(
    journal_dir, node_id, conninfo, instruments, options, shared, error, parent_pid, cpus
) -> None:
    _die_with_parent(parent_pid)
    if cpus:  # before any thread exists: the sink's threads inherit it
        from trading.engine.affinity import pin_process

        pin_process(cpus, "journal sink")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the node handles ^C and then stops us
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from trading.journal_sink import JournalSink

    sink = JournalSink(
        Path(journal_dir),
        node_id,
        conninfo,
        instruments=instruments,
        limit_seq=lambda: shared[LIMIT],
        **options,
    )
    sink.start()
    last_error = b""
    try:
        while not shared[STOP]:
            if os.getppid() != parent_pid:
                break
            stats = sink.stats()
            shared[DURABLE] = stats["durable_seq"]
            shared[VISIBLE] = stats["written_seq"]
            shared[HEALTHY] = 1 if stats["healthy"] else 0
            shared[ROWS] = stats["rows"]
            shared[TRANSACTIONS] = stats["transactions"]
            shared[FAILURES] = stats["failures"]
            since = stats["seconds_since_commit"]
            if since is not None:  # CLOCK_MONOTONIC is one clock for every process on the host
                shared[LAST_COMMIT_US] = int((time.monotonic() - since) * 1e6)
            message = stats["last_error"].encode("utf-8", "replace")[: ERROR_BYTES - 1]
            if message != last_error:
                error.value = last_error = message
            shared[ALIVE] = 1
            time.sleep(PUBLISH_INTERVAL_S)
    finally:
        sink.stop(timeout=10.0)
        shared[DURABLE] = sink.durable_seq
        shared[VISIBLE] = sink.written_seq
        shared[ALIVE] = 0


class JournalSinkProcess:
    """JournalSinkProcess(journal_dir, node_id, conninfo, *, instruments, limit_seq, cpus, **options):
    a JournalSink running in a child process. start() / stop(timeout) / wake(); durable_seq, lag,
    written_seq, healthy, last_error, stats(), wait_durable() read the child's published state."""

    def __init__(
        self,
        journal_dir: Path,
        node_id: int,
        conninfo: str,
        *,
        instruments: dict[int, str] | None = None,
        limit_seq: Callable[[], int] | None = None,
        cpus: frozenset[int] | None = None,
        **options,
    ):
        if not isinstance(node_id, int) or node_id < 1:
            raise ValueError(f"node_id must be a positive int, got {node_id!r}")
        if not conninfo or not isinstance(conninfo, str):
            raise ValueError("conninfo must be a libpq connection string or URI")
        if cpus is not None:  # refused here, in the node, rather than by a child that dies at start
            cpus = require_online(check_cpus(cpus, "journal sink cpus"), "journal sink cpus")
        self.cpus = cpus
        self.journal_dir = Path(journal_dir)
        self.node_id = node_id
        self._conninfo = conninfo
        self._instruments = {int(k): str(v) for k, v in (instruments or {}).items()}
        self._options = options
        self._limit_seq = limit_seq
        # spawn, not fork: the node has threads (fsync, control) and an event loop
        self._context = multiprocessing.get_context("spawn")
        self._shared = self._context.RawArray(ctypes.c_int64, SLOTS)
        self._error = self._context.RawArray(ctypes.c_char, ERROR_BYTES)
        self._process: multiprocessing.process.BaseProcess | None = None
        if limit_seq is None:
            self._shared[LIMIT] = 1 << 62

    def _push_limit(self) -> None:
        if self._limit_seq is not None:
            self._shared[LIMIT] = self._limit_seq()

    # --- published state (each read also passes on how far the segments are fsync'ed)

    @property
    def durable_seq(self) -> int:
        self._push_limit()
        return self._shared[DURABLE]

    @property
    def written_seq(self) -> int:
        return self._shared[VISIBLE]

    @property
    def lag(self) -> int:
        self._push_limit()
        return max(0, self._shared[VISIBLE] - self._shared[DURABLE])

    @property
    def healthy(self) -> bool:
        return bool(self._shared[HEALTHY]) and self.alive

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def last_error(self) -> str:
        if self._process is not None and not self._process.is_alive() and not self._shared[STOP]:
            return f"the journal sink process exited with code {self._process.exitcode}"
        return self._error.value.decode("utf-8", "replace")

    def stats(self) -> dict:
        last_commit = self._shared[LAST_COMMIT_US] / 1e6
        return {
            "durable_seq": self._shared[DURABLE],
            "written_seq": self._shared[VISIBLE],
            "lag": self.lag,
            "healthy": self.healthy,
            "last_error": self.last_error,
            "rows": self._shared[ROWS],
            "transactions": self._shared[TRANSACTIONS],
            "failures": self._shared[FAILURES],
            "seconds_since_commit": time.monotonic() - last_commit if last_commit else None,
            "pid": self._process.pid if self._process is not None else None,
        }

    # --- lifecycle

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("the journal sink was already started")
        self._push_limit()
        self._process = self._context.Process(
            target=_child_main,
            args=(
                str(self.journal_dir),
                self.node_id,
                self._conninfo,
                self._instruments,
                self._options,
                self._shared,
                self._error,
                os.getpid(),
                self.cpus,
            ),
            name=f"journal-sink:{self.node_id}",
            daemon=True,
        )
        self._process.start()

    def restart_if_dead(self) -> bool:
        """A child that died on its own (not stopped) is started again: True if it was."""
        if self._process is None or self._process.is_alive() or self._shared[STOP]:
            return False
        log.error("journal sink process for node %s exited with %s: restarting it", self.node_id,
                  self._process.exitcode)  # fmt: skip
        self._process.join(0)
        self._process = None
        self._shared[HEALTHY] = 0
        self.start()
        return True

    def wake(self) -> None:
        """After an append: pass on the fsync'ed seq (the child polls; no syscall here)."""
        self._push_limit()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop after the batch in flight; True if the child has ended."""
        self._push_limit()
        self._shared[STOP] = 1
        if self._process is None:
            return True
        self._process.join(timeout)
        if self._process.is_alive():
            log.warning("journal sink process for node %s did not stop: killing it", self.node_id)
            self._process.kill()
            self._process.join(2.0)
        return not self._process.is_alive()

    def wait_durable(self, seq: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.durable_seq < seq:
            if time.monotonic() >= deadline or not self.alive:
                return False
            time.sleep(0.005)
        return True
