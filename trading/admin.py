from django.contrib import admin

from trading.models import BacktestRun, Node


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ("name", "trading_state", "last_heartbeat", "created_at")
    search_fields = ("name",)


@admin.register(BacktestRun)
class BacktestRunAdmin(admin.ModelAdmin):
    """Results are evidence: read-only in admin."""

    list_display = ("id", "created_at", "strategy", "symbol", "events", "realized_pnl", "state_hash")
    list_filter = ("strategy", "symbol", "status")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
