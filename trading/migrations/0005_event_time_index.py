"""An index for the event-log browser's time filter: (node, ts_local, seq).

A time window is turned into the seq window it spans with an index-only scan of this index,
then paged by seq like every other filter (keyset on the primary key). Created on the
partitioned parent, so every day partition (present and future) gets it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("trading", "0004_audit_and_approvals")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS trading_event_node_ts_seq ON trading_event (node_id, ts_local, seq)",
            "DROP INDEX IF EXISTS trading_event_node_ts_seq",
        )
    ]
