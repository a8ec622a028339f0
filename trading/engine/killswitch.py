"""The kill switch that needs neither web nor Redis: a marker file and SIGUSR1.

`write_kill_marker()` puts `KILLED` (JSON: operator, reason, time, nonce) in the node's state
directory. The node reads it at start-up and comes back HALTED, and on SIGUSR1 (sent by
`signal_node()`) it reads it and halts and cancels at once, journaling the kill like an operator
command (`kill_command()`). Only an accepted RESUME clears the marker (`clear_kill_marker()`).

    python -m trading.engine.killswitch --var-dir VAR --node NAME [--reason TEXT] [--operator NAME]

is the same as `manage.py killswitch` without Django, for when even settings cannot load.
Never imports Django.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import pwd
import signal
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from trading.engine.control import COMMAND_CODES, VERDICT_ACCEPTED, ControlCommand, nonce_id
from trading.engine.paths import kill_marker, node_state_dir, pid_file

MAX_OPERATOR_CHARS = 150
MAX_REASON_CHARS = 500
NODE_COMMAND = "runnode"


class KillSwitchError(RuntimeError):
    """The kill could not be recorded; the message says why, in one line."""


def _check_text(value: str, what: str, limit: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isprintable():
        raise ValueError(f"{what} must be 1-{limit} printable characters")
    return value


def write_kill_marker(state_dir: Path, operator: str, reason: str) -> Path:
    """Write the marker atomically (temp file, fsync, rename, fsync the directory) and return
    its path. Creates the state directory if needed; raises KillSwitchError if it cannot."""
    _check_text(operator, "operator", MAX_OPERATOR_CHARS)
    _check_text(reason, "reason", MAX_REASON_CHARS)
    state_dir = Path(state_dir)
    now = time.time()
    marker = {
        "operator": operator,
        "reason": reason,
        "killed_at": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds"),
        "killed_at_ms": int(now * 1000),
        "nonce": uuid.uuid4().hex,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    target = kill_marker(state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".KILLED.", dir=state_dir)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(marker, handle, indent=1)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        directory = os.open(state_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        raise KillSwitchError(f"cannot write the kill marker {target}: {exc.strerror or exc}") from exc
    return target


def read_kill_marker(state_dir: Path) -> dict | None:
    """The marker, or None when there is none. Fails closed: a marker that exists but cannot be
    read or parsed still means killed, and comes back as {"invalid": why, ...}."""
    path = kill_marker(Path(state_dir))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"operator": "", "reason": "", "invalid": f"unreadable: {exc.strerror or exc}"}
    try:
        marker = json.loads(raw)
        if not isinstance(marker, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        return {"operator": "", "reason": "", "invalid": f"not valid JSON: {exc}"}
    return marker


def clear_kill_marker(state_dir: Path) -> bool:
    """Remove the marker (after an accepted RESUME); True if there was one."""
    try:
        kill_marker(Path(state_dir)).unlink()
    except FileNotFoundError:
        return False
    return True


def kill_command(marker: dict, received_ms: int) -> ControlCommand:
    """The KILL to journal for a marker (on SIGUSR1 or at start-up). operator_id 0 means "the
    local kill switch, not a console user"; the nonce is the marker's, so that the journal
    shows one kill per marker. It has no stream entry, so ControlListener.ack() skips it."""
    marker_nonce = marker.get("nonce") if isinstance(marker.get("nonce"), str) else ""
    issued = marker.get("killed_at_ms")
    operator = marker.get("operator")
    return ControlCommand(
        command="KILL",
        command_code=COMMAND_CODES["KILL"],
        operator_id=0,
        operator=operator if isinstance(operator, str) else "",
        nonce=marker_nonce,
        nonce_id=nonce_id(marker_nonce) if marker_nonce else 0,
        issued_at_ms=issued if isinstance(issued, int) else received_ms,
        request_id="killswitch",
        config_version=None,
        entry_id="",
        received_ms=received_ms,
        verdict=VERDICT_ACCEPTED,
    )


@dataclass(frozen=True)
class NodeProcess:
    """What the pid file says: state is "absent", "invalid", "stale" (no such process),
    "not-a-node" (the pid belongs to another program) or "running"."""

    state: str
    pid: int | None
    detail: str


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [arg.decode("utf-8", "replace") for arg in raw.split(b"\0") if arg]


def _is_node_of(args: list[str], node: str) -> bool:
    """The command line runs `runnode` and, if it names a node, names this one."""
    if NODE_COMMAND not in args:
        return False
    for index, arg in enumerate(args):
        if arg == "--node":
            return index + 1 < len(args) and args[index + 1] == node
        if arg.startswith("--node="):
            return arg == f"--node={node}"
    return True


def node_process(state_dir: Path) -> NodeProcess:
    path = pid_file(Path(state_dir))
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return NodeProcess("absent", None, "no node running (no pid file)")
    except OSError as exc:
        return NodeProcess("invalid", None, f"pid file {path} unreadable: {exc.strerror or exc}")
    if not text.isdigit() or not 1 < int(text) < 1 << 22:
        return NodeProcess("invalid", None, f"pid file {path} holds {text[:20]!r}, not a pid")
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return NodeProcess("stale", pid, f"stale pid file: pid {pid} is not running")
    except PermissionError:
        pass  # alive, another user's: the cmdline check decides
    args = _cmdline(pid)
    if not args:
        return NodeProcess("stale", pid, f"stale pid file: pid {pid} is not running (zombie or gone)")
    if not _is_node_of(args, Path(state_dir).name):
        shown = " ".join(args)[:80]
        return NodeProcess("not-a-node", pid, f"pid {pid} is not this node ({shown!r}), not signalled")
    return NodeProcess("running", pid, f"node running as pid {pid}")


def signal_node(state_dir: Path) -> int | None:
    """SIGUSR1 to the node that the pid file names, if it is alive and really that node; its
    pid, or None when there is none to signal (node_process() says why). Raises
    KillSwitchError when the node exists but cannot be signalled (another user's process)."""
    process = node_process(state_dir)
    if process.state != "running":
        return None
    try:
        os.kill(process.pid, signal.SIGUSR1)
    except ProcessLookupError:
        return None  # exited between the check and the signal
    except PermissionError as exc:
        raise KillSwitchError(f"cannot signal pid {process.pid}: permission denied") from exc
    return process.pid


def local_operator() -> str:
    """The Unix user running the kill switch (from the password database, not the environment)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid-{os.getuid()}"


def kill_node(state_dir: Path, *, operator: str, reason: str) -> str:
    """Write the marker, then signal the node; a one-line account of what was done. Raises
    KillSwitchError (and ValueError for bad operator/reason) when the marker was not written."""
    marker = write_kill_marker(state_dir, operator, reason)
    try:
        pid = signal_node(state_dir)
    except KillSwitchError as exc:
        return f"kill marker written to {marker}; {exc} (the node halts at its next start)"
    if pid is not None:
        return f"kill marker written to {marker}; SIGUSR1 sent to node pid {pid}"
    detail = node_process(state_dir).detail
    return f"kill marker written to {marker}; {detail}; the node will start HALTED"


def existing_state_dir(var_dir: Path, node: str) -> Path:
    """The state directory of a node that has run on this host; ValueError otherwise."""
    state_dir = node_state_dir(var_dir, node)  # ValueError for an invalid name
    if not state_dir.is_dir():
        raise ValueError(
            f"unknown node {node!r}: no state directory {state_dir} (a node creates it when it first starts)"
        )
    return state_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trading.engine.killswitch", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--var-dir", required=True, type=Path, help="the project's var directory")
    parser.add_argument("--node", required=True)
    parser.add_argument("--reason", default="kill switch")
    parser.add_argument("--operator", default=None)
    args = parser.parse_args(argv)
    try:
        state_dir = existing_state_dir(args.var_dir, args.node)
        print(kill_node(state_dir, operator=args.operator or local_operator(), reason=args.reason))
    except (ValueError, KillSwitchError) as exc:
        print(f"killswitch: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
