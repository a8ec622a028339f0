"""The console's node websocket, through the real console server (daphne) on loopback, with
real session cookies, the real Redis channel layer and panel relay, and a stand-in node."""

from __future__ import annotations

import contextlib
import json
import time

import orjson
import pytest
import redis
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.integration.harness import Processes, start_panel_relay, start_web, wait_for
from trading.audit import verify_chain
from trading.models import AuditEntry, Node

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def web(e2e_env, tmp_path_factory):
    """One console server and panel relay for the module (each test makes its own node)."""
    processes = Processes(env=e2e_env, logs=tmp_path_factory.mktemp("web"))
    try:
        port = start_web(processes)
        start_panel_relay(processes)
        yield port
    finally:
        processes.stop_all()


@pytest.fixture
def node(stand_in_node):
    return stand_in_node(
        "ws", lambda name: Node.objects.create(name=name, trading_state=Node.TradingState.ACTIVE)
    )


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def open_socket(port: int, node: str, session: str | None, origin: str | None = None):
    headers = {"Origin": origin or f"http://127.0.0.1:{port}"}
    if session:
        headers["Cookie"] = f"sessionid={session}"
    return connect(f"ws://127.0.0.1:{port}/ws/nodes/{node}/", additional_headers=headers, open_timeout=10)


def ask(ws, message) -> dict:
    ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))
    while True:
        reply = json.loads(ws.recv(timeout=10))
        if reply["type"] not in ("snapshot", "delta"):
            return reply


def test_no_session_or_no_role_or_no_node_gets_no_socket(web, node, make_user):
    with pytest.raises(InvalidStatus) as refused:
        open_socket(web, node.name, None)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        open_socket(web, node.name, session_cookie(make_user(None)))
    with pytest.raises(InvalidStatus):
        open_socket(web, "no-such-node", session_cookie(make_user("viewer")))


def test_a_socket_from_another_origin_is_rejected(web, node, make_user):
    cookie = session_cookie(make_user("operator"))
    other_port = f"http://127.0.0.1:{web + 1 if web < 65535 else web - 1}"  # another program, same host
    for origin in (
        "http://evil.example",
        "null",
        f"http://127.0.0.1.evil.example:{web}",
        other_port,
        f"http://localhost:{web}",
        f"ftp://127.0.0.1:{web}",
        f"http://u@127.0.0.1:{web}",
    ):
        with pytest.raises(InvalidStatus) as refused:
            open_socket(web, node.name, cookie, origin=origin)
        assert refused.value.response.status_code == 403
    with open_socket(web, node.name, cookie) as ws:
        assert ask(ws, {"action": "ping"}) == {"type": "pong"}


def test_a_viewer_kill_over_the_socket_is_refused_and_audited(web, node, make_user):
    viewer = make_user("viewer")
    with open_socket(web, node.name, session_cookie(viewer)) as ws:
        reply = ask(ws, {"action": "command", "command": "KILL"})
    assert reply == {"type": "refused", "command": "KILL", "reason": "missing permission trading.kill_node"}
    (entry,) = AuditEntry.objects.all()
    assert (entry.action, entry.actor_id, entry.source_ip) == ("node.kill.denied", viewer.pk, "127.0.0.1")
    assert entry.request_id.startswith("ws-")
    time.sleep(0.2)
    assert node.received == []


def test_an_operator_kill_over_the_socket_reaches_the_node(web, node, make_user):
    operator = make_user("operator")
    with open_socket(web, node.name, session_cookie(operator)) as ws:
        reply = ask(ws, {"action": "command", "command": "KILL"})
    assert reply["type"] == "command_result" and reply["status"] == "ACCEPTED" and reply["trading_state"] == 2
    assert node.received == [("KILL", operator.username)]
    assert [e.action for e in AuditEntry.objects.order_by("seq")] == ["node.kill", "node.kill.ack"]
    assert verify_chain().ok


def test_signing_out_or_a_demotion_takes_the_powers_of_an_open_socket(web, node, make_user):
    operator = make_user("operator")
    browser = Client()
    browser.force_login(operator)
    with open_socket(web, node.name, browser.cookies["sessionid"].value) as ws:
        assert ask(ws, {"action": "command", "command": "CANCEL_ALL"})["status"] == "ACCEPTED"
        # the session ends without a sign-out signal (it expired, or was deleted by hand): the
        # socket is still open until its periodic check, but its commands are judged afresh
        Session.objects.filter(session_key=browser.cookies["sessionid"].value).delete()
        reply = ask(ws, {"action": "command", "command": "KILL"})
        assert reply["type"] == "refused" and reply["reason"] == "not signed in as an active user"
    demoted = make_user("operator")
    with open_socket(web, node.name, session_cookie(demoted)) as ws:
        # viewer first: a socket left without any role in between would be closed at once
        demoted.groups.add(Group.objects.get(name="viewer"))
        demoted.groups.remove(Group.objects.get(name="operator"))
        reply = ask(ws, {"action": "command", "command": "KILL"})
        assert reply["type"] == "refused" and "missing permission" in reply["reason"]
    assert node.received == [("CANCEL_ALL", operator.username)]
    assert [e.action for e in AuditEntry.objects.order_by("seq")][-2:] == [
        "node.kill.denied",
        "node.kill.denied",
    ]


def closed_with(ws, timeout: float = 5.0) -> int | None:
    """The close code once the server closes the socket (frames before it are skipped); None
    if it is still open after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                ws.recv(timeout=max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                return None
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None
    return None


def test_a_socket_is_closed_at_once_when_its_user_may_no_longer_watch(web, node, make_user):
    """Signed out in another tab, deactivated, or left without a viewing role: the socket closes
    within moments (not at the next periodic check, a minute away), and only that user's."""
    bystander = make_user("viewer")
    with open_socket(web, node.name, session_cookie(bystander)) as watching:
        viewer = make_user("viewer")
        browser = Client()
        browser.force_login(viewer)
        with open_socket(web, node.name, browser.cookies["sessionid"].value) as ws:
            assert ask(ws, {"action": "ping"}) == {"type": "pong"}
            browser.logout()
            assert closed_with(ws) == 4403
        deactivated = make_user("operator")
        with open_socket(web, node.name, session_cookie(deactivated)) as ws:
            assert ask(ws, {"action": "ping"}) == {"type": "pong"}
            deactivated.is_active = False
            deactivated.save()
            assert closed_with(ws) == 4403
        demoted = make_user("viewer")
        with open_socket(web, node.name, session_cookie(demoted)) as ws:
            assert ask(ws, {"action": "ping"}) == {"type": "pong"}
            Group.objects.get(name="viewer").user_set.remove(demoted)  # from the role's side
            assert closed_with(ws) == 4403
        promoted = make_user("viewer")
        with open_socket(web, node.name, session_cookie(promoted)) as ws:
            promoted.groups.add(Group.objects.get(name="operator"))  # more access: stays open
            assert closed_with(ws, timeout=1.5) is None
            assert ask(ws, {"action": "ping"}) == {"type": "pong"}
        assert closed_with(watching, timeout=0.5) is None, "another user's socket stays open"
        assert ask(watching, {"action": "ping"}) == {"type": "pong"}


def test_a_role_that_loses_the_view_permission_closes_its_members_sockets(web, node, make_user):
    from django.contrib.auth.models import Permission

    view = Permission.objects.get(content_type__app_label="trading", codename="view_node")
    viewers = Group.objects.get(name="viewer")
    operator = make_user("operator")
    with (
        open_socket(web, node.name, session_cookie(make_user("viewer"))) as ws,
        open_socket(web, node.name, session_cookie(operator)) as kept,
    ):
        assert ask(ws, {"action": "ping"}) == {"type": "pong"}
        try:
            viewers.permissions.remove(view)
            assert closed_with(ws) == 4403
            assert ask(kept, {"action": "ping"}) == {"type": "pong"}, "operators keep the permission"
        finally:
            viewers.permissions.add(view)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"\x00\x01", "text frames only"),
        ("not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"action": "shutdown"}', "unknown action"),
        ('{"action": "command", "command": 5}', "command must be a short string"),
        ('{"action": "command", "command": "' + "K" * 100 + '"}', "command must be a short string"),
        ('{"action": "command", "command": "RESUME"}', "needs a second user"),
        ('{"action": "command", "command": "kill; DROP TABLE"}', "unknown node command"),
        ('{"action": "ping", "pad": "' + "x" * 5000 + '"}', "message over 4096 bytes"),
        ('{"action": "command", "command": NaN}', "not JSON"),
    ],
)
def test_malformed_and_hostile_messages_get_an_error_and_change_nothing(
    web, node, make_user, message, reason
):
    with open_socket(web, node.name, session_cookie(make_user("operator"))) as ws:
        reply = ask(ws, message)
        assert reply["type"] == "error" and reason in reply["reason"]
        assert ask(ws, {"action": "ping"}) == {"type": "pong"}, "the socket stays usable"
    assert node.received == [] and not AuditEntry.objects.exists()


def test_commands_are_rate_limited_per_socket(web, node, make_user):
    with open_socket(web, node.name, session_cookie(make_user("operator"))) as ws:
        replies = [ask(ws, {"action": "command", "command": "CANCEL_ALL"}) for _ in range(11)]
    assert [r["type"] for r in replies[:10]] == ["command_result"] * 10
    assert replies[10] == {"type": "error", "reason": "too many commands: slow down"}
    assert len(node.received) == 10


def test_panels_arrive_as_a_snapshot_then_deltas(web, node, make_user, redis_url):
    publisher = redis.Redis.from_url(redis_url)
    channel = f"atomic:node:{node.name}:panel"
    first = {"node": node.name, "seq": 10, "trading_state": 0, "stats": {"orders": 1}, "instruments": []}
    publisher.publish(channel, orjson.dumps(first))
    wait_for(
        lambda: publisher.get(f"{channel}:last") is not None, 10, "the relay to keep the newest snapshot"
    )
    with open_socket(web, node.name, session_cookie(make_user("viewer"))) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
        assert snapshot == {"type": "snapshot", "seq": 10, "panel": first}, "the newest one, on connect"
        publisher.publish(channel, orjson.dumps({**first, "seq": 11, "stats": {"orders": 2}}))
        delta = json.loads(ws.recv(timeout=10))
        assert delta == {"type": "delta", "seq": 11, "changed": {"seq": 11, "stats": {"orders": 2}}}
        for junk in (b"not json", b"[]", b'{"seq": "x"}'):
            publisher.publish(channel, junk)  # the relay drops what is not a snapshot
        publisher.publish(
            channel, orjson.dumps({**first, "seq": 12, "trading_state": 2, "stats": {"orders": 2}})
        )
        delta = json.loads(ws.recv(timeout=10))
        assert delta["seq"] == 12 and delta["changed"] == {"seq": 12, "trading_state": 2}
    with open_socket(web, node.name, session_cookie(make_user("viewer"))) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot", "a reconnect starts from a snapshot"
    publisher.close()


def test_a_socket_that_missed_a_frame_starts_again_from_the_newest_snapshot(web, node, make_user, redis_url):
    """Deltas are computed once by the relay; a socket whose previous frame is not the delta's
    base (its queue dropped one) gets the newest snapshot instead of a delta it cannot apply."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from dashboards.panels import panel_group

    publisher = redis.Redis.from_url(redis_url)
    channel = f"atomic:node:{node.name}:panel"
    first = {"node": node.name, "seq": 20, "trading_state": 0, "instruments": []}
    publisher.publish(channel, orjson.dumps(first))
    wait_for(
        lambda: publisher.get(f"{channel}:last") is not None, 10, "the relay to keep the newest snapshot"
    )
    with open_socket(web, node.name, session_cookie(make_user("viewer"))) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        # a frame whose base this socket never saw (as if the one before it had been dropped)
        async_to_sync(get_channel_layer().group_send)(
            panel_group(node.name),
            {"type": "panel.frame", "frame": "x-2", "base": "x-1", "delta": '{"type": "delta", "seq": 99}'},
        )
        again = json.loads(ws.recv(timeout=10))
        assert again == {"type": "snapshot", "seq": 20, "panel": first}, (
            "the newest snapshot, not the stray delta"
        )
        publisher.publish(channel, orjson.dumps({**first, "seq": 21}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "delta", "seq": 21, "changed": {"seq": 21}}
    publisher.close()


def test_sockets_that_miss_the_same_frame_share_one_read_of_the_newest_snapshot(
    web, node, make_user, redis_url
):
    """When the console falls behind, its sockets miss the same frames: the newest snapshot is
    read from Redis and serialised once per frame in a process, not once per socket (Redis'
    own command statistics count the reads)."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from dashboards.panels import panel_group

    publisher = redis.Redis.from_url(redis_url)
    channel = f"atomic:node:{node.name}:panel"
    first = {"node": node.name, "seq": 30, "trading_state": 0, "instruments": []}
    publisher.publish(channel, orjson.dumps(first))
    wait_for(lambda: publisher.get(f"{channel}:last") is not None, 10, "the relay to keep the newest")
    newest_frame = orjson.loads(publisher.get(f"{channel}:last"))["frame"]
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(open_socket(web, node.name, session_cookie(make_user("viewer"))))
            for _ in range(5)
        ]
        for ws in sockets:
            assert json.loads(ws.recv(timeout=10)) == {"type": "snapshot", "seq": 30, "panel": first}

        def reads() -> int:
            return publisher.info("commandstats").get("cmdstat_get", {}).get("calls", 0)

        before = reads()
        # the newest frame again, on a base none of them holds: every socket needs the snapshot
        async_to_sync(get_channel_layer().group_send)(
            panel_group(node.name),
            {"type": "panel.frame", "frame": newest_frame, "base": "dropped", "delta": "{}"},
        )
        for ws in sockets:
            assert json.loads(ws.recv(timeout=10)) == {"type": "snapshot", "seq": 30, "panel": first}
        assert reads() - before == 0, "each socket read the newest snapshot from Redis itself"
    publisher.close()
