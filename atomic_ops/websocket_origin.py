"""Websockets from the console's own origin only: scheme aside, the Origin header's host and
port must be the Host the browser connected to (or an origin listed in CSRF_TRUSTED_ORIGINS,
for a proxy that rewrites Host).

Channels' AllowedHostsOriginValidator compares the origin's host name with ALLOWED_HOSTS and
ignores the port, so a page served by any other program on the console's host (another port)
could open a socket and, the cookies being same-site, act with the operator's session.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings


def _header(scope, name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers", ()) if key.lower() == name]
    if len(values) != 1:  # missing, or repeated to confuse a proxy: refuse
        return None
    try:
        return values[0].decode("ascii")
    except UnicodeDecodeError:
        return None


def same_origin(scope) -> bool:
    origin, host = _header(scope, b"origin"), _header(scope, b"host")
    if not origin or not host or len(origin) > 2048:
        return False
    if origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", ()):
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.path not in ("", "/") or parts.username or parts.query:
        return False
    return parts.netloc.lower() == host.lower()


class SameOriginValidator:
    """ASGI middleware: a websocket whose Origin is not the console's own is refused."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
