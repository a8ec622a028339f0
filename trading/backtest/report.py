"""Human and file outputs of a backtest: the report box, the report JSON and the CSV exports."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import numpy as np
import orjson

from hotpath.types import F_MAKER, F_SELL, REC_FILL
from trading.instruments import InstrumentSpec

REPORT_KEYS = (
    "events",
    "events_per_sec",
    "wall_seconds",
    "orders",
    "fills",
    "round_trips",
    "volume",
    "realized_pnl",
    "max_drawdown",
    "win_rate",
    "sharpe",
    "sortino",
    "profit_factor",
    "fill_ratio",
    "final_position",
    "state_hash",
)

STRATEGY_NAMES = {"avellaneda": "Avellaneda-Stoikov", "mm": "Skewed market maker", "taker": "Liquidity taker"}
WIDTH = 60


def _rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.1f}M evt/s"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k evt/s"
    return f"{value:.0f} evt/s"


def _money(value: str, currency: str, places: int = 2) -> str:
    amount = Decimal(value)
    return f"{amount:,.{places}f} {currency}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None, places: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{places}f}"


def format_report_box(report: dict, strategy: str) -> str:
    currency = report["settle_currency"]
    places = 2 if currency in {"USDT", "USD", "USDC", "BUSD"} else 8
    sections = [
        [
            ("Engine", f"Cython hot path ({STRATEGY_NAMES.get(strategy, strategy)})"),
            ("Data", f"{report['symbol']} {report['market']}, {report['data_seconds']:.0f} s of market time"),
            ("Events", f"{report['events']} ({_rate(report['events_per_sec'])})"),
            ("L2 events", f"{report['l2_events']} ({_rate(report['l2_events_per_sec'])})"),
            ("Wall time", f"{report['wall_seconds']:.3f}s"),
        ],
        [
            ("Orders", str(report["orders"])),
            ("Fills", str(report["fills"])),
            ("Round-trips", str(report["round_trips"])),
            ("Volume", _money(report["volume"], report.get("quote_currency", currency), 2)),
            ("Fill ratio", _pct(report["fill_ratio"])),
        ],
        [
            ("Realized PnL", _money(report["realized_pnl"], currency, places) + " (net of fees)"),
            ("Fees", _money(report["fees"], currency, places)),
            ("Max Drawdown", _money(report["max_drawdown"], currency, places)),
            ("Win Rate", _pct(report["win_rate"])),
            (
                "Avg Trade PnL",
                "n/a"
                if report["avg_trade_pnl"] is None
                else f"{report['avg_trade_pnl']:.{places}f} {currency}",
            ),
            (
                "Sharpe",
                f"{_num(report['sharpe'], 3)} per trip, {_num(report['sharpe_annualised'])} annualised",
            ),
            ("Sortino", f"{_num(report['sortino'], 3)} per trip"),
            ("Profit factor", _num(report["profit_factor"])),
            ("Final position", f"{report['final_position']}"),
            ("State hash", report["state_hash"]),
        ],
    ]
    inner = WIDTH - 2
    lines = ["╔" + "═" * inner + "╗", "║ " + "ATOMIC OPS — BACKTEST REPORT".ljust(inner - 1) + "║"]
    for section in sections:
        lines.append("╠" + "═" * inner + "╣")
        for label, value in section:
            text = f"{label:<15}: {value}"
            lines.append("║ " + text[: inner - 1].ljust(inner - 1) + "║")
    lines.append("╚" + "═" * inner + "╝")
    return "\n".join(lines)


def write_report_json(path: Path, report: dict) -> None:
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def write_equity_csv(path: Path, records: np.ndarray, spec: InstrumentSpec) -> int:
    """One row per fill: running position, realized pnl and fees after it (exact decimals)."""
    fills = records[records["kind"] == REC_FILL]
    fees_total = 0
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["seq", "ts_event", "ts_local", "order_id", "side", "liquidity", "price", "qty", "fee", "position",
             "realized_pnl", "fees", "net_realized_pnl"]
        )  # fmt: skip
        for row in fills:
            fees_total += int(row["c"])
            writer.writerow(
                [
                    int(row["seq"]),
                    int(row["ts_event"]),
                    int(row["ts_local"]),
                    int(row["order_id"]),
                    "sell" if row["flags"] & F_SELL else "buy",
                    "maker" if row["flags"] & F_MAKER else "taker",
                    spec.ticks_to_price(int(row["price"])),
                    spec.lots_to_qty(int(row["qty"])),
                    _nano(int(row["c"])),
                    spec.lots_to_qty(int(row["a"])),
                    _nano(int(row["b"])),
                    _nano(fees_total),
                    _nano(int(row["b"]) - fees_total),
                ]
            )
    return len(fills)


def write_features_csv(path: Path, features: np.ndarray, spec: InstrumentSpec) -> int:
    """One row per applied depth message: top of book, microprice and imbalance."""
    tick = spec.tick_size
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "ts_event",
                "venue_seq",
                "bid_price",
                "bid_qty",
                "ask_price",
                "ask_qty",
                "microprice",
                "imbalance",
            ]
        )
        for row in features:
            bid, ask = int(row["bid"]), int(row["ask"])
            micro = int(row["microprice_e6"])
            writer.writerow(
                [
                    int(row["ts_event"]),
                    int(row["venue_seq"]),
                    spec.ticks_to_price(bid) if bid > 0 else "",
                    spec.lots_to_qty(int(row["bid_qty"])) if bid > 0 else "",
                    spec.ticks_to_price(ask) if ask > 0 else "",
                    spec.lots_to_qty(int(row["ask_qty"])) if ask > 0 else "",
                    format((Decimal(micro) * tick / 1_000_000).normalize(), "f") if micro > 0 else "",
                    format((Decimal(int(row["imbalance_e6"])) / 1_000_000).normalize(), "f"),
                ]
            )
    return len(features)


def _nano(value: int) -> str:
    return format((Decimal(value) / Decimal(10**9)).quantize(Decimal("0.000000001")), "f")
