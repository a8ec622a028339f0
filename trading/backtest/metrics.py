"""Backtest performance metrics from the engine's journal records.

Money arrives as int64 nano-units of the settlement currency and leaves as exact decimal
strings; ratios are floats (None where undefined, e.g. a Sharpe ratio of fewer than two
round trips).
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np

from hotpath.types import REC_EQUITY, REC_FILL, REC_ORDER_NEW, REC_ROUND_TRIP
from trading.instruments import InstrumentSpec

NANO = Decimal(10) ** 9
YEAR_NS = 365 * 86_400 * 10**9


def money(nano: int) -> str:
    """Exact decimal string of an amount in nano-units (trailing zeros kept to 9 places)."""
    return format((Decimal(int(nano)) / NANO).quantize(Decimal("0.000000001")), "f")


def fill_notional_nano(spec: InstrumentSpec, prices: np.ndarray, qtys: np.ndarray) -> int:
    fields = spec.hotpath_fields()
    num, den = fields["value_num"], fields["value_den"]
    if spec.contract_type == "linear":
        return sum(int(p) * int(q) * num // den for p, q in zip(prices.tolist(), qtys.tolist(), strict=True))
    return sum(int(q) * num // den for q in qtys.tolist())


def _ratio(numerator: float, denominator: float) -> float | None:
    if denominator == 0 or not math.isfinite(numerator) or not math.isfinite(denominator):
        return None
    return numerator / denominator


def round_trip_stats(trip_pnls: np.ndarray, duration_ns: int) -> dict:
    n = len(trip_pnls)
    pnl = trip_pnls.astype(np.float64) / 1e9
    wins = pnl[pnl > 0]
    losses = pnl[pnl < 0]
    mean = float(pnl.mean()) if n else 0.0
    std = float(pnl.std(ddof=1)) if n >= 2 else 0.0
    downside = math.sqrt(float(np.mean(np.minimum(pnl, 0.0) ** 2))) if n else 0.0
    sharpe = _ratio(mean, std) if n >= 2 else None
    trips_per_year = n * YEAR_NS / duration_ns if duration_ns > 0 else 0.0
    gross_loss = float(-losses.sum())
    return {
        "win_rate": (len(wins) / n) if n else None,
        "avg_trade_pnl": mean if n else None,
        "sharpe": sharpe,
        "sharpe_annualised": sharpe * math.sqrt(trips_per_year) if sharpe is not None else None,
        "sortino": _ratio(mean, downside) if n >= 2 else None,
        "profit_factor": _ratio(float(wins.sum()), gross_loss) if n else None,
        "gross_profit": float(wins.sum()),
        "gross_loss": gross_loss,
    }


def compute_metrics(
    records: np.ndarray,
    spec: InstrumentSpec,
    stats: dict,
    position: dict,
    *,
    events: int,
    l2_events: int,
    trades: int,
    wall_seconds: float,
    duration_ns: int,
) -> dict:
    kinds = records["kind"]
    fills = records[kinds == REC_FILL]
    trips = records[kinds == REC_ROUND_TRIP]
    orders = int(np.count_nonzero(kinds == REC_ORDER_NEW))
    filled_orders = len(np.unique(fills["order_id"])) if len(fills) else 0
    realized_gross = int(position["realized"])
    fees = int(position["fees"])
    trip_stats = round_trip_stats(trips["a"], duration_ns)
    max_dd = int(stats["max_drawdown"])
    wall = max(wall_seconds, 1e-9)
    return {
        "engine": "hotpath",
        "symbol": spec.symbol,
        "market": spec.market,
        "settle_currency": spec.settle,
        "events": int(events),
        "l2_events": int(l2_events),
        "trades": int(trades),
        "events_per_sec": events / wall,
        "l2_events_per_sec": l2_events / wall,
        "wall_seconds": wall_seconds,
        "data_seconds": duration_ns / 1e9,
        "orders": orders,
        "fills": int(len(fills)),
        "round_trips": int(len(trips)),
        "volume": money(fill_notional_nano(spec, fills["price"], fills["qty"])),
        "realized_pnl": money(realized_gross - fees),
        "gross_realized_pnl": money(realized_gross),
        "fees": money(fees),
        "unrealized_pnl": money(int(position["unrealized"])),
        "max_drawdown": money(max_dd),
        "win_rate": trip_stats["win_rate"],
        "avg_trade_pnl": trip_stats["avg_trade_pnl"],
        "sharpe": trip_stats["sharpe"],
        "sharpe_annualised": trip_stats["sharpe_annualised"],
        "sortino": trip_stats["sortino"],
        "profit_factor": trip_stats["profit_factor"],
        "fill_ratio": (filled_orders / orders) if orders else None,
        "final_position": spec.lots_to_qty(int(position["qty"])),
        "risk_denials": int(stats["denied"]),
        "alerts": int(stats["alerts"]),
    }


def equity_curve(records: np.ndarray, max_points: int = 1000) -> list[list[float]]:
    """[[ts_ms, equity], ...] from REC_EQUITY samples, thinned evenly to at most max_points."""
    samples = records[records["kind"] == REC_EQUITY]
    if len(samples) == 0:
        return []
    step = max(1, math.ceil(len(samples) / max_points))
    picked = samples[::step]
    if picked[-1]["seq"] != samples[-1]["seq"]:
        picked = np.concatenate([picked, samples[-1:]])
    return [
        [int(ts) // 1_000_000, int(eq) / 1e9] for ts, eq in zip(picked["ts_event"], picked["e"], strict=True)
    ]
