"""Fan-out to client connections without letting one slow client hold up the venue.

Each connection has an Outbox: a bounded queue of ready frames and one writer task that sends
them in order. Producers never wait on a socket: offer() queues or, when the queue is full, drops
the connection (closed with 1008 and a log line), so memory stays bounded. At maximum replay speed
the replay instead waits for room (wait_for_room) so that clients get everything as fast as they
take it, and only a client that stays congested past a deadline is dropped.

StreamHub maps stream names to the outboxes subscribed to them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed

log = logging.getLogger(__name__)

CLOSE_POLICY = 1008


@dataclass
class DropCount:
    """Connections dropped as too slow (shared by the outboxes of one server)."""

    dropped: int = 0


class Outbox:
    def __init__(self, connection: Connection, capacity: int, label: str, drops: DropCount):
        self.connection = connection
        self.drops = drops
        self.capacity = capacity
        self.high_water = max(1, capacity // 2)
        self.label = label
        self.closed = False
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closing: asyncio.Task | None = None

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def congested(self) -> bool:
        return len(self._queue) >= self.high_water

    def offer(self, frame: bytes) -> bool:
        """Queue one text frame; False (and the connection is dropped) if the client is too slow."""
        if self.closed:
            return False
        if len(self._queue) >= self.capacity:
            self.fail(f"slow consumer: {len(self._queue)} messages not taken")
            return False
        self._queue.append(frame)
        if len(self._queue) >= self.high_water:
            self._room.clear()
        self._wake.set()
        return True

    async def wait_for_room(self, timeout: float) -> bool:
        """Wait until the queue is below its high-water mark; drop the client after `timeout` s."""
        if self.closed or not self.congested:
            return not self.closed
        try:
            await asyncio.wait_for(self._room.wait(), timeout)
        except TimeoutError:
            self.fail(f"slow consumer: no progress for {timeout:g} s")
            return False
        return not self.closed

    def fail(self, reason: str) -> None:
        """Drop the connection (once): clear the queue and close with a reason."""
        if self.closed:
            return
        self.closed = True
        self.drops.dropped += 1
        self._queue.clear()
        self._room.set()
        self._wake.set()
        log.warning("dropping %s: %s", self.label, reason)
        self._closing = asyncio.get_running_loop().create_task(
            self.connection.close(CLOSE_POLICY, reason[:120])
        )

    async def run(self) -> None:
        """The writer: send queued frames in order until the connection ends."""
        queue, send = self._queue, self.connection.send
        try:
            while not self.closed:
                if not queue:
                    self._room.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                frame = queue.popleft()
                if len(queue) < self.high_water:
                    self._room.set()
                await send(frame, text=True)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self._queue.clear()
            self._room.set()


class StreamHub:
    """Market-data subscribers by stream name."""

    def __init__(self, slow_timeout: float):
        self.slow_timeout = slow_timeout
        self._subscribers: dict[str, set[Outbox]] = {}
        self.messages_sent = 0

    def subscribe(self, outbox: Outbox, streams: Iterable[str]) -> None:
        for stream in streams:
            self._subscribers.setdefault(stream, set()).add(outbox)

    def unsubscribe(self, outbox: Outbox, streams: Iterable[str]) -> None:
        for stream in streams:
            subscribers = self._subscribers.get(stream)
            if subscribers is not None:
                subscribers.discard(outbox)

    def remove(self, outbox: Outbox) -> None:
        for subscribers in self._subscribers.values():
            subscribers.discard(outbox)

    def subscriber_count(self) -> int:
        return len({o for subscribers in self._subscribers.values() for o in subscribers})

    def publish(self, stream: str, frame: bytes) -> bool:
        """Queue `frame` for every subscriber of `stream`. True if one of them is now congested."""
        subscribers = self._subscribers.get(stream)
        if not subscribers:
            return False
        congested = False
        for outbox in list(subscribers):
            if outbox.offer(frame):
                self.messages_sent += 1
                congested = congested or outbox.congested
            else:
                self.remove(outbox)
        return congested

    async def wait_for_room(self) -> None:
        """Wait until no subscriber is congested; drop the ones that stay congested too long."""
        for outbox in {o for subscribers in self._subscribers.values() for o in subscribers}:
            if outbox.congested and not await outbox.wait_for_room(self.slow_timeout):
                self.remove(outbox)
