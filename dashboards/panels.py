"""Live panels: the node's conflated snapshots, as the console's sockets receive them.

A node publishes a snapshot about 10 times a second on Redis (`atomic:node:NAME:panel`). The
panel relay (`manage.py panelrelay`) keeps the newest one per node and forwards each to the
Channels group of that node through the Redis channel layer, whose bounded per-socket queues
drop frames for a slow browser instead of slowing anything upstream. A socket gets the newest
snapshot on connect, then only what changed, nested (deltas, computed once per frame by the
relay), each with the node's journal seq; a socket that missed a frame, and a
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


REMOVED = "-"  # in a delta object: the keys of that object that are gone (never a panel key)
_MISSING = object()


def panel_delta(previous: dict | None, current: dict) -> dict:
    """What changed from `previous` to `current` (all of `current` if there is no previous):
    where the old and the new value of a key are both objects, only what changed inside it;
    any other changed value whole (lists and scalars); the keys an object lost listed under
    "-". The page merges it back (static/js/node_socket.js, apply_panel_delta here): a stage's
    percentiles, the book and the signals change every frame, the rest of the panel rarely."""
    if previous is None:
        return dict(current)
    delta: dict = {}
    for key, value in current.items():
        old = previous.get(key, _MISSING)
        if old is _MISSING or old != value:
            delta[key] = panel_delta(old, value) if type(value) is dict and type(old) is dict else value
    removed = [key for key in previous if key not in current]
    if removed:
        delta[REMOVED] = removed
    return delta


def apply_panel_delta(panel: dict, delta: dict) -> dict:
    """Merge a panel_delta() into `panel` in place, as the page does; returns `panel`."""
    for key, value in delta.items():
        if key == REMOVED:
            for gone in value:
                panel.pop(gone, None)
            continue
        old = panel.get(key)
        if type(value) is dict and type(old) is dict:
            apply_panel_delta(old, value)
        else:
            panel[key] = value
    return panel
