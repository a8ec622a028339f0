"""Create the console's role groups (viewer, operator, risk manager, admin) with their permissions."""

from django.core.management.base import BaseCommand

from trading.roles import sync_roles


class Command(BaseCommand):
    help = "Create or repair the role groups and their permissions (also done after every migrate)."

    def handle(self, *args, **options) -> None:
        for role, count in sync_roles().items():
            self.stdout.write(f"{role}: {count} permissions")
