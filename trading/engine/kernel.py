"""The node's synchronous hot path: inputs in, engine, journal, orders out, in one turn.

Every input reaches the engine through `process()`; operator commands waiting in the control
listener go first (they are polled before every market message, so a burst of market data can
never delay a kill). The records the engine drains are written to the journal BEFORE any order
leaves (write-ahead: a crash after an order was sent cannot lose the record of it), then the
order records go to the gateway, then metrics and control acknowledgements.

Nothing here awaits: the feed and gateway call `process()` from their receive loops.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from hotpath.batch import scan_records
from hotpath.engine import Engine
from hotpath.types import (
    CTL_HALT_SYSTEM,
    CTL_RESUME_SYSTEM,
    EV_CONTROL,
    EV_TIMER,
    F_REFUSED,
    MARKET_EVENT_DTYPE,
    REC_ALERT,
    REC_CONTROL,
    REC_FILL,
    REC_ORDER_NEW,
    REC_ORDER_REJECTED,
    REC_RISK_DENIED,
    REC_TRADING_STATE,
)
from trading.engine.control import ControlCommand
from trading.engine.metrics import NodeMetrics

COUNTED_KINDS = (
    (REC_ORDER_NEW, "orders"),
    (REC_FILL, "fills"),
    (REC_ORDER_REJECTED, "rejects"),
    (REC_RISK_DENIED, "risk_denied"),
    (REC_ALERT, "alerts"),
)


class Kernel:
    def __init__(
        self,
        engine: Engine,
        append: Callable[[np.ndarray], None],
        submit: Callable[[np.ndarray], int],
        metrics: NodeMetrics,
        *,
        poll_control: Callable[[], list[ControlCommand]] | None = None,
        ack_control: Callable[..., None] | None = None,
        clock: Callable[[], int] = time.time_ns,
        write_before_send: bool = True,
        sent_at: Callable[[], int] | None = None,
    ):
        self.engine = engine
        self.append = append
        self.submit = submit
        self.metrics = metrics
        self.poll_control = poll_control
        self.ack_control = ack_control
        self.clock = clock
        # when the first order request of the last submit() was written (default: after submit)
        self.sent_at = sent_at
        self.write_before_send = write_before_send
        self.pending_acks: dict[int, ControlCommand] = {}
        self.on_command: Callable[[ControlCommand], bool] | None = None  # True: handled elsewhere
        self._one = np.zeros(1, dtype=MARKET_EVENT_DTYPE)
        self._stage_engine = metrics.stage("engine")
        self._stage_tick_to_order = metrics.stage("tick_to_order")
        # records of each kind, counted per batch in one compiled pass; mirrored into the
        # metrics counters by sync_counters() (the node's timer), never per batch
        self.kind_counts = np.zeros(32, dtype=np.int64)
        self._kind_counts_synced = self.kind_counts.copy()
        self._records = 0
        self._events = 0

    # -- inputs

    def process(self, events: np.ndarray) -> None:
        """Feed a batch of inputs (one venue message, a timer, a report) through the engine."""
        if self.poll_control is not None:
            commands = self.poll_control()
            if commands:
                self.commands(commands)
        self._run(events)

    def commands(self, commands: list[ControlCommand]) -> None:
        rows = []
        for command in commands:
            if self.on_command is not None and self.on_command(command):
                continue  # e.g. RELOAD_CONFIG: fetched and applied asynchronously by the node
            rows.append(command)
        if not rows:
            return
        refused = sum(1 for command in rows if not command.accepted)
        if refused:
            self.metrics.inc("control_refused", refused)
        now = self.clock()
        events = np.zeros(len(rows), dtype=MARKET_EVENT_DTYPE)
        for k, command in enumerate(rows):
            # a malformed entry has no nonce: a negative placeholder still pairs its ack
            key = command.nonce_id or -(k + 1)
            events[k]["kind"] = EV_CONTROL
            events[k]["aux"] = command.command_code
            events[k]["order_id"] = command.operator_id
            events[k]["venue_seq"] = key
            events[k]["flags"] = 0 if command.accepted else F_REFUSED
            events[k]["ts_event"] = events[k]["ts_local"] = now
            self.pending_acks[key] = command
        self.metrics.inc("control_commands", len(rows))
        self._run(events)

    def control(
        self, code: int, *, value: int = 0, operator_id: int = 0, nonce_id: int = 0, refused=False
    ) -> None:
        """One control input from the runtime itself. value: the system reason of
        CTL_HALT_SYSTEM/CTL_RESUME_SYSTEM, the configuration version of CTL_RELOAD_CONFIG."""
        ev = self._one
        ev[0] = 0
        now = self.clock()
        ev["kind"], ev["aux"], ev["qty"] = EV_CONTROL, code, value
        ev["order_id"], ev["venue_seq"] = operator_id, nonce_id
        ev["flags"] = F_REFUSED if refused else 0
        ev["ts_event"] = ev["ts_local"] = now
        self._run(ev.copy())

    def system_halt(self, reason: int) -> None:
        self.control(CTL_HALT_SYSTEM, value=reason)

    def system_resume(self, reason: int) -> None:
        self.control(CTL_RESUME_SYSTEM, value=reason)

    def timer(self) -> None:
        ev = self._one
        ev[0] = 0
        now = self.clock()
        ev["kind"], ev["ts_event"], ev["ts_local"] = EV_TIMER, now, now
        self.process(ev.copy())

    def sync_counters(self) -> None:
        """Mirror what the turns counted into the metrics counters (cheap; call it before the
        counters are read: timer, health, panels)."""
        metrics = self.metrics
        if self._events:
            metrics.inc("events", self._events)
            self._events = 0
        if self._records:
            metrics.inc("journal_records", self._records)
            self._records = 0
        counts, synced = self.kind_counts, self._kind_counts_synced
        for kind, name in COUNTED_KINDS:
            delta = int(counts[kind] - synced[kind])
            if delta:
                metrics.inc(name, delta)
        synced[:] = counts

    # -- the turn

    def _run(self, events: np.ndarray) -> None:
        engine = self.engine
        n = len(events)
        start = 0
        t0 = time.perf_counter_ns()
        while start < n:
            start = engine.process(events, start)
            records = engine.drain()
            if len(records):
                self._emit(records)
        self._stage_engine.record(time.perf_counter_ns() - t0)
        self._events += n

    def _emit(self, records: np.ndarray) -> None:
        if self.write_before_send:
            self.append(records)  # write-ahead: on disk before any order leaves
            sent = self.submit(records)  # the gateway picks the order records out itself
        else:
            sent = self.submit(records)
            self.append(records)
        if sent:
            done = self.sent_at() if self.sent_at is not None else self.clock()
            self._stage_tick_to_order.record(max(0, done - int(records[0]["ts_local"])))
        self._observe(records)

    def _observe(self, records: np.ndarray) -> None:
        counts = self.kind_counts
        state_changes = counts[REC_TRADING_STATE]
        controls = counts[REC_CONTROL]
        self._records += scan_records(records, counts)[0]
        if counts[REC_TRADING_STATE] != state_changes:
            self.metrics.set("trading_state", float(self.engine.trading_state))
        if self.pending_acks and counts[REC_CONTROL] != controls:
            kinds = records["kind"]
            for record in records[kinds == REC_CONTROL]:
                command = self.pending_acks.pop(int(record["d"]), None)
                if command is None or self.ack_control is None:
                    continue
                refused = bool(record["flags"] & F_REFUSED) or int(record["reason"]) != 0
                reason = (
                    command.verdict.reason
                    if not command.accepted
                    else ("refused by the engine" if refused else "")
                )
                self.ack_control(
                    command,
                    accepted=not refused,
                    trading_state=int(record["b"]),
                    seq=int(record["seq"]),
                    reason=reason,
                )
