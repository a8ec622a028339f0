"""Risk limits as rows: the active configuration's limits, one row per node, scope and limit.

The node document (NodeConfigVersion) stays the one source of truth: these rows are its
projection, rewritten whenever a version becomes active, so the admin and the console can
list, filter and constrain limits. A change to a row is a change to the document: it goes
through trading.services.risk_limit_rows.set_risk_limit (audited; raising a limit becomes an
approval request for a second user). The database refuses nonsense (zero or negative limits,
a node-wide limit on an instrument, an unknown limit name) whatever writes it.
"""

from django.db import models
from django.db.models.functions import Floor

# engine-wide limits: the node document's "risk" section
NODE_LIMITS = (
    "max_total_notional",
    "max_open_orders_total",
    "rate_limit_per_sec",
    "rate_limit_burst",
    "max_drawdown",
    "max_daily_loss",
    "max_consecutive_losses",
    "rapid_fill_count",
)
# per instrument: the instrument's "config.risk" section
INSTRUMENT_LIMITS = (
    "max_order_qty",
    "max_position",
    "max_notional",
    "price_collar_bps",
    "max_spread_ticks",
    "max_open_orders",
)
# limits the schema takes as whole numbers (the others are decimal amounts)
INTEGER_LIMITS = frozenset(
    {
        "max_open_orders_total",
        "rate_limit_per_sec",
        "rate_limit_burst",
        "max_consecutive_losses",
        "rapid_fill_count",
        "price_collar_bps",
        "max_spread_ticks",
        "max_open_orders",
    }
)
UNITS = {
    "max_total_notional": "quote currency",
    "max_open_orders_total": "orders",
    "rate_limit_per_sec": "orders per second",
    "rate_limit_burst": "orders",
    "max_drawdown": "settlement currency",
    "max_daily_loss": "settlement currency",
    "max_consecutive_losses": "losing round trips",
    "rapid_fill_count": "fills per window",
    "max_order_qty": "instrument units",
    "max_position": "instrument units",
    "max_notional": "quote currency",
    "price_collar_bps": "basis points from mid",
    "max_spread_ticks": "ticks",
    "max_open_orders": "orders",
}
STRATEGIES = ("avellaneda", "mm", "taker", "none")


class RiskLimit(models.Model):
    """One limit of a node's active configuration. `value` None = no limit."""

    node = models.ForeignKey("trading.Node", on_delete=models.CASCADE, related_name="risk_limits")
    scope = models.CharField(
        max_length=80,
        blank=True,
        help_text="instrument symbol (@market if not the venue's); blank for node-wide",
    )
    strategy = models.CharField(max_length=16, blank=True, help_text="the instrument's strategy")
    name = models.CharField(max_length=32, choices=[(n, n) for n in NODE_LIMITS + INSTRUMENT_LIMITS])
    value = models.DecimalField(max_digits=38, decimal_places=9, null=True, blank=True)
    is_default = models.BooleanField(
        default=False, help_text="not written in the document: the schema default"
    )
    config_version = models.BigIntegerField(help_text="the active configuration version this row reflects")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["node__name", "scope", "name"]
        constraints = [
            models.UniqueConstraint(fields=["node", "scope", "name"], name="risklimit_one_per_scope"),
            models.CheckConstraint(
                condition=models.Q(value__isnull=True) | models.Q(value__gt=0),
                name="risklimit_value_positive",
            ),
            models.CheckConstraint(
                condition=(models.Q(scope="") & models.Q(name__in=NODE_LIMITS) & models.Q(strategy=""))
                | (
                    ~models.Q(scope="")
                    & models.Q(name__in=INSTRUMENT_LIMITS)
                    & models.Q(strategy__in=STRATEGIES)
                ),
                name="risklimit_name_fits_scope",
            ),
            models.CheckConstraint(
                condition=~models.Q(name__in=sorted(INTEGER_LIMITS))
                | models.Q(value__isnull=True)
                | models.Q(value=Floor("value")),
                name="risklimit_integer_limits_whole",
            ),
            models.CheckConstraint(
                condition=models.Q(config_version__gte=0), name="risklimit_version_positive"
            ),
        ]

    def __str__(self) -> str:
        value = "unlimited" if self.value is None else f"{self.value.normalize():f}"
        return f"{self.node.name} {self.scope_label}.{self.name} = {value}"

    @property
    def scope_label(self) -> str:
        return self.scope or "node"

    @property
    def units(self) -> str:
        return UNITS.get(self.name, "")


__all__ = ["INSTRUMENT_LIMITS", "INTEGER_LIMITS", "NODE_LIMITS", "RiskLimit", "UNITS"]
