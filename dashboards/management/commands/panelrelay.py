"""manage.py panelrelay: forward the nodes' live panel snapshots to the console's sockets."""

import asyncio
import contextlib
import signal

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand

from dashboards.relay import PanelRelay


class Command(BaseCommand):
    help = "Relay node panel snapshots (Redis pub/sub) to the console's websockets (channel layer)."

    def handle(self, *args, **options) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        self.stdout.write("panel relay: forwarding atomic:node:*:panel to the channel layer")
        await PanelRelay(settings.ATOMIC_OPS["REDIS_URL"], get_channel_layer()).run(stop)
