"""Post-load checks: replay the depth events through a plain dict book and compare with the venue.

- crossed: after every complete message (F_LAST) while the book is valid, best bid < best ask.
- bbo: a Binance bookTicker and a depth diff share the update-id space, so when a bookTicker's u
  equals the u of an applied depth message (or a snapshot's lastUpdateId) the venue's best bid/ask
  must equal our book right after that message, in price and qty. bookTicker can come before or
  after the depth message in the capture, so the comparison is made after the replay.
- ts_local: every decrease is counted (order is kept as received).
Independent of the decoders on purpose: it only reads the event array.
"""

from __future__ import annotations

from heapq import heappop, heappush

import numpy as np

from trading.marketdata.kinds import (
    EV_BBO,
    EV_BOOK_INVALID,
    EV_DEPTH,
    EV_DEPTH_CLEAR,
    EV_DEPTH_SNAPSHOT,
    F_LAST,
    F_SELL,
)
from trading.marketdata.report import LoadReport


def count_non_monotonic(events: np.ndarray, report: LoadReport) -> None:
    ts = events["ts_local"]
    if len(ts) < 2:
        report.non_monotonic_ts = 0
        report.first_non_monotonic = None
        return
    decreases = np.flatnonzero(ts[1:] < ts[:-1])
    report.non_monotonic_ts = int(len(decreases))
    if len(decreases):
        index = int(decreases[0]) + 1
        report.first_non_monotonic = {
            "index": index,
            "ts_local": int(ts[index]),
            "previous_ts_local": int(ts[index - 1]),
        }
    else:
        report.first_non_monotonic = None


def validate_book(events: np.ndarray, report: LoadReport, compare_bbo: bool) -> None:
    """Fill report.crossed_after_sync / bbo_checked / bbo_mismatched (and first occurrences)."""
    book_mask = np.isin(
        events["kind"], (EV_DEPTH, EV_DEPTH_CLEAR, EV_DEPTH_SNAPSHOT, EV_BOOK_INVALID, EV_BBO)
    )
    indices = np.flatnonzero(book_mask)
    selected = events[indices]
    kinds = selected["kind"].tolist()
    flags_list = selected["flags"].tolist()
    prices = selected["price"].tolist()
    qtys = selected["qty"].tolist()
    seqs = selected["venue_seq"].tolist()
    positions = indices.tolist()

    # Per side: price -> qty, plus a heap of prices with lazy deletion (the best is read only at the
    # end of each message, so stale heap entries are discarded there).
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    bid_heap: list[int] = []  # negated prices
    ask_heap: list[int] = []
    valid = False
    crossed = 0
    first_crossed = None
    tops: dict[int, tuple[int, int, int, int]] = {}  # depth u -> (bid, bid qty, ask, ask qty)
    venue_bbo: list[tuple[int, int, int, int, int, int]] = []  # (position, u, bid, bid qty, ask, ask qty)
    pending_bid: tuple[int, int, int, int] | None = None  # (position, u, bid, bid qty)

    for i in range(len(kinds)):
        kind = kinds[i]
        flags = flags_list[i]
        if kind in (EV_DEPTH, EV_DEPTH_SNAPSHOT):
            price = prices[i]
            qty = qtys[i]
            if flags & F_SELL:
                if qty:
                    if price not in asks:
                        heappush(ask_heap, price)
                    asks[price] = qty
                else:
                    asks.pop(price, None)
            else:
                if qty:
                    if price not in bids:
                        heappush(bid_heap, -price)
                    bids[price] = qty
                else:
                    bids.pop(price, None)
        elif kind == EV_DEPTH_CLEAR:
            bids.clear()
            asks.clear()
            bid_heap.clear()
            ask_heap.clear()
            valid = False
        elif kind == EV_BOOK_INVALID:
            valid = False
            continue
        elif kind == EV_BBO:
            if compare_bbo:
                if not flags & F_SELL:
                    pending_bid = (positions[i], seqs[i], prices[i], qtys[i])
                elif pending_bid is not None and pending_bid[1] == seqs[i]:
                    venue_bbo.append(pending_bid + (prices[i], qtys[i]))
                    pending_bid = None
            continue
        if not flags & F_LAST:
            continue
        # end of a complete message
        if kind != EV_DEPTH:
            valid = True  # a snapshot (EV_DEPTH_SNAPSHOT or an empty EV_DEPTH_CLEAR) completed
        if not valid:
            continue
        while bid_heap and -bid_heap[0] not in bids:
            heappop(bid_heap)
        while ask_heap and ask_heap[0] not in asks:
            heappop(ask_heap)
        best_bid = -bid_heap[0] if bid_heap else 0
        best_ask = ask_heap[0] if ask_heap else 0
        if best_bid and best_ask and best_bid >= best_ask:
            crossed += 1
            if first_crossed is None:
                first_crossed = {
                    "index": positions[i],
                    "venue_seq": seqs[i],
                    "best_bid": best_bid,
                    "best_ask": best_ask,
                }
        if compare_bbo:
            tops[seqs[i]] = (best_bid, bids.get(best_bid, 0), best_ask, asks.get(best_ask, 0))

    report.crossed_after_sync = crossed
    report.first_crossed = first_crossed
    checked = mismatched = 0
    first_mismatch = None
    for position, update_id, bid, bid_qty, ask, ask_qty in venue_bbo:
        ours = tops.get(update_id)
        if ours is None:
            continue
        checked += 1
        if ours != (bid, bid_qty, ask, ask_qty):
            mismatched += 1
            if first_mismatch is None:
                first_mismatch = {
                    "index": position,
                    "venue_seq": update_id,
                    "venue": [bid, bid_qty, ask, ask_qty],
                    "book": list(ours),
                }
    report.bbo_checked = checked
    report.bbo_mismatched = mismatched
    report.first_bbo_mismatch = first_mismatch
    report.validated = True
