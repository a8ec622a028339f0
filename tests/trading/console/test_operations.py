"""Operator actions and the two-person rule, against real Redis and a stand-in node.

The stand-in node is the real node-side control listener (trading.engine.control) on the real
Redis, acknowledging each command with the state a node would report; only the trading engine
behind it is left out (the end-to-end console tests drive a real node)."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
import redis
from django.contrib.auth.models import Group
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from trading.audit import Actor, verify_chain
from trading.engine.control import ack_stream, control_stream
from trading.models import ApprovalRequest, AuditEntry, Node, NodeCommand
from trading.roles import OPERATOR, RISK_MANAGER, VIEWER
from trading.services.operations import (
    OperationDenied,
    cancel_approval,
    decide_approval,
    expire_approvals,
    issue_node_command,
    request_approval,
)

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit must really run


@pytest.fixture
def node(stand_in_node):
    return stand_in_node(
        "ops", lambda name: Node.objects.create(name=name, trading_state=Node.TradingState.ACTIVE)
    )


def actor(user, ip: str = "10.1.2.3") -> Actor:
    return Actor(user=user, username=user.username, source_ip=ip, request_id=f"req-{uuid.uuid4().hex[:12]}")


def audit_actions() -> list[str]:
    return list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))


# ---------------------------------------------------------------------------- one operator


def test_an_operator_kills_a_node_audited_then_acknowledged(node, make_user):
    operator = make_user(OPERATOR)
    me = actor(operator)
    row = issue_node_command(me, node.name, "KILL")
    assert row.status == NodeCommand.Status.ACCEPTED and row.ack_trading_state == 2 and row.ack_seq > 100
    assert node.received == [("KILL", operator.username)]
    assert Node.objects.get(name=node.name).trading_state == Node.TradingState.HALTED
    kill, ack = AuditEntry.objects.order_by("seq")
    assert (kill.action, kill.actor_id, kill.source_ip, kill.request_id) == (
        "node.kill",
        operator.pk,
        "10.1.2.3",
        me.request_id,
    )
    assert kill.before == {"trading_state": "ACTIVE"} and kill.after["nonce"] == row.nonce
    assert (
        ack.action == "node.kill.ack"
        and ack.after["accepted"] is True
        and ack.actor_username == "system:control"
    )
    assert verify_chain().ok


@pytest.mark.parametrize("command", ["CANCEL_ALL", "REDUCE_ONLY", "DISCONNECT"])
def test_the_other_single_operator_commands(node, make_user, command):
    row = issue_node_command(actor(make_user(OPERATOR)), node.name, command)
    assert row.status == NodeCommand.Status.ACCEPTED and node.received[0][0] == command


def test_a_viewer_is_refused_audited_and_nothing_reaches_the_node(node, make_user):
    viewer = make_user(VIEWER)
    with pytest.raises(OperationDenied, match="missing permission trading.kill_node"):
        issue_node_command(actor(viewer), node.name, "KILL")
    time.sleep(0.2)
    assert node.received == [] and NodeCommand.objects.count() == 0
    (denied,) = AuditEntry.objects.all()
    assert denied.action == "node.kill.denied" and denied.actor_id == viewer.pk
    assert denied.after == {"reason": "missing permission trading.kill_node"}


def test_a_demoted_or_deactivated_user_has_no_powers_left(node, make_user):
    operator = make_user(OPERATOR)
    assert operator.has_perm("trading.kill_node")  # now cached on this very object
    operator.groups.remove(Group.objects.get(name=OPERATOR))
    with pytest.raises(OperationDenied, match="missing permission"):
        issue_node_command(actor(operator), node.name, "KILL")
    other = make_user(OPERATOR)
    other.is_active = False
    other.save()
    with pytest.raises(OperationDenied, match="not signed in as an active user"):
        issue_node_command(actor(other), node.name, "CANCEL_ALL")
    with pytest.raises(OperationDenied, match="not signed in"):
        issue_node_command(Actor.system("script"), node.name, "KILL")
    assert node.received == [] and audit_actions() == [
        "node.kill.denied",
        "node.cancel_all.denied",
        "node.kill.denied",
    ]


@pytest.mark.parametrize(
    ("command", "error", "message"),
    [
        ("RESUME", ValueError, "needs a second user"),
        ("kill", ValueError, "unknown node command"),
        ("SHUTDOWN", ValueError, "unknown node command"),
        ("", ValueError, "unknown node command"),
    ],
)
def test_bad_commands_are_refused_before_anything_happens(node, make_user, command, error, message):
    with pytest.raises(error, match=message):
        issue_node_command(actor(make_user(OPERATOR)), node.name, command)
    assert AuditEntry.objects.count() == 0 and NodeCommand.objects.count() == 0


def test_an_unknown_node_is_refused_and_nothing_is_written(node, make_user):
    with pytest.raises(LookupError, match="no node named"):
        issue_node_command(actor(make_user(OPERATOR)), "no-such-node", "KILL")
    assert AuditEntry.objects.count() == 0 and NodeCommand.objects.count() == 0


def test_a_node_that_does_not_answer_is_recorded_as_no_ack(make_user, redis_url):
    silent = Node.objects.create(name=f"silent-{uuid.uuid4().hex[:8]}")
    row = issue_node_command(actor(make_user(OPERATOR)), silent.name, "KILL", ack_timeout_s=0.3)
    assert row.status == NodeCommand.Status.NO_ACK and "0.3 s" in row.detail
    assert audit_actions() == ["node.kill"], "the request is audited even though nobody answered"
    redis.Redis.from_url(redis_url).delete(control_stream(silent.name), ack_stream(silent.name))


def test_redis_down_is_recorded_as_send_failed(make_user):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node = Node.objects.create(name="unreachable")
    from django.conf import settings

    with override_settings(ATOMIC_OPS={**settings.ATOMIC_OPS, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}):
        row = issue_node_command(actor(make_user(OPERATOR)), node.name, "KILL", ack_timeout_s=0.3)
    assert row.status == NodeCommand.Status.SEND_FAILED and "Connection" in row.detail
    assert audit_actions() == ["node.kill", "node.kill.send_failed"] and verify_chain().ok


# ---------------------------------------------------------------------------- two people


def test_resume_needs_a_second_user_and_an_approval_is_spent_once(node, make_user):
    requester, viewer, approver = make_user(OPERATOR), make_user(VIEWER), make_user(RISK_MANAGER)
    request = request_approval(actor(requester), "RESUME", node.name, reason="venue fixed")
    assert request.status == ApprovalRequest.Status.PENDING and request.expires_at > timezone.now()
    with pytest.raises(OperationDenied, match="missing permission trading.decide_approvalrequest"):
        decide_approval(actor(requester), request.pk, approve=True)  # an operator cannot decide at all
    self_approving = make_user(RISK_MANAGER)
    own = request_approval(actor(self_approving), "RESUME", node.name)
    with pytest.raises(OperationDenied, match="the requester cannot decide their own request"):
        decide_approval(actor(self_approving), own.pk, approve=True)
    with pytest.raises(OperationDenied, match="missing permission"):
        decide_approval(actor(viewer), request.pk, approve=True)
    assert node.received == [], "nothing reached the node before a valid approval"

    approved = decide_approval(actor(approver), request.pk, approve=True, note="checked")
    assert approved.status == ApprovalRequest.Status.APPROVED and approved.decided_by_id == approver.pk
    command = NodeCommand.objects.get(approval=approved)
    assert command.command == "RESUME" and command.status == NodeCommand.Status.ACCEPTED
    assert node.received == [("RESUME", approver.username)]
    assert Node.objects.get(name=node.name).trading_state == Node.TradingState.ACTIVE

    for decider, approve in ((approver, True), (make_user(RISK_MANAGER), False)):
        with pytest.raises(OperationDenied, match="already approved: a request is decided once"):
            decide_approval(actor(decider), request.pk, approve=approve)
    assert node.received == [("RESUME", approver.username)], "an approval is never reused"
    actions = audit_actions()
    assert actions.count("approval.approve.denied") == 4 and actions.count("approval.reject.denied") == 1
    assert "approval.request.resume" in actions and "node.resume" in actions and "node.resume.ack" in actions
    assert verify_chain().ok


def test_a_rejected_request_does_nothing(node, make_user):
    request = request_approval(actor(make_user(OPERATOR)), "RESUME", node.name)
    rejected = decide_approval(actor(make_user(RISK_MANAGER)), request.pk, approve=False, note="not yet")
    assert rejected.status == ApprovalRequest.Status.REJECTED and rejected.outcome == "not yet"
    time.sleep(0.2)
    assert node.received == [] and NodeCommand.objects.count() == 0


def _age(request: ApprovalRequest, by: dt.timedelta) -> None:
    ApprovalRequest.objects.filter(pk=request.pk).update(
        requested_at=request.requested_at - by, expires_at=request.expires_at - by
    )


def test_an_expired_request_cannot_be_approved(node, make_user):
    request = request_approval(actor(make_user(OPERATOR)), "RESUME", node.name, ttl=dt.timedelta(seconds=30))
    _age(request, dt.timedelta(minutes=1))
    with pytest.raises(OperationDenied, match="request expired"):
        decide_approval(actor(make_user(RISK_MANAGER)), request.pk, approve=True)
    assert ApprovalRequest.objects.get(pk=request.pk).status == ApprovalRequest.Status.EXPIRED
    assert node.received == [] and audit_actions()[-2:] == ["approval.expired", "approval.approve.denied"]


def test_expire_approvals_marks_only_overdue_requests(node, make_user):
    operator = make_user(OPERATOR)
    old = request_approval(actor(operator), "RESUME", node.name)
    fresh = request_approval(actor(operator), "RESUME", node.name)
    _age(old, dt.timedelta(hours=1))
    assert expire_approvals() == 1 and expire_approvals() == 0
    assert ApprovalRequest.objects.get(pk=old.pk).status == ApprovalRequest.Status.EXPIRED
    assert ApprovalRequest.objects.get(pk=fresh.pk).status == ApprovalRequest.Status.PENDING


def test_only_the_requester_withdraws_and_a_withdrawn_request_is_dead(node, make_user):
    requester, other = make_user(OPERATOR), make_user(RISK_MANAGER)
    request = request_approval(actor(requester), "RESUME", node.name)
    with pytest.raises(OperationDenied, match="only the requester"):
        cancel_approval(actor(other), request.pk)
    assert cancel_approval(actor(requester), request.pk).status == ApprovalRequest.Status.CANCELLED
    with pytest.raises(OperationDenied, match="already cancelled"):
        decide_approval(actor(other), request.pk, approve=True)
    assert node.received == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"action": "KILL"}, ValueError, "not an action that goes through approval"),
        ({"action": "RAISE_LIMIT"}, ValueError, "not an action"),
        ({"reason": "x" * 501}, ValueError, "longer than 500"),
        ({"reason": 5}, ValueError, "reason must be text"),
        ({"ttl": dt.timedelta(seconds=5)}, ValueError, "must expire between"),
        ({"ttl": dt.timedelta(days=2)}, ValueError, "must expire between"),
        ({"ttl": 60}, ValueError, "must expire between"),
        ({"node_name": "nope"}, LookupError, "no node named"),
    ],
)
def test_bad_requests_are_refused(node, make_user, kwargs, error, message):
    args = {"action": "RESUME", "node_name": node.name, **kwargs}
    with pytest.raises(error, match=message):
        request_approval(actor(make_user(OPERATOR)), args.pop("action"), args.pop("node_name"), **args)
    assert ApprovalRequest.objects.count() == 0


def test_a_viewer_cannot_ask_for_a_resume(node, make_user):
    with pytest.raises(OperationDenied, match="missing permission trading.request_resume_node"):
        request_approval(actor(make_user(VIEWER)), "RESUME", node.name)
    assert audit_actions() == ["approval.request.resume.denied"]


def test_the_database_itself_refuses_a_self_approval(make_user):
    """The check constraint holds even for code that bypasses the services."""
    from django.db import IntegrityError, transaction

    user = make_user(RISK_MANAGER)
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalRequest.objects.create(
            action="RESUME", target_type="node", target_id="x", requested_by=user, requested_at=now,
            expires_at=now + dt.timedelta(minutes=5), status="APPROVED", decided_by=user, decided_at=now,
        )  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        ApprovalRequest.objects.create(
            action="RESUME", target_type="node", target_id="x", requested_by=user, requested_at=now,
            expires_at=now - dt.timedelta(minutes=5),
        )  # fmt: skip
    connection.close()
