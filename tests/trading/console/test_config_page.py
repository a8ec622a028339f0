"""The config page: strategy and risk parameters edited in a form, versions with diffs, rollback,
under the two-person rule for raised limits. Real PostgreSQL and Redis, a stand-in node."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from trading.audit import Actor, verify_chain
from trading.forms.config import ConfigEditForm, param_specs
from trading.models import ApprovalRequest, AuditEntry, Node, NodeCommand, NodeConfigVersion
from trading.services.config_changes import StaleConfig, propose_node_config
from trading.services.nodes import node_config_activate

pytestmark = pytest.mark.django_db(transaction=True)

DEMO = json.loads((Path(__file__).resolve().parents[3] / "configs" / "node_demo.json").read_text())
DAILY_LOSS = "node.risk.max_daily_loss"
HALF_SPREAD = "BTCUSDT.strategy.half_spread_ticks"
POSITION_LIMIT = "BTCUSDT.risk.max_position"


def document(name: str) -> dict:
    return {**copy.deepcopy(DEMO), "node": name}


@pytest.fixture
def node(stand_in_node):
    return stand_in_node("cfg", lambda name: node_config_activate(node_name=name, document=document(name)))


def active(name: str) -> NodeConfigVersion:
    return Node.objects.select_related("active_config").get(name=name).active_config


def form_data(name: str, **changes) -> dict:
    """What the page's form posts when its values are left as rendered, with `changes` applied
    (field name -> value; dots in names are written with "__")."""
    version = active(name)
    form = ConfigEditForm(document=version.document, base_version=version.version)
    data = {spec.name: spec.current_text for spec in form.specs}
    data["base_version"] = str(version.version)
    data["comment"] = ""
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def post(client, name: str, data: dict, what: str = "node-config-propose"):
    return client.post(reverse(what, args=[name]), data)


def counts() -> tuple[int, int, int, int]:
    return (
        NodeConfigVersion.objects.count(),
        AuditEntry.objects.count(),
        ApprovalRequest.objects.count(),
        NodeCommand.objects.count(),
    )


def page(client, name: str) -> str:
    response = client.get(reverse("node-config", args=[name]))
    assert response.status_code == 200
    return response.content.decode()


# ---------------------------------------------------------------------------- who sees, who may change


def test_a_viewer_sees_the_configuration_and_cannot_change_it(client, make_user, node):
    viewer = make_user("viewer")
    client.force_login(viewer)
    body = page(client, node.name)
    version = active(node.name)
    assert f"<code>{version.version}</code>" in body and 'class="active-mark"' in body
    assert f'name="{DAILY_LOSS}"' in body and 'value="500"' in body and f'name="{HALF_SPREAD}"' in body
    assert 'id="read-only"' in body and "disabled" in body
    assert 'id="propose"' not in body and "roll back to this version" not in body
    before = counts()
    response = post(client, node.name, form_data(node.name, node__risk__max_daily_loss="1"))
    assert response.status_code == 403
    response = post(client, node.name, {"version": version.version, "base_version": version.version},
                    "node-config-rollback")  # fmt: skip
    assert response.status_code == 403
    denied = list(AuditEntry.objects.order_by("seq").values_list("action", "actor_username"))
    assert denied == [("node.config.denied", viewer.username)] * 2
    assert counts()[0::2] == before[0::2] and active(node.name).pk == version.pk and node.received == []


def test_the_page_needs_a_role_a_sign_in_and_a_real_node(client, make_user, node):
    url = reverse("node-config", args=[node.name])
    assert client.get(url).status_code == 302 and "/login/" in client.get(url)["Location"]
    assert client.post(reverse("node-config-propose", args=[node.name])).status_code == 302  # to sign-in
    client.force_login(make_user(None))
    assert client.get(url).status_code == 403
    client.force_login(make_user("viewer"))
    assert client.get(reverse("node-config", args=["no-such-node"])).status_code == 404
    assert client.post(url).status_code == 405, "the page itself takes no POST"


def test_posts_need_the_csrf_token(make_user, node):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("risk manager"))
    before = counts()
    response = post(client, node.name, form_data(node.name, node__risk__max_daily_loss="100"))
    assert response.status_code == 403 and counts() == before


def test_the_node_page_links_here(client, make_user, node):
    client.force_login(make_user("viewer"))
    body = client.get(reverse("node-live", args=[node.name])).content.decode()
    assert f'href="{reverse("node-config", args=[node.name])}"' in body


def test_credentials_never_reach_the_page(client, make_user, node):
    client.force_login(make_user("risk manager"))
    body = page(client, node.name)
    assert DEMO["venue"]["hmac_secret"] not in body and DEMO["venue"]["api_key"] not in body


# ---------------------------------------------------------------------------- changes


def test_lowering_a_limit_activates_a_new_version_and_the_node_reloads_it(client, make_user, node):
    manager = make_user("risk manager")
    client.force_login(manager)
    old = active(node.name)
    response = post(
        client, node.name, form_data(node.name, node__risk__max_daily_loss="100", comment="calmer day")
    )
    assert response.status_code == 302 and response["Location"] == reverse("node-config", args=[node.name])
    new = active(node.name)
    assert new.pk != old.pk and new.comment == "calmer day"
    expected = copy.deepcopy(old.document)
    expected["risk"]["max_daily_loss"] = "100"
    assert new.document == expected, "only the edited field changed; the rest is kept as written"
    reload = NodeCommand.objects.get(command="RELOAD_CONFIG")
    assert reload.config_version == new.version and reload.status == "ACCEPTED"
    assert node.received == [("RELOAD_CONFIG", manager.username)]
    actions = list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))
    assert (
        actions == ["node.config.activate", "node.reload_config", "node.reload_config.ack"]
        and verify_chain().ok
    )
    body = page(client, node.name)
    assert f"version {new.version} active, node told to reload (answer: ACCEPTED)" in body
    assert "risk.max_daily_loss: 500 -&gt; 100" in body
    row = body.split(f'data-version="{new.version}"')[1].split("</tr>")[0]
    assert "ACTIVE" in row and manager.username in row and "calmer day" in row


def test_a_strategy_parameter_applies_at_once(client, make_user, node):
    client.force_login(make_user("risk manager"))
    response = post(client, node.name, form_data(node.name, BTCUSDT__strategy__half_spread_ticks="12"))
    assert response.status_code == 302
    strategy = active(node.name).document["instruments"][0]["config"]["strategy"]
    assert strategy["half_spread_ticks"] == 12 and strategy["order_qty"] == "0.001"


def test_a_parameter_the_document_leaves_out_can_be_set(client, make_user, node):
    client.force_login(make_user("risk manager"))
    response = post(client, node.name, form_data(node.name, BTCUSDT__risk__max_order_qty="0.005"))
    assert response.status_code == 302, "a new limit where there was none lowers risk: applied at once"
    assert active(node.name).document["instruments"][0]["config"]["risk"]["max_order_qty"] == "0.005"


def test_raising_a_limit_asks_a_second_user_and_leaves_the_active_version(client, make_user, node):
    requester, approver = make_user("risk manager"), make_user("risk manager")
    client.force_login(requester)
    old = active(node.name)
    response = post(
        client, node.name, form_data(node.name, BTCUSDT__risk__max_position="0.02", comment="more room")
    )
    assert response.status_code == 302
    approval = ApprovalRequest.objects.get()
    assert (
        approval.action == "RAISE_LIMIT" and approval.status == "PENDING" and approval.reason == "more room"
    )
    assert active(node.name).pk == old.pk and node.received == [] and not NodeCommand.objects.exists()
    body = page(client, node.name)
    assert f"approval #{approval.pk} requested (raises: BTCUSDT.max_position: 0.01 -&gt; 0.02)" in body
    proposed = approval.payload["version"]
    row = body.split(f'data-version="{proposed}"')[1].split("</tr>")[0]
    assert f"approval #{approval.pk} pending" in row and "ACTIVE" not in row
    assert 'class="raised"' in row and "BTCUSDT.risk.max_position: 0.01 -&gt; 0.02" in row
    # the second user approves on the node page; the node then reloads the raised version
    client.force_login(approver)
    client.post(reverse("approval-decide", args=[approval.pk]), {"decision": "approve"})
    assert active(node.name).version == proposed and node.received == [("RELOAD_CONFIG", approver.username)]


def test_nothing_changed_proposes_nothing(client, make_user, node):
    client.force_login(make_user("risk manager"))
    before = counts()
    response = post(client, node.name, form_data(node.name, node__risk__max_daily_loss="500.00"))
    assert response.status_code == 302 and counts() == before
    assert "no parameter changed" in page(client, node.name)


def test_a_stale_form_is_refused_not_applied(client, make_user, node):
    first, second = make_user("risk manager"), make_user("risk manager")
    stale = form_data(node.name, node__risk__max_drawdown="900")  # loaded, not yet sent
    client.force_login(first)
    assert post(client, node.name, form_data(node.name, node__risk__max_daily_loss="100")).status_code == 302
    current, before = active(node.name), counts()
    client.force_login(second)
    response = post(client, node.name, stale)
    assert response.status_code == 409
    assert "changed since this form was loaded" in response.content.decode()
    assert counts() == before and active(node.name).pk == current.pk
    assert active(node.name).document["risk"]["max_daily_loss"] == "100", "the first change was not undone"


def test_the_service_checks_the_base_version_under_the_lock(make_user, node):
    manager = make_user("risk manager")
    actor = Actor(user=manager, username=manager.username, request_id=uuid.uuid4().hex[:12])
    base = active(node.name).version
    lowered = document(node.name)
    lowered["risk"]["max_daily_loss"] = "100"
    propose_node_config(actor, node.name, lowered, base_version=base)
    before = counts()
    again = document(node.name)
    again["risk"]["max_drawdown"] = "5"
    with pytest.raises(StaleConfig, match="changed since version"):
        propose_node_config(actor, node.name, again, base_version=base)
    assert counts() == before


def test_a_comment_the_version_cannot_hold_is_refused_before_the_database(make_user, node):
    manager = make_user("risk manager")
    actor = Actor(user=manager, username=manager.username)
    lowered = document(node.name)
    lowered["risk"]["max_daily_loss"] = "100"
    before = counts()
    with pytest.raises(ValueError, match="longer than 200"):
        propose_node_config(actor, node.name, lowered, comment="x" * 300)
    assert counts() == before


# ---------------------------------------------------------------------------- hostile input

LONG = "9" * 10_000


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({DAILY_LOSS: "NaN"}, "plain decimal number"),
        ({DAILY_LOSS: "nan"}, "plain decimal number"),
        ({DAILY_LOSS: "inf"}, "plain decimal number"),
        ({DAILY_LOSS: "Infinity"}, "plain decimal number"),
        ({DAILY_LOSS: "1e400"}, "plain decimal number"),
        ({DAILY_LOSS: "-1"}, "plain decimal number"),
        ({DAILY_LOSS: "+1"}, "plain decimal number"),
        ({DAILY_LOSS: ""}, "required: this form changes values"),
        ({DAILY_LOSS: "   "}, "required: this form changes values"),
        ({DAILY_LOSS: LONG}, "at most 40 characters"),
        ({DAILY_LOSS: "abc"}, "plain decimal number"),
        ({DAILY_LOSS: "1,5"}, "plain decimal number"),
        ({DAILY_LOSS: "0x10"}, "plain decimal number"),
        ({DAILY_LOSS: "١٢"}, "plain decimal number"),  # digits of another script
        ({DAILY_LOSS: "1.5.5"}, "plain decimal number"),
        ({DAILY_LOSS: "0"}, "must be &gt; 0"),  # the form passes it, the document check does not
        ({HALF_SPREAD: "1.5"}, "whole number"),
        ({HALF_SPREAD: "-3"}, "whole number"),
        ({HALF_SPREAD: "1e3"}, "whole number"),
        ({HALF_SPREAD: "0"}, "must be between 1 and"),
        ({HALF_SPREAD: "9" * 19}, "must be between 1 and"),
        ({"node.risk.day_offset_hours": "24"}, "must be between 0 and 23"),
        ({"BTCUSDT.strategy.post_only": "yes"}, "Select a valid choice"),
        ({"BTCUSDT.strategy.order_qty": "0.0000001"}, "refused, nothing written"),  # finer than a lot
        ({"BTCUSDT.strategy.max_position": "0.0001"}, "max_position must be &gt;= strategy.order_qty"),
        ({"node.risk.max_leverage": "2"}, "not parameters of this node"),
        ({"ETHUSDT.risk.max_position": "1"}, "not parameters of this node"),  # another node's instrument
        ({"BTCUSDT/usdm.risk.max_position": "1"}, "not parameters of this node"),
        ({"<script>alert(1)</script>": "1"}, "not parameters of this node"),
        ({"comment": "<script>alert(1)</script>"}, "may not contain &lt; &gt;"),
        ({"comment": "bell\x07"}, "may not contain"),
        ({"comment": "x" * 10_000}, "at most 200 characters"),
        ({"base_version": "abc"}, "Enter a whole number"),
        ({"base_version": "-1"}, "greater than or equal to 0"),
    ],
)
def test_hostile_input_is_refused_and_nothing_is_written(client, make_user, node, changes, message):
    client.force_login(make_user("risk manager"))
    data = form_data(node.name)
    data.update(changes)
    before, version = counts(), active(node.name).pk
    response = post(client, node.name, data)
    body = response.content.decode()
    assert response.status_code == 400, body[:500]
    assert message in body and "refused" in body
    assert "<script>alert(1)</script>" not in body, "echoed input is escaped"
    assert counts() == before and active(node.name).pk == version and node.received == []


def test_missing_and_repeated_fields_are_refused(client, make_user, node):
    client.force_login(make_user("risk manager"))
    before = counts()
    assert post(client, node.name, form_data(node.name, base_version=None)).status_code == 400
    assert post(client, node.name, form_data(node.name, node__risk__max_daily_loss=None)).status_code == 400
    repeated = form_data(node.name)
    repeated[DAILY_LOSS] = ["100", "900"]
    response = post(client, node.name, repeated)
    assert response.status_code == 400 and "each field once" in response.content.decode()
    assert counts() == before


# ---------------------------------------------------------------------------- rollback


def rollback(client, name: str, version: int, **extra):
    return post(client, name, {"version": version, "base_version": active(name).version, **extra},
                "node-config-rollback")  # fmt: skip


def test_rollback_of_a_raise_applies_at_once_and_back_again_needs_a_second_user(client, make_user, node):
    manager, approver = make_user("risk manager"), make_user("risk manager")
    client.force_login(manager)
    original = active(node.name)
    post(client, node.name, form_data(node.name, node__risk__max_daily_loss="900"))
    client.force_login(approver)
    client.post(reverse("approval-decide", args=[ApprovalRequest.objects.get().pk]), {"decision": "approve"})
    raised = active(node.name)
    assert raised.document["risk"]["max_daily_loss"] == "900"
    client.force_login(manager)
    body = page(client, node.name)
    row = body.split(f'data-version="{original.version}"')[1].split("</tr>")[0]
    assert "roll back to this version" in row and "risk.max_daily_loss: 900 -&gt; 500" in row
    # back to 500: lowers, applies at once, the node reloads it
    response = rollback(client, node.name, original.version)
    assert response.status_code == 302 and active(node.name).pk == original.pk, "the same version row again"
    assert node.received[-1] == ("RELOAD_CONFIG", manager.username)
    assert NodeConfigVersion.objects.filter(node__name=node.name).count() == 2
    # forward to 900 again: a raise, so an approval; the active version stays
    response = rollback(client, node.name, raised.version)
    assert response.status_code == 302 and active(node.name).pk == original.pk
    pending = ApprovalRequest.objects.get(status="PENDING")
    assert (
        pending.payload["version"] == raised.version
        and pending.reason == f"roll back to version {raised.version}"
    )
    actions = list(AuditEntry.objects.values_list("action", flat=True))
    assert "approval.request.raise_limit" in actions and verify_chain().ok


def test_rollback_refusals(client, make_user, node):
    client.force_login(make_user("risk manager"))
    first = active(node.name)
    post(client, node.name, form_data(node.name, node__risk__max_daily_loss="100"))
    before = counts()
    assert rollback(client, node.name, 12345).status_code == 404
    stale = post(
        client, node.name, {"version": first.version, "base_version": first.version}, "node-config-rollback"
    )
    assert stale.status_code == 409
    for bad in ({"version": "abc"}, {"version": "-1"}, {"version": "1e3"}, {"base_version": LONG},
                {"comment": "<script>"}, {"other": "1"}):  # fmt: skip
        data = {"version": first.version, "base_version": active(node.name).version, **bad}
        assert post(client, node.name, data, "node-config-rollback").status_code == 400, bad
    assert counts() == before
    response = rollback(client, node.name, active(node.name).version)
    assert response.status_code == 302 and counts() == before
    assert "is already the active one" in page(client, node.name)


# ---------------------------------------------------------------------------- the form on its own


def test_the_form_renders_every_parameter_with_its_type():
    specs = {spec.name: spec for spec in param_specs(document("demo"))}
    assert specs[DAILY_LOSS].kind == "decimal" and specs[DAILY_LOSS].present and specs[DAILY_LOSS].is_limit
    assert specs[HALF_SPREAD].kind == "int" and specs[HALF_SPREAD].minimum == 1
    assert specs["BTCUSDT.strategy.post_only"].kind == "bool"
    assert (
        not specs["node.risk.max_open_orders"].present
        and specs["node.risk.max_open_orders"].default == "default 50"
    )
    assert not specs[HALF_SPREAD].is_limit and specs[POSITION_LIMIT].is_limit
    avellaneda = document("demo")
    avellaneda["instruments"][0]["strategy"] = "avellaneda"
    avellaneda["instruments"][0]["config"]["strategy"] = {"model": "glft"}
    model = {s.name: s for s in param_specs(avellaneda)}["BTCUSDT.strategy.model"]
    assert model.kind == "choice" and model.choices == ("as", "glft") and model.current_text == "glft"


# ---------------------------------------------------------------------------- the versions list


def test_the_page_costs_the_same_queries_for_many_versions(client, make_user, node):
    client.force_login(make_user("risk manager"))
    post(client, node.name, form_data(node.name, node__risk__max_daily_loss="400"))
    with CaptureQueriesContext(connection) as few:
        page(client, node.name)
    for loss in ("300", "200", "100", "50", "40", "30"):
        post(client, node.name, form_data(node.name, node__risk__max_daily_loss=loss))
    post(client, node.name, form_data(node.name, BTCUSDT__risk__max_position="0.5"))  # a pending approval
    with CaptureQueriesContext(connection) as many:
        body = page(client, node.name)
    assert body.count('class="diff-previous"') == 9 and "approval #" in body
    assert 0 < len(many.captured_queries) == len(few.captured_queries) <= 12


def test_an_undecided_approval_past_its_expiry_is_shown_expired(client, make_user, node):
    client.force_login(make_user("risk manager"))
    post(client, node.name, form_data(node.name, node__risk__max_daily_loss="900"))
    approval = ApprovalRequest.objects.get()
    body = page(client, node.name)
    assert f"approval #{approval.pk} pending" in body
    ApprovalRequest.objects.filter(pk=approval.pk).update(
        expires_at=approval.requested_at + dt.timedelta(microseconds=1)
    )
    body = page(client, node.name)
    assert f"approval #{approval.pk} pending" not in body and f"approval #{approval.pk} expired" in body


def test_another_nodes_form_is_refused(client, make_user, node, stand_in_node):
    other = stand_in_node("cfg2", lambda name: node_config_activate(node_name=name, document=document(name)))
    client.force_login(make_user("risk manager"))
    before = counts()
    response = post(client, node.name, form_data(other.name, node__risk__max_daily_loss="100"))
    assert response.status_code == 409 and counts() == before


def test_a_decimal_written_as_an_exponent_is_shown_plain_and_kept_as_written():
    doc = document("demo")
    doc["instruments"][0]["config"]["strategy"]["skew_ticks"] = 1e-07
    form = ConfigEditForm(document=doc, base_version=1)
    spec = {s.name: s for s in form.specs}["BTCUSDT.strategy.skew_ticks"]
    assert spec.current_text == "0.0000001"
    data = {s.name: s.current_text for s in form.specs} | {"base_version": "1"}
    bound = ConfigEditForm(data, document=doc, base_version=1)
    assert bound.is_valid(), bound.errors
    assert bound.new_document() == (doc, []), "an unchanged form changes nothing"
