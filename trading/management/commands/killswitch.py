"""manage.py killswitch --node NAME [--reason TEXT] [--operator NAME]

The kill switch that works without web and Redis: writes the node's kill marker (so that a node
that is down or restarting comes back HALTED) and sends SIGUSR1 to the running node (HALTED and
cancel all at once). Prints what it did in one line; exit 0 once the marker is written, whether
or not a node was running. Thin: trading.engine.killswitch does the work.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.engine.killswitch import KillSwitchError, existing_state_dir, kill_node, local_operator


class Command(BaseCommand):
    help = "Halt a node and cancel its orders without web or Redis: kill marker + SIGUSR1."
    requires_system_checks = []  # a kill switch must not depend on anything it does not need

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--node", required=True, help="the node's name")
        parser.add_argument("--reason", default="manage.py killswitch", help="why (kept in the marker)")
        parser.add_argument("--operator", default=None, help="who (default: the Unix user)")

    def handle(self, *args, **options) -> None:
        try:
            state_dir = existing_state_dir(settings.ATOMIC_OPS["VAR_DIR"], options["node"])
            done = kill_node(
                state_dir, operator=options["operator"] or local_operator(), reason=options["reason"]
            )
        except (ValueError, KillSwitchError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"killswitch {options['node']}: {done}")
