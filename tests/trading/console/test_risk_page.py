"""The risk page (/nodes/<name>/risk/): who sees what, and the panel sections it draws, taken
from a real node (the runtime and the compiled engine in process, fed recorded market data)."""

from __future__ import annotations

import orjson
import pytest
from django.urls import reverse

from dashboards.panels import panel_delta
from hotpath.risk import RR_RECONCILE
from hotpath.types import CTL_KILL
from trading.binance.signing import HmacSigner
from trading.engine.config import parse_node_config
from trading.engine.node import Node as RuntimeNode
from trading.engine.node import NodeServices
from trading.marketdata import load_events
from trading.models import Node

BUTTONS = ('id="stop-all"', 'id="cancel-all"', 'id="reduce-only"', 'id="disconnect"', 'id="request-resume"')
PANELS = ('id="breakers"', 'id="limits"', 'id="instrument-limits"', "js/node_risk.js")


@pytest.fixture
def node(db):
    return Node.objects.create(name="risk-page", trading_state=Node.TradingState.ACTIVE)


def get(client, user, name):
    client.force_login(user)
    return client.get(reverse("node-risk", args=[name]))


@pytest.mark.django_db
def test_a_viewer_sees_the_limits_and_no_control(client, make_user, node):
    response = get(client, make_user("viewer"), node.name)
    assert response.status_code == 200
    body = response.content.decode()
    assert all(panel in body for panel in PANELS)
    assert not any(button in body for button in BUTTONS)
    assert 'id="actions"' in body and 'data-node="risk-page"' in body


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["operator", "risk manager", "admin"])
def test_roles_that_may_act_get_every_control_with_its_confirmation(client, make_user, node, role):
    body = get(client, make_user(role), node.name).content.decode()
    assert all(button in body for button in BUTTONS)
    assert body.count("data-confirm=") == 4
    assert reverse("node-resume-request", args=[node.name]) in body, "the same resume request form"


@pytest.mark.django_db
def test_unknown_nodes_missing_roles_anonymous_users_and_other_methods(client, make_user, node):
    viewer = make_user("viewer")
    assert get(client, viewer, "no-such-node").status_code == 404
    for hostile in ("Risk-Page", "a" * 64, "..", "x%00y", "risk-page;drop"):
        assert client.get(f"/nodes/{hostile}/risk/").status_code == 404
    assert client.post(reverse("node-risk", args=[node.name])).status_code == 405
    assert get(client, make_user(None), node.name).status_code == 403
    client.logout()
    response = client.get(reverse("node-risk", args=[node.name]))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_the_node_page_links_to_the_risk_page_and_carries_the_new_panels(client, make_user, node):
    client.force_login(make_user("viewer"))
    body = client.get(reverse("node-live", args=[node.name])).content.decode()
    assert f'href="{reverse("node-risk", args=[node.name])}"' in body
    assert 'id="as-internals"' in body and 'id="latency-histograms"' in body


# ----------------------------------------------------------------------- the panel of a real node

NODE_DOC = {
    "node": "risk-panel",
    "venue": {"api_key": "k", "hmac_secret": "s"},
    "instruments": [
        {
            "symbol": "BTCUSDT",
            "market": "spot",
            "strategy": "avellaneda",
            "config": {
                "strategy": {"order_qty": "0.001", "max_position": "0.01", "warmup_events": 10},
                "risk": {"max_position": "0.01", "max_notional": "5000"},
            },
        }
    ],
    "risk": {"max_daily_loss": "500", "max_drawdown": "1000"},
}


@pytest.fixture
def runtime_node(tmp_path, spot_btc_files, cache_dir):
    """A node runtime with its journal and compiled engine, fed recorded data through its kernel
    (no venue: orders stay SENT, which is all the panels need)."""
    events = load_events([spot_btc_files[0]], "BTCUSDT", cache_dir=cache_dir).events[:40_000]
    runtime = RuntimeNode(
        parse_node_config(NODE_DOC), NodeServices(state_dir=tmp_path, api_key="k", signer=HmacSigner(b"s"))
    )
    runtime.prepare()
    runtime.kernel.system_resume(RR_RECONCILE)  # nothing to reconcile with: let it quote
    yield runtime, events
    runtime.journal.close()


def test_the_panel_of_a_real_node_has_risk_strategy_and_histograms(runtime_node):
    runtime, events = runtime_node
    frames = []
    for start in range(0, len(events), 2000):
        runtime.kernel.process(events[start : start + 2000])
        frames.append(runtime.panel_snapshot())
    panel = frames[-1]
    risk = panel["risk"]
    assert risk["trading_state"] == "ACTIVE" and risk["reason"] == "OK"
    assert risk["max_drawdown"] == 1000 * 10**9 and risk["max_daily_loss"] == 500 * 10**9
    assert risk["max_total_notional"] is None, "not configured: disabled"
    assert risk["drawdown"] == risk["peak_equity"] - risk["equity"]
    assert risk["open_orders"] == len(runtime.kernel.engine.live_orders()) > 0
    item = panel["instruments"][0]
    assert item["risk"]["max_notional"] == 5000 * 10**9 and item["risk"]["max_position"] == 10_000
    assert item["risk"]["open_orders"] == risk["open_orders"]
    strategy = item["strategy"]
    assert strategy["kind"] == "avellaneda" and strategy["quotes"] > 0
    mid_e6 = item["signals"]["mid_x2"] * 500_000
    assert abs(strategy["reservation_e6"] - mid_e6) < 1_000 * 10**6, "the reservation price sits near the mid"
    engine_stage = panel["metrics"]["stages"]["engine"]
    assert sum(n for _, n in engine_stage["buckets"]) == engine_stage["recent"]["count"] == 1
    for section in (risk, item["risk"], strategy, engine_stage):
        assert orjson.loads(orjson.dumps(section)) == section, "the new sections are plain JSON"

    full = len(orjson.dumps(panel))
    delta = len(orjson.dumps(panel_delta(frames[-2], panel)))
    sections = {
        key: len(orjson.dumps(panel[key])) for key in ("risk", "instruments", "metrics", "live_orders")
    }
    print(f"\npanel frame {full} bytes, delta {delta} bytes, sections {sections}")
    assert full < 64 * 1024 and sections["risk"] < 1024

    runtime.kernel.control(CTL_KILL)
    halted = runtime.panel_snapshot()
    assert (halted["risk"]["trading_state"], halted["risk"]["reason"]) == ("HALTED", "OPERATOR")
    assert "risk" in panel_delta(panel, halted), "a state change reaches the page as a delta"
