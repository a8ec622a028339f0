"""The console pages: overview of nodes and backtests, backtest detail with its equity curve."""

from decimal import Decimal

import pytest
from django.urls import reverse

from trading.models import BacktestRun, Node
from trading.selectors.backtests import equity_polyline


def make_run(**overrides) -> BacktestRun:
    fields = {
        "strategy": "mm",
        "symbol": "BTCUSDT",
        "market": "spot",
        "data_files": ["/data/a.gz"],
        "data_sha256": "ab" * 32,
        "config": {"strategy": {"half_spread_ticks": 10}},
        "metrics": {"events": 1234, "events_per_sec": 1.5e7, "fills": 42, "realized_pnl": "1.250000000",
                    "state_hash": "00ff00ff00ff00ff", "win_rate": 0.5},
        "equity_curve": [[0, 0.0], [1000, 1.0], [2000, -0.5], [3000, 1.25]],
        "events": 1234,
        "wall_seconds": 0.01,
        "realized_pnl": Decimal("1.25"),
        "settle_currency": "USDT",
        "state_hash": "00ff00ff00ff00ff",
    }  # fmt: skip
    fields.update(overrides)
    return BacktestRun.objects.create(**fields)


@pytest.mark.django_db
def test_empty_overview_says_nothing_exists_yet(viewer_client):
    response = viewer_client.get(reverse("overview"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="no-nodes"' in body and 'id="no-backtests"' in body


@pytest.mark.django_db
def test_overview_lists_nodes_and_runs(viewer_client):
    Node.objects.create(name="tokyo-1", trading_state=Node.TradingState.ACTIVE)
    run = make_run(label="nightly")
    body = viewer_client.get(reverse("overview")).content.decode()
    assert "tokyo-1" in body and "ACTIVE" in body
    assert reverse("backtest-detail", args=[run.pk]) in body
    assert "nightly" in body and "00ff00ff00ff00ff" in body and "1,234" in body


@pytest.mark.django_db
def test_detail_shows_report_and_equity_svg(viewer_client):
    run = make_run()
    response = viewer_client.get(reverse("backtest-detail", args=[run.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert '<svg id="equity"' in body and "<polyline" in body
    assert "half_spread_ticks" in body
    assert "1.250000000" in body  # money stays an exact decimal string
    assert "1.5e+07" in body and "1,234" in body  # floats and counts are made readable


@pytest.mark.django_db
def test_missing_run_is_404_and_pages_refuse_writes(viewer_client):
    assert viewer_client.get(reverse("backtest-detail", args=[999_999])).status_code == 404
    assert viewer_client.post(reverse("overview")).status_code == 405


def test_equity_polyline_scales_into_the_box():
    geometry = equity_polyline([[0, -1.0], [10, 1.0]], width=100, height=50, pad=0)
    assert geometry["points"] == "0.0,50.0 100.0,0.0"
    assert geometry["zero_y"] == "25.0"
    assert equity_polyline([[0, 1.0]])["points"] == ""


@pytest.mark.django_db
def test_overview_shows_position_pnl_links_and_alerts_from_the_heartbeat(viewer_client):
    import json as _json
    from pathlib import Path

    from trading.services.nodes import node_config_activate, node_status_report

    document = _json.loads((Path(__file__).resolve().parents[2] / "configs" / "node_demo.json").read_text())
    node, _, _ = node_config_activate(node_name="demo", document=document)
    snapshot = {
        "seq": 1234, "durable_seq": 1200, "trading_state": 1,
        "instruments": [{"symbol": "BTCUSDT", "position": {"qty": 10_000, "realized": 2_000_000_000,
                                                            "fees": 500_000_000, "unrealized": -250_000_000}}],
        "connectivity": {"market_data": True, "order_entry": False, "journal_sink": True, "control": None},
        "metrics": {"counters": {"alerts": 3}},
    }  # fmt: skip
    node_status_report(node_id=node.pk, snapshot=snapshot)
    body = viewer_client.get(reverse("overview")).content.decode()
    assert "BTCUSDT 0.010000" in body and "1.50" in body and "-0.25" in body, "net of fees, in quote units"
    assert 'class="link up" title="market_data"' in body and 'class="link down" title="order_entry"' in body
    assert 'title="control"' not in body, "a link that is not configured is not shown"
    assert 'class="num alerts">3<' in body and "1234 / 1200" in body and "REDUCING" in body
