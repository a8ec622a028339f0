"""Re-enabling a strategy after a circuit breaker: two people, and only for the halt asked about."""

from __future__ import annotations

import pytest

from tests.trading.console.test_operations import actor
from trading.models import ApprovalRequest, AuditEntry, Node, NodeCommand
from trading.risk_reasons import reason_name
from trading.roles import OPERATOR, RISK_MANAGER
from trading.services.operations import OperationDenied, decide_approval, request_approval, resume_action

pytestmark = pytest.mark.django_db(transaction=True)

HALTED, ACTIVE = 2, 0
CIRCUIT_LOSSES, CIRCUIT_RAPID_FILLS, OPERATOR_HALT = 17, 18, 19


@pytest.fixture
def node(stand_in_node):
    return stand_in_node("cb", lambda name: Node.objects.create(name=name, trading_state="HALTED"))


def report(name: str, state: int, reason: int) -> None:
    """What the node's heartbeat writes (trading.services.nodes.node_status_report)."""
    Node.objects.filter(name=name).update(
        last_status={"trading_state": state, "trading_state_reason": reason}
    )


def test_reason_names():
    assert (reason_name(17), reason_name(18), reason_name(19)) == (
        "circuit_losses",
        "circuit_rapid_fills",
        "operator",
    )
    assert reason_name(0) == "" and reason_name(None) == "" and reason_name(999).startswith("unknown")
    assert reason_name("<script>").startswith("unknown")


@pytest.mark.parametrize("breaker", [CIRCUIT_LOSSES, CIRCUIT_RAPID_FILLS])
def test_a_breaker_halt_is_lifted_by_reenabling_the_strategy_with_a_second_user(node, make_user, breaker):
    report(node.name, HALTED, breaker)
    assert resume_action(node.name) == "REENABLE_STRATEGY"
    requester, approver = make_user(RISK_MANAGER), make_user(RISK_MANAGER)
    with pytest.raises(ValueError, match="circuit breaker .* ask to re-enable the strategy"):
        request_approval(actor(requester), "RESUME", node.name)
    request = request_approval(actor(requester), "REENABLE_STRATEGY", node.name, reason="losses understood")
    assert request.payload == {"halt_reason": breaker}
    with pytest.raises(OperationDenied, match="cannot decide their own request"):
        decide_approval(actor(requester), request.pk, approve=True)
    assert node.received == []
    approved = decide_approval(actor(approver), request.pk, approve=True)
    assert approved.status == "APPROVED" and node.received == [("RESUME", approver.username)]
    assert NodeCommand.objects.get(approval=approved).command == "RESUME"
    assert "approval.request.reenable_strategy" in AuditEntry.objects.values_list("action", flat=True)


def test_reenabling_is_refused_when_no_breaker_halted_the_node(node, make_user):
    for state, reason in ((HALTED, OPERATOR_HALT), (ACTIVE, 0)):
        report(node.name, state, reason)
        assert resume_action(node.name) == "RESUME"
        with pytest.raises(ValueError, match="not halted by a circuit breaker"):
            request_approval(actor(make_user(OPERATOR)), "REENABLE_STRATEGY", node.name)
    assert ApprovalRequest.objects.count() == 0


def test_an_approval_fails_if_the_node_halted_for_another_reason_since(node, make_user):
    report(node.name, HALTED, CIRCUIT_LOSSES)
    request = request_approval(actor(make_user(OPERATOR)), "REENABLE_STRATEGY", node.name)
    report(node.name, HALTED, OPERATOR_HALT)  # someone pressed STOP ALL meanwhile
    decided = decide_approval(actor(make_user(RISK_MANAGER)), request.pk, approve=True)
    assert decided.status == "FAILED" and "circuit_losses -> operator" in decided.outcome
    assert node.received == [] and NodeCommand.objects.count() == 0
    assert "approval.failed" in AuditEntry.objects.values_list("action", flat=True)


def test_a_resume_asked_before_the_node_reported_its_halt_is_not_held_to_a_reason(node, make_user):
    report(node.name, ACTIVE, 0)  # the KILL ack arrived, the next heartbeat not yet
    request = request_approval(actor(make_user(OPERATOR)), "RESUME", node.name)
    assert request.payload == {"halt_reason": None}
    report(node.name, HALTED, OPERATOR_HALT)
    assert decide_approval(actor(make_user(RISK_MANAGER)), request.pk, approve=True).status == "APPROVED"


def test_the_resume_form_asks_for_the_right_approval(node, client, make_user):
    report(node.name, HALTED, CIRCUIT_RAPID_FILLS)
    client.force_login(make_user(OPERATOR))
    response = client.post(f"/nodes/{node.name}/resume/", {"reason": "fills were real"}, follow=True)
    assert "re-enabling the strategy requested" in response.content.decode()
    assert ApprovalRequest.objects.get().action == "REENABLE_STRATEGY"
