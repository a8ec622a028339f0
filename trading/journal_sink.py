"""The node's only writer to PostgreSQL: streams the local journal segments into trading_event.

A daemon thread tails the segment files (trading.engine.journal.JournalReader: it needs nothing
from the writer's Journal object, only the directory) and ships records in order, in batches of up
to `batch_records`, each batch in ONE transaction:

    lock the node's high-water-mark row, check it is where this batch continues
    -> binary COPY of the records into trading_event (payload built with numpy, no per-row Python)
    -> order / fill / position projections (one row per touched order, per fill, per instrument)
    -> move the high-water mark to the batch's last seq
    COMMIT

so PostgreSQL holds exactly the records 1..hwm of a node, with projections that match them, and
the mark is the published durable seq. After any failure (PostgreSQL down or slow, connection
killed, this process killed) the sink reconnects, reads the committed mark and resumes right after
it: a batch either committed with its mark or not at all, so no seq is ever written twice or
skipped, and nothing is written past a gap (a gap in the segments stops the sink with an error).
While PostgreSQL is unreachable the segments keep everything and `lag` grows; the sink retries
with exponential backoff, forever.

The node passes `limit_seq=journal.synced_seq` (a callable) so that PostgreSQL never holds a record
that a power cut could still take back from the local segments.

psycopg 3 only: this module imports nothing from Django (it runs in the node process).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from psycopg import errors as pg_errors

from hotpath.types import (
    F_MAKER,
    F_SELL,
    JOURNAL_RECORD_DTYPE,
    OT_LIMIT,
    OT_LIMIT_MAKER,
    OT_MARKET,
    REC_CANCEL_REJECTED,
    REC_CANCEL_SENT,
    REC_FILL,
    REC_ORDER_ACKED,
    REC_ORDER_ADOPTED,
    REC_ORDER_CANCELED,
    REC_ORDER_EXPIRED,
    REC_ORDER_NEW,
    REC_ORDER_REJECTED,
    REC_ORDER_SENT,
    TIF_FOK,
    TIF_GTC,
    TIF_IOC,
)
from trading.engine.journal import JournalError, JournalReader, list_segments

log = logging.getLogger("trading.journal_sink")

DAY_NS = 86_400_000_000_000
PARTITION_LOCK_KEY = 0x6A6F75726E616C  # pg_advisory_xact_lock key serialising partition creation

# --- binary COPY encoding -----------------------------------------------------------------------

# trading_event columns in COPY order, with their PostgreSQL binary types
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("node_id", ">i8"),
    ("seq", ">i8"),
    ("ts_event", ">i8"),
    ("ts_local", ">i8"),
    ("order_id", ">i8"),
    ("price", ">i8"),
    ("qty", ">i8"),
    ("a", ">i8"),
    ("b", ">i8"),
    ("c", ">i8"),
    ("d", ">i8"),
    ("e", ">i8"),
    ("kind", ">i2"),  # smallint
    ("instrument", ">i2"),  # smallint
    ("flags", ">i4"),  # integer
    ("reason", ">i4"),  # integer
)
COPY_EVENTS_SQL = (
    f"COPY trading_event ({', '.join(name for name, _ in EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
)
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)

# One binary COPY tuple: field count, then (byte length, big-endian value) per column.
_TUPLE_FIELDS = [("field_count", ">i2")]
for _name, _type in EVENT_COLUMNS:
    _TUPLE_FIELDS += [(f"{_name}_len", ">i4"), (_name, _type)]
COPY_TUPLE_DTYPE = np.dtype(_TUPLE_FIELDS)  # packed: 174 bytes per row
_TUPLE_TEMPLATE = np.zeros(1, dtype=COPY_TUPLE_DTYPE)
_TUPLE_TEMPLATE["field_count"] = len(EVENT_COLUMNS)
for _name, _type in EVENT_COLUMNS:
    _TUPLE_TEMPLATE[f"{_name}_len"] = np.dtype(_type).itemsize
del _name, _type


class SinkError(Exception):
    """The sink cannot ship (bad records, a gap, a diverged database); the message says why."""


def encode_copy_rows(records: np.ndarray, node_id: int) -> np.ndarray:
    """The binary COPY tuples of `records` for trading_event (vectorised: numpy byte-swaps each
    column into a packed template; no Python per row). Write COPY_HEADER, the result's bytes,
    COPY_TRAILER."""
    if len(records) and (int(records["kind"].max()) > 32767 or int(records["instrument"].max()) > 32767):
        raise SinkError(
            "record kind or instrument does not fit smallint (> 32767): not a valid journal record"
        )
    rows = np.repeat(_TUPLE_TEMPLATE, len(records))
    rows["node_id"] = node_id
    for name, _ in EVENT_COLUMNS[1:]:
        rows[name] = records[name]
    return rows


# --- day partitions -------------------------------------------------------------------------------


def partition_name(day: dt.date) -> str:
    return f"trading_event_p{day:%Y%m%d}"


def partition_bounds(day: dt.date) -> tuple[int, int]:
    start = (day - dt.date(1970, 1, 1)).days * DAY_NS
    return start, start + DAY_NS


def create_partition_sql(day: dt.date) -> str:
    start, end = partition_bounds(day)
    return (
        f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF trading_event "
        f"FOR VALUES FROM ({start}) TO ({end})"
    )


def record_days(records: np.ndarray) -> list[dt.date]:
    days = np.unique(records["ts_local"] // DAY_NS)
    try:
        return [dt.date(1970, 1, 1) + dt.timedelta(days=int(day)) for day in days]
    except OverflowError:
        raise SinkError(
            f"ts_local out of range in seqs {int(records['seq'][0])}..{int(records['seq'][-1])}: "
            f"days {int(days[0])}..{int(days[-1])} since 1970"
        ) from None


# --- projections ----------------------------------------------------------------------------------

ORDER_RECORD_KINDS = np.array(
    [
        REC_ORDER_NEW,
        REC_ORDER_SENT,
        REC_ORDER_ACKED,
        REC_ORDER_REJECTED,
        REC_CANCEL_SENT,
        REC_ORDER_CANCELED,
        REC_CANCEL_REJECTED,
        REC_ORDER_EXPIRED,
        REC_FILL,
        REC_ORDER_ADOPTED,
    ],
    dtype=np.uint16,
)
ORDER_TYPES = {OT_LIMIT: "LIMIT", OT_MARKET: "MARKET", OT_LIMIT_MAKER: "LIMIT_MAKER"}
TIME_IN_FORCE = {TIF_GTC: "GTC", TIF_IOC: "IOC", TIF_FOK: "FOK"}
LIVE = {"NEW", "SENT", "ACKED", "PARTIALLY_FILLED", "PENDING_CANCEL"}

ORDER_COLUMNS = (
    "client_id",
    "instrument",
    "symbol",
    "side",
    "order_type",
    "tif",
    "flags",
    "price",
    "qty",
    "filled",
    "status",
    "reason",
    "venue_order_id",
    "created_ns",
    "sent_ns",
    "acked_ns",
    "updated_ns",
    "first_seq",
    "last_seq",
)
SELECT_ORDERS_SQL = (
    f"SELECT {', '.join(ORDER_COLUMNS)} FROM trading_order WHERE node_id = %s AND client_id = ANY(%s)"
)
UPSERT_ORDER_SQL = (
    f"INSERT INTO trading_order (node_id, {', '.join(ORDER_COLUMNS)}) "
    f"VALUES (%s, {', '.join(['%s'] * len(ORDER_COLUMNS))}) "
    "ON CONFLICT (node_id, client_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in ORDER_COLUMNS[1:])
)
FILL_COLUMNS = (
    "node_id",
    "seq",
    "client_order_id",
    "instrument",
    "symbol",
    "side",
    "price",
    "qty",
    "fee",
    "is_maker",
    "position_after",
    "realized_after",
    "venue_trade_id",
    "mid_x2",
    "ts_event",
    "ts_local",
)
COPY_FILLS_SQL = f"COPY trading_fill ({', '.join(FILL_COLUMNS)}) FROM STDIN"
UPSERT_POSITION_SQL = """
INSERT INTO trading_position (node_id, instrument, symbol, qty, realized, fees, volume, fills,
                              last_fill_seq, last_fill_ts_event, last_fill_ts_local)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (node_id, instrument) DO UPDATE SET
    symbol = EXCLUDED.symbol,
    qty = EXCLUDED.qty,
    realized = EXCLUDED.realized,
    fees = trading_position.fees + EXCLUDED.fees,
    volume = trading_position.volume + EXCLUDED.volume,
    fills = trading_position.fills + EXCLUDED.fills,
    last_fill_seq = EXCLUDED.last_fill_seq,
    last_fill_ts_event = EXCLUDED.last_fill_ts_event,
    last_fill_ts_local = EXCLUDED.last_fill_ts_local
"""


@dataclass
class Projection:
    """What one batch of records changes in the projection tables."""

    orders: dict[int, dict] = field(default_factory=dict)  # client_id -> full trading_order row
    fills: list[tuple] = field(default_factory=list)  # FILL_COLUMNS rows
    positions: dict[int, list] = field(default_factory=dict)  # instrument -> UPSERT_POSITION_SQL params


def _side(flags: int) -> str:
    return "SELL" if flags & F_SELL else "BUY"


def project(records: np.ndarray, node_id: int, symbols: dict[int, str], load_orders) -> Projection:
    """Fold a batch's order and fill records into rows. `load_orders(client_ids)` returns the
    stored rows (dicts) of orders the batch continues; only order records are visited (a small
    fraction of a batch), through column lists rather than numpy scalars."""
    out = Projection()
    sub = records[np.isin(records["kind"], ORDER_RECORD_KINDS)]
    if len(sub) == 0:
        return out
    cols = {name: sub[name].tolist() for name in JOURNAL_RECORD_DTYPE.names}
    kinds, order_ids = cols["kind"], cols["order_id"]
    starts = {REC_ORDER_NEW, REC_ORDER_ADOPTED}
    first_kind: dict[int, int] = {}
    for kind, order_id in zip(kinds, order_ids, strict=True):
        first_kind.setdefault(order_id, kind)
    known = [oid for oid, kind in first_kind.items() if kind not in starts]
    orders = out.orders
    if known:
        orders.update(load_orders(known))
    for i, kind in enumerate(kinds):
        seq, ts, oid, flags = cols["seq"][i], cols["ts_local"][i], order_ids[i], cols["flags"][i]
        instrument = cols["instrument"][i]
        if kind == REC_FILL:
            out.fills.append(
                (
                    node_id,
                    seq,
                    oid,
                    instrument,
                    symbols.get(instrument, ""),
                    _side(flags),
                    cols["price"][i],
                    cols["qty"][i],
                    cols["c"][i],
                    bool(flags & F_MAKER),
                    cols["a"][i],
                    cols["b"][i],
                    cols["d"][i],
                    cols["e"][i],
                    cols["ts_event"][i],
                    ts,
                )
            )
            pos = out.positions.get(instrument)
            if pos is None:
                pos = out.positions[instrument] = [
                    node_id,
                    instrument,
                    symbols.get(instrument, ""),
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ]
            pos[3], pos[4] = cols["a"][i], cols["b"][i]  # position and gross realized after the fill
            pos[5] += cols["c"][i]  # fees
            pos[6] += cols["qty"][i]  # volume
            pos[7] += 1
            pos[8], pos[9], pos[10] = seq, cols["ts_event"][i], ts
        if kind in (REC_ORDER_NEW, REC_ORDER_ADOPTED):
            adopted = kind == REC_ORDER_ADOPTED
            filled = cols["a"][i] if adopted else 0
            orders[oid] = {
                "client_id": oid,
                "instrument": instrument,
                "symbol": symbols.get(instrument, ""),
                "side": _side(flags),
                # REC_ORDER_ADOPTED carries its order type in c, REC_ORDER_NEW in a
                "order_type": ORDER_TYPES.get(cols["c"][i] if adopted else cols["a"][i], "LIMIT"),
                "tif": "GTC" if adopted else TIME_IN_FORCE.get(cols["b"][i], "GTC"),
                "flags": 0 if adopted else flags & ~F_SELL,
                "price": cols["price"][i],
                "qty": cols["qty"][i],
                "filled": filled,
                "status": ("PARTIALLY_FILLED" if filled > 0 else "ACKED") if adopted else "NEW",
                "reason": 0,
                "venue_order_id": cols["b"][i] if adopted else 0,
                "created_ns": ts,
                "sent_ns": ts if adopted else None,
                "acked_ns": ts if adopted else None,
                "updated_ns": ts,
                "first_seq": seq,
                "last_seq": seq,
            }  # fmt: skip
            continue
        order = orders.get(oid)
        if order is None:
            continue  # a fill of an order this node never journaled (the engine alerted): no row
        order["last_seq"], order["updated_ns"] = seq, ts
        status = order["status"]
        if kind == REC_ORDER_SENT:
            order["sent_ns"] = ts
            if status == "NEW":
                order["status"] = "SENT"
        elif kind == REC_ORDER_ACKED:
            order["venue_order_id"], order["acked_ns"] = cols["a"][i], ts
            if status != "PENDING_CANCEL":
                order["status"] = "ACKED"
        elif kind == REC_ORDER_REJECTED:
            order["status"], order["reason"] = "REJECTED", cols["reason"][i]
        elif kind == REC_CANCEL_SENT:
            if status in LIVE:
                order["status"] = "PENDING_CANCEL"
        elif kind == REC_ORDER_CANCELED:
            order["status"] = "CANCELLED"
        elif kind == REC_CANCEL_REJECTED:
            order["reason"] = cols["reason"][i]
            order["status"] = "PARTIALLY_FILLED" if order["filled"] > 0 else "ACKED"
        elif kind == REC_ORDER_EXPIRED:
            order["status"] = "EXPIRED"
        elif kind == REC_FILL:
            order["filled"] += cols["qty"][i]
            if order["filled"] >= order["qty"]:
                order["status"] = "FILLED"
            elif status != "PENDING_CANCEL":
                order["status"] = "PARTIALLY_FILLED"
    return out


# --- the sink -------------------------------------------------------------------------------------


class JournalSink:
    """JournalSink(journal_dir, node_id, conninfo, *, instruments=None, batch_records=50_000,
    poll_interval_s=0.01, retry_initial_s=0.1, retry_max_s=5.0, limit_seq=None).

    start() / stop(timeout) / wake(). Readable from any thread: durable_seq (published in
    trading_journal_hwm), lag, healthy, last_error, stats(). No exception ever escapes the thread.
    """

    def __init__(
        self,
        journal_dir: Path,
        node_id: int,
        conninfo: str,
        *,
        instruments: dict[int, str] | None = None,
        batch_records: int = 50_000,
        poll_interval_s: float = 0.01,
        retry_initial_s: float = 0.1,
        retry_max_s: float = 5.0,
        limit_seq: Callable[[], int] | None = None,
        connect_timeout_s: int = 5,
        statement_timeout_s: float = 60.0,
    ):
        if not isinstance(node_id, int) or node_id < 1:
            raise ValueError(f"node_id must be a positive int, got {node_id!r}")
        if not isinstance(batch_records, int) or batch_records < 1:
            raise ValueError(f"batch_records must be a positive int, got {batch_records!r}")
        if not (poll_interval_s > 0 and 0 < retry_initial_s <= retry_max_s):
            raise ValueError(
                "poll_interval_s, retry_initial_s must be > 0 and retry_initial_s <= retry_max_s"
            )
        if not conninfo or not isinstance(conninfo, str):
            raise ValueError("conninfo must be a libpq connection string or URI")
        self.journal_dir = Path(journal_dir)
        self.node_id = node_id
        self._conninfo = conninfo
        self._symbols = {int(k): str(v) for k, v in (instruments or {}).items()}
        self._batch_records = batch_records
        self._poll_interval_s = poll_interval_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._limit_seq = limit_seq
        self._connect_timeout_s = connect_timeout_s
        self._statement_timeout_ms = int(statement_timeout_s * 1000)
        # published state (plain attribute reads are atomic)
        self._durable_seq = 0
        self._visible_seq = 0
        self._healthy = False
        self._last_error = ""
        self._rows = 0
        self._transactions = 0
        self._failures = 0
        self._last_commit_monotonic = 0.0
        # thread-owned
        self._conn: psycopg.Connection | None = None
        self._reader: JournalReader | None = None
        self._scanner: JournalReader | None = None  # header walk for lag; survives reconnects
        self._join_check = False  # the first record read must equal the stored record `durable_seq`
        self._waiting = ""  # why the sink cannot ship although PostgreSQL answers
        self._partitions: set[dt.date] = set()
        self._next_ahead_attempt = 0.0  # monotonic time of the next try at tomorrow's partition
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- published state

    @property
    def durable_seq(self) -> int:
        """Every record 1..durable_seq is committed in PostgreSQL (0 until the sink has connected)."""
        return self._durable_seq

    @property
    def lag(self) -> int:
        """Records complete in the local segments but not yet committed in PostgreSQL."""
        return max(0, self._visible_seq - self._durable_seq)

    @property
    def written_seq(self) -> int:
        """The last seq the sink has seen complete in the segments."""
        return self._visible_seq

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def last_error(self) -> str:
        return self._last_error

    def stats(self) -> dict:
        return {
            "durable_seq": self._durable_seq,
            "written_seq": self._visible_seq,
            "lag": self.lag,
            "healthy": self._healthy,
            "last_error": self._last_error,
            "rows": self._rows,
            "transactions": self._transactions,
            "failures": self._failures,
            "seconds_since_commit": (
                time.monotonic() - self._last_commit_monotonic if self._last_commit_monotonic else None
            ),
        }

    # --- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the journal sink was already started")
        self._thread = threading.Thread(target=self._run, name=f"journal-sink:{self.node_id}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the segments now (the kernel calls it after an append)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop after the batch in flight; True if the thread has ended."""
        self._stopping.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout / 2)
        if self._thread.is_alive() and self._conn is not None:
            # stuck in a statement on a slow or hung server: cancel it (thread-safe in libpq)
            try:
                self._conn.cancel_safe(timeout=min(2.0, timeout / 4))
            except Exception:  # best effort, the join below decides
                log.debug("cancel of the journal sink's statement failed", exc_info=True)
        self._thread.join(timeout / 2)
        return not self._thread.is_alive()

    def wait_durable(self, seq: int, timeout: float) -> bool:
        """Poll until durable_seq >= seq (tests, tools and shutdown)."""
        deadline = time.monotonic() + timeout
        while self._durable_seq < seq:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    # --- the thread

    def _run(self) -> None:
        delay = self._retry_initial_s
        while not self._stopping.is_set():
            try:
                if self._conn is None:
                    self._connect()
                shipped = self._ship_once()
                if self._waiting:
                    self._healthy, self._last_error = False, self._waiting
                else:
                    self._set_healthy()
                delay = self._retry_initial_s
                if shipped == 0:
                    self._wake.wait(self._poll_interval_s)
                    self._wake.clear()
            except Exception as exc:  # the sink must never die: report and retry
                self._fail(exc)
                self._sleep_watching(delay)
                delay = min(delay * 2, self._retry_max_s)
        self._disconnect()
        for reader in (self._reader, self._scanner):
            if reader is not None:
                reader.close()

    def _set_healthy(self) -> None:
        if not self._healthy and self._last_error:
            log.info("journal sink for node %s recovered at seq %s", self.node_id, self._durable_seq)
        self._healthy, self._last_error = True, ""

    def _fail(self, exc: BaseException) -> None:
        message = _describe(exc, self.node_id)
        self._failures += 1
        if message != self._last_error:
            log.warning("journal sink for node %s: %s", self.node_id, message)
        self._healthy, self._last_error = False, message
        self._disconnect()

    def _sleep_watching(self, seconds: float) -> None:
        """Back off, but keep `lag` current while PostgreSQL is away."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            self._refresh_visible()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._stopping.wait(min(remaining, max(self._poll_interval_s, 0.05)))

    def _refresh_visible(self) -> None:
        try:
            if self._scanner is None:
                segments = list_segments(self.journal_dir)
                first = segments[0][0] if segments else 1
                self._scanner = JournalReader(self.journal_dir, max(self._durable_seq + 1, first))
            self._visible_seq = max(self._visible_seq, self._scanner.visible_seq())
        except JournalError:
            # pruned under the scanner: start again from what is there (read() reports real trouble)
            if self._scanner is not None:
                self._scanner.close()
            self._scanner = None

    def _disconnect(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # the connection is being discarded anyway
                log.debug("closing the journal sink connection failed", exc_info=True)
            self._conn = None
        if self._reader is not None:
            # records read but maybe not committed: re-read from the committed mark next time
            self._reader.close()
            self._reader = None

    def _connect(self) -> None:
        conn = psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=self._connect_timeout_s,
            application_name=f"atomic-journal-sink-{self.node_id}",
        )
        try:
            conn.execute(f"SET statement_timeout = {self._statement_timeout_ms}")
            conn.execute(
                "INSERT INTO trading_journal_hwm (node_id, seq, ts_local, journal_seq, updated_at) "
                "VALUES (%s, 0, 0, 0, now()) ON CONFLICT (node_id) DO NOTHING",
                (self.node_id,),
            )
            (durable,) = conn.execute(
                "SELECT seq FROM trading_journal_hwm WHERE node_id = %s", (self.node_id,)
            ).fetchone()
            self._partitions = {
                day
                for (name,) in conn.execute(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'trading_event'::regclass"
                )
                if (day := _day_of_partition(name)) is not None
            }
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._durable_seq = durable
        self._position_reader(durable)

    def _position_reader(self, durable: int) -> None:
        """Read from the stored mark: the record at `durable` itself when the segments still have
        it, to check that PostgreSQL and the local journal agree where they join."""
        self._waiting = ""
        segments = list_segments(self.journal_dir)
        first_local = segments[0][0] if segments else 1
        if durable >= 1 and durable >= first_local:
            self._reader, self._join_check = JournalReader(self.journal_dir, durable), True
        elif durable + 1 >= first_local:
            self._reader, self._join_check = JournalReader(self.journal_dir, durable + 1), False
        else:
            raise SinkError(
                f"records {durable + 1}..{first_local - 1} are neither in PostgreSQL nor in the local "
                f"journal {self.journal_dir} (pruned before they were shipped)"
            )

    def _ship_once(self) -> int:
        self._refresh_visible()
        upto = self._limit_seq() if self._limit_seq is not None else None
        records = self._reader.read(self._batch_records, upto_seq=upto)
        if self._join_check:
            if len(records) == 0:
                if self._visible_seq < self._durable_seq:
                    # a journal restored from an older copy, or records a power cut took back:
                    # whatever the node journals next under those seqs must not be skipped silently
                    self._waiting = (
                        f"waiting: PostgreSQL holds node {self.node_id} records up to seq {self._durable_seq} "
                        f"but the local journal ends at {self._visible_seq}"
                    )
                return 0
            self._waiting = ""
            self._check_join(records[0])
            self._join_check = False
            records = records[1:]
        if len(records) == 0:
            return 0
        self._commit_batch(records)
        return len(records)

    def _check_join(self, local: np.void) -> None:
        names = [name for name, _ in EVENT_COLUMNS[1:]]
        stored = self._conn.execute(
            f"SELECT {', '.join(names)} FROM trading_event WHERE node_id = %s AND seq = %s",
            (self.node_id, self._durable_seq),
        ).fetchone()
        if stored is None:
            raise SinkError(
                f"trading_journal_hwm says node {self.node_id} is durable to seq {self._durable_seq} "
                "but trading_event has no such row"
            )
        mine = tuple(int(local[name]) for name in names)
        if tuple(stored) != mine:
            raise SinkError(
                f"node {self.node_id} diverged: record {self._durable_seq} in PostgreSQL differs from the "
                f"local journal ({dict(zip(names, stored, strict=True))} != {dict(zip(names, mine, strict=True))})"
            )

    def _commit_batch(self, records: np.ndarray) -> None:
        first, last = int(records["seq"][0]), int(records["seq"][-1])
        if first != self._durable_seq + 1:
            raise SinkError(f"batch starts at seq {first}, expected {self._durable_seq + 1}")
        rows = encode_copy_rows(records, self.node_id)
        self._ensure_partitions(records)
        conn = self._conn
        with conn.transaction():
            (stored,) = conn.execute(
                "SELECT seq FROM trading_journal_hwm WHERE node_id = %s FOR UPDATE", (self.node_id,)
            ).fetchone()
            if stored != self._durable_seq:
                # another writer for this node moved the mark: resynchronise from it
                raise SinkError(
                    f"trading_journal_hwm of node {self.node_id} moved to {stored} (expected "
                    f"{self._durable_seq}): is another sink writing this node?"
                )
            with conn.cursor() as cur:
                with cur.copy(COPY_EVENTS_SQL) as copy:
                    copy.write(COPY_HEADER)
                    copy.write(memoryview(rows.view(np.uint8)))
                    copy.write(COPY_TRAILER)
                self._write_projection(cur, project(records, self.node_id, self._symbols, self._load_orders))
                cur.execute(
                    "UPDATE trading_journal_hwm SET seq = %s, ts_local = %s, journal_seq = %s, updated_at = now() "
                    "WHERE node_id = %s",
                    (last, int(records["ts_local"][-1]), max(self._visible_seq, last), self.node_id),
                )
        self._durable_seq = last
        self._rows += len(records)
        self._transactions += 1
        self._last_commit_monotonic = time.monotonic()

    def _ensure_partitions(self, records: np.ndarray) -> None:
        days = record_days(records)
        self._create_partitions([day for day in days if day not in self._partitions], lock_timeout_ms=5_000)
        tomorrow = days[-1] + dt.timedelta(days=1) if days[-1] < dt.date.max else None
        if tomorrow is None or tomorrow in self._partitions or time.monotonic() < self._next_ahead_attempt:
            return
        # Tomorrow's partition too, ahead of time, so that the node's midnight costs nothing. Best
        # effort: if a long reader holds the table, try again in a minute rather than stall here.
        try:
            self._create_partitions([tomorrow], lock_timeout_ms=1_000)
        except pg_errors.LockNotAvailable:
            self._next_ahead_attempt = time.monotonic() + 60

    def _create_partitions(self, days: list[dt.date], *, lock_timeout_ms: int) -> None:
        if not days:
            return
        # In its own short transaction: creating a partition locks the parent table, which must
        # not be held for a whole batch. The advisory lock makes IF NOT EXISTS race-safe between
        # sinks of different nodes creating the same day; the lock timeout keeps a long reader of
        # the table from queueing every writer behind this statement.
        with self._conn.transaction():
            self._conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK_KEY,))
            for day in days:
                self._conn.execute(create_partition_sql(day))
        self._partitions.update(days)

    def _load_orders(self, client_ids: list[int]) -> dict[int, dict]:
        rows = self._conn.execute(SELECT_ORDERS_SQL, (self.node_id, client_ids)).fetchall()
        return {row[0]: dict(zip(ORDER_COLUMNS, row, strict=True)) for row in rows}

    def _write_projection(self, cur: psycopg.Cursor, projection: Projection) -> None:
        if projection.orders:
            cur.executemany(
                UPSERT_ORDER_SQL,
                [(self.node_id, *(order[c] for c in ORDER_COLUMNS)) for order in projection.orders.values()],
            )
        if projection.fills:
            with cur.copy(COPY_FILLS_SQL) as copy:
                for fill in projection.fills:
                    copy.write_row(fill)
        if projection.positions:
            cur.executemany(UPSERT_POSITION_SQL, list(projection.positions.values()))


def _day_of_partition(name: str) -> dt.date | None:
    if not name.startswith("trading_event_p"):
        return None
    try:
        return dt.datetime.strptime(name.removeprefix("trading_event_p"), "%Y%m%d").date()
    except ValueError:
        return None


def _describe(exc: BaseException, node_id: int) -> str:
    """One line an operator can act on."""
    if isinstance(exc, pg_errors.ForeignKeyViolation) and "trading_journal_hwm" in str(exc):
        return f"node id {node_id} does not exist in trading_node: create the node before its sink runs"
    if isinstance(exc, pg_errors.UndefinedTable):
        return f"PostgreSQL schema is missing the journal tables (run migrations): {str(exc).strip()}"
    if isinstance(exc, psycopg.OperationalError):
        return f"PostgreSQL unavailable: {' '.join(str(exc).split())}"
    if isinstance(exc, psycopg.Error):
        return f"PostgreSQL error ({type(exc).__name__}): {' '.join(str(exc).split())}"
    if isinstance(exc, JournalError | SinkError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


RESTORE_CHUNK = 100_000
_RESTORE_COLUMNS = (
    "seq", "ts_event", "ts_local", "order_id", "price", "qty", "a", "b", "c", "d", "e",
    "kind", "flags", "instrument", "reason",
)  # fmt: skip


def read_journal_rows(
    cursor, node_id: int, after_seq: int = 0, through_seq: int | None = None, chunk: int = RESTORE_CHUNK
) -> Iterator[np.ndarray]:
    """A node's records in PostgreSQL with after_seq < seq (<= through_seq), in seq order, as
    journal-record arrays of at most `chunk` rows (a psycopg or Django cursor: one query per
    chunk, never the whole journal at once). Raises SinkError on a gap, and when through_seq is
    given and the rows end before it."""
    last = after_seq
    while through_seq is None or last < through_seq:
        limit = chunk if through_seq is None else min(chunk, through_seq - last)
        cursor.execute(
            f"SELECT {', '.join(_RESTORE_COLUMNS)} FROM trading_event WHERE node_id = %s AND seq > %s "
            "ORDER BY seq LIMIT %s",
            (node_id, last, limit),
        )
        rows = cursor.fetchall()
        if not rows:
            if through_seq is not None:
                raise SinkError(
                    f"node {node_id}: PostgreSQL holds no record after seq {last} (wanted {through_seq})"
                )
            return
        records = np.zeros(len(rows), dtype=JOURNAL_RECORD_DTYPE)
        columns = list(zip(*rows, strict=True))
        for name, values in zip(_RESTORE_COLUMNS, columns, strict=True):
            records[name] = values
        expected = np.arange(last + 1, last + 1 + len(rows), dtype=np.int64)
        if not np.array_equal(records["seq"], expected):
            bad = int(np.flatnonzero(records["seq"] != expected)[0])
            raise SinkError(
                f"node {node_id}: PostgreSQL holds a gap after seq {int(expected[bad]) - 1} "
                f"(the next record there is seq {int(records['seq'][bad])})"
            )
        yield records
        last += len(rows)


def restore_journal(conninfo: str, node_id: int, journal) -> int:
    """Rebuild an empty local journal from the node's records in PostgreSQL (the segments were
    lost: a new disk or host). Returns the records restored; refuses a gap. The journal must be
    open and empty; records are appended in seq order, so the result is an ordinary journal."""
    if journal.last_seq != 0:
        raise SinkError("restore_journal needs an empty journal")
    restored = 0
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cursor:
        try:
            for chunk in read_journal_rows(cursor, node_id):
                journal.append(chunk)
                restored += len(chunk)
        except SinkError as exc:
            raise SinkError(f"{exc}: cannot restore") from exc
    return restored
