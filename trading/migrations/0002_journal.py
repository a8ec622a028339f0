"""The node journal in PostgreSQL: the day-partitioned events table, the published high-water
mark, and the order / fill / position projections (trading/journal_models.py).

trading_event is created with raw SQL because Django cannot declare a partitioned table; its
model is `managed = False`. The journal sink (trading/journal_sink.py) creates one partition per
UTC day of ts_local on demand (trading_event_pYYYYMMDD) and is the only writer.

Why a duplicate (node_id, seq) cannot happen although the primary key must include the
partition key: every sink transaction locks the node's trading_journal_hwm row (SELECT ... FOR
UPDATE), checks that its seq is the one the batch continues, inserts exactly the records
hwm+1 .. hwm+n and moves the mark to hwm+n, all in one transaction. Writers of a node are
serialised by the row lock and a retry after any failure resumes from the committed mark, so
each seq is inserted by exactly one committed transaction. The primary key (node_id, seq,
ts_local) additionally rejects a repeated record outright, and serves keyset pagination on
(node_id, seq).
"""

import django.db.models.deletion
from django.db import migrations, models

EVENTS_TABLE = """
CREATE TABLE trading_event (
    node_id    bigint   NOT NULL,  -- trading_node.id (no FK: it would cost a lookup per row)
    seq        bigint   NOT NULL,  -- node-assigned, contiguous from 1
    ts_event   bigint   NOT NULL,  -- venue time, ns since the epoch
    ts_local   bigint   NOT NULL,  -- node time, ns since the epoch: the partition key
    order_id   bigint   NOT NULL,
    price      bigint   NOT NULL,
    qty        bigint   NOT NULL,
    a          bigint   NOT NULL,
    b          bigint   NOT NULL,
    c          bigint   NOT NULL,
    d          bigint   NOT NULL,
    e          bigint   NOT NULL,
    kind       smallint NOT NULL,  -- hotpath/types.pxd RecordKind
    instrument smallint NOT NULL,
    flags      integer  NOT NULL,  -- uint16 in the record: integer holds every value
    reason     integer  NOT NULL,
    CONSTRAINT trading_event_pkey PRIMARY KEY (node_id, seq, ts_local),
    CONSTRAINT trading_event_seq_positive CHECK (seq > 0)
) PARTITION BY RANGE (ts_local);

COMMENT ON TABLE trading_event IS
    'Node journal records; one partition per UTC day of ts_local; written only by the journal sink';

-- The console's event browser: keyset pagination on (node_id, seq) uses the primary key; these
-- serve its filters without giving up the (node_id, seq) order. Both are partial to keep the
-- insert cost low: inputs (kind 19, REC_INPUT) are ~98% of a node's records, so "inputs only"
-- pages come quickly from the primary key, and most inputs carry no order id.
CREATE INDEX trading_event_node_kind_seq ON trading_event (node_id, kind, seq) WHERE kind <> 19;
CREATE INDEX trading_event_node_order_seq ON trading_event (node_id, order_id, seq) WHERE order_id <> 0;
-- time-range filters inside a day partition (ts_local grows with seq): tiny, cheap to maintain
CREATE INDEX trading_event_ts_local_brin ON trading_event USING brin (ts_local);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(EVENTS_TABLE, reverse_sql="DROP TABLE IF EXISTS trading_event CASCADE;"),
        migrations.CreateModel(
            name="Event",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "node_id",
                        "seq",
                        "ts_local",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("seq", models.BigIntegerField()),
                ("ts_event", models.BigIntegerField(help_text="venue time, ns since the epoch")),
                (
                    "ts_local",
                    models.BigIntegerField(
                        help_text="node receipt time, ns since the epoch (partition key: UTC day)"
                    ),
                ),
                ("order_id", models.BigIntegerField(help_text="client order id (0: none)")),
                ("price", models.BigIntegerField()),
                ("qty", models.BigIntegerField()),
                ("a", models.BigIntegerField()),
                ("b", models.BigIntegerField()),
                ("c", models.BigIntegerField()),
                ("d", models.BigIntegerField()),
                ("e", models.BigIntegerField()),
                (
                    "kind",
                    models.SmallIntegerField(
                        choices=[
                            (0, "None"),
                            (1, "Order New"),
                            (2, "Order Sent"),
                            (3, "Order Acked"),
                            (4, "Order Rejected"),
                            (5, "Risk Denied"),
                            (6, "Cancel Sent"),
                            (7, "Order Canceled"),
                            (8, "Cancel Rejected"),
                            (9, "Order Expired"),
                            (10, "Fill"),
                            (11, "Trading State"),
                            (12, "Round Trip"),
                            (13, "Equity"),
                            (14, "State Hash"),
                            (15, "Book State"),
                            (16, "Quote"),
                            (17, "Control"),
                            (18, "Alert"),
                            (19, "Input"),
                            (20, "Order Adopted"),
                        ]
                    ),
                ),
                ("instrument", models.SmallIntegerField()),
                ("flags", models.IntegerField()),
                ("reason", models.IntegerField()),
            ],
            options={
                "db_table": "trading_event",
                "ordering": ["node_id", "seq"],
                "managed": False,
            },
        ),
        migrations.CreateModel(
            name="JournalHighWaterMark",
            fields=[
                (
                    "node",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="journal_hwm",
                        serialize=False,
                        to="trading.node",
                    ),
                ),
                ("seq", models.BigIntegerField(default=0)),
                ("ts_local", models.BigIntegerField(default=0, help_text="ts_local of record seq (ns)")),
                ("journal_seq", models.BigIntegerField(default=0)),
                ("updated_at", models.DateTimeField()),
            ],
            options={
                "verbose_name": "journal high-water mark",
                "db_table": "trading_journal_hwm",
            },
        ),
        migrations.CreateModel(
            name="Order",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("client_id", models.BigIntegerField()),
                ("instrument", models.SmallIntegerField()),
                ("symbol", models.CharField(blank=True, max_length=32)),
                ("side", models.CharField(choices=[("BUY", "Buy"), ("SELL", "Sell")], max_length=4)),
                (
                    "order_type",
                    models.CharField(
                        choices=[("LIMIT", "Limit"), ("MARKET", "Market"), ("LIMIT_MAKER", "Limit Maker")],
                        max_length=16,
                    ),
                ),
                (
                    "tif",
                    models.CharField(choices=[("GTC", "Gtc"), ("IOC", "Ioc"), ("FOK", "Fok")], max_length=3),
                ),
                (
                    "flags",
                    models.IntegerField(
                        default=0, help_text="F_REDUCE_ONLY | F_OPERATOR bits (hotpath/types.pxd)"
                    ),
                ),
                ("price", models.BigIntegerField(help_text="ticks (0 for market orders)")),
                ("qty", models.BigIntegerField(help_text="original lots")),
                ("filled", models.BigIntegerField(default=0, help_text="lots")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("NEW", "New"),
                            ("SENT", "Sent"),
                            ("ACKED", "Acked"),
                            ("PARTIALLY_FILLED", "Partially Filled"),
                            ("PENDING_CANCEL", "Pending Cancel"),
                            ("FILLED", "Filled"),
                            ("CANCELLED", "Cancelled"),
                            ("REJECTED", "Rejected"),
                            ("EXPIRED", "Expired"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "reason",
                    models.IntegerField(
                        default=0, help_text="venue reason of the last reject or cancel reject"
                    ),
                ),
                ("venue_order_id", models.BigIntegerField(default=0, help_text="0 until acknowledged")),
                ("created_ns", models.BigIntegerField()),
                ("sent_ns", models.BigIntegerField(blank=True, null=True)),
                ("acked_ns", models.BigIntegerField(blank=True, null=True)),
                ("updated_ns", models.BigIntegerField()),
                (
                    "first_seq",
                    models.BigIntegerField(help_text="journal seq of REC_ORDER_NEW (or REC_ORDER_ADOPTED)"),
                ),
                (
                    "last_seq",
                    models.BigIntegerField(help_text="journal seq of the last record about this order"),
                ),
                (
                    "node",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="orders",
                        to="trading.node",
                    ),
                ),
            ],
            options={
                "ordering": ["node", "-client_id"],
                "indexes": [
                    models.Index(fields=["node", "status", "client_id"], name="trading_order_node_status")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("node", "client_id"), name="trading_order_node_client_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="Position",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("instrument", models.SmallIntegerField()),
                ("symbol", models.CharField(blank=True, max_length=32)),
                ("qty", models.BigIntegerField(default=0, help_text="lots, signed (short < 0)")),
                (
                    "realized",
                    models.BigIntegerField(
                        default=0, help_text="gross realized pnl, nano settlement currency"
                    ),
                ),
                (
                    "fees",
                    models.BigIntegerField(default=0, help_text="fees paid, nano (negative: net rebates)"),
                ),
                ("volume", models.BigIntegerField(default=0, help_text="lots traded")),
                ("fills", models.BigIntegerField(default=0)),
                ("last_fill_seq", models.BigIntegerField(default=0)),
                ("last_fill_ts_event", models.BigIntegerField(default=0)),
                ("last_fill_ts_local", models.BigIntegerField(default=0)),
                (
                    "node",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="positions",
                        to="trading.node",
                    ),
                ),
            ],
            options={
                "ordering": ["node", "instrument"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("node", "instrument"), name="trading_position_node_instr_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="Fill",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("seq", models.BigIntegerField(help_text="journal seq of the REC_FILL")),
                ("client_order_id", models.BigIntegerField()),
                ("instrument", models.SmallIntegerField()),
                ("symbol", models.CharField(blank=True, max_length=32)),
                ("side", models.CharField(choices=[("BUY", "Buy"), ("SELL", "Sell")], max_length=4)),
                ("price", models.BigIntegerField(help_text="ticks")),
                ("qty", models.BigIntegerField(help_text="lots")),
                ("fee", models.BigIntegerField(help_text="nano settlement currency (negative: rebate)")),
                ("is_maker", models.BooleanField()),
                ("position_after", models.BigIntegerField(help_text="lots, signed")),
                (
                    "realized_after",
                    models.BigIntegerField(help_text="gross realized pnl after this fill, nano"),
                ),
                ("venue_trade_id", models.BigIntegerField()),
                ("mid_x2", models.BigIntegerField(help_text="2 x mid at the fill, ticks (for marks)")),
                ("ts_event", models.BigIntegerField()),
                ("ts_local", models.BigIntegerField()),
                (
                    "node",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="fills",
                        to="trading.node",
                    ),
                ),
            ],
            options={
                "ordering": ["node", "-seq"],
                "indexes": [
                    models.Index(fields=["node", "client_order_id"], name="trading_fill_node_order"),
                    models.Index(fields=["node", "instrument", "seq"], name="trading_fill_node_instr_seq"),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("node", "seq"), name="trading_fill_node_seq_unique")
                ],
            },
        ),
    ]
