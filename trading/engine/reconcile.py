"""Reconcile the engine's orders and positions with what the venue says, after a restart or a
reconnection, before trading again.

The venue is the authority on what happened while the node was not listening. Its answers are
turned into ordinary inputs, so they are journaled and replayed like everything else:

- an order of ours the venue has open and the engine lacks -> EV_ORDER_ADOPT (policy "adopt"
  keeps it; policy "cancel" adopts it and then cancels every open order of ours);
- a fill of ours the engine has not booked -> EV_ORDER_FILL (the engine's trade-id dedup makes
  a fill it already has a no-op);
- an order the engine holds live and the venue no longer has -> EV_ORDER_CANCELED once its
  fills are in (the venue cancelled or expired it, or never received it);
- a position that still differs after all that is unresolved: the node stays HALTED with
  RR_RECONCILE and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hotpath.orders import OS_NEW
from hotpath.types import (
    EV_ORDER_ADOPT,
    EV_ORDER_CANCELED,
    EV_ORDER_FILL,
    F_MAKER,
    F_POST_ONLY,
    F_SELL,
    MARKET_EVENT_DTYPE,
    OT_LIMIT_MAKER,
    SELL,
)


@dataclass(frozen=True)
class VenueOrder:
    instrument: int
    client_id: int | None  # ours (parsed from the client order id) or None
    venue_id: int
    side: int
    order_type: int
    price: int
    qty: int
    filled: int


@dataclass(frozen=True)
class VenueTrade:
    instrument: int
    trade_id: int
    venue_order_id: int
    client_id: int | None  # when the venue reports it; else found through venue_order_id
    side: int
    price: int
    qty: int
    fee_nano: int
    maker: bool
    ts_ns: int


@dataclass
class Reconciliation:
    events: np.ndarray
    cancel_all: bool  # policy "cancel": cancel every open order of ours afterwards
    adopted: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    fills: int = 0
    foreign_orders: int = 0
    unknown_fills: list[int] = field(default_factory=list)


def plan(
    live_orders: list[dict],
    venue_orders: list[VenueOrder],
    venue_trades: list[VenueTrade],
    *,
    policy: str,
    now_ns: int,
    booked: Callable[[int, int], bool] = lambda instrument, trade_id: False,
) -> Reconciliation:
    """Inputs that bring the engine in line with the venue (orders and fills). booked(instrument,
    trade_id) says whether the engine already has a fill (its order may be long finished)."""
    if policy not in ("adopt", "cancel"):
        raise ValueError(f"unknown reconciliation policy {policy!r}")
    live = {o["client_id"]: o for o in live_orders}
    by_venue_id = {o["venue_id"]: o["client_id"] for o in live_orders if o["venue_id"]}
    open_ids = set()
    rows: list[tuple] = []
    result = Reconciliation(events=np.zeros(0, dtype=MARKET_EVENT_DTYPE), cancel_all=policy == "cancel")

    for order in venue_orders:
        if order.client_id is None:
            result.foreign_orders += 1
            continue
        open_ids.add(order.client_id)
        by_venue_id.setdefault(order.venue_id, order.client_id)
        if order.client_id not in live:
            flags = (F_SELL if order.side == SELL else 0) | (
                F_POST_ONLY if order.order_type == OT_LIMIT_MAKER else 0
            )
            rows.append(
                (EV_ORDER_ADOPT, order.instrument, order.client_id, order.price, order.qty, order.filled,
                 order.venue_id, flags, now_ns)
            )  # fmt: skip
            result.adopted.append(order.client_id)

    for trade in sorted(venue_trades, key=lambda t: (t.ts_ns, t.trade_id)):
        if booked(trade.instrument, trade.trade_id):
            continue
        client_id = trade.client_id if trade.client_id is not None else by_venue_id.get(trade.venue_order_id)
        if client_id is None:
            result.unknown_fills.append(trade.trade_id)
            client_id = 0  # booked anyway: money moved; the engine alerts on the unknown order
        flags = (F_SELL if trade.side == SELL else 0) | (F_MAKER if trade.maker else 0)
        rows.append(
            (EV_ORDER_FILL, trade.instrument, client_id, trade.price, trade.qty, trade.trade_id, trade.fee_nano,
             flags, trade.ts_ns)
        )  # fmt: skip
        result.fills += 1

    for client_id, order in sorted(live.items()):
        if client_id in open_ids or order["status"] == OS_NEW:
            continue
        # gone from the venue: its fills (above) came first, then the end of it
        rows.append((EV_ORDER_CANCELED, order["instrument"], client_id, 0, 0, 0, 0, 0, now_ns))
        result.closed.append(client_id)

    events = np.zeros(len(rows), dtype=MARKET_EVENT_DTYPE)
    for k, (kind, instrument, client_id, price, qty, seq, aux, flags, ts) in enumerate(rows):
        events[k]["kind"] = kind
        events[k]["instrument"] = instrument
        events[k]["order_id"] = client_id
        events[k]["price"] = price
        events[k]["qty"] = qty
        events[k]["venue_seq"] = seq
        events[k]["aux"] = aux
        events[k]["flags"] = flags
        events[k]["ts_event"] = ts
        events[k]["ts_local"] = max(ts, now_ns)
    result.events = events
    return result


def position_differences(engine_positions: dict[int, int], venue_positions: dict[int, int]) -> list[str]:
    """Human-readable differences between the engine's and the venue's net positions (lots)."""
    problems = []
    for instrument in sorted(set(engine_positions) | set(venue_positions)):
        ours, theirs = engine_positions.get(instrument, 0), venue_positions.get(instrument, 0)
        if ours != theirs:
            problems.append(
                f"instrument {instrument}: node position {ours} lots, venue position {theirs} lots"
            )
    return problems
