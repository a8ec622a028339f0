"""Counters of an order gateway: what was sent, how the venue answered, what was refused."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

LATENCY_SAMPLES_KEPT = 10_000


@dataclass
class GatewayStats:
    sent_orders: int = 0  # order.place requests put on the wire
    sent_cancels: int = 0  # order.cancel requests put on the wire
    local_rejects: int = 0  # orders / cancels refused here (disconnected, unknown instrument)
    acked: int = 0  # executionReport NEW
    fills: int = 0  # executionReport TRADE
    canceled: int = 0
    expired: int = 0
    rejected: Counter = field(default_factory=Counter)  # order rejects by Binance error code
    cancel_rejected: Counter = field(default_factory=Counter)  # cancel rejects by error code
    unknown_outcome: int = 0  # 5xx answers: the venue may or may not have acted (reconcile)
    duplicates: int = 0  # execution reports seen before (passed on: the engine applies them once)
    foreign_ids: int = 0  # reports of orders that are not ours (ignored)
    fee_notes: Counter = field(default_factory=Counter)  # fills whose fee is not booked exactly
    bad: Counter = field(default_factory=Counter)  # refused frames and reports, by reason
    skipped: Counter = field(default_factory=Counter)  # well-formed but not for the engine
    send_errors: int = 0  # sends that failed after leaving submit()
    deferred_sends: int = 0  # sends that had to wait for the socket (written; a task finished them)
    compiled_sends: int = 0  # requests built, signed and written by the compiled path (order_wire)
    connects: int = 0
    disconnects: int = 0
    latency: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES_KEPT))  # (stage, ns)

    def as_dict(self) -> dict:
        return {
            "sent_orders": self.sent_orders,
            "sent_cancels": self.sent_cancels,
            "local_rejects": self.local_rejects,
            "acked": self.acked,
            "fills": self.fills,
            "canceled": self.canceled,
            "expired": self.expired,
            "rejected": dict(self.rejected),
            "cancel_rejected": dict(self.cancel_rejected),
            "unknown_outcome": self.unknown_outcome,
            "duplicates": self.duplicates,
            "foreign_ids": self.foreign_ids,
            "fee_notes": dict(self.fee_notes),
            "bad": dict(self.bad),
            "skipped": dict(self.skipped),
            "send_errors": self.send_errors,
            "deferred_sends": self.deferred_sends,
            "compiled_sends": self.compiled_sends,
            "connects": self.connects,
            "disconnects": self.disconnects,
        }
