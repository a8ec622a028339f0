"""Versioned strategy configurations: validated against the schema and the instrument, immutable,
applied to a node's instrument through the configuration service (two-person rule on raises)."""

from __future__ import annotations

import copy
import json

import pytest

from tests.trading.console.test_limits import DEMO, active_version, actor, document
from trading.backtest.config import ConfigError
from trading.models import ApprovalRequest, AuditEntry, Node, NodeConfigVersion, StrategyConfig
from trading.services.nodes import node_config_activate
from trading.services.operations import OperationDenied
from trading.services.strategy_configs import add_strategy_config, apply_strategy_config

pytestmark = pytest.mark.django_db(transaction=True)

CONFIG = copy.deepcopy(DEMO["instruments"][0]["config"])  # the demo's BTCUSDT "mm" sections


@pytest.fixture
def node(stand_in_node):
    return stand_in_node("sc", lambda name: node_config_activate(node_name=name, document=document(name)))


def add(user, name="btc-mm", strategy="mm", doc=None, **kw):
    return add_strategy_config(actor(user), name=name, strategy=strategy, symbol=kw.pop("symbol", "BTCUSDT"),
                               market=kw.pop("market", "spot"), document=CONFIG if doc is None else doc, **kw)  # fmt: skip


def test_versions_count_up_per_name_and_are_audited(make_user):
    manager = make_user("risk manager")
    first, second = add(manager), add(manager, comment="same again")
    other = add(
        manager,
        name="btc-as",
        strategy="avellaneda",
        doc={"strategy": {"order_qty": "0.001", "gamma": "0.2"}},
    )
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.created_by_username == manager.username
    actions = list(AuditEntry.objects.order_by("seq").values_list("action", "target_id"))
    assert actions == [("strategy_config.add", "btc-mm v1"), ("strategy_config.add", "btc-mm v2"),
                       ("strategy_config.add", "btc-as v1")]  # fmt: skip


@pytest.mark.parametrize(
    ("strategy", "doc", "symbol", "message"),
    [
        ("mm", {"strategy": {"half_spread_ticks": 0}}, "BTCUSDT", "half_spread_ticks"),
        ("mm", {"strategy": {"order_qty": "NaN"}}, "BTCUSDT", "order_qty"),
        ("mm", {"strategy": {"order_qty": "0.0000001"}}, "BTCUSDT", "order_qty"),  # finer than the lot
        ("mm", {"strategy": {"order_qty": "0.01", "max_position": "0.001"}}, "BTCUSDT", "max_position"),
        ("mm", {"risk": {"max_open_orders": -1}}, "BTCUSDT", "max_open_orders"),
        ("mm", {"venue": {}}, "BTCUSDT", "unknown sections \\['venue'\\]"),
        ("mm", {"engine": {}}, "BTCUSDT", "unknown sections"),
        ("mm", {"strategy": {"gamma": "0.1"}}, "BTCUSDT", "gamma"),  # an A-S field on the wrong kind
        ("mm", ["strategy"], "BTCUSDT", "JSON object"),
        ("mm", {"strategy": {"skew_ticks": "1" * 20000}}, "BTCUSDT", "larger than"),
        ("martingale", {}, "BTCUSDT", "unknown strategy"),
        ("mm", {}, "NOPEUSDT", "instrument"),
        ("mm", {}, "<script>", "instrument"),
    ],
)
def test_invalid_configurations_are_refused_and_nothing_is_stored(make_user, strategy, doc, symbol, message):
    manager = make_user("risk manager")
    with pytest.raises(ConfigError, match=message):
        add(manager, strategy=strategy, doc=doc, symbol=symbol)
    assert StrategyConfig.objects.count() == 0 and AuditEntry.objects.count() == 0


def test_only_risk_managers_add_configurations(make_user):
    for role in ("viewer", "operator"):
        with pytest.raises(OperationDenied, match="trading.add_strategyconfig"):
            add(make_user(role))
    assert StrategyConfig.objects.count() == 0
    assert set(AuditEntry.objects.values_list("action", flat=True)) == {"strategy_config.add.denied"}


def test_applying_a_configuration_that_lowers_risk_activates_it(node, make_user):
    manager = make_user("risk manager")
    tighter = copy.deepcopy(CONFIG)
    tighter["strategy"]["half_spread_ticks"] = 25
    tighter["risk"]["max_notional"] = "2500"
    config = add(manager, doc=tighter)
    proposal = apply_strategy_config(actor(manager), node.name, config.pk)
    assert proposal.activated and proposal.lowered == ("BTCUSDT.max_notional: 5000 -> 2500",)
    running = Node.objects.get(name=node.name).active_config.document["instruments"][0]
    assert running["config"] == tighter and running["strategy"] == "mm"
    assert node.received == [("RELOAD_CONFIG", manager.username)]
    assert "btc-mm v1" in NodeConfigVersion.objects.get(version=proposal.version.version).comment


def test_applying_a_configuration_that_raises_a_limit_needs_approval(node, make_user):
    manager = make_user("risk manager")
    looser = copy.deepcopy(CONFIG)
    looser["risk"]["max_position"] = "0.05"
    looser["strategy"]["max_position"] = "0.05"
    before = active_version(node.name)
    proposal = apply_strategy_config(actor(manager), node.name, add(manager, doc=looser).pk)
    assert not proposal.activated and proposal.raised == ("BTCUSDT.max_position: 0.01 -> 0.05",)
    assert active_version(node.name) == before and node.received == []
    assert ApprovalRequest.objects.get().action == "RAISE_LIMIT"


def test_applying_refuses_what_does_not_fit(node, make_user):
    manager = make_user("risk manager")
    eth = add(manager, name="eth-mm", symbol="ETHUSDT", doc={"strategy": {"order_qty": "0.01"}})
    with pytest.raises(ConfigError, match="does not trade ETHUSDT"):
        apply_strategy_config(actor(manager), node.name, eth.pk)
    with pytest.raises(LookupError, match="no strategy configuration"):
        apply_strategy_config(actor(manager), node.name, 10**9)
    with pytest.raises(LookupError, match="no node"):
        apply_strategy_config(actor(manager), "no-such-node", eth.pk)
    with pytest.raises(OperationDenied):
        apply_strategy_config(actor(make_user("operator")), node.name, eth.pk)
    assert "strategy_config.apply" not in AuditEntry.objects.values_list("action", flat=True)


def test_the_admin_adds_versions_and_applies_them(node, client, make_user):
    manager = make_user("risk manager", is_staff=True)
    client.force_login(manager)
    form = {"name": "btc-mm", "strategy": "mm", "symbol": "BTCUSDT", "market": "spot",
            "document": json.dumps(CONFIG), "comment": "desk default"}  # fmt: skip
    bad = client.post(
        "/admin/trading/strategyconfig/add/", {**form, "document": '{"strategy": {"half_spread_ticks": -4}}'}
    )
    assert (
        bad.status_code == 200 and "refused" in bad.content.decode() and StrategyConfig.objects.count() == 0
    )
    not_json = client.post("/admin/trading/strategyconfig/add/", {**form, "document": "{nope"})
    assert not_json.status_code == 200 and StrategyConfig.objects.count() == 0
    for _ in range(2):
        assert client.post("/admin/trading/strategyconfig/add/", form).status_code == 302
    assert list(StrategyConfig.objects.values_list("version", flat=True)) == [2, 1]
    config = StrategyConfig.objects.get(version=2)
    page = client.get(f"/admin/trading/strategyconfig/{config.pk}/change/").content.decode()
    assert 'id="apply-strategy-config"' in page and 'name="document"' not in page, "versions are read-only"
    node_pk = Node.objects.get(name=node.name).pk
    response = client.post(
        f"/admin/trading/strategyconfig/{config.pk}/apply/", {"node": node_pk}, follow=True
    )
    assert "No change: the node already runs this configuration" in response.content.decode()
    bogus = client.post(f"/admin/trading/strategyconfig/{config.pk}/apply/", {"node": "999999"})
    assert bogus.status_code == 200 and "errorlist" in bogus.content.decode()
    client.force_login(make_user("operator", is_staff=True))
    assert (
        client.post(f"/admin/trading/strategyconfig/{config.pk}/apply/", {"node": node_pk}).status_code == 403
    )
    assert client.post("/admin/trading/strategyconfig/add/", form).status_code == 403
