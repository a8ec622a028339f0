"""The node journal in PostgreSQL, and the projections the console reads.

Everything here is written by exactly one component, the node's journal sink
(trading/journal_sink.py, psycopg COPY and upserts, no ORM), in one transaction per batch
together with the high-water mark. Django reads it. Integers throughout, as in the journal:
prices in ticks, quantities in lots, money in nano-units, times in ns since the epoch.

`Event` maps the day-partitioned table created by migration 0002_journal (raw SQL: Django does
not create partitioned tables), hence `managed = False`.
"""

from django.db import models

from hotpath import types as hotpath_types

__all__ = ["Event", "Fill", "JournalHighWaterMark", "Order", "Position", "RecordKind", "Side"]

# Every journal record kind (hotpath/types.pxd RecordKind), named without the REC_ prefix.
RecordKind = models.IntegerChoices(
    "RecordKind",
    sorted(
        (
            (name.removeprefix("REC_"), value)
            for name, value in vars(hotpath_types).items()
            if name.startswith("REC_")
        ),
        key=lambda item: item[1],
    ),
)


class Event(models.Model):
    """One journal record of one node. (node, seq) is unique and seq is contiguous from 1 up to
    the node's JournalHighWaterMark.seq; rows past it do not exist. Field meanings per kind:
    hotpath/types.pxd (RecordKind)."""

    pk = models.CompositePrimaryKey("node_id", "seq", "ts_local")
    node = models.ForeignKey(
        "trading.Node", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    seq = models.BigIntegerField()
    ts_event = models.BigIntegerField(help_text="venue time, ns since the epoch")
    ts_local = models.BigIntegerField(
        help_text="node receipt time, ns since the epoch (partition key: UTC day)"
    )
    order_id = models.BigIntegerField(help_text="client order id (0: none)")
    price = models.BigIntegerField()
    qty = models.BigIntegerField()
    a = models.BigIntegerField()
    b = models.BigIntegerField()
    c = models.BigIntegerField()
    d = models.BigIntegerField()
    e = models.BigIntegerField()
    kind = models.SmallIntegerField(choices=RecordKind.choices)
    instrument = models.SmallIntegerField()
    flags = models.IntegerField()
    reason = models.IntegerField()

    class Meta:
        managed = False
        db_table = "trading_event"
        ordering = ["node_id", "seq"]

    def __str__(self) -> str:
        return f"node {self.node_id} #{self.seq} {self.get_kind_display()}"


class JournalHighWaterMark(models.Model):
    """The published durable high-water mark of one node's journal in PostgreSQL.

    seq: every record 1..seq is in trading_event (and the projections), nothing after it is.
    journal_seq: the last seq the sink saw in the node's local segments when it committed, so
    journal_seq - seq is the lag as of updated_at."""

    node = models.OneToOneField(
        "trading.Node", on_delete=models.PROTECT, primary_key=True, related_name="journal_hwm"
    )
    seq = models.BigIntegerField(default=0)
    ts_local = models.BigIntegerField(default=0, help_text="ts_local of record seq (ns)")
    journal_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "trading_journal_hwm"
        verbose_name = "journal high-water mark"

    def __str__(self) -> str:
        return f"node {self.node_id} durable to #{self.seq}"

    @property
    def lag(self) -> int:
        return max(0, self.journal_seq - self.seq)


class Side(models.TextChoices):
    BUY = "BUY"
    SELL = "SELL"


class Order(models.Model):
    """One order of one node, as its journal records left it (REC_ORDER_*, REC_FILL)."""

    class OrderType(models.TextChoices):
        LIMIT = "LIMIT"
        MARKET = "MARKET"
        LIMIT_MAKER = "LIMIT_MAKER"

    class TimeInForce(models.TextChoices):
        GTC = "GTC"
        IOC = "IOC"
        FOK = "FOK"

    class Status(models.TextChoices):
        NEW = "NEW"
        SENT = "SENT"
        ACKED = "ACKED"
        PARTIALLY_FILLED = "PARTIALLY_FILLED"
        PENDING_CANCEL = "PENDING_CANCEL"
        FILLED = "FILLED"
        CANCELLED = "CANCELLED"
        REJECTED = "REJECTED"
        EXPIRED = "EXPIRED"

    LIVE_STATUSES = ("NEW", "SENT", "ACKED", "PARTIALLY_FILLED", "PENDING_CANCEL")

    # indexed by the unique constraint below, which leads with node
    node = models.ForeignKey("trading.Node", on_delete=models.PROTECT, related_name="orders", db_index=False)
    client_id = models.BigIntegerField()
    instrument = models.SmallIntegerField()
    symbol = models.CharField(max_length=32, blank=True)
    side = models.CharField(max_length=4, choices=Side.choices)
    order_type = models.CharField(max_length=16, choices=OrderType.choices)
    tif = models.CharField(max_length=3, choices=TimeInForce.choices)
    flags = models.IntegerField(default=0, help_text="F_REDUCE_ONLY | F_OPERATOR bits (hotpath/types.pxd)")
    price = models.BigIntegerField(help_text="ticks (0 for market orders)")
    qty = models.BigIntegerField(help_text="original lots")
    filled = models.BigIntegerField(default=0, help_text="lots")
    status = models.CharField(max_length=16, choices=Status.choices)
    reason = models.IntegerField(default=0, help_text="venue reason of the last reject or cancel reject")
    venue_order_id = models.BigIntegerField(default=0, help_text="0 until acknowledged")
    created_ns = models.BigIntegerField()
    sent_ns = models.BigIntegerField(null=True, blank=True)
    acked_ns = models.BigIntegerField(null=True, blank=True)
    updated_ns = models.BigIntegerField()
    first_seq = models.BigIntegerField(help_text="journal seq of REC_ORDER_NEW (or REC_ORDER_ADOPTED)")
    last_seq = models.BigIntegerField(help_text="journal seq of the last record about this order")

    class Meta:
        ordering = ["node", "-client_id"]
        constraints = [
            models.UniqueConstraint(fields=["node", "client_id"], name="trading_order_node_client_unique"),
        ]
        indexes = [
            # the console's open-orders panel and status filters
            models.Index(fields=["node", "status", "client_id"], name="trading_order_node_status"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.qty}@{self.price} #{self.client_id} {self.status}"


class Fill(models.Model):
    """One fill (REC_FILL) of one node."""

    # indexed by the unique constraint below, which leads with node
    node = models.ForeignKey("trading.Node", on_delete=models.PROTECT, related_name="fills", db_index=False)
    seq = models.BigIntegerField(help_text="journal seq of the REC_FILL")
    client_order_id = models.BigIntegerField()
    instrument = models.SmallIntegerField()
    symbol = models.CharField(max_length=32, blank=True)
    side = models.CharField(max_length=4, choices=Side.choices)
    price = models.BigIntegerField(help_text="ticks")
    qty = models.BigIntegerField(help_text="lots")
    fee = models.BigIntegerField(help_text="nano settlement currency (negative: rebate)")
    is_maker = models.BooleanField()
    position_after = models.BigIntegerField(help_text="lots, signed")
    realized_after = models.BigIntegerField(help_text="gross realized pnl after this fill, nano")
    venue_trade_id = models.BigIntegerField()
    mid_x2 = models.BigIntegerField(help_text="2 x mid at the fill, ticks (for marks)")
    ts_event = models.BigIntegerField()
    ts_local = models.BigIntegerField()

    class Meta:
        ordering = ["node", "-seq"]
        constraints = [
            models.UniqueConstraint(fields=["node", "seq"], name="trading_fill_node_seq_unique"),
        ]
        indexes = [
            models.Index(fields=["node", "client_order_id"], name="trading_fill_node_order"),
            models.Index(fields=["node", "instrument", "seq"], name="trading_fill_node_instr_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.qty}@{self.price} #{self.client_order_id} (seq {self.seq})"


class Position(models.Model):
    """The position of one node in one instrument after its last fill."""

    # indexed by the unique constraint below, which leads with node
    node = models.ForeignKey(
        "trading.Node", on_delete=models.PROTECT, related_name="positions", db_index=False
    )
    instrument = models.SmallIntegerField()
    symbol = models.CharField(max_length=32, blank=True)
    qty = models.BigIntegerField(default=0, help_text="lots, signed (short < 0)")
    realized = models.BigIntegerField(default=0, help_text="gross realized pnl, nano settlement currency")
    fees = models.BigIntegerField(default=0, help_text="fees paid, nano (negative: net rebates)")
    volume = models.BigIntegerField(default=0, help_text="lots traded")
    fills = models.BigIntegerField(default=0)
    last_fill_seq = models.BigIntegerField(default=0)
    last_fill_ts_event = models.BigIntegerField(default=0)
    last_fill_ts_local = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["node", "instrument"]
        constraints = [
            models.UniqueConstraint(fields=["node", "instrument"], name="trading_position_node_instr_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol or self.instrument}: {self.qty}"

    @property
    def net_realized(self) -> int:
        return self.realized - self.fees
