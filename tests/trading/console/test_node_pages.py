"""The node page: what each role sees, and the resume request / approval forms."""

from __future__ import annotations

import pytest
from django.urls import reverse

from trading.models import ApprovalRequest, AuditEntry, Node, NodeCommand

pytestmark = pytest.mark.django_db(transaction=True)

BUTTONS = ('id="stop-all"', 'id="cancel-all"', 'id="reduce-only"', 'id="disconnect"', 'id="request-resume"')


@pytest.fixture
def node(stand_in_node):
    return stand_in_node(
        "page", lambda name: Node.objects.create(name=name, trading_state=Node.TradingState.HALTED)
    )


def page(client, user, name) -> str:
    client.force_login(user)
    response = client.get(reverse("node-live", args=[name]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_viewer_sees_the_panels_and_no_button(client, make_user, node):
    body = page(client, make_user("viewer"), node.name)
    assert 'id="ladder"' in body and 'id="latency"' in body and "js/node_live.js" in body
    assert not any(button in body for button in BUTTONS)


def test_an_operator_sees_the_buttons(client, make_user, node):
    body = page(client, make_user("operator"), node.name)
    assert all(button in body for button in BUTTONS)


def test_pages_of_unknown_nodes_and_without_a_role(client, make_user, node):
    client.force_login(make_user("viewer"))
    assert client.get(reverse("node-live", args=["no-such-node"])).status_code == 404
    client.force_login(make_user(None))
    assert client.get(reverse("node-live", args=[node.name])).status_code == 403


def test_resume_is_requested_by_one_and_approved_by_another_through_the_forms(client, make_user, node):
    requester, approver = make_user("operator"), make_user("risk manager")
    client.force_login(requester)
    response = client.post(reverse("node-resume-request", args=[node.name]), {"reason": "feed is back"})
    assert response.status_code == 302
    approval = ApprovalRequest.objects.get()
    assert (approval.status, approval.reason, approval.requested_by_id) == (
        "PENDING",
        "feed is back",
        requester.pk,
    )
    body = client.get(reverse("node-live", args=[node.name])).content.decode()
    assert 'class="approve"' not in body, "the requester gets no approve button for their own request"
    response = client.post(reverse("approval-decide", args=[approval.pk]), {"decision": "approve"})
    assert response.status_code == 302 and ApprovalRequest.objects.get().status == "PENDING"
    client.force_login(approver)
    assert 'class="approve"' in client.get(reverse("node-live", args=[node.name])).content.decode()
    client.post(reverse("approval-decide", args=[approval.pk]), {"decision": "approve"})
    assert ApprovalRequest.objects.get().status == "APPROVED"
    assert NodeCommand.objects.get().command == "RESUME" and node.received == [("RESUME", approver.username)]
    assert Node.objects.get(name=node.name).trading_state == Node.TradingState.ACTIVE
    actions = list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))
    assert actions == [
        "approval.request.resume",
        "approval.approve.denied",
        "approval.approve",
        "node.resume",
        "node.resume.ack",
    ]


def test_a_resume_asked_on_the_risk_page_returns_to_the_risk_page(client, make_user, node):
    client.force_login(make_user("operator"))
    risk_page = client.get(reverse("node-risk", args=[node.name])).content.decode()
    assert 'name="from" value="risk"' in risk_page
    assert 'name="from"' not in client.get(reverse("node-live", args=[node.name])).content.decode()
    url = reverse("node-resume-request", args=[node.name])
    response = client.post(url, {"reason": "spread is sane again", "from": "risk"})
    assert response.status_code == 302 and response.url == reverse("node-risk", args=[node.name])
    # anything else (absent, another page, a hostile value) goes back to the node page
    for origin in ("", "live", "https://evil.example/", "//evil.example"):
        response = client.post(url, {"reason": "again", "from": origin})
        assert response.url == reverse("node-live", args=[node.name]), origin


def test_the_forms_refuse_what_they_should(client, make_user, node):
    client.force_login(make_user("viewer"))
    assert client.post(reverse("node-resume-request", args=[node.name])).status_code == 403
    client.force_login(make_user("operator"))
    assert client.get(reverse("node-resume-request", args=[node.name])).status_code == 405
    assert client.post(reverse("node-resume-request", args=["no-such-node"])).status_code == 404
    assert (
        client.post(reverse("node-resume-request", args=[node.name]), {"reason": "x" * 501}).status_code
        == 302
    )
    assert not ApprovalRequest.objects.exists(), "a reason over 500 characters is refused with a message"
    # an operator may not decide at all: refused (and audited) before the request is even looked up
    response = client.post(reverse("approval-decide", args=[999_999]), {"decision": "approve"})
    assert (
        response.status_code == 302 and AuditEntry.objects.filter(action="approval.approve.denied").exists()
    )
    client.force_login(make_user("risk manager"))
    assert client.post(reverse("approval-decide", args=[999_999]), {"decision": "approve"}).status_code == 404
    assert client.post(reverse("approval-decide", args=[1]), {"decision": "maybe"}).status_code == 400
    client.logout()
    response = client.post(reverse("node-resume-request", args=[node.name]))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("name", ["x" * 64, "UPPER", "-lead", "a" * 300])
def test_names_no_node_can_have_are_404_before_any_view(client, make_user, name):
    from trading.models import AuditEntry

    client.force_login(make_user("viewer"))
    assert client.post(f"/nodes/{name}/resume/").status_code == 404, "not a refusal to audit: no such URL"
    assert client.get(f"/nodes/{name}/").status_code == 404
    assert not AuditEntry.objects.exists()
