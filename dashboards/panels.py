"""Live panels: the node's conflated snapshots, as the console's sockets receive them.

A node publishes a snapshot about 10 times a second on Redis (`atomic:node:NAME:panel`). The
panel relay (`manage.py panelrelay`) keeps the newest one per node and forwards each to the
Channels group of that node through the Redis channel layer, whose bounded per-socket queues
drop frames for a slow browser instead of slowing anything upstream. A socket gets the newest
snapshot on connect, then only the top-level sections that changed (deltas, computed once per
frame by the relay), each with the node's journal seq; a socket that missed a frame, and a
reconnecting browser, simply start again from the newest snapshot.
"""

from __future__ import annotations

import re

NODE_CHANNEL_PATTERN = "atomic:node:*:panel"
NODE_CHANNEL = re.compile(r"^atomic:node:([a-z0-9][a-z0-9_-]{0,62}):panel$")  # trading.engine.paths.NODE_NAME
LAST_KEY = "atomic:node:{node}:panel:last"
LAST_TTL_S = 30  # a node silent for longer has no "newest" snapshot: the page says so
MAX_SNAPSHOT_BYTES = 4 << 20


def panel_group(node: str) -> str:
    return f"panel.{node}"


def node_of_channel(channel: str | bytes) -> str | None:
    if isinstance(channel, bytes):
        channel = channel.decode("ascii", "replace")
    match = NODE_CHANNEL.match(channel)
    return match.group(1) if match else None


def panel_delta(previous: dict | None, current: dict) -> dict:
    """The top-level sections of `current` that differ from `previous` (all of them if none)."""
    if previous is None:
        return dict(current)
    return {key: value for key, value in current.items() if previous.get(key) != value}
