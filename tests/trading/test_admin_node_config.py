"""Node configuration through the admin: validated like `runnode --config`, versions immutable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trading.models import Node, NodeConfigVersion

pytestmark = pytest.mark.django_db

DEMO = Path(__file__).resolve().parents[2] / "configs" / "node_demo.json"
ADD_URL = "/admin/trading/nodeconfigversion/add/"


@pytest.fixture
def node():
    """A node already running the demo configuration (activated the system way, as `runnode
    --config` does): later versions through the admin follow the two-person rule."""
    from trading.services.nodes import node_config_activate

    node, _, _ = node_config_activate(node_name="desk-a", document=demo_document())
    return node


def demo_document(name: str = "desk-a") -> dict:
    document = json.loads(DEMO.read_text())
    document["node"] = name
    return document


def post(admin_client, node, document_text: str, activate: bool = True):
    data = {"node": node.pk, "document": document_text, "comment": "from admin"}
    if activate:
        data["activate"] = "on"
    return admin_client.post(ADD_URL, data)


def test_valid_document_is_stored_versioned_and_activated(admin_client, node):
    lowered = demo_document()
    lowered["risk"]["max_daily_loss"] = "250"  # less risk: no second user needed
    response = post(admin_client, node, json.dumps(lowered))
    assert response.status_code == 302, response.content.decode()[:2000]
    version = NodeConfigVersion.objects.get(node=node, document__risk__max_daily_loss="250")
    node.refresh_from_db()
    assert node.active_config == version
    assert version.version > 0 and version.document["node"] == "desk-a"
    assert version.comment == "from admin"
    # the same document again is the same version, not a duplicate
    assert post(admin_client, node, json.dumps(lowered)).status_code == 302
    assert NodeConfigVersion.objects.filter(node=node).count() == 2


def test_without_activate_the_active_version_stays(admin_client, node):
    first = Node.objects.get(pk=node.pk).active_config
    other = demo_document()
    other["engine"]["hash_every"] = 20000
    assert post(admin_client, node, json.dumps(other), activate=False).status_code == 302
    assert NodeConfigVersion.objects.filter(node=node).count() == 2
    assert Node.objects.get(pk=node.pk).active_config == first


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "Enter a valid JSON"),
        ("[1, 2, 3]", "must be a JSON object"),
        ('"a string"', "must be a JSON object"),
        ("{}", "This field is required"),  # an empty object is no document
        ('{"node": "desk-a"}', "refused"),
        (json.dumps({**demo_document(), "node": "desk-b"}), "not &#x27;desk-a&#x27;"),
        (json.dumps({**demo_document(), "instruments": []}), "at least one instrument"),
        (json.dumps({**demo_document(), "node": "../../etc"}), "refused"),
        (json.dumps({**demo_document(), "unexpected": 1}), "refused"),
    ],
)
def test_bad_documents_are_refused_and_nothing_is_written(admin_client, node, text, message):
    response = post(admin_client, node, text)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert NodeConfigVersion.objects.count() == 1, "only the version the node already had"
    assert Node.objects.get(pk=node.pk).active_config == NodeConfigVersion.objects.get()


@pytest.mark.parametrize("field", ["order_qty", "max_position"])
@pytest.mark.parametrize("value", ["NaN", "-0.001", "1e400", "0.0000001", "abc", 10**30])
def test_hostile_strategy_numbers_are_refused(admin_client, node, field, value):
    document = demo_document()
    document["instruments"][0]["config"]["strategy"][field] = value
    response = post(admin_client, node, json.dumps(document))
    assert response.status_code == 200
    assert "refused" in response.content.decode()
    assert NodeConfigVersion.objects.count() == 1


def test_versions_cannot_be_edited_or_deleted(admin_client, node):
    version = NodeConfigVersion.objects.get()
    change = admin_client.post(
        f"/admin/trading/nodeconfigversion/{version.pk}/change/",
        {"node": node.pk, "document": "{}", "comment": "edited"},
    )
    assert change.status_code == 403
    delete = admin_client.post(f"/admin/trading/nodeconfigversion/{version.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    version.refresh_from_db()
    assert version.comment == "" and version.document["node"] == "desk-a"
