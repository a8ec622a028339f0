"""Where a node keeps its local state: journal segments, snapshots, pid file, kill marker."""

from __future__ import annotations

import re
from pathlib import Path

NODE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_node_name(name: str) -> str:
    if not isinstance(name, str) or not NODE_NAME.match(name):
        raise ValueError(f"node name {name!r} must be 1-63 lowercase letters, digits, '-' or '_'")
    return name


def node_state_dir(var_dir: Path, node: str) -> Path:
    """var/nodes/<node>/ (created on demand by the node, not here)."""
    return Path(var_dir) / "nodes" / check_node_name(node)


def journal_dir(state_dir: Path) -> Path:
    return state_dir / "journal"


def snapshot_dir(state_dir: Path) -> Path:
    return state_dir / "snapshots"


def pid_file(state_dir: Path) -> Path:
    return state_dir / "node.pid"


def kill_marker(state_dir: Path) -> Path:
    return state_dir / "KILLED"
