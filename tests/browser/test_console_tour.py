"""Every console page against the real stack, in a real browser: each renders without a script
error (screenshots saved for review), and a live page that loses its server reconnects and
resynchronises from a fresh snapshot."""

from __future__ import annotations

import signal

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.integration.harness import (
    start_web,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIVE = "document.getElementById('connection').textContent === 'live'"


def test_every_page_renders_without_script_errors(stack, page, make_user, screenshot):
    from trading.models import Event

    base, name = stack["base"], stack["name"]
    admin = make_user("admin", is_staff=True)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    sign_in(page, base, admin.username, PASSWORD)
    wait_for(
        lambda: Event.objects.filter(node__name=name, seq=200).exists(), 60, "200 durable journal records"
    )

    pages = [
        ("overview", "/", "#nodes"),
        ("node-live", f"/nodes/{name}/", "#ladder tbody tr"),
        ("node-risk", f"/nodes/{name}/risk/", "#limits"),
        ("node-config", f"/nodes/{name}/config/", "form"),
        ("node-orders", f"/nodes/{name}/orders/", "table"),
        ("events", f"/events/?node={name}", "table"),
        ("event-detail", f"/events/{name}/1/", "main"),
        ("state-at-seq", f"/events/{name}/state/?seq=150", "main"),
        ("audit", "/audit/", "main"),
        ("backtests", "/backtests/", "main"),
        ("admin-risk-limits", "/admin/trading/risklimit/", "#result_list"),
        ("admin-strategy-config-add", "/admin/trading/strategyconfig/add/", "form"),
        ("admin-instruments", "/admin/trading/instrument/", "#result_list"),
    ]
    for label, path, ready in pages:
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 200, (
            f"{label}: HTTP {response and response.status}"
        )
        page.wait_for_selector(ready)
        if label in ("node-live", "node-risk"):
            page.wait_for_function(LIVE)
        screenshot(page, f"tour-{label}")
    state = page.goto(f"{base}/events/{name}/state/?seq=150")
    assert state.status == 200 and "150" in page.locator("main").inner_text()
    assert errors == [], f"script errors on the console pages: {errors}"


def test_a_live_page_reconnects_and_resynchronises_after_the_server_restarts(stack, page, make_user):
    base, name, procs = stack["base"], stack["name"], stack["procs"]
    sign_in(page, base, make_user("viewer").username, PASSWORD)
    page.goto(f"{base}/nodes/{name}/")
    page.wait_for_function(LIVE)
    page.wait_for_function("document.querySelectorAll('#ladder tbody tr').length >= 10")
    web = next(child for child in procs.children if "atomic_ops.asgi:application" in child.args)
    web.send_signal(signal.SIGTERM)
    web.wait(timeout=20)
    page.wait_for_function("document.getElementById('connection').textContent !== 'live'", timeout=20_000)
    before = int(page.locator("#seq").inner_text())
    start_web(procs, port=stack["web"])  # the same address: the page reconnects by itself
    page.wait_for_function(LIVE, timeout=30_000)
    page.wait_for_function(f"Number(document.getElementById('seq').textContent) > {before}", timeout=20_000)
    page.wait_for_function("document.querySelectorAll('#ladder tbody tr').length >= 10")
