"""Fixtures of the console tests: a node row with a stand-in node acknowledging its commands."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from tests.trading.console.standin import StandInNode
from trading.engine.control import ack_stream, control_stream


@pytest.fixture
def redis_url():
    from django.conf import settings

    return settings.ATOMIC_OPS["REDIS_URL"]


@pytest.fixture
def stand_in_node(redis_url):
    """stand_in_node(prefix, create) -> a started StandInNode for a fresh node name; `create(name)`
    makes the node's database row first. Stopped, and its Redis keys deleted, at teardown."""
    started: list[StandInNode] = []

    def make(prefix: str, create) -> StandInNode:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        create(name)
        stand_in = StandInNode(redis_url, name).start()
        time.sleep(0.05)  # the listener's cursor is placed before anything is sent
        started.append(stand_in)
        return stand_in

    yield make
    client = redis.Redis.from_url(redis_url)
    for stand_in in started:
        stand_in.stop()
        name = stand_in.name
        client.delete(control_stream(name), ack_stream(name), f"atomic:node:{name}:panel:last")
    client.close()
