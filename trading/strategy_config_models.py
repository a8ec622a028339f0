"""Strategy configurations: named, versioned, validated parameter sets a node can run.

A configuration is the per-instrument part of a node document ("strategy", "signals" and
"risk" sections: the backtest schema, trading.backtest.config) for one strategy kind and
one instrument. Versions are immutable: a change is a new version of the same name, so what
a node ran is always on record. Applying one to a node goes through the configuration service
(trading.services.strategy_configs), under the two-person rule when it raises a limit.
"""

from django.db import models

STRATEGY_KINDS = (
    ("avellaneda", "Avellaneda-Stoikov"),
    ("mm", "Skewed market maker"),
    ("taker", "Liquidity taker"),
)


class StrategyConfig(models.Model):
    name = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    strategy = models.CharField(max_length=16, choices=STRATEGY_KINDS)
    symbol = models.CharField(max_length=40)
    market = models.CharField(max_length=16)
    document = models.JSONField(help_text='{"strategy": {...}, "signals": {...}, "risk": {...}}')
    comment = models.CharField(max_length=200, blank=True)
    created_by_username = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="strategyconfig_unique_version"),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="strategyconfig_version_from_one"
            ),
            models.CheckConstraint(
                condition=models.Q(strategy__in=[kind for kind, _ in STRATEGY_KINDS]),
                name="strategyconfig_kind_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.strategy} {self.symbol})"


__all__ = ["STRATEGY_KINDS", "StrategyConfig"]
