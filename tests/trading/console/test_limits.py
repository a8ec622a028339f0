"""Risk limits under the two-person rule: lowering applies at once, raising needs a second user."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest

from trading.audit import Actor, verify_chain
from trading.backtest.config import ConfigError
from trading.models import ApprovalRequest, AuditEntry, Node, NodeCommand, NodeConfigVersion
from trading.risk_limits import limit_changes
from trading.services.config_changes import propose_node_config
from trading.services.nodes import node_config_activate
from trading.services.operations import OperationDenied, decide_approval

DEMO = json.loads((Path(__file__).resolve().parents[3] / "configs" / "node_demo.json").read_text())


def document(name: str, **changes) -> dict:
    doc = copy.deepcopy(DEMO)
    doc["node"] = name
    for path, value in changes.items():
        section = doc
        *parents, field = path.split("__")
        for key in parents:
            section = section[int(key)] if key.isdigit() else section[key]
        if value is None:
            section.pop(field, None)
        else:
            section[field] = value
    return doc


# ---------------------------------------------------------------------------- what counts as raising


def texts(changes) -> set[str]:
    return {change.text for change in changes}


@pytest.mark.parametrize(
    ("changes", "raised", "lowered"),
    [
        ({"risk__max_daily_loss": "600"}, {"node.max_daily_loss: 500 -> 600"}, set()),
        ({"risk__max_daily_loss": "400"}, set(), {"node.max_daily_loss: 500 -> 400"}),
        ({"risk__max_daily_loss": None}, {"node.max_daily_loss: 500 -> unlimited"}, set()),
        ({"risk__max_order_qty": "0.5"}, set(), {"node.max_order_qty: unlimited -> 0.5"}),
        ({"risk__max_open_orders": 60}, {"node.max_open_orders: default 50 -> 60"}, set()),
        ({"risk__max_open_orders": 10}, set(), {"node.max_open_orders: default 50 -> 10"}),
        (
            {"instruments__0__config__risk__max_position": "0.02"},
            {"BTCUSDT.max_position: 0.01 -> 0.02"},
            set(),
        ),
        (
            {"instruments__0__config__risk__max_notional": "NaN-ish"},
            {"BTCUSDT.max_notional: 5000 -> NaN-ish"},
            set(),
        ),
        ({"engine__hash_every": 20000}, set(), set()),
    ],
)
def test_limit_changes(changes, raised, lowered):
    up, down = limit_changes(DEMO, document("demo", **changes))
    assert (texts(up), texts(down)) == (raised, lowered)


def test_a_new_instrument_raises_and_a_removed_one_does_not():
    more = copy.deepcopy(DEMO)
    more["instruments"].append({**copy.deepcopy(DEMO["instruments"][0]), "symbol": "ETHUSDT"})
    up, _ = limit_changes(DEMO, more)
    assert {c.scope for c in up} == {"ETHUSDT"} and "ETHUSDT.max_position: unlimited -> 0.01" in texts(up)
    up, down = limit_changes(more, DEMO)
    assert up == [] and down == []
    assert limit_changes(None, DEMO)[0], "a first configuration raises from nothing"


# ---------------------------------------------------------------------------- the service

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def node(stand_in_node):
    return stand_in_node("lim", lambda name: node_config_activate(node_name=name, document=document(name)))


def actor(user) -> Actor:
    return Actor(
        user=user, username=user.username, source_ip="10.9.9.9", request_id=f"r-{uuid.uuid4().hex[:10]}"
    )


def active_version(name: str) -> int:
    return Node.objects.select_related("active_config").get(name=name).active_config.version


def test_lowering_a_limit_applies_at_once_and_the_node_reloads(node, make_user):
    manager = make_user("risk manager")
    proposal = propose_node_config(actor(manager), node.name, document(node.name, risk__max_daily_loss="100"))
    assert (
        proposal.activated
        and proposal.approval is None
        and proposal.lowered == ("node.max_daily_loss: 500 -> 100",)
    )
    assert active_version(node.name) == proposal.version.version
    reload = NodeCommand.objects.get(command="RELOAD_CONFIG")
    assert reload.config_version == proposal.version.version and reload.status == "ACCEPTED"
    assert node.received == [("RELOAD_CONFIG", manager.username)]
    actions = list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))
    assert (
        actions == ["node.config.activate", "node.reload_config", "node.reload_config.ack"]
        and verify_chain().ok
    )


def test_raising_a_limit_waits_for_a_second_user(node, make_user):
    requester, approver = make_user("risk manager"), make_user("risk manager")
    before = active_version(node.name)
    proposal = propose_node_config(actor(requester), node.name, document(node.name, risk__max_daily_loss="900"),
                                   comment="bigger day")  # fmt: skip
    assert not proposal.activated and proposal.raised == ("node.max_daily_loss: 500 -> 900",)
    approval = proposal.approval
    assert approval.action == "RAISE_LIMIT" and approval.payload["base_version"] == before
    assert active_version(node.name) == before and node.received == []
    with pytest.raises(OperationDenied, match="cannot decide their own request"):
        decide_approval(actor(requester), approval.pk, approve=True)
    decided = decide_approval(actor(approver), approval.pk, approve=True)
    assert decided.status == "APPROVED" and active_version(node.name) == proposal.version.version
    assert node.received == [("RELOAD_CONFIG", approver.username)]
    assert NodeCommand.objects.get().approval_id == approval.pk


def test_an_approval_against_a_configuration_that_changed_fails(node, make_user):
    requester, approver = make_user("risk manager"), make_user("risk manager")
    raise_it = propose_node_config(
        actor(requester), node.name, document(node.name, risk__max_daily_loss="900")
    )
    propose_node_config(
        actor(requester), node.name, document(node.name, risk__max_drawdown="10")
    )  # lowered: active
    current = active_version(node.name)
    decided = decide_approval(actor(approver), raise_it.approval.pk, approve=True)
    assert decided.status == "FAILED" and "configuration changed since the request" in decided.outcome
    assert active_version(node.name) == current, "the raise was not applied over the newer version"
    assert "approval.failed" in AuditEntry.objects.values_list("action", flat=True)


def test_who_may_change_limits_and_bad_documents(node, make_user):
    with pytest.raises(OperationDenied, match="missing permission trading.add_nodeconfigversion"):
        propose_node_config(
            actor(make_user("operator")), node.name, document(node.name, risk__max_daily_loss="1")
        )
    manager = make_user("risk manager")
    count = NodeConfigVersion.objects.count()
    for bad, message in [
        (document(node.name, risk__max_daily_loss="-5"), "max_daily_loss"),
        (document("other-node"), "not 'lim-"),
        ({**document(node.name), "instruments": []}, "at least one instrument"),
    ]:
        with pytest.raises(ConfigError, match=message):
            propose_node_config(actor(manager), node.name, bad)
    assert NodeConfigVersion.objects.count() == count
    with pytest.raises(LookupError):
        propose_node_config(actor(manager), "no-such-node", document("no-such-node"))
    assert list(AuditEntry.objects.values_list("action", flat=True)) == ["node.config.denied"]


def test_raising_a_limit_in_the_admin_creates_an_approval_instead(node, admin_client):
    before = active_version(node.name)
    raised = document(node.name, instruments__0__config__risk__max_position="0.05")
    node_row = Node.objects.get(name=node.name)
    response = admin_client.post("/admin/trading/nodeconfigversion/add/",
                                 {"node": node_row.pk, "document": json.dumps(raised), "activate": "on"},
                                 follow=True)  # fmt: skip
    assert response.status_code == 200
    assert (
        "NOT active" in response.content.decode()
        and "BTCUSDT.max_position: 0.01 -&gt; 0.05" in response.content.decode()
    )
    assert active_version(node.name) == before and node.received == []
    approval = ApprovalRequest.objects.get()
    assert approval.action == "RAISE_LIMIT" and approval.status == "PENDING"


# ---------------------------------------------------------------------------- raises the document hides


def test_one_symbol_on_two_markets_keeps_two_scopes(node, make_user):
    """A node may trade BTCUSDT spot and usdm: raising one must not hide behind the other."""
    two = document(node.name)
    usdm = copy.deepcopy(two["instruments"][0])
    usdm["market"] = "usdm"
    two["instruments"].append(usdm)
    manager = make_user("risk manager")
    first = propose_node_config(actor(manager), node.name, two)
    assert "BTCUSDT@usdm.max_position: unlimited -> 0.01" in first.raised
    decide_approval(actor(make_user("risk manager")), first.approval.pk, approve=True)
    raised_spot = copy.deepcopy(two)
    raised_spot["instruments"][0]["config"]["risk"]["max_position"] = "5"
    raised_spot["instruments"][0]["config"]["strategy"]["max_position"] = "5"
    proposal = propose_node_config(actor(manager), node.name, raised_spot)
    assert not proposal.activated and "BTCUSDT.max_position: 0.01 -> 5" in proposal.raised


def test_a_limit_derived_from_a_strategy_field_counts_as_raised(node, make_user):
    """risk.max_order_qty unset = 10 x strategy.order_qty: a bigger order size raises it."""
    manager = make_user("risk manager")
    bigger = document(node.name, instruments__0__config__strategy__order_qty="0.005")
    proposal = propose_node_config(actor(manager), node.name, bigger)
    assert not proposal.activated and proposal.approval is not None
    assert proposal.raised == ("BTCUSDT.max_order_qty: 10000 (engine) -> 50000 (engine)",)
    smaller = document(node.name, instruments__0__config__strategy__order_qty="0.0005")
    assert propose_node_config(actor(manager), node.name, smaller).activated, "smaller orders apply at once"
