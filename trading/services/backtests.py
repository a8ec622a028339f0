"""Run a backtest and store it as a BacktestRun."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from trading.backtest.runner import BacktestRequest, BacktestResult, run_backtest
from trading.instruments import InstrumentRegistry
from trading.models import BacktestRun


@transaction.atomic
def backtest_run_record(*, request: BacktestRequest, result: BacktestResult, label: str = "") -> BacktestRun:
    report = result.report
    return BacktestRun.objects.create(
        label=label[:200],
        status=BacktestRun.Status.COMPLETED,
        strategy=request.strategy,
        symbol=result.spec.symbol,
        market=result.spec.market,
        data_files=[str(p) for p in request.data],
        data_sha256=result.data_sha256,
        config=result.config,
        metrics=report,
        equity_curve=result.equity,
        events=report["events"],
        wall_seconds=report["wall_seconds"],
        realized_pnl=Decimal(report["realized_pnl"]),
        settle_currency=result.spec.settle,
        state_hash=report["state_hash"],
    )


def backtest_run_execute(
    *,
    request: BacktestRequest,
    store: bool = True,
    label: str = "",
    registry: InstrumentRegistry | None = None,
) -> tuple[BacktestResult, BacktestRun | None]:
    """Run the backtest (no transaction held while it runs) and store it unless store=False."""
    result = run_backtest(request, registry=registry)
    run = backtest_run_record(request=request, result=result, label=label) if store else None
    return result, run
