"""The config page in a real browser: a risk manager lowers a limit in the form, the new version
becomes active, the node (a stand-in acknowledging over the real Redis) is told to reload it, and
the page shows the version and its diff."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
import redis

from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD
from tests.trading.console.standin import StandInNode

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DEMO = json.loads((Path(__file__).resolve().parents[2] / "configs" / "node_demo.json").read_text())


@pytest.fixture
def stand_in():
    from django.conf import settings

    from trading.engine.control import ack_stream, control_stream
    from trading.services.nodes import node_config_activate

    document = {**copy.deepcopy(DEMO), "node": "config-page-node"}
    node_config_activate(node_name=document["node"], document=document)
    url = settings.ATOMIC_OPS["REDIS_URL"]
    node = StandInNode(url, document["node"]).start()
    time.sleep(0.05)  # the listener's cursor is placed before anything is sent
    yield node
    node.stop()
    client = redis.Redis.from_url(url)
    client.delete(control_stream(node.name), ack_stream(node.name))
    client.close()


def test_a_risk_manager_lowers_a_limit_in_the_form_and_sees_the_new_version(
    live_server, page, make_user, screenshot, stand_in
):
    from trading.models import Node

    manager = make_user("risk manager")
    before = Node.objects.select_related("active_config").get(name=stand_in.name).active_config
    sign_in(page, live_server.url, manager.username, PASSWORD)
    page.goto(f"{live_server.url}/nodes/{stand_in.name}/")
    page.click("#config-link")
    page.wait_for_url(f"{live_server.url}/nodes/{stand_in.name}/config/")
    field = page.locator('input[name="node.risk.max_daily_loss"]')
    assert field.input_value() == "500"
    field.fill("100")
    page.fill('input[name="comment"]', "quieter market")
    page.click("#propose")
    page.wait_for_url(f"{live_server.url}/nodes/{stand_in.name}/config/")

    after = Node.objects.select_related("active_config").get(name=stand_in.name).active_config
    assert after.pk != before.pk and after.document["risk"]["max_daily_loss"] == "100"
    message = page.locator("#messages").inner_text()
    assert f"version {after.version} active, node told to reload (answer: ACCEPTED)" in message
    assert stand_in.received == [("RELOAD_CONFIG", manager.username)]
    assert page.locator("#active-version").inner_text().startswith(f"Active version {after.version}")
    row = page.locator(f'#versions tr[data-version="{after.version}"]')
    assert "ACTIVE" in row.locator(".status").inner_text()
    assert "risk.max_daily_loss: 500 -> 100" in row.locator(".diff-previous").inner_text()
    assert page.locator('input[name="node.risk.max_daily_loss"]').input_value() == "100"
    screenshot(page, "config-page-lowered-limit")
