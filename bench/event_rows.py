"""Journal rows straight into trading_event (binary COPY, as the sink writes them) for the
event-browser benchmark and tests: synthetic but realistic node output."""

from __future__ import annotations

import numpy as np

from hotpath.types import JOURNAL_RECORD_DTYPE

# what a market-making node's journal is made of: mostly inputs, then orders, cancels, fills
KIND_MIX = ((19, 0.86), (2, 0.04), (1, 0.03), (3, 0.03), (6, 0.02), (7, 0.01), (10, 0.005), (8, 0.005))
T0 = 1_723_075_200_000_000_000  # 2024-08-08 00:00 UTC


def synthetic_records(
    first_seq: int, count: int, *, seed: int = 7, ns_per_record: int = 50_000
) -> np.ndarray:
    rng = np.random.default_rng(seed + first_seq)
    seqs = np.arange(first_seq, first_seq + count, dtype=np.int64)
    records = np.zeros(count, dtype=JOURNAL_RECORD_DTYPE)
    records["seq"] = seqs
    records["ts_local"] = T0 + seqs * ns_per_record
    records["ts_event"] = records["ts_local"] - 300_000
    kinds, weights = zip(*KIND_MIX, strict=True)
    records["kind"] = rng.choice(np.array(kinds), size=count, p=np.array(weights) / sum(weights))
    ordered = records["kind"] != 19
    records["order_id"] = np.where(ordered, 1 + seqs // 40, 0)
    records["price"] = 6_000_000 + rng.integers(-5_000, 5_000, count)
    records["qty"] = rng.integers(1, 100_000, count)
    records["flags"] = rng.integers(0, 2, count)
    return records


def load_events(conninfo: str, node_id: int, records: np.ndarray, *, durable_seq: int | None = None) -> None:
    """COPY `records` into trading_event for `node_id` (day partitions created as needed) and
    publish the high-water mark (default: the last seq)."""
    import psycopg

    from trading.journal_sink import (
        COPY_EVENTS_SQL,
        COPY_HEADER,
        COPY_TRAILER,
        create_partition_sql,
        encode_copy_rows,
        record_days,
    )

    with psycopg.connect(conninfo) as conn:
        for day in record_days(records):
            conn.execute(create_partition_sql(day))
        with conn.cursor().copy(COPY_EVENTS_SQL) as copy:
            copy.write(COPY_HEADER)
            for start in range(0, len(records), 500_000):
                copy.write(encode_copy_rows(records[start : start + 500_000], node_id).tobytes())
            copy.write(COPY_TRAILER)
        last = int(records["seq"][-1]) if durable_seq is None else durable_seq
        conn.execute(
            "INSERT INTO trading_journal_hwm (node_id, seq, ts_local, journal_seq, updated_at) "
            "VALUES (%s, %s, 0, %s, now()) ON CONFLICT (node_id) DO UPDATE SET seq = EXCLUDED.seq, "
            "journal_seq = EXCLUDED.journal_seq, updated_at = now()",
            (node_id, last, int(records["seq"][-1])),
        )
