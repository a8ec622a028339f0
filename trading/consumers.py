"""The console's websocket for one node: live panels out, operator commands in.

    ws://HOST/ws/nodes/<node>/

Behind SameOriginValidator (a page of another origin, or of another port, cannot open it) and
AuthMiddlewareStack (the session cookie says who is there). Connect needs a signed-in user with
trading.view_node. Every command message is judged again, on a fresh copy of the user and of
the session: a user who signed out elsewhere, or was demoted or deactivated since connecting,
has no powers left, and the refusal is audited like any other (trading.services.operations).
A socket whose user may no longer watch the node is closed (4403): at once when the change is
made through Django (trading.access_changes: sign-out, deactivation, roles), otherwise at the
next periodic check.

Client -> server: {"action": "command", "command": "KILL" | "CANCEL_ALL" | "REDUCE_ONLY" |
"DISCONNECT"} or {"action": "ping"}. Server -> client: {"type": "snapshot", "seq", "panel"},
{"type": "delta", "seq", "changed"}, {"type": "command_result", ...}, {"type": "refused",
"reason"}, {"type": "error", "reason"}, {"type": "pong"}.
"""

from __future__ import annotations

import time
import uuid
import weakref

import orjson
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from dashboards.panels import LAST_KEY, panel_group
from trading.access_changes import EVERY_SOCKET, user_group
from trading.audit import Actor, normalise_ip

MAX_MESSAGE_BYTES = 4096
COMMANDS_PER_10S = 10
# changes made through Django reach the socket at once (trading.access_changes); this periodic
# check is for the rest: a session that expires, rows edited outside Django
ACCESS_RECHECK_S = 60.0
CLOSE_UNAUTHENTICATED, CLOSE_FORBIDDEN, CLOSE_NO_NODE = 4401, 4403, 4404


# node -> (frame id, snapshot message): the newest snapshot a socket of this process fetched
_newest: dict[str, tuple[str, str]] = {}
# one Redis client (and pool) per event loop, gone with its loop
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _redis() -> aioredis.Redis:
    import asyncio

    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(settings.ATOMIC_OPS["REDIS_URL"])
    return client


class NodeConsoleConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.node = self.scope["url_route"]["kwargs"]["node"]
        self.user = self.scope.get("user")
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        self.frame: str | None = None  # the relay frame this socket's browser holds
        self.command_times: list[float] = []
        self.checked_at = 0.0
        if self.user is None or not self.user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        allowed, exists = await database_sync_to_async(self._may_view)()
        if not allowed:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if not exists:
            await self.close(code=CLOSE_NO_NODE)
            return
        self.groups_joined = [panel_group(self.node), user_group(self.user.pk), EVERY_SOCKET]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.checked_at = time.monotonic()
        await self._send_newest()

    async def disconnect(self, code) -> None:
        if self.channel_layer is not None:
            for group in getattr(self, "groups_joined", ()):
                await self.channel_layer.group_discard(group, self.channel_name)

    async def access_changed(self, event) -> None:
        """The user signed out, or their roles changed (trading.access_changes): check now."""
        await self._recheck()

    async def _recheck(self) -> bool:
        """False (and the socket closed) if the user may no longer watch this node."""
        self.checked_at = time.monotonic()
        if await database_sync_to_async(self._still_allowed)("trading.view_node"):
            return True
        await self.close(code=CLOSE_FORBIDDEN)
        return False

    # ------------------------------------------------------------------ panels out

    async def _send_newest(self, wanted: str | None = None) -> None:
        """The newest snapshot. `wanted`: the frame this socket could not apply as a delta; if
        another socket of this process already fetched that very frame, its serialised
        snapshot is reused (when the console falls behind, all its sockets miss the same
        frames: one Redis read and one serialisation per frame, not one per socket)."""
        cached = _newest.get(self.node)
        if wanted is not None and cached is not None and cached[0] == wanted:
            frame, text = cached
        else:
            raw = await _redis().get(LAST_KEY.format(node=self.node))
            if raw is None:
                return
            try:
                newest = orjson.loads(raw)
                panel, frame = newest["panel"], newest["frame"]
                text = orjson.dumps({"type": "snapshot", "seq": panel.get("seq"), "panel": panel}).decode()
            except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
                return  # not written by this relay version: the next frame brings a good one
            _newest[self.node] = (frame, text)
        self.frame = frame
        await self.send(text_data=text)

    async def dispatch(self, message) -> None:
        # Channels (4.2+) sends every message through a thread hop to close_old_connections()
        # before its handler: ten panel frames a second per viewer, 1,000 hops a second for 100
        # viewers, a third of the console server's CPU (py-spy). A panel frame touches no
        # database; its periodic check goes through database_sync_to_async, which closes stale
        # connections itself.
        if message.get("type") == "panel.frame":
            await self.panel_frame(message)
        else:
            await super().dispatch(message)

    async def panel_frame(self, event) -> None:
        """One snapshot from the relay (the group message type "panel.frame")."""
        if time.monotonic() - self.checked_at > ACCESS_RECHECK_S and not await self._recheck():
            return
        if self.frame is not None and event.get("base") == self.frame:
            self.frame = event["frame"]
            await self.send(text_data=event["delta"])  # computed once by the relay for every viewer
        else:  # just connected, or a frame was dropped on the way: start again from the newest
            await self._send_newest(wanted=event.get("frame"))

    # ------------------------------------------------------------------ commands in

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if bytes_data is not None or text_data is None:
            return await self._reply({"type": "error", "reason": "text frames only"})
        if len(text_data) > MAX_MESSAGE_BYTES:
            return await self._reply({"type": "error", "reason": f"message over {MAX_MESSAGE_BYTES} bytes"})
        try:
            message = orjson.loads(text_data)
        except orjson.JSONDecodeError:
            return await self._reply({"type": "error", "reason": "not JSON"})
        if type(message) is not dict:
            return await self._reply({"type": "error", "reason": "expected a JSON object"})
        action = message.get("action")
        if action == "ping":
            return await self._reply({"type": "pong"})
        if action != "command":
            return await self._reply({"type": "error", "reason": "unknown action"})
        command = message.get("command")
        if type(command) is not str or len(command) > 32:
            return await self._reply({"type": "error", "reason": "command must be a short string"})
        now = time.monotonic()
        self.command_times = [t for t in self.command_times if now - t < 10.0]
        if len(self.command_times) >= COMMANDS_PER_10S:
            return await self._reply({"type": "error", "reason": "too many commands: slow down"})
        self.command_times.append(now)
        await self._reply(await database_sync_to_async(self._command)(command))

    async def _reply(self, message: dict) -> None:
        await self.send(text_data=orjson.dumps(message).decode())

    # ------------------------------------------------------------------ database side (threads)

    def _may_view(self) -> tuple[bool, bool]:
        from trading.models import Node

        if not self._still_allowed("trading.view_node"):
            return False, False
        return True, Node.objects.filter(name=self.node).exists()

    def _fresh_user(self):
        """The socket's user as the database has it now, or None if signed out or deactivated."""
        from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
        from django.contrib.sessions.backends.db import SessionStore
        from django.utils.crypto import constant_time_compare

        if not self.session_key:
            return None
        data = SessionStore(session_key=self.session_key).load()  # {} when gone or expired
        if str(data.get(SESSION_KEY)) != str(self.user.pk):
            return None
        user = get_user_model().objects.filter(pk=self.user.pk, is_active=True).first()
        if user is None or not constant_time_compare(
            data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()
        ):  # a password change ends every session
            return None
        return user

    def _still_allowed(self, permission: str) -> bool:
        user = self._fresh_user()
        return user is not None and user.has_perm(permission)

    def _actor(self, user) -> Actor:
        client = self.scope.get("client") or (None, None)
        return Actor(
            user=user,
            username=user.get_username() if user is not None else self.user.get_username(),
            source_ip=normalise_ip(client[0]),
            request_id=f"ws-{uuid.uuid4().hex}",
        )

    def _command(self, command: str) -> dict:
        from trading.services.operations import OperationDenied, issue_node_command

        actor = self._actor(self._fresh_user())  # user None: signed out, refused and audited
        try:
            row = issue_node_command(actor, self.node, command)
        except OperationDenied as exc:
            return {"type": "refused", "command": command, "reason": exc.reason}
        except (ValueError, LookupError) as exc:
            return {"type": "error", "command": command, "reason": str(exc)}
        return {
            "type": "command_result",
            "command": command,
            "status": row.status,
            "trading_state": row.ack_trading_state,
            "seq": row.ack_seq,
            "detail": row.detail,
        }
