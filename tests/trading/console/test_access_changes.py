"""Who is told that access changed (trading.access_changes), read off a real Redis channel layer,
and a sign-out that still works when the channel layer cannot be reached."""

from __future__ import annotations

import asyncio
import logging

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client, override_settings

from trading.access_changes import EVERY_SOCKET, user_group

pytestmark = pytest.mark.django_db(transaction=True)


def _closing(action):
    def run():
        try:
            action()
        finally:
            connection.close()  # the thread's own database connection

    return run


def heard(groups: list[str], action) -> dict[str, int]:
    """Run `action` (sync, in a thread, as a view would) while one channel per group listens on
    the real channel layer; how many access.changed messages each group got."""

    async def run():
        layer = get_channel_layer()
        channels = {group: await layer.new_channel() for group in groups}
        for group, channel in channels.items():
            await layer.group_add(group, channel)
        try:
            await sync_to_async(_closing(action), thread_sensitive=False)()
            counts = {}
            for group, channel in channels.items():
                n = 0
                while True:
                    try:
                        message = await asyncio.wait_for(layer.receive(channel), 0.3)
                    except TimeoutError:
                        break
                    assert message == {"type": "access.changed"}
                    n += 1
                counts[group] = n
            return counts
        finally:
            for group, channel in channels.items():
                await layer.group_discard(group, channel)

    return async_to_sync(run)()


def test_the_users_own_group_hears_of_sign_out_saves_and_role_changes(make_user):
    user, other = make_user("viewer"), make_user("viewer")
    groups = [user_group(user.pk), user_group(other.pk), EVERY_SOCKET]
    client = Client()
    # a sign-in saves last_login only: nothing to tell
    assert heard(groups, lambda: client.force_login(user)) == dict.fromkeys(groups, 0)
    assert heard(groups, lambda: client.post("/logout/")) == {groups[0]: 1, groups[1]: 0, EVERY_SOCKET: 0}

    def deactivate():
        user.is_active = False
        user.save()

    assert heard(groups, deactivate)[groups[0]] == 1

    def change_roles():
        user.groups.remove(Group.objects.get(name="viewer"))
        Group.objects.get(name="operator").user_set.add(user)  # from the role's side

    assert heard(groups, change_roles) == {groups[0]: 2, groups[1]: 0, EVERY_SOCKET: 0}


def test_a_roles_permissions_or_a_cleared_role_tell_every_socket(make_user):
    make_user("viewer")
    viewers = Group.objects.get(name="viewer")
    view = Permission.objects.get(content_type__app_label="trading", codename="view_node")

    def edit_role():
        viewers.permissions.remove(view)
        viewers.permissions.add(view)
        viewers.user_set.clear()

    assert heard([EVERY_SOCKET], edit_role) == {EVERY_SOCKET: 3}


@override_settings(
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1"]},
        }
    }
)
def test_signing_out_works_when_the_channel_layer_is_down(make_user, caplog):
    from django.contrib.sessions.models import Session

    user = make_user("operator")
    client = Client()
    client.force_login(user)
    with caplog.at_level(logging.WARNING, logger="trading.access_changes"):
        response = client.post("/logout/")
    assert response.status_code == 302 and not Session.objects.exists()
    assert "could not tell the console sockets" in caplog.text


def test_panel_frames_skip_the_per_message_database_hop(make_user, monkeypatch):
    """Channels sends every message through close_old_connections() in a thread first; the
    console consumer spares panel frames that hop (1,000 a second for 100 viewers at 10 Hz)
    and keeps it for everything else."""
    import channels.consumer
    from channels.testing import WebsocketCommunicator
    from django.contrib.sessions.backends.db import SessionStore

    from dashboards.panels import panel_group
    from trading.consumers import NodeConsoleConsumer
    from trading.models import Node

    hops = []
    original = channels.consumer.aclose_old_connections

    async def counted():
        hops.append(1)
        return await original()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    node = Node.objects.create(name="hops-node")
    user = make_user("viewer")
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()

    import redis
    from django.conf import settings

    from dashboards.panels import LAST_KEY

    store = redis.Redis.from_url(settings.ATOMIC_OPS["REDIS_URL"])
    store.set(LAST_KEY.format(node=node.name), b'{"frame": "f-1", "panel": {"seq": 1}}', ex=60)
    store.close()

    async def scenario():
        communicator = WebsocketCommunicator(NodeConsoleConsumer.as_asgi(), f"/ws/nodes/{node.name}/")
        communicator.scope.update(
            {"user": user, "session": session, "url_route": {"kwargs": {"node": node.name}}}
        )
        connected, _ = await communicator.connect()
        assert connected
        assert (await communicator.receive_json_from(timeout=2))["type"] == "snapshot"
        before = len(hops)
        layer = get_channel_layer()
        for k in range(20):
            frame = {"type": "panel.frame", "frame": f"f{k}", "base": f"f{k - 1}", "delta": f'{{"k": {k}}}'}
            await layer.group_send(panel_group(node.name), frame)
        deltas = [await communicator.receive_json_from(timeout=2) for _ in range(20)]
        assert deltas == [{"k": k} for k in range(20)]
        frames_hops = len(hops) - before
        await communicator.send_to(text_data='{"action": "ping"}')
        reply = await communicator.receive_json_from(timeout=2)
        await communicator.disconnect()
        return frames_hops, len(hops) - before - frames_hops, reply

    frames_hops, other_hops, reply = async_to_sync(scenario)()
    assert frames_hops == 0, "panel frames went through the database hop"
    assert other_hops >= 1 and reply == {"type": "pong"}, "other messages keep it"
