"""The engine state at a journal seq, rebuilt by snapshot + replay (the event-log browser's
"state at seq N"). Reads only: the journal rows and configuration versions in PostgreSQL, and
the node's snapshot files when this process can see the node's state directory.

It is node recovery, not a second replay: `trading.engine.recovery.recover` does the work, fed
by `trading.journal_sink.read_journal_rows` (what `runnode` restores a lost journal with), so
every record after the starting point is regenerated and compared byte for byte, the journaled
state hashes included.

The engine applies an input and all the records it produces in one step, so there is no state
"inside" an input: the state at seq N is the state after the input N belongs to, i.e. after the
last record before the next REC_INPUT (`StateAt.seq`; the page says so when it differs from N).

The work is bounded (records to replay from the nearest starting point, and wall time) so a
request cannot hold a web worker for minutes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import zip_longest
from pathlib import Path

from django.conf import settings
from django.db import connection

from hotpath.orders import OrderStatus
from hotpath.risk import RiskReason, TradingState
from hotpath.types import (
    OT_LIMIT,
    OT_LIMIT_MAKER,
    OT_MARKET,
    REC_INPUT,
    REC_STATE_HASH,
    SELL,
    TIF_FOK,
    TIF_GTC,
    TIF_IOC,
)
from trading.engine import paths
from trading.engine.recovery import RecoveryError, ReplayDiverged, ReplayUnmatched, recover
from trading.engine.snapshots import Snapshot, SnapshotError, SnapshotStore, config_version
from trading.journal_sink import SinkError, read_journal_rows
from trading.models import Node, NodeConfigVersion
from trading.selectors.events import durable_seq
from trading.selectors.instruments import instrument_registry

MAX_SEQ = 2**63 - 1
BOOK_DEPTH = 20
# settings.ATOMIC_OPS declares both ("STATE_AT_MAX_RECORDS", "STATE_AT_TIME_BUDGET_S"); these are the
# fallbacks when a deployment's settings leave them out
DEFAULT_MAX_RECORDS = 1_000_000  # ~ a few seconds of reading and replaying here
DEFAULT_TIME_BUDGET_S = 30.0
BATCH_RECORDS = 20_000  # rows per query: the journal is streamed, never loaded whole
NANO = Decimal(1_000_000_000)
ORDER_TYPES = {OT_LIMIT: "LIMIT", OT_MARKET: "MARKET", OT_LIMIT_MAKER: "LIMIT_MAKER"}
TIME_IN_FORCE = {TIF_GTC: "GTC", TIF_IOC: "IOC", TIF_FOK: "FOK"}


class StateAtError(Exception):
    """Why the state at a seq cannot be shown. kind: a stable code; status: the HTTP status the
    page answers with; seq: the seq it happened at (divergence), if any."""

    def __init__(self, message: str, *, kind: str, status: int = 409, seq: int | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.seq = seq


def _load_config(document: dict):
    """Node documents are read against the registry the node itself used (database rows)."""
    from trading.engine.config import parse_node_config

    return parse_node_config(document, registry=instrument_registry())


def parse_seq(raw: object) -> int:
    """A journal seq from a query string: decimal digits only, 1 .. 2**63-1."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        shown = repr(raw)[:40]
        raise StateAtError(
            f"seq must be a whole number from 1 to {MAX_SEQ}, got {shown}", kind="bad_seq", status=400
        )
    seq = int(text)
    if not 1 <= seq <= MAX_SEQ:
        raise StateAtError(
            f"seq must be a whole number from 1 to {MAX_SEQ}, got {seq}", kind="bad_seq", status=400
        )
    return seq


# ------------------------------------------------------------------------------- inputs of the replay


class DatabaseConfigs:
    """The replay's configuration store: the node's NodeConfigVersion rows (the web process never
    writes the node's configs/ directory, unlike ConfigStore)."""

    def __init__(self, node: Node):
        self.node = node

    def load(self, version: int) -> dict:
        document = (
            NodeConfigVersion.objects.filter(node=self.node, version=version)
            .values_list("document", flat=True)
            .first()
        )
        if document is None:
            raise SnapshotError(f"configuration version {version} is not stored for node {self.node.name}")
        if config_version(document) != version:
            raise SnapshotError(
                f"configuration version {version} of node {self.node.name} does not match its content"
            )
        return document


def node_snapshot_dir(node_name: str) -> Path:
    """Where the node writes its snapshots when it runs on this host with this VAR_DIR."""
    return paths.snapshot_dir(paths.node_state_dir(Path(settings.ATOMIC_OPS["VAR_DIR"]), node_name))


def newest_snapshot(directory: Path | None, max_seq: int) -> tuple[Snapshot | None, list[str]]:
    """The newest intact snapshot with seq <= max_seq in `directory` (None, or a directory that does
    not exist: none), and why others were skipped. Never creates or changes anything."""
    notes: list[str] = []
    try:
        if directory is None or not directory.is_dir():
            return None, notes
        candidates = sorted(directory.glob("snap-*.bin"), reverse=True)
    except OSError as exc:  # e.g. the node's directory is not readable by the web server's user
        notes.append(f"snapshots not readable here ({exc.strerror or exc}): replayed without them")
        return None, notes
    for path in candidates:
        try:
            named_seq = int(path.stem.removeprefix("snap-"))
        except ValueError:
            continue
        if named_seq > max_seq:
            continue  # its name says it is too new: not worth reading
        try:
            snapshot = SnapshotStore.read(path)
        except (SnapshotError, OSError) as exc:
            notes.append(f"{path.name} skipped: {exc}")
            continue
        if snapshot.seq <= max_seq:
            return snapshot, notes
    return None, notes


def _one(sql: str, params: list) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


# ------------------------------------------------------------------------------- the result


@dataclass
class StateAt:
    node: Node
    requested_seq: int
    seq: int  # the state is the one after this record (the end of the input requested_seq is in)
    input_seq: int  # the REC_INPUT that requested_seq belongs to
    durable_seq: int
    start_seq: int  # 0: replayed from the journal's first record
    started_from: str
    replayed_records: int
    verified_hashes: int
    config_version: int
    state_hash: str
    next_seq: int
    inputs: int
    trading_state: str
    trading_state_reason: str
    instruments: list[dict]
    orders: list[dict]
    hash_record: dict | None  # nearest journaled REC_STATE_HASH at or before requested_seq
    elapsed_ms: float
    notes: list[str] = field(default_factory=list)


def _enum_name(enum, value: int, prefix: str) -> str:
    try:
        return enum(value).name.removeprefix(prefix)
    except ValueError:
        return f"#{value}"


def _money(nano: int) -> str:
    return str(Decimal(nano) / NANO)


def _instrument_views(engine, config) -> list[dict]:
    views = []
    for item in config.instruments:
        spec = item.spec
        book = engine.book(item.index, BOOK_DEPTH)
        position = engine.position(item.index)
        realized, fees, unrealized = position["realized"], position["fees"], position["unrealized"]
        bids = [(spec.ticks_to_price(p), spec.lots_to_qty(q)) for p, q in book["bids"]]
        asks = [(spec.ticks_to_price(p), spec.lots_to_qty(q)) for p, q in book["asks"]]
        views.append({
            "index": item.index,
            "symbol": spec.symbol,
            "settle": spec.settle,
            "book_valid": book["valid"],
            "bids": bids,
            "asks": asks,
            "ladder": list(zip_longest(bids, asks, fillvalue=("", ""))),  # (bid level, ask level) rows
            "position": {
                "qty": spec.lots_to_qty(position["qty"]),
                "qty_lots": position["qty"],
                "realized": _money(realized),
                "fees": _money(fees),
                "unrealized": _money(unrealized),
                "net": _money(realized - fees + unrealized),
                "volume": spec.lots_to_qty(position["volume"]),
                "fills": position["fills"],
                "round_trips": position["round_trips"],
                # 2 x mid in ticks: half a tick is possible, so the exact decimal has one digit more
                "mid": str(spec.tick_size * position["mid_x2"] / 2) if position["mid_x2"] > 0 else "",
            },
        })  # fmt: skip
    return views


def _order_views(engine, config) -> list[dict]:
    specs = {item.index: item.spec for item in config.instruments}
    rows = []
    for order in sorted(engine.live_orders(), key=lambda o: o["client_id"]):
        spec = specs.get(order["instrument"])

        def price(ticks, spec=spec):
            return spec.ticks_to_price(ticks) if spec is not None else str(ticks)

        def qty(lots, spec=spec):
            return spec.lots_to_qty(lots) if spec is not None else str(lots)

        rows.append({
            "client_id": order["client_id"],
            "venue_id": order["venue_id"],
            "symbol": spec.symbol if spec is not None else f"#{order['instrument']}",
            "side": "SELL" if order["side"] == SELL else "BUY",
            "order_type": ORDER_TYPES.get(order["order_type"], f"#{order['order_type']}"),
            "tif": TIME_IN_FORCE.get(order["tif"], f"#{order['tif']}"),
            "price": price(order["price"]) if order["order_type"] != OT_MARKET else "market",
            "qty": qty(order["qty"]),
            "filled": qty(order["filled"]),
            "status": _enum_name(OrderStatus, order["status"], "OS_"),
            "ts_created": order["ts_created"],
        })  # fmt: skip
    return rows


# ------------------------------------------------------------------------------- the selector

_USE_NODE_DIR = object()


def state_at(
    node_name: str,
    seq: int,
    *,
    max_records: int | None = None,
    time_budget_s: float | None = None,
    snapshot_dir: Path | None | object = _USE_NODE_DIR,
    batch_records: int = BATCH_RECORDS,
) -> StateAt:
    """The engine state of `node_name` at journal seq `seq`, proven by replay. Raises
    StateAtError (with a message for the operator) when it cannot be rebuilt or proven.
    snapshot_dir: where to look for snapshots (default: the node's state directory on this
    host; None: replay from the journal's start)."""
    began = time.monotonic()
    options = settings.ATOMIC_OPS
    max_records = max_records or int(options.get("STATE_AT_MAX_RECORDS", DEFAULT_MAX_RECORDS))
    time_budget_s = time_budget_s or float(options.get("STATE_AT_TIME_BUDGET_S", DEFAULT_TIME_BUDGET_S))
    if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
        raise StateAtError(f"seq must be a whole number from 1 to {MAX_SEQ}", kind="bad_seq", status=400)
    node = Node.objects.filter(name=node_name).first()
    if node is None:
        raise StateAtError(f"no node named {node_name!r}", kind="no_node", status=404)
    durable = durable_seq(node)
    if durable == 0:
        raise StateAtError(
            f"node {node.name} has no durable journal in PostgreSQL yet", kind="no_journal", status=404
        )
    if seq > durable:
        raise StateAtError(
            f"seq {seq} is beyond the durable high-water mark of node {node.name} (seq {durable}): "
            "PostgreSQL holds nothing past it yet",
            kind="beyond_durable",
            status=404,
        )

    # the input seq belongs to, and the last record of that input (just before the next input)
    row = _one(
        "SELECT seq FROM trading_event WHERE node_id = %s AND kind = %s AND seq <= %s ORDER BY seq DESC LIMIT 1",
        [node.pk, REC_INPUT, seq],
    )
    if row is None:
        raise StateAtError(
            f"no input at or before seq {seq}: the journal of node {node.name} does not start with one",
            kind="no_input",
        )
    input_seq = row[0]
    row = _one(
        "SELECT seq FROM trading_event WHERE node_id = %s AND kind = %s AND seq > %s AND seq <= %s "
        "ORDER BY seq LIMIT 1",
        [node.pk, REC_INPUT, seq, durable],
    )
    end_seq = row[0] - 1 if row is not None else durable
    input_complete = row is not None  # else the input's last records may still be on their way

    directory = node_snapshot_dir(node.name) if snapshot_dir is _USE_NODE_DIR else snapshot_dir
    snapshot, notes = newest_snapshot(directory, end_seq)
    starts: list[Snapshot | None] = []
    if snapshot is not None and end_seq - snapshot.seq <= max_records:
        starts.append(snapshot)
    if end_seq <= max_records:
        starts.append(None)  # also the fallback when the snapshot turns out unusable
    if not starts:
        nearest = (
            f"the snapshot at seq {snapshot.seq}" if snapshot is not None else "the journal's first record"
        )
        raise StateAtError(
            f"seq {seq} is {end_seq - (snapshot.seq if snapshot else 0):,} records after the nearest starting "
            f"point ({nearest}); the console replays at most {max_records:,} records per request so that one "
            "request cannot hold the web server for minutes. Pick a seq closer to a snapshot, or raise "
            "ATOMIC_OPS['STATE_AT_MAX_RECORDS'].",
            kind="too_much_work",
        )

    deadline = began + time_budget_s
    configs = DatabaseConfigs(node)

    def records_after(after: int):
        with connection.cursor() as cursor:
            for chunk in read_journal_rows(cursor, node.pk, after, end_seq, batch_records):
                if time.monotonic() > deadline:
                    raise StateAtError(
                        f"gave up after {time_budget_s:g} s at seq {int(chunk['seq'][0]) - 1} of {end_seq}: "
                        "the replay takes longer than a console request may (ATOMIC_OPS['STATE_AT_TIME_BUDGET_S'])",
                        kind="too_slow",
                    )
                yield chunk

    result = None
    for start in starts:
        try:
            result = recover(records_after, end_seq, configs, start, load_config=_load_config)
            break
        except ReplayDiverged as exc:
            failure = StateAtError(
                f"the journal of node {node.name} does not replay: {exc} (a corrupted or altered row, "
                "a different engine build, or a configuration version that does not match)",
                kind="diverged",
                seq=exc.seq,
            )
        except ReplayUnmatched as exc:
            if not input_complete and exc.journaled == 0:
                failure = StateAtError(
                    f"the input at seq {input_seq} produced records past the durable high-water mark "
                    f"(seq {durable}) that PostgreSQL does not hold yet: try again in a moment",
                    kind="incomplete",
                )
            else:
                failure = StateAtError(
                    f"the journal of node {node.name} does not replay: {exc}", kind="diverged"
                )
        except SinkError as exc:
            failure = StateAtError(f"the journal in PostgreSQL cannot be read through: {exc}", kind="gap")
        except RecoveryError as exc:
            failure = StateAtError(
                f"the journal of node {node.name} cannot be replayed: {exc}", kind="replay_refused"
            )
        if start is not None:
            notes.append(f"snapshot {start.path.name} (seq {start.seq}) not used: {failure.message}")
    if result is None:
        raise failure

    engine = result.engine
    start_seq = result.snapshot_seq
    hash_row = _one(
        "SELECT seq, a, b FROM trading_event WHERE node_id = %s AND kind = %s AND seq <= %s ORDER BY seq DESC LIMIT 1",
        [node.pk, REC_STATE_HASH, seq],
    )
    hash_record = None
    if hash_row is not None:
        hash_seq, value, inputs = hash_row
        hash_record = {
            "seq": hash_seq,
            "hash": f"{value & 0xFFFFFFFFFFFFFFFF:016x}",
            "inputs": inputs,
            # every record after the starting point was regenerated and compared byte for byte
            "verified": hash_seq > start_seq,
        }
    return StateAt(
        node=node,
        requested_seq=seq,
        seq=end_seq,
        input_seq=input_seq,
        durable_seq=durable,
        start_seq=start_seq,
        started_from=f"snapshot at seq {start_seq}" if start_seq else "the journal's first record",
        replayed_records=result.replayed_records,
        verified_hashes=result.verified_hashes,
        config_version=result.config_version,
        state_hash=f"{engine.state_hash():016x}",
        next_seq=engine.next_seq,
        inputs=engine.stats()["inputs"],
        trading_state=_enum_name(TradingState, engine.trading_state, "STATE_"),
        trading_state_reason=_enum_name(RiskReason, engine.trading_state_reason, "RR_"),
        instruments=_instrument_views(engine, result.config),
        orders=_order_views(engine, result.config),
        hash_record=hash_record,
        elapsed_ms=(time.monotonic() - began) * 1000,
        notes=notes,
    )
