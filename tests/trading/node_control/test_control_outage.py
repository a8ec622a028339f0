"""The listener outlives Redis: a throwaway redis-server is killed and restarted under it."""

from __future__ import annotations

import time

import redis

from tests.trading.node_control.conftest import wait_for
from trading.engine.control import (
    REPLAYED,
    ControlCommand,
    ControlListener,
    ack_stream,
    control_stream,
    decode_ack,
    send_command,
)


def wire_fields(command: ControlCommand) -> dict[str, str]:
    """The wire fields of a command as received (to re-send it)."""
    return {
        "command": command.command,
        "operator_id": str(command.operator_id),
        "operator": command.operator,
        "nonce": command.nonce,
        "issued_at_ms": str(command.issued_at_ms),
        "request_id": command.request_id,
    }


def test_listener_survives_a_redis_restart(throwaway_redis, listeners):
    listener = listeners.start(throwaway_redis.url, "outage", block_ms=50)
    wait_for(lambda: listener.connected)
    assert (
        send_command(
            throwaway_redis.url, "outage", "REDUCE_ONLY", operator_id=1, operator="a", wait_ack=False
        )
        is None
    )
    [before] = wait_for(listener.poll)
    assert before.command == "REDUCE_ONLY" and before.accepted
    # An entry id ten minutes ahead (as from a server whose clock ran fast) moves the cursor
    # beyond every id the restarted server will hand out: the listener must notice.
    client = redis.Redis.from_url(throwaway_redis.url)
    ahead_ms = int(time.time() * 1000) + 600_000
    client.xadd(control_stream("outage"), wire_fields(before), id=f"{ahead_ms}-0")
    client.close()
    [replayed] = wait_for(listener.poll)
    assert replayed.entry_id == f"{ahead_ms}-0" and replayed.verdict.kind == REPLAYED

    throwaway_redis.kill()
    wait_for(lambda: not listener.connected)
    reconnects = listener.reconnects
    # Meanwhile the kernel keeps polling and acking without ever waiting on Redis.
    started = time.perf_counter()
    assert listener.poll() == []
    listener.ack(before, accepted=True, trading_state=1, seq=3)
    assert time.perf_counter() - started < 0.005
    time.sleep(0.3)
    assert listener.reconnects > reconnects, "the listener keeps retrying while Redis is down"
    assert all(t.is_alive() for t in listener._threads)

    throwaway_redis.start()  # a fresh server: the streams are gone, the ack is still queued
    wait_for(lambda: listener.connected, timeout_s=10)
    client = redis.Redis.from_url(throwaway_redis.url)
    try:
        wait_for(lambda: client.xlen(ack_stream("outage")) == 1)
        [(entry_id, fields)] = client.xrange(ack_stream("outage"))
        ack = decode_ack(entry_id.decode(), fields)
        assert ack.nonce == before.nonce and ack.accepted and ack.seq == 3
    finally:
        client.close()

    # New commands flow again (the recreated stream is read from the window start).
    sent = send_command(throwaway_redis.url, "outage", "KILL", operator_id=1, operator="a", wait_ack=False)
    assert sent is None
    [after] = wait_for(listener.poll, timeout_s=10)
    assert after.command == "KILL" and after.accepted


def test_listener_started_while_redis_is_down(throwaway_redis):
    throwaway_redis.kill()
    listener = ControlListener(throwaway_redis.url, "late", block_ms=50)
    listener.start()
    try:
        time.sleep(0.2)
        assert not listener.connected and listener.last_error
        assert listener.poll() == []
        throwaway_redis.start()
        wait_for(lambda: listener.connected, timeout_s=10)
        send_command(throwaway_redis.url, "late", "CANCEL_ALL", operator_id=1, operator="a", wait_ack=False)
        [command] = wait_for(listener.poll, timeout_s=10)
        assert command.command == "CANCEL_ALL" and command.accepted
    finally:
        started = time.monotonic()
        listener.stop()
        assert time.monotonic() - started < 2, "stop() must be prompt"
