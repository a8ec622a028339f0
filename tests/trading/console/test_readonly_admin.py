"""Audit entries, approvals, commands, orders and fills are read-only in the admin."""

import pytest
from django.urls import reverse

from trading.audit import Actor, record_audit

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", ["auditentry", "approvalrequest", "nodecommand", "order", "fill"])
def test_listed_but_never_added_changed_or_deleted(admin_client, model):
    assert admin_client.get(reverse(f"admin:trading_{model}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:trading_{model}_add")).status_code == 403


def test_an_audit_entry_cannot_be_edited_or_deleted_through_the_admin(admin_client):
    entry = record_audit(Actor.system("test"), "test.action", "node", "n1", after={"x": 1})
    page = admin_client.get(reverse("admin:trading_auditentry_change", args=[entry.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content, "view only"
    assert (
        admin_client.post(
            reverse("admin:trading_auditentry_change", args=[entry.pk]), {"action": "x"}
        ).status_code
        == 403
    )
    assert (
        admin_client.post(
            reverse("admin:trading_auditentry_delete", args=[entry.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    entry.refresh_from_db()
    assert entry.action == "test.action"
