"""Risk limit rows: the active configuration's limits, constrained by the database, changed only
through a new configuration version (lowering applies, raising waits for a second user)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from tests.trading.console.test_limits import active_version, actor, document
from trading.backtest.config import ConfigError
from trading.models import ApprovalRequest, AuditEntry, Node, NodeCommand, NodeConfigVersion, RiskLimit
from trading.services.nodes import node_config_activate
from trading.services.operations import OperationDenied, decide_approval
from trading.services.risk_limit_rows import limit_document, parse_limit_value, set_risk_limit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def node(stand_in_node):
    return stand_in_node("rl", lambda name: node_config_activate(node_name=name, document=document(name)))


def limits(name: str) -> dict[tuple[str, str], RiskLimit]:
    return {(row.scope, row.name): row for row in RiskLimit.objects.filter(node__name=name)}


def test_rows_mirror_the_active_configuration(node):
    rows = limits(node.name)
    version = active_version(node.name)
    assert len(rows) == 8 + 6 and {row.config_version for row in rows.values()} == {version}
    assert rows[("", "max_daily_loss")].value == Decimal(500)
    assert rows[("", "max_consecutive_losses")].value is None, "absent optional limit = unlimited"
    collar = rows[("BTCUSDT", "price_collar_bps")]
    assert collar.value == 500 and collar.is_default and collar.strategy == "mm"
    assert (
        rows[("BTCUSDT", "max_position")].value == Decimal("0.01")
        and not rows[("BTCUSDT", "max_position")].is_default
    )
    assert str(rows[("", "max_consecutive_losses")]).endswith("node.max_consecutive_losses = unlimited")


def test_the_database_refuses_nonsense_limits(node):
    node_row = Node.objects.get(name=node.name)
    good = {
        "node": node_row,
        "scope": "ETHUSDT",
        "strategy": "mm",
        "name": "max_position",
        "config_version": 1,
    }
    for bad in (
        {"value": Decimal(0)},
        {"value": Decimal(-1)},
        {"value": Decimal(1), "name": "max_daily_loss"},  # node-wide limit on an instrument
        {"value": Decimal(1), "scope": "", "strategy": ""},  # per-instrument limit node-wide
        {"value": Decimal(1), "name": "no_such_limit"},
        {"value": Decimal("1.5"), "name": "max_open_orders"},  # a count is whole
        {"value": Decimal(1), "strategy": "martingale"},
        {"value": Decimal(1), "config_version": -1},
        {"value": Decimal(1), "scope": "BTCUSDT"},  # already there: one row per scope and limit
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            RiskLimit.objects.create(**{**good, **bad})
    RiskLimit.objects.create(**good, value=Decimal("0.5"))  # the same row without the fault is fine


def test_lowering_a_limit_row_applies_and_keeps_row_ids(node, make_user):
    before = limits(node.name)
    proposal = set_risk_limit(actor(make_user("risk manager")), node.name, "BTCUSDT", "max_notional",
                              Decimal(1000), comment="smaller book")  # fmt: skip
    assert proposal.activated and proposal.lowered == ("BTCUSDT.max_notional: 5000 -> 1000",)
    after = limits(node.name)
    assert after[("BTCUSDT", "max_notional")].value == 1000
    assert {key: row.pk for key, row in after.items()} == {key: row.pk for key, row in before.items()}
    assert {row.config_version for row in after.values()} == {proposal.version.version}
    assert NodeCommand.objects.get().command == "RELOAD_CONFIG" and node.received[0][0] == "RELOAD_CONFIG"
    document_risk = Node.objects.get(name=node.name).active_config.document["instruments"][0]["config"][
        "risk"
    ]
    assert document_risk["max_notional"] == "1000"


def test_raising_a_limit_row_creates_an_approval_and_changes_nothing(node, make_user):
    requester, approver = make_user("risk manager"), make_user("risk manager")
    before = active_version(node.name)
    proposal = set_risk_limit(actor(requester), node.name, "", "max_open_orders_total", Decimal(500))
    assert not proposal.activated and proposal.raised == ("node.max_open_orders_total: default 200 -> 500",)
    assert (
        active_version(node.name) == before and limits(node.name)[("", "max_open_orders_total")].value == 200
    )
    decide_approval(actor(approver), proposal.approval.pk, approve=True)
    assert limits(node.name)[("", "max_open_orders_total")].value == 500
    assert not limits(node.name)[("", "max_open_orders_total")].is_default
    # removing a limit is raising it to "unlimited"
    removal = set_risk_limit(actor(requester), node.name, "", "max_drawdown", None)
    assert removal.raised == ("node.max_drawdown: 1000 -> unlimited",) and removal.approval is not None


def test_who_may_change_a_limit_and_what_is_refused(node, make_user):
    versions, audits = NodeConfigVersion.objects.count(), AuditEntry.objects.count()
    for role in ("viewer", "operator"):
        with pytest.raises(OperationDenied, match="missing permission trading.change_risklimit"):
            set_risk_limit(actor(make_user(role)), node.name, "", "max_daily_loss", Decimal(1))
    manager = actor(make_user("risk manager"))
    for scope, name, message in [
        ("", "max_position", "not a node-wide limit"),
        ("BTCUSDT", "max_daily_loss", "not a per-instrument limit"),
        ("DOGEUSDT", "max_position", "no instrument 'DOGEUSDT'"),
        ("", "__class__", "not a node-wide limit"),
    ]:
        with pytest.raises(ConfigError, match=message):
            set_risk_limit(manager, node.name, scope, name, Decimal(1))
    with pytest.raises(LookupError):
        set_risk_limit(manager, "no-such-node", "", "max_daily_loss", Decimal(1))
    assert NodeConfigVersion.objects.count() == versions
    denied = AuditEntry.objects.order_by("seq").values_list("action", flat=True)[audits:]
    assert list(denied) == ["risk_limit.change.denied"] * 2, "refusals of permission are audited"


def test_a_change_against_a_stale_configuration_is_refused(node, make_user):
    from trading.services.config_changes import propose_node_config

    manager = actor(make_user("risk manager"))
    base = active_version(node.name)
    propose_node_config(manager, node.name, document(node.name, risk__max_drawdown="10"))  # someone else
    with pytest.raises(ConfigError, match=f"changed since version {base} "):
        propose_node_config(
            manager, node.name, document(node.name, risk__max_daily_loss="5"), base_version=base
        )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("max_daily_loss", "NaN", "finite"),
        ("max_daily_loss", "inf", "finite"),
        ("max_daily_loss", "-Infinity", "finite"),
        ("max_daily_loss", "-1", "above zero"),
        ("max_daily_loss", "0", "above zero"),
        ("max_daily_loss", "0.0000000001", "9 decimal places"),
        ("max_daily_loss", "1e400", "too large"),
        ("max_daily_loss", "1" * 41, "longer than 40"),
        ("max_daily_loss", "12abc", "not a number"),
        ("max_daily_loss", "<script>", "not a number"),
        ("max_daily_loss", "1,000", "not a number"),
        ("max_open_orders", "1.5", "whole number"),
        ("max_daily_loss", True, "must be a number"),
        ("max_daily_loss", ["1"], "must be a number"),
    ],
)
def test_typed_limit_values_are_checked(name, text, message):
    with pytest.raises(ValueError, match=message):
        parse_limit_value(name, text)


def test_typed_limit_values_that_are_fine():
    assert parse_limit_value("max_daily_loss", "  250.5 ") == Decimal("250.5")
    assert parse_limit_value("max_open_orders", "10") == 10
    assert parse_limit_value("max_open_orders", "1e1") == 10
    assert (
        parse_limit_value("max_daily_loss", "") is None and parse_limit_value("max_daily_loss", None) is None
    )


def test_limit_document_writes_the_schema_types():
    doc = document("x")
    assert (
        limit_document(doc, "", "max_open_orders_total", Decimal("1E+1"))["risk"]["max_open_orders_total"]
        == 10
    )
    assert (
        limit_document(doc, "BTCUSDT", "max_notional", Decimal("1E+3"))["instruments"][0]["config"]["risk"][
            "max_notional"
        ]
        == "1000"
    )
    assert "max_daily_loss" not in limit_document(doc, "", "max_daily_loss", None)["risk"]
    assert doc["risk"]["max_daily_loss"] == "500", "the original is not modified"


def test_the_admin_changes_a_limit_through_the_service(node, client, make_user):
    manager = make_user("risk manager", is_staff=True)
    client.force_login(manager)
    row = limits(node.name)[("", "max_daily_loss")]
    url = f"/admin/trading/risklimit/{row.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and 'name="new_value"' in page.content.decode()
    versions = NodeConfigVersion.objects.count()
    for hostile in ("NaN", "-3", "1e400", "x" * 41, "<b>1</b>"):
        response = client.post(url, {"new_value": hostile, "reason": "typo"})
        assert response.status_code == 200 and "errornote" in response.content.decode(), hostile
    assert (
        NodeConfigVersion.objects.count() == versions
        and limits(node.name)[("", "max_daily_loss")].value == 500
    )
    response = client.post(url, {"new_value": "300", "reason": "quiet day"}, follow=True)
    assert "the node was told to reload" in response.content.decode()
    assert limits(node.name)[("", "max_daily_loss")].value == 300
    response = client.post(url, {"new_value": "9000", "reason": "big day"}, follow=True)
    assert (
        "NOT applied" in response.content.decode()
        and "was changed successfully" not in response.content.decode()
    )
    assert limits(node.name)[("", "max_daily_loss")].value == 300
    assert ApprovalRequest.objects.get().payload["raised"] == ["node.max_daily_loss: 300 -> 9000"]
    assert client.get("/admin/trading/risklimit/add/").status_code == 403
    client.force_login(make_user("viewer", is_staff=True))
    assert client.get("/admin/trading/risklimit/").status_code == 200, "viewers see the limits"
    assert client.post(url, {"new_value": "1", "reason": "x"}).status_code == 403, "and change none"
    assert limits(node.name)[("", "max_daily_loss")].value == 300
