"""The panel relay: node snapshots on Redis pub/sub -> newest per node + the Channels groups.

The relay computes each frame's delta once, for every viewer of the node: a frame carries its
id, the id of the frame before it and the delta already serialised, so a console socket that
holds the previous frame only forwards text (no parsing, no diff per viewer); one that missed a
frame (its queue dropped it, or it just connected) takes the newest snapshot instead.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid

import orjson
import redis.asyncio as aioredis

from dashboards.panels import (
    LAST_KEY,
    LAST_TTL_S,
    MAX_SNAPSHOT_BYTES,
    NODE_CHANNEL_PATTERN,
    node_of_channel,
    panel_delta,
    panel_group,
)

log = logging.getLogger(__name__)


class PanelRelay:
    def __init__(self, redis_url: str, channel_layer):
        self.redis_url = redis_url
        self.channel_layer = channel_layer
        self.forwarded = 0
        self.refused = 0
        # frame ids unique across relay restarts: a socket never mistakes an old id for the base
        self._epoch = uuid.uuid4().hex[:8]
        self._numbers = itertools.count(1)
        self._previous: dict[str, tuple[str, dict]] = {}  # node -> (frame id, snapshot)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; reconnects to Redis with backoff."""
        backoff = 0.1
        while not stop.is_set():
            client = aioredis.Redis.from_url(self.redis_url)
            pubsub = client.pubsub()
            try:
                await pubsub.psubscribe(NODE_CHANNEL_PATTERN)
                backoff = 0.1
                while not stop.is_set():
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    if message is not None:
                        await self.forward(client, message["channel"], message["data"])
            except (aioredis.RedisError, OSError) as exc:
                log.warning("panel relay: Redis unavailable (%s); retrying", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                await pubsub.aclose()
                await client.aclose()

    async def forward(self, client, channel, data) -> bool:
        node = node_of_channel(channel)
        if node is None or not isinstance(data, bytes) or len(data) > MAX_SNAPSHOT_BYTES:
            self.refused += 1
            return False
        try:
            snapshot = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.refused += 1
            return False
        if type(snapshot) is not dict or type(snapshot.get("seq")) is not int:
            self.refused += 1
            return False
        frame = f"{self._epoch}-{next(self._numbers)}"
        base, previous = self._previous.get(node, (None, None))
        self._previous[node] = (frame, snapshot)
        newest = orjson.dumps({"frame": frame, "panel": snapshot})
        delta = orjson.dumps(
            {"type": "delta", "seq": snapshot["seq"], "changed": panel_delta(previous, snapshot)}
        )
        await client.set(LAST_KEY.format(node=node), newest, ex=LAST_TTL_S)
        await self.channel_layer.group_send(
            panel_group(node), {"type": "panel.frame", "frame": frame, "base": base, "delta": delta.decode()}
        )
        self.forwarded += 1
        return True
