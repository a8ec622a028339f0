"""The kill switch without web or Redis: marker file, SIGUSR1 to the real node only, the command."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.trading.node_control.conftest import wait_for
from trading.engine import killswitch
from trading.engine.control import nonce_id
from trading.engine.killswitch import (
    KillSwitchError,
    clear_kill_marker,
    kill_command,
    node_process,
    read_kill_marker,
    signal_node,
    write_kill_marker,
)
from trading.engine.paths import kill_marker, node_state_dir, pid_file

ROOT = Path(__file__).resolve().parents[3]

# Stands in for `manage.py runnode`: records SIGUSR1 in a file (argv[1]); its argv names the node.
DUMMY = r"""
import pathlib, signal, sys, time
out = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGUSR1, lambda *_: out.write_text("SIGUSR1"))
out.with_suffix(".ready").write_text("ready")
deadline = time.time() + 60
while time.time() < deadline:
    time.sleep(0.02)
"""


@pytest.fixture
def processes():
    """Start dummy processes with `processes.start(out_file, *args)`; all killed at teardown."""
    started: list[subprocess.Popen] = []

    class Starter:
        def start(self, out: Path, *args: str) -> subprocess.Popen:
            process = subprocess.Popen([sys.executable, "-c", DUMMY, str(out), *args])
            started.append(process)
            wait_for(out.with_suffix(".ready").exists)  # the handler is installed
            return process

    yield Starter()
    for process in started:
        process.kill()
        process.wait(5)


@pytest.fixture
def var_dir(tmp_path) -> Path:
    return tmp_path / "var"


def state_dir_of(var_dir: Path, node: str) -> Path:
    state_dir = node_state_dir(var_dir, node)
    state_dir.mkdir(parents=True)
    return state_dir


def test_marker_is_written_atomically_and_read_back(var_dir):
    state_dir = node_state_dir(var_dir, "n1")  # not there yet: write creates it
    path = write_kill_marker(state_dir, "alice", "runaway quoting")
    assert path == kill_marker(state_dir) == state_dir / "KILLED"
    marker = json.loads(path.read_text())
    assert (marker["operator"], marker["reason"]) == ("alice", "runaway quoting")
    assert marker["killed_at"].endswith("+00:00") and marker["killed_at_ms"] > 1_600_000_000_000
    assert len(marker["nonce"]) == 32 and marker["pid"] == os.getpid()
    assert read_kill_marker(state_dir) == marker
    assert sorted(p.name for p in state_dir.iterdir()) == ["KILLED"], "no temp file left behind"
    second = write_kill_marker(state_dir, "bob", "again")
    assert second == path and read_kill_marker(state_dir)["operator"] == "bob"


def test_missing_corrupt_and_cleared_markers(var_dir):
    state_dir = state_dir_of(var_dir, "n2")
    assert read_kill_marker(state_dir) is None
    kill_marker(state_dir).write_text("{not json")
    corrupt = read_kill_marker(state_dir)
    assert corrupt is not None and corrupt["invalid"].startswith("not valid JSON"), (
        "a bad marker still means killed"
    )
    kill_marker(state_dir).write_text("[1, 2]")
    assert read_kill_marker(state_dir)["invalid"].startswith("not valid JSON: not a JSON object")
    assert clear_kill_marker(state_dir) is True
    assert clear_kill_marker(state_dir) is False and read_kill_marker(state_dir) is None


def test_marker_refuses_bad_operator_and_reason(var_dir):
    state_dir = state_dir_of(var_dir, "n3")
    with pytest.raises(ValueError, match="operator must be 1-150 printable"):
        write_kill_marker(state_dir, "", "x")
    with pytest.raises(ValueError, match="reason must be 1-500 printable"):
        write_kill_marker(state_dir, "alice", "line\nbreak")
    assert read_kill_marker(state_dir) is None


def test_unwritable_state_dir_is_a_clear_error(var_dir):
    state_dir = state_dir_of(var_dir, "n4")
    (state_dir / "KILLED").mkdir()  # something in the way that even root cannot replace
    (state_dir / "KILLED" / "x").write_text("")
    with pytest.raises(KillSwitchError, match=r"cannot write the kill marker .*KILLED: "):
        write_kill_marker(state_dir, "alice", "x")
    assert [p.name for p in state_dir.iterdir()] == ["KILLED"], "the temp file is cleaned up"


def test_kill_command_from_a_marker(var_dir):
    state_dir = state_dir_of(var_dir, "n5")
    write_kill_marker(state_dir, "alice", "fat finger")
    marker = read_kill_marker(state_dir)
    command = kill_command(marker, received_ms=5)
    assert command.accepted and command.command == "KILL" and command.command_code == 1
    assert command.operator_id == 0 and command.operator == "alice" and command.entry_id == ""
    assert command.nonce == marker["nonce"] and command.nonce_id == nonce_id(marker["nonce"])
    assert command.issued_at_ms == marker["killed_at_ms"]
    corrupt = kill_command({"invalid": "unreadable"}, received_ms=5)
    assert (
        corrupt.accepted and corrupt.command_code == 1 and corrupt.nonce_id == 0 and corrupt.issued_at_ms == 5
    )


def test_sigusr1_reaches_the_running_node(var_dir, processes):
    state_dir = state_dir_of(var_dir, "live")
    out = state_dir.parent / "live.out"
    node = processes.start(out, "manage.py", "runnode", "--node", "live")
    pid_file(state_dir).write_text(f"{node.pid}\n")
    assert node_process(state_dir).state == "running"
    assert signal_node(state_dir) == node.pid
    assert wait_for(lambda: out.exists() and out.read_text()) == "SIGUSR1"


@pytest.mark.parametrize("node_args", [("--node=other",), ("--node", "other"), ("--node",)])
def test_the_node_option_must_name_this_node(var_dir, processes, node_args):
    state_dir = state_dir_of(var_dir, "mine")
    out = state_dir.parent / "other.out"
    other = processes.start(out, "runnode", *node_args)
    pid_file(state_dir).write_text(str(other.pid))
    status = node_process(state_dir)
    assert status.state == "not-a-node" and f"pid {other.pid} is not this node" in status.detail
    assert signal_node(state_dir) is None
    assert other.poll() is None and not out.exists(), "another node must not get SIGUSR1"


def test_a_pid_that_is_not_a_node_is_not_signalled(var_dir, processes):
    state_dir = state_dir_of(var_dir, "reused")
    out = state_dir.parent / "stranger.out"
    stranger = processes.start(out, "something", "else")  # a pid reused by another program
    pid_file(state_dir).write_text(str(stranger.pid))
    assert node_process(state_dir).state == "not-a-node"
    assert signal_node(state_dir) is None
    assert stranger.poll() is None and not out.exists(), "the stranger must not get SIGUSR1"


def test_stale_and_invalid_pid_files_are_reported(var_dir):
    state_dir = state_dir_of(var_dir, "gone")
    assert node_process(state_dir).state == "absent" and signal_node(state_dir) is None
    dead = subprocess.Popen([sys.executable, "-c", "pass", "runnode"])
    dead.wait(10)
    pid_file(state_dir).write_text(str(dead.pid))
    status = node_process(state_dir)
    assert status.state == "stale" and status.pid == dead.pid
    assert status.detail == f"stale pid file: pid {dead.pid} is not running"
    assert signal_node(state_dir) is None
    for garbage in ("", "abc", "-5", "1", "99999999999"):
        pid_file(state_dir).write_text(garbage)
        assert node_process(state_dir).state == "invalid", garbage
        assert signal_node(state_dir) is None


def test_module_cli_works_without_django(var_dir, capsys):
    state_dir = state_dir_of(var_dir, "plain")
    assert killswitch.main(["--var-dir", str(var_dir), "--node", "plain", "--operator", "ops"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"kill marker written to {kill_marker(state_dir)}; no node running (no pid file)")
    assert read_kill_marker(state_dir)["operator"] == "ops"
    assert killswitch.main(["--var-dir", str(var_dir), "--node", "nobody"]) == 2
    assert "unknown node 'nobody'" in capsys.readouterr().err


# ---------------------------------------------------------------------------- manage.py killswitch


@pytest.fixture
def project_var(settings, var_dir) -> Path:
    settings.ATOMIC_OPS = {**settings.ATOMIC_OPS, "VAR_DIR": var_dir}
    return var_dir


def run_command(*args: str) -> str:
    stdout = io.StringIO()
    call_command("killswitch", *args, stdout=stdout)
    return stdout.getvalue()


def test_command_kills_a_running_node(project_var, processes):
    state_dir = state_dir_of(project_var, "prod-1")
    out = state_dir.parent / "prod.out"
    node = processes.start(out, "manage.py", "runnode", "--node", "prod-1")
    pid_file(state_dir).write_text(str(node.pid))
    printed = run_command("--node", "prod-1", "--reason", "venue incident", "--operator", "carol")
    assert printed == (
        f"killswitch prod-1: kill marker written to {kill_marker(state_dir)}; SIGUSR1 sent to node pid {node.pid}\n"
    )
    assert wait_for(lambda: out.exists() and out.read_text()) == "SIGUSR1"
    marker = read_kill_marker(state_dir)
    assert (marker["operator"], marker["reason"]) == ("carol", "venue incident")


def test_command_with_no_node_running_still_writes_the_marker(project_var):
    state_dir = state_dir_of(project_var, "idle")
    pid_file(state_dir).write_text("4194000")  # nothing runs there
    printed = run_command("--node", "idle")
    assert printed.count("\n") == 1
    assert "stale pid file: pid 4194000 is not running; the node will start HALTED" in printed
    marker = read_kill_marker(state_dir)
    assert marker["reason"] == "manage.py killswitch" and marker["operator"]


@pytest.mark.parametrize(
    ("node", "says"),
    [
        ("Bad Name", "node name 'Bad Name' must be 1-63 lowercase letters"),
        ("../etc", "node name '../etc' must be"),
        ("ghost", "unknown node 'ghost': no state directory"),
    ],
)
def test_command_refuses_bad_node_names(project_var, node, says):
    with pytest.raises(CommandError) as raised:
        run_command("--node", node)
    assert says in str(raised.value) and "\n" not in str(raised.value)
    assert not list(project_var.glob("**/KILLED"))


def test_command_reports_an_unwritable_state_dir(project_var):
    state_dir = state_dir_of(project_var, "stuck")
    (state_dir / "KILLED").mkdir()
    (state_dir / "KILLED" / "x").write_text("")
    with pytest.raises(CommandError, match="cannot write the kill marker"):
        run_command("--node", "stuck")


def test_command_exit_codes_in_a_real_process(tmp_path):
    """No web, no Redis needed: only the settings import, here pointed at the running servers."""
    from atomic_ops.settings import base

    var_dir = tmp_path / "var"
    node_state_dir(var_dir, "exit").mkdir(parents=True)
    env = {
        **os.environ,
        "ATOMIC_VAR_DIR": str(var_dir),
        "DATABASE_URL": base.DATABASE_URL,
        "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens there: the kill switch does not care
        "DJANGO_SETTINGS_MODULE": "atomic_ops.settings.test",
    }
    manage = [sys.executable, str(ROOT / "manage.py"), "killswitch"]
    ok = subprocess.run([*manage, "--node", "exit"], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("killswitch exit: kill marker written to ") and ok.stdout.count("\n") == 1
    assert read_kill_marker(node_state_dir(var_dir, "exit")) is not None
    bad = subprocess.run([*manage, "--node", "NOPE!"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "CommandError: node name 'NOPE!' must be 1-63 lowercase letters, digits, '-' or '_'"
    ]
