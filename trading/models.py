"""Trading data owned by Django: nodes and stored backtest runs.

Money is stored as decimal strings in `metrics` (converted from integer nano-units at the edge)
and as a DecimalField where the console sorts or filters on it.
"""

from django.db import models


class Node(models.Model):
    """A trading node: one `manage.py runnode` process and its configuration."""

    class TradingState(models.TextChoices):
        ACTIVE = "ACTIVE"
        REDUCING = "REDUCING"
        HALTED = "HALTED"

    name = models.SlugField(max_length=64, unique=True)
    description = models.CharField(max_length=200, blank=True)
    trading_state = models.CharField(max_length=16, choices=TradingState.choices, default=TradingState.HALTED)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    last_status = models.JSONField(default=dict, blank=True, help_text="the node's last status report")
    active_config = models.ForeignKey(
        "NodeConfigVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        # operator actions on a running node (trading.roles gives them to groups)
        permissions = [
            ("kill_node", "Can stop a node: HALTED and cancel all (kill switch)"),
            ("cancel_all_node", "Can cancel all open orders of a node"),
            ("reduce_only_node", "Can put a node in reduce-only"),
            ("disconnect_node", "Can disconnect a node from its venue"),
            ("request_resume_node", "Can ask for a halted node to resume (a second user approves)"),
        ]

    def __str__(self) -> str:
        return self.name


class NodeConfigVersion(models.Model):
    """One validated node document (trading.engine.config). The version is the document's content
    hash: the node journals it with every configuration change, and replays it from here."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="config_versions")
    version = models.BigIntegerField()
    document = models.JSONField()
    comment = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["node", "version"], name="nodeconfigversion_unique_version"),
            models.CheckConstraint(
                condition=models.Q(version__gte=0), name="nodeconfigversion_version_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.node.name} v{self.version}"


class BacktestRun(models.Model):
    """One backtest: what ran (data, strategy, config) and what came out (metrics, equity, hash)."""

    class Strategy(models.TextChoices):
        AVELLANEDA = "avellaneda", "Avellaneda-Stoikov"
        MM = "mm", "Skewed market maker"
        TAKER = "taker", "Liquidity taker"

    class Status(models.TextChoices):
        COMPLETED = "completed"
        FAILED = "failed"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    label = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETED)
    strategy = models.CharField(max_length=16, choices=Strategy.choices)
    symbol = models.CharField(max_length=32)
    market = models.CharField(max_length=16)
    data_files = models.JSONField(default=list)
    data_sha256 = models.CharField(max_length=64)
    config = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    equity_curve = models.JSONField(default=list, help_text="[[ts_ns, equity], ...] downsampled")
    events = models.BigIntegerField()
    wall_seconds = models.FloatField()
    realized_pnl = models.DecimalField(max_digits=38, decimal_places=9)
    settle_currency = models.CharField(max_length=16)
    state_hash = models.CharField(max_length=16)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(events__gte=0), name="backtestrun_events_nonnegative"),
            models.CheckConstraint(
                condition=models.Q(wall_seconds__gte=0), name="backtestrun_wall_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_strategy_display()} {self.symbol} #{self.pk}"


from trading.audit_models import *  # noqa: E402, F403  (audit trail and approvals)
from trading.command_models import *  # noqa: E402, F403  (operator commands to nodes)
from trading.instrument_models import *  # noqa: E402, F403  (venues and instruments)
from trading.journal_models import *  # noqa: E402, F403  (journal and projections)
from trading.risk_limit_models import *  # noqa: E402, F403  (risk limits of the active configurations)
from trading.strategy_config_models import *  # noqa: E402, F403  (versioned strategy configurations)
