"""The console against the real stack, in a real browser: simulated venue + node + console
server (daphne) + panel relay + PostgreSQL + Redis, all real processes."""

from __future__ import annotations

import time

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.integration.harness import (
    venue_open_orders,
    wait_for,
)
from trading.models import AuditEntry

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def ladder_text(page) -> str:
    return page.locator("#ladder tbody").inner_text()


def test_stop_all_from_the_browser_halts_the_node_and_empties_the_venue(
    stack, new_page, make_user, screenshot
):
    operator, viewer = make_user("operator"), make_user("viewer")
    base, name, venue = stack["base"], stack["name"], stack["venue"]

    page = new_page()
    sign_in(page, base, operator.username, PASSWORD)
    page.goto(f"{base}/nodes/{name}/")
    page.wait_for_function("document.getElementById('connection').textContent === 'live'")
    page.wait_for_function("document.querySelectorAll('#ladder tbody tr').length >= 10")
    first_seq = int(page.locator("#seq").inner_text())
    before = ladder_text(page)
    page.wait_for_function(f"Number(document.getElementById('seq').textContent) > {first_seq}")
    wait_for(lambda: ladder_text(page) != before, 20, "the live book to update")
    assert page.locator("#trading-state").inner_text() == "ACTIVE"
    screenshot(page, "node-live-operator")

    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation
    clicked = time.monotonic()
    page.click("#stop-all")
    wait_for(
        lambda: venue_open_orders(venue) == [], 5, "every open order cancelled at the venue", interval=0.02
    )
    cancelled_after = time.monotonic() - clicked
    assert cancelled_after <= 1.0, f"orders cancelled {cancelled_after:.3f} s after the click"
    page.wait_for_function("document.getElementById('command-result').dataset.status === 'ACCEPTED'")
    page.wait_for_function("document.getElementById('trading-state').textContent === 'HALTED'")
    assert stack["node"].health()["trading_state"] == 2
    kill = AuditEntry.objects.get(action="node.kill")
    assert kill.actor_id == operator.pk and kill.source_ip == "127.0.0.1"
    screenshot(page, "node-live-halted")
    time.sleep(1.0)
    assert venue_open_orders(venue) == [], "HALTED: nothing is quoted again"

    watcher = new_page()
    sign_in(watcher, base, viewer.username, PASSWORD)
    watcher.goto(f"{base}/nodes/{name}/")
    watcher.wait_for_function("document.getElementById('connection').textContent === 'live'")
    assert watcher.locator("#stop-all").count() == 0 and watcher.locator("#actions button").count() == 0
    reply = watcher.evaluate(
        """(node) => new Promise((resolve) => {
            const ws = new WebSocket(`ws://${location.host}/ws/nodes/${node}/`);
            ws.onopen = () => ws.send(JSON.stringify({action: "command", command: "KILL"}));
            ws.onmessage = (e) => { const m = JSON.parse(e.data); if (m.type === "refused") resolve(m); };
        })""",
        name,
    )
    assert reply["reason"] == "missing permission trading.kill_node"
    assert AuditEntry.objects.filter(action="node.kill.denied", actor_id=viewer.pk).count() == 1
    screenshot(watcher, "node-live-viewer")


def test_resume_needs_a_second_user_in_the_browser(stack, new_page, make_user, screenshot):
    requester, approver = make_user("risk manager"), make_user("risk manager")
    base, name = stack["base"], stack["name"]
    halted_by = make_user("operator")
    from trading.audit import Actor
    from trading.services.operations import issue_node_command

    issue_node_command(Actor(user=halted_by, username=halted_by.username), name, "KILL")
    wait_for(lambda: stack["node"].health()["trading_state"] == 2, 10, "the node HALTED")

    page = new_page()
    sign_in(page, base, requester.username, PASSWORD)
    page.goto(f"{base}/nodes/{name}/")
    page.fill("#resume-form input[name=reason]", "venue checked")
    page.click("#request-resume")
    page.wait_for_selector("#approvals tr[data-approval] .status")
    pk = int(page.locator("#approvals tr[data-approval]").first.get_attribute("data-approval"))
    assert page.locator(f'tr[data-approval="{pk}"] button.approve').count() == 0, (
        "no button for one's own request"
    )
    # forcing it anyway, with a valid CSRF token, is refused by the server (and audited)
    page.evaluate(
        """(pk) => fetch(`/approvals/${pk}/decide/`, {method: "POST", body: new URLSearchParams({
              csrfmiddlewaretoken: document.querySelector("#resume-form [name=csrfmiddlewaretoken]").value,
              decision: "approve"}), redirect: "manual"})""",
        pk,
    )
    page.reload()
    assert "the requester cannot decide their own request" in page.locator(".messages").inner_text()
    assert page.locator(f'tr[data-approval="{pk}"] .status').inner_text() == "PENDING"
    assert stack["node"].health()["trading_state"] == 2, "still halted"

    second = new_page()
    sign_in(second, base, approver.username, PASSWORD)
    second.goto(f"{base}/nodes/{name}/")
    second.click(f'tr[data-approval="{pk}"] button.approve')
    second.wait_for_selector(f'tr[data-approval="{pk}"] .status:text("APPROVED")')
    wait_for(lambda: stack["node"].health()["trading_state"] == 0, 10, "the node ACTIVE again")
    second.wait_for_function("document.getElementById('trading-state').textContent === 'ACTIVE'")
    screenshot(second, "node-live-resumed")
