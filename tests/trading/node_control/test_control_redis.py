"""The control channel through the project's Redis: send_command <-> listener.poll <-> ack."""

from __future__ import annotations

import threading
import time
import timeit
import uuid

import pytest
import redis

from tests.trading.node_control.conftest import wait_for
from trading.engine.control import (
    COMMAND_CODES,
    FUTURE,
    MALFORMED,
    REPLAYED,
    STALE,
    ControlCommand,
    ack_stream,
    control_stream,
    decode_ack,
    nonce_id,
    send_command,
)


@pytest.fixture
def client(redis_url):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


NOW = object()


def fields(command="KILL", *, issued_at_ms=NOW, nonce=None, **overrides) -> dict[str, str]:
    """A well-formed command's XADD fields; an override of None leaves that field out."""
    values = {
        "command": command,
        "operator_id": "7",
        "operator": "alice",
        "nonce": nonce or uuid.uuid4().hex,
        "issued_at_ms": str(int(time.time() * 1000)) if issued_at_ms is NOW else issued_at_ms,
        "request_id": "req-" + uuid.uuid4().hex[:8],
    }
    values.update(overrides)
    return {k: str(v) for k, v in values.items() if v is not None}


def take(listener, n: int, timeout_s: float = 5.0) -> list[ControlCommand]:
    got: list[ControlCommand] = []
    wait_for(lambda: got.extend(listener.poll()) or len(got) >= n, timeout_s)
    return got


def acks(client, node) -> list:
    return [decode_ack(i.decode(), f) for i, f in client.xrange(ack_stream(node))]


class FakeKernel:
    """What the node kernel does with the listener: poll, journal (a seq), apply, ack."""

    def __init__(self, listener, state: int = 0) -> None:
        self.listener = listener
        self.state = state
        self.seq = 100
        self.handled: list[ControlCommand] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        effect = {"KILL": 2, "DISCONNECT": 2, "REDUCE_ONLY": 1, "RESUME": 0}
        while not self._stop.is_set():
            for command in self.listener.poll():
                self.seq += 1
                if command.accepted:
                    self.state = effect.get(command.command, self.state)
                self.handled.append(command)
                self.listener.ack(command, accepted=command.accepted, trading_state=self.state, seq=self.seq)
            time.sleep(0.0005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


@pytest.fixture
def kernel_for():
    kernels: list[FakeKernel] = []

    def make(listener, state=0) -> FakeKernel:
        kernels.append(FakeKernel(listener, state))
        return kernels[-1]

    yield make
    for kernel in kernels:
        kernel.stop()


def test_kill_round_trip(redis_url, node, listeners, kernel_for):
    listener = listeners.start(redis_url, node)
    kernel = kernel_for(listener)
    nonce = uuid.uuid4().hex
    before_ms = int(time.time() * 1000)
    ack = send_command(redis_url, node, "KILL", operator_id=7, operator="alice", nonce=nonce,
                       request_id="req-kill-1", timeout_s=5)  # fmt: skip
    assert ack is not None, "the listener did not ack within 5 s"
    assert (ack.nonce, ack.request_id, ack.command) == (nonce, "req-kill-1", "KILL")
    assert ack.accepted and ack.reason == "" and ack.trading_state == 2 and ack.seq == 101
    assert before_ms <= ack.acked_at_ms <= int(time.time() * 1000)
    [command] = kernel.handled
    assert command.accepted and command.command == "KILL" and command.command_code == 1
    assert (command.operator_id, command.operator, command.request_id) == (7, "alice", "req-kill-1")
    assert command.nonce == nonce and command.nonce_id == nonce_id(nonce)
    assert before_ms <= command.issued_at_ms <= command.received_ms <= int(time.time() * 1000)
    assert command.entry_id and command.config_version is None


def test_round_trip_over_resp3(redis_url, node, listeners, kernel_for):
    """A REDIS_URL asking for RESP3 changes the shape of XREAD replies; both sides cope."""
    url = redis_url + ("&" if "?" in redis_url else "?") + "protocol=3"
    listener = listeners.start(url, node)
    kernel = kernel_for(listener)
    ack = send_command(url, node, "CANCEL_ALL", operator_id=3, operator="dave", timeout_s=5)
    assert ack is not None and ack.accepted and ack.command == "CANCEL_ALL" and ack.seq == 101
    assert [c.command for c in kernel.handled] == ["CANCEL_ALL"]


@pytest.mark.parametrize("name", list(COMMAND_CODES))
def test_every_command_round_trips(redis_url, node, listeners, kernel_for, name):
    listener = listeners.start(redis_url, node)
    kernel = kernel_for(listener, state=2)
    version = 4 if name == "RELOAD_CONFIG" else None
    ack = send_command(
        redis_url, node, name, operator_id=11, operator="bob", config_version=version, timeout_s=5
    )
    assert ack is not None and ack.accepted and ack.command == name
    [command] = kernel.handled
    assert command.command_code == COMMAND_CODES[name] and command.config_version == version
    assert ack.trading_state == {"KILL": 2, "DISCONNECT": 2, "REDUCE_ONLY": 1, "RESUME": 0}.get(name, 2)


def test_commands_come_out_in_order_and_poll_removes_them(redis_url, node, listeners, client):
    listener = listeners.start(redis_url, node)
    sent = [fields(name) for name in ("REDUCE_ONLY", "CANCEL_ALL", "KILL")]
    for entry in sent:
        client.xadd(control_stream(node), entry)
    got = take(listener, 3)
    assert [c.nonce for c in got] == [e["nonce"] for e in sent]
    assert [c.command for c in got] == ["REDUCE_ONLY", "CANCEL_ALL", "KILL"]
    assert listener.poll() == []


@pytest.mark.parametrize(
    ("issued_offset_ms", "kind", "text"),
    [
        (-31_000, STALE, "stale: issued 31"),
        (-120_000, STALE, "stale: issued 120"),
        (6_000, FUTURE, "from the future: issued 6"),
    ],
)
def test_stale_and_future_commands_are_refused_and_acked(
    redis_url, node, listeners, kernel_for, client, issued_offset_ms, kind, text
):
    listener = listeners.start(redis_url, node, max_age_s=30, max_future_s=5)
    kernel = kernel_for(listener)
    entry = fields(issued_at_ms=int(time.time() * 1000) + issued_offset_ms)
    client.xadd(control_stream(node), entry)
    [ack] = wait_for(lambda: acks(client, node))
    [command] = kernel.handled
    assert not command.accepted and command.verdict.kind == kind and command.verdict.reason.startswith(text)
    assert command.command_code == 1 and command.nonce == entry["nonce"]  # journaled as a refused KILL
    assert not ack.accepted and ack.reason == command.verdict.reason and ack.nonce == entry["nonce"]
    assert ack.trading_state == 0, "a refused KILL must not change the state"


def test_within_the_limits_is_accepted(redis_url, node, listeners, client):
    listener = listeners.start(redis_url, node, max_age_s=30, max_future_s=5)
    now = int(time.time() * 1000)
    client.xadd(control_stream(node), fields(issued_at_ms=now - 25_000))
    client.xadd(control_stream(node), fields(issued_at_ms=now + 3_000))
    assert [c.accepted for c in take(listener, 2)] == [True, True]


def test_replayed_nonce_is_refused(redis_url, node, listeners, kernel_for, client):
    listener = listeners.start(redis_url, node)
    kernel = kernel_for(listener)
    entry = fields("RESUME")
    client.xadd(control_stream(node), entry)
    client.xadd(control_stream(node), entry)  # the same command again: a replay
    wait_for(lambda: len(acks(client, node)) == 2)
    first, second = kernel.handled
    assert first.accepted and not second.accepted
    assert second.verdict.kind == REPLAYED and second.verdict.reason.startswith("replayed")
    first_ack, second_ack = acks(client, node)
    assert first_ack.accepted and first_ack.trading_state == 0
    assert not second_ack.accepted and second_ack.reason.startswith("replayed")
    assert first_ack.nonce == second_ack.nonce == entry["nonce"]


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"command": "SELF_DESTRUCT"}, "unknown command 'SELF_DESTRUCT'"),
        ({"operator_id": "root"}, "operator_id must be an integer"),
        ({"issued_at_ms": None}, "missing field 'issued_at_ms'"),
        ({"operator": None}, "missing field 'operator'"),
        ({"request_id": "bad id"}, "request_id must be"),
        ({"surprise": "1"}, "unknown field 'surprise'"),
    ],
)
def test_malformed_commands_are_refused_and_acked(
    redis_url, node, listeners, kernel_for, client, overrides, says
):
    listener = listeners.start(redis_url, node)
    kernel = kernel_for(listener)
    entry = fields(**overrides)
    client.xadd(control_stream(node), entry)
    [ack] = wait_for(lambda: acks(client, node))
    [command] = kernel.handled
    assert command.verdict.kind == MALFORMED and says in command.verdict.reason
    assert not ack.accepted and ack.reason.startswith("malformed: ") and says in ack.reason
    assert ack.nonce == entry["nonce"], "the sender must be able to match the refusal"


def test_malformed_without_nonce_is_still_acked(redis_url, node, listeners, kernel_for, client):
    listener = listeners.start(redis_url, node)
    kernel = kernel_for(listener)
    client.xadd(control_stream(node), {"garbage": b"\xff"})
    [ack] = wait_for(lambda: acks(client, node))
    [command] = kernel.handled
    assert command.nonce_id == 0 and command.command_code == 0
    assert not ack.accepted and ack.nonce == "" and "missing field 'nonce'" in ack.reason


def test_send_command_through_a_refusal(redis_url, node, listeners, kernel_for):
    listener = listeners.start(redis_url, node, max_age_s=30)
    kernel_for(listener)
    ack = send_command(redis_url, node, "KILL", operator_id=1, operator="alice", timeout_s=5,
                       clock=lambda: time.time() - 60)  # a console with a clock a minute behind  # fmt: skip
    assert ack is not None and not ack.accepted and ack.reason.startswith("stale")


def test_restart_reads_only_the_window_and_skips_what_was_handled(redis_url, node, listeners, client):
    now = int(time.time() * 1000)
    # An old command: its stream id and issue time are a minute back, outside the window.
    old = fields("KILL", issued_at_ms=now - 60_000)
    client.xadd(control_stream(node), old, id=f"{now - 60_000}-0")
    first = listeners.start(redis_url, node, max_age_s=30)
    handled = fields("REDUCE_ONLY")
    client.xadd(control_stream(node), handled)
    [command] = take(first, 1)
    assert command.nonce == handled["nonce"] and command.accepted
    first.ack(command, accepted=True, trading_state=1, seq=5)
    first.stop()
    wait_for(lambda: len(acks(client, node)) == 1)
    missed = fields("KILL")  # sent while the node was down, still within the window
    client.xadd(control_stream(node), missed)

    second = listeners.start(
        redis_url, node, max_age_s=30, remember=[(command.nonce_id, command.issued_at_ms)]
    )
    got = take(second, 1)
    time.sleep(0.3)  # anything else in the window would have arrived by now
    got += second.poll()
    assert [c.nonce for c in got] == [missed["nonce"]] and got[0].accepted
    assert second.skipped_handled == 1
    # The handled command replayed live (a new entry with the old nonce) is refused, not skipped.
    client.xadd(control_stream(node), handled)
    [replay] = take(second, 1)
    assert replay.verdict.kind == REPLAYED and replay.nonce == handled["nonce"]


def test_remember_accepts_the_nonce_string_too(redis_url, node, listeners, client):
    entry = fields("KILL")
    client.xadd(control_stream(node), entry)
    listener = listeners.start(redis_url, node, remember=[(entry["nonce"], int(entry["issued_at_ms"]))])
    wait_for(lambda: listener.entries_read == 1)
    assert listener.poll() == [] and listener.skipped_handled == 1


def test_poll_is_cheap_and_never_blocks(redis_url, node, listeners):
    listener = listeners.start(redis_url, node)
    wait_for(lambda: listener.connected)
    runs = 100_000
    per_call = min(timeit.repeat(listener.poll, number=runs, repeat=5)) / runs
    assert per_call < 2e-6, f"poll() costs {per_call * 1e9:.0f} ns when empty"
    started = time.perf_counter()
    assert listener.poll() == []
    assert time.perf_counter() - started < 0.001


def test_on_pending_wakes_the_kernel(redis_url, node, listeners, client):
    woken = threading.Event()
    listener = listeners.start(redis_url, node, on_pending=woken.set)
    client.xadd(control_stream(node), fields("CANCEL_ALL"))
    assert woken.wait(5)
    assert [c.command for c in listener.poll()] == ["CANCEL_ALL"]


def test_send_command_returns_none_when_no_node_listens(redis_url, node, client):
    started = time.monotonic()
    assert send_command(redis_url, node, "KILL", operator_id=1, operator="alice", timeout_s=0.3) is None
    assert 0.3 <= time.monotonic() - started < 2
    [(_, entry)] = client.xrange(control_stream(node))
    assert entry[b"command"] == b"KILL" and entry[b"operator"] == b"alice"


def test_send_command_without_waiting(redis_url, node, client):
    assert send_command(redis_url, node, "RESUME", operator_id=2, operator="carol", wait_ack=False) is None
    [(_, entry)] = client.xrange(control_stream(node))
    assert entry[b"command"] == b"RESUME"


def test_send_command_refuses_bad_input_before_sending(redis_url, node, client):
    with pytest.raises(ValueError, match="unknown command"):
        send_command(redis_url, node, "NUKE", operator_id=1, operator="alice")
    with pytest.raises(ValueError, match="RELOAD_CONFIG needs config_version"):
        send_command(redis_url, node, "RELOAD_CONFIG", operator_id=1, operator="alice")
    assert client.exists(control_stream(node)) == 0


def test_streams_are_capped(redis_url, node, client):
    from trading.engine import control

    for _ in range(3):
        send_command(redis_url, node, "CANCEL_ALL", operator_id=1, operator="a", wait_ack=False)
    assert client.xinfo_stream(control_stream(node))["length"] == 3
    # XADD ... MAXLEN ~ is what keeps the length bounded; check the cap is applied at all.
    pipe = client.pipeline()
    for _ in range(control.STREAM_MAXLEN + 500):
        pipe.xadd(control_stream(node), {"x": "1"}, maxlen=control.STREAM_MAXLEN, approximate=True)
    pipe.execute()
    assert client.xinfo_stream(control_stream(node))["length"] < control.STREAM_MAXLEN + 500


def test_ack_does_not_block_and_validates_state(redis_url, node, listeners, client):
    listener = listeners.start(redis_url, node)
    client.xadd(control_stream(node), fields("KILL"))
    [command] = take(listener, 1)
    with pytest.raises(ValueError, match="trading_state"):
        listener.ack(command, accepted=True, trading_state=3, seq=1)
    started = time.perf_counter()
    listener.ack(command, accepted=False, trading_state=0, seq=9, reason="refused by the engine")
    assert time.perf_counter() - started < 0.001
    [ack] = wait_for(lambda: acks(client, node))
    assert not ack.accepted and ack.reason == "refused by the engine" and ack.seq == 9
