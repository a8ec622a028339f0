"""ASGI entry point (daphne): HTTP through Django; the console's websockets through Channels,
only from the console's own origin (SameOriginValidator: scheme aside, exactly the Host
connected to; AllowedHostsOriginValidator) and with the session's user (AuthMiddlewareStack)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atomic_ops.settings.local")  # the launcher default

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (after Django is set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from atomic_ops.websocket_origin import SameOriginValidator  # noqa: E402
from trading.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
