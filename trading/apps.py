from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, using="default", **kwargs) -> None:
    # after auth's own post_migrate handler has created this app's permissions
    from trading.roles import sync_roles

    if using == "default":
        sync_roles()
        from trading.services.instrument_registry import seed_shipped_instruments

        seed_shipped_instruments()


class TradingConfig(AppConfig):
    name = "trading"
    verbose_name = "Trading"

    def ready(self) -> None:
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="trading.sync_roles")
        from trading.access_changes import connect_signals

        connect_signals()
