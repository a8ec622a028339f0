"""Queries for nodes and backtest runs, and the equity-curve geometry the pages draw."""

from __future__ import annotations

from django.db.models import QuerySet

from trading.models import BacktestRun, Node


def node_list() -> QuerySet[Node]:
    return Node.objects.order_by("name")


def backtest_run_list(limit: int = 50) -> QuerySet[BacktestRun]:
    return BacktestRun.objects.defer("equity_curve", "config").order_by("-created_at", "-id")[:limit]


def backtest_run_page(
    *, strategy: str = "", symbol: str = "", before: int | None = None, size: int = 50
) -> tuple[list[BacktestRun], int | None]:
    """One page of runs, newest first, keyset on id (ids grow with creation): the rows and
    the `before` of the next page (None on the last)."""
    runs = BacktestRun.objects.defer("equity_curve", "config").order_by("-id")
    if strategy:
        runs = runs.filter(strategy=strategy)
    if symbol:
        runs = runs.filter(symbol__iexact=symbol)
    if before is not None:
        runs = runs.filter(id__lt=before)
    rows = list(runs[: size + 1])
    return rows[:size], (rows[size - 1].id if len(rows) > size else None)


def backtest_run_get(pk: int) -> BacktestRun:
    return BacktestRun.objects.get(pk=pk)


def equity_polyline(curve: list, width: int = 720, height: int = 220, pad: int = 8) -> dict:
    """SVG polyline points for an equity curve [[ts_ms, equity], ...], scaled into the box."""
    if len(curve) < 2:
        return {"points": "", "min": None, "max": None, "zero_y": None}
    xs = [float(p[0]) for p in curve]
    ys = [float(p[1]) for p in curve]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(min(ys), 0.0), max(max(ys), 0.0)
    xspan = (x1 - x0) or 1.0
    yspan = (y1 - y0) or 1.0

    def sx(x: float) -> float:
        return pad + (x - x0) / xspan * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad - (y - y0) / yspan * (height - 2 * pad)

    points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys, strict=True))
    return {"points": points, "min": min(ys), "max": max(ys), "zero_y": f"{sy(0.0):.1f}"}
