"""Raising a risk limit in the admin, in a real browser: an approval request, not a change."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DEMO = json.loads((Path(__file__).resolve().parents[2] / "configs" / "node_demo.json").read_text())


def test_raising_a_limit_in_the_admin_creates_an_approval_instead_of_applying(live_server, page, make_user,
                                                                               screenshot):  # fmt: skip
    from trading.models import ApprovalRequest, Node
    from trading.services.nodes import node_config_activate

    document = copy.deepcopy(DEMO)
    document["node"] = "admin-node"
    node, active, _ = node_config_activate(node_name="admin-node", document=document)
    admin = make_user(None, is_staff=True, is_superuser=True)
    raised = copy.deepcopy(document)
    raised["risk"]["max_daily_loss"] = "5000"

    sign_in(page, live_server.url, admin.username, PASSWORD)
    page.goto(f"{live_server.url}/admin/trading/nodeconfigversion/add/")
    page.select_option("select[name=node]", str(node.pk))
    page.fill("textarea[name=document]", json.dumps(raised))
    page.fill("input[name=comment]", "bigger daily loss")
    assert page.is_checked("input[name=activate]")
    page.click("input[name=_save]")
    warning = page.locator(".messagelist .warning").inner_text()
    assert "NOT active" in warning and "node.max_daily_loss: 500 -> 5000" in warning
    screenshot(page, "admin-raise-limit")
    assert Node.objects.get(pk=node.pk).active_config_id == active.pk, "nothing applied"
    approval = ApprovalRequest.objects.get()
    assert (approval.action, approval.status, approval.requested_by_id) == (
        "RAISE_LIMIT",
        "PENDING",
        admin.pk,
    )
