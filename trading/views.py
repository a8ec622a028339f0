"""Console pages: overview of nodes and backtests, backtest detail. Every page needs a signed-in
user holding the page's view permission (a role: trading.roles)."""

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from trading.backtest.report import REPORT_KEYS
from trading.models import BacktestRun
from trading.selectors.backtests import backtest_run_get, backtest_run_list, equity_polyline, node_list


def _display(value):
    """Readable metric values: floats to 6 significant digits, None as n/a, the rest as is."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.6g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return value


@require_GET
@login_required
@permission_required("trading.view_node", raise_exception=True)
def overview(request):
    return render(request, "trading/overview.html", {"nodes": node_list(), "runs": backtest_run_list()})


@require_GET
@login_required
@permission_required("trading.view_backtestrun", raise_exception=True)
def backtest_detail(request, pk: int):
    try:
        run = backtest_run_get(pk)
    except BacktestRun.DoesNotExist as exc:
        raise Http404("no such backtest run") from exc
    metrics = run.metrics or {}
    rows = [(key, _display(metrics.get(key))) for key in REPORT_KEYS]
    extra = [(key, _display(value)) for key, value in sorted(metrics.items()) if key not in REPORT_KEYS]
    return render(
        request,
        "trading/backtest_detail.html",
        {"run": run, "rows": rows, "extra": extra, "equity": equity_polyline(run.equity_curve)},
    )
