"""Websocket routes of the console."""

from django.urls import re_path

from trading.consumers import NodeConsoleConsumer

websocket_urlpatterns = [
    re_path(r"^ws/nodes/(?P<node>[a-z0-9][a-z0-9_-]{0,62})/$", NodeConsoleConsumer.as_asgi()),
]
