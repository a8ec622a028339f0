"""Venues and instruments the desk trades: the registry node documents are validated against.

Rows start as the shipped instruments.json (seeded after every migrate, never overwritten) and
grow through the admin (trading.services.instrument_registry). An instrument is immutable:
a node's journal is only replayable with the spec it was recorded with, so a changed tick or
lot size is a new instrument, not an edit. A venue can be closed to new configurations.
"""

from django.db import models

MAX_FEE_PPM = 100_000  # trading.instruments.MAX_FEE_PPM


class Venue(models.Model):
    name = models.SlugField(max_length=32, unique=True)
    description = models.CharField(max_length=200, blank=True)
    trading_enabled = models.BooleanField(
        default=True, help_text="off: node configurations trading its instruments are refused"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Instrument(models.Model):
    class Source(models.TextChoices):
        SHIPPED = "shipped", "shipped instruments.json"
        ADMIN = "admin", "added in the console"

    venue = models.ForeignKey(Venue, on_delete=models.PROTECT, related_name="instruments")
    symbol = models.CharField(max_length=40)
    market = models.CharField(max_length=32)
    base = models.CharField(max_length=16)
    quote = models.CharField(max_length=16)
    settle = models.CharField(max_length=16)
    tick_size = models.DecimalField(max_digits=38, decimal_places=18)
    lot_size = models.DecimalField(max_digits=38, decimal_places=18)
    contract_type = models.CharField(max_length=8, choices=[("linear", "linear"), ("inverse", "inverse")])
    multiplier = models.DecimalField(max_digits=38, decimal_places=18)
    maker_fee_ppm = models.IntegerField(help_text="ppm of value, negative = rebate")
    taker_fee_ppm = models.IntegerField()
    book_window_log2 = models.PositiveSmallIntegerField(default=22)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.ADMIN)
    created_by_username = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["venue__name", "market", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "market"], name="instrument_unique_symbol_market"),
            models.CheckConstraint(condition=models.Q(tick_size__gt=0), name="instrument_tick_positive"),
            models.CheckConstraint(condition=models.Q(lot_size__gt=0), name="instrument_lot_positive"),
            models.CheckConstraint(
                condition=models.Q(multiplier__gt=0), name="instrument_multiplier_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(contract_type__in=["linear", "inverse"]),
                name="instrument_contract_type_known",
            ),
            models.CheckConstraint(
                condition=models.Q(maker_fee_ppm__gte=-MAX_FEE_PPM, maker_fee_ppm__lte=MAX_FEE_PPM)
                & models.Q(taker_fee_ppm__gte=-MAX_FEE_PPM, taker_fee_ppm__lte=MAX_FEE_PPM),
                name="instrument_fees_bounded",
            ),
            models.CheckConstraint(
                condition=models.Q(book_window_log2__gte=12, book_window_log2__lte=26),
                name="instrument_book_window_bounded",
            ),
            models.CheckConstraint(
                condition=models.Q(symbol__regex=r"^[A-Z0-9][A-Z0-9_.\-]{0,39}$"),
                name="instrument_symbol_upper",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} ({self.market}, {self.venue.name})"


__all__ = ["Instrument", "Venue"]
