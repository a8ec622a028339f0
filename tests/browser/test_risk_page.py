"""The risk page against the real stack in a real browser: simulated venue + node + console
server (daphne) + panel relay + PostgreSQL + Redis, all real processes."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in, start_stack
from tests.conftest import PASSWORD
from tests.integration.harness import (
    venue_open_orders,
    wait_for,
)
from trading.models import AuditEntry

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

RISK = {"max_total_notional": "20000", "max_daily_loss": "500", "max_drawdown": "1000"}


@pytest.fixture
def stack(procs, spot_btc_files, var_dir, node_name, tmp_path):
    return start_stack(procs, spot_btc_files, var_dir, node_name, tmp_path, risk=RISK)


def usage_text(page) -> str:
    return page.locator("#limits tbody").inner_text() + page.locator("#instrument-limits tbody").inner_text()


def test_risk_page_bars_update_live_and_stop_all_halts_the_node(stack, new_page, make_user, screenshot):
    operator, viewer = make_user("operator"), make_user("viewer")
    base, name, venue = stack["base"], stack["name"], stack["venue"]

    page = new_page()
    sign_in(page, base, operator.username, PASSWORD)
    page.goto(f"{base}/nodes/{name}/")
    page.wait_for_function("document.getElementById('connection').textContent === 'live'")
    # the node page's new panels: the A-S internals row and the engine's latency histogram
    page.wait_for_selector("#as-internals tbody tr")
    page.wait_for_selector('#latency-histograms li[data-stage="engine"] svg rect:not([height="0"])')
    screenshot(page, "node-live-internals")
    page.click("#risk-link")
    page.wait_for_url(f"{base}/nodes/{name}/risk/")
    page.wait_for_function("document.getElementById('connection').textContent === 'live'")
    page.wait_for_selector('#limits tr[data-limit="open_orders"] .usage[data-fraction]')
    drawdown_limit = page.locator('#breakers tr[data-limit="drawdown"] td.limit').inner_text()
    assert drawdown_limit == "1000.00"
    assert page.locator('#breakers tr[data-limit="consecutive_losses"] td.limit').inner_text() == "no limit"
    assert page.locator('#instrument-limits tr[data-limit="exposure"]').count() == 1
    fraction = float(
        page.locator('#limits tr[data-limit="total_notional"] .usage').get_attribute("data-fraction")
    )
    assert 0 < fraction < 0.5, "quotes of 0.001 BTC against a 20000 USDT total: a green bar"
    assert "ok" in page.locator('#limits tr[data-limit="total_notional"] .usage').get_attribute("class")
    before = usage_text(page)
    wait_for(lambda: usage_text(page) != before, 30, "the usage to move with the market")
    screenshot(page, "node-risk-operator")

    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation
    page.click("#stop-all")
    wait_for(
        lambda: venue_open_orders(venue) == [], 5, "every open order cancelled at the venue", interval=0.02
    )
    page.wait_for_function("document.getElementById('command-result').dataset.status === 'ACCEPTED'")
    page.wait_for_function("document.getElementById('trading-state').textContent === 'HALTED'")
    page.wait_for_function("document.getElementById('halt-reason').textContent === 'HALTED: OPERATOR'")
    assert stack["node"].health()["trading_state"] == 2
    assert AuditEntry.objects.get(action="node.kill").actor_id == operator.pk
    screenshot(page, "node-risk-halted")

    watcher = new_page()
    sign_in(watcher, base, viewer.username, PASSWORD)
    watcher.goto(f"{base}/nodes/{name}/risk/")
    watcher.wait_for_function("document.getElementById('connection').textContent === 'live'")
    watcher.wait_for_selector('#breakers tr[data-limit="drawdown"]')
    assert watcher.locator("#actions button").count() == 0 and watcher.locator("#resume-form").count() == 0
