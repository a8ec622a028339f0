"""Operator actions on nodes and the two-person rule.

Every action goes: permission check (on a fresh copy of the user: a demoted or deactivated
user has no powers left, whatever a session or socket cached) -> transaction -> state change ->
audit entry -> on commit -> control message to the node. A refused action is audited too, in
a transaction of its own, and raises OperationDenied.

One operator may KILL, CANCEL_ALL, REDUCE_ONLY and DISCONNECT. RESUME needs a request by one
user and an approval by a different one before the request expires; a request is decided once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import NoReturn

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from trading.audit import Actor, record_audit
from trading.engine.control import ControlAck, send_command
from trading.models import ApprovalRequest, Node, NodeCommand
from trading.risk_reasons import STATE_HALTED, is_breaker, reason_name
from trading.services.nodes import STATE_NAMES

SINGLE_OPERATOR_COMMANDS = {
    "KILL": "trading.kill_node",
    "CANCEL_ALL": "trading.cancel_all_node",
    "REDUCE_ONLY": "trading.reduce_only_node",
    "DISCONNECT": "trading.disconnect_node",
}
# action -> (permission to ask for it, the node command an approval carries out)
# action -> (permission to ask, node command carried out once approved)
APPROVAL_ACTIONS = {
    ApprovalRequest.Action.RESUME: ("trading.request_resume_node", "RESUME"),
    # a circuit breaker halted the node: trading again means re-enabling the strategy it stopped
    ApprovalRequest.Action.REENABLE_STRATEGY: ("trading.request_resume_node", "RESUME"),
}
DECIDE_PERMISSION = "trading.decide_approvalrequest"
DEFAULT_APPROVAL_TTL = dt.timedelta(minutes=15)
MIN_APPROVAL_TTL, MAX_APPROVAL_TTL = dt.timedelta(seconds=30), dt.timedelta(hours=24)
ACK_TIMEOUT_S = 2.0
MAX_REASON_CHARS = 500

Publisher = Callable[..., ControlAck | None]  # trading.engine.control.send_command's signature


class OperationDenied(PermissionDenied):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _deny(actor: Actor, action: str, target_type: str, target_id: str, reason: str) -> NoReturn:
    record_audit(actor, f"{action}.denied", target_type, target_id, after={"reason": reason})
    raise OperationDenied(reason)


def _fresh_user(actor: Actor):
    """The acting user as the database has it now (None: anonymous, gone or deactivated)."""
    if actor.user is None:
        return None
    user = get_user_model().objects.filter(pk=actor.user.pk, is_active=True).first()
    return user


def require_permission(actor: Actor, permission: str, action: str, target_type: str, target_id: str):
    """The acting user, fresh from the database, if it holds `permission`; else audited refusal."""
    user = _fresh_user(actor)
    if user is None:
        _deny(actor, action, target_type, target_id, "not signed in as an active user")
    if not user.has_perm(permission):
        _deny(actor, action, target_type, target_id, f"missing permission {permission}")
    return user


def clean_reason(reason: object) -> str:
    if not isinstance(reason, str):
        raise ValueError("reason must be text")
    reason = reason.replace("\x00", "").strip()
    if len(reason) > MAX_REASON_CHARS:
        raise ValueError(f"reason is longer than {MAX_REASON_CHARS} characters")
    return reason


# ---------------------------------------------------------------------------- node commands


def issue_node_command(
    actor: Actor,
    node_name: str,
    command: str,
    *,
    publisher: Publisher = send_command,
    ack_timeout_s: float = ACK_TIMEOUT_S,
) -> NodeCommand:
    """KILL, CANCEL_ALL, REDUCE_ONLY or DISCONNECT by one operator. Returns the command row with
    the node's answer (status ACCEPTED / REFUSED / NO_ACK / SEND_FAILED)."""
    if command not in SINGLE_OPERATOR_COMMANDS:
        if command == "RESUME":
            raise ValueError("RESUME needs a second user: request an approval")
        raise ValueError(f"unknown node command {command!r}")
    action = f"node.{command.lower()}"
    user = require_permission(actor, SINGLE_OPERATOR_COMMANDS[command], action, "node", str(node_name))
    with transaction.atomic():
        node = Node.objects.select_for_update().filter(name=node_name).first()
        if node is None:
            raise LookupError(f"no node named {node_name!r}")
        row = queue_command(actor, user, node, command, publisher=publisher, ack_timeout_s=ack_timeout_s)
    row.refresh_from_db()
    return row


def queue_command(
    actor: Actor,
    user,
    node: Node,
    command: str,
    *,
    approval: ApprovalRequest | None = None,
    config_version: int | None = None,
    publisher: Publisher | None = None,
    ack_timeout_s: float = ACK_TIMEOUT_S,
) -> NodeCommand:
    """In the caller's transaction: the command row and its audit entry; after commit, the
    command on the node's control stream (then its acknowledgement recorded)."""
    row = NodeCommand.objects.create(
        node=node,
        command=command,
        nonce=uuid.uuid4().hex,
        request_id=actor.request_id or uuid.uuid4().hex,
        issued_by=user,
        issued_by_username=user.get_username(),
        issued_at=timezone.now(),
        approval=approval,
        config_version=config_version,
    )
    record_audit(
        actor,
        f"node.{command.lower()}",
        "node",
        node.name,
        before={"trading_state": node.trading_state},
        after={"command": command, "nonce": row.nonce, "approval": approval.pk if approval else None,
               "config_version": config_version},
    )  # fmt: skip
    publisher = publisher or send_command
    transaction.on_commit(lambda: publish_command(row.pk, publisher=publisher, ack_timeout_s=ack_timeout_s))
    return row


def publish_command(
    command_id: int, *, publisher: Publisher = send_command, ack_timeout_s: float = ACK_TIMEOUT_S
) -> None:
    """Put a committed command on the node's control stream and record its acknowledgement."""
    row = NodeCommand.objects.select_related("node").get(pk=command_id)
    try:
        ack = publisher(
            settings.ATOMIC_OPS["REDIS_URL"],
            row.node.name,
            row.command,
            operator_id=row.issued_by_id,
            operator=row.issued_by_username,
            nonce=row.nonce,
            request_id=row.request_id,
            config_version=row.config_version,
            timeout_s=ack_timeout_s,
        )
    except (redis.RedisError, OSError, ValueError) as exc:
        row.status, row.detail = NodeCommand.Status.SEND_FAILED, f"{type(exc).__name__}: {exc}"[:500]
        row.save(update_fields=["status", "detail"])
        record_audit(Actor.system("control", row.request_id), f"node.{row.command.lower()}.send_failed",
                     "node", row.node.name, after={"nonce": row.nonce, "error": row.detail})  # fmt: skip
        return
    with transaction.atomic():
        if ack is None:
            row.status, row.detail = (
                NodeCommand.Status.NO_ACK,
                f"no acknowledgement within {ack_timeout_s:g} s",
            )
            row.save(update_fields=["status", "detail"])
            return
        row.status = NodeCommand.Status.ACCEPTED if ack.accepted else NodeCommand.Status.REFUSED
        row.acked_at = timezone.now()
        row.ack_trading_state, row.ack_seq, row.detail = ack.trading_state, ack.seq, ack.reason[:500]
        row.save(update_fields=["status", "acked_at", "ack_trading_state", "ack_seq", "detail"])
        if ack.accepted and ack.trading_state in STATE_NAMES:
            Node.objects.filter(pk=row.node_id).update(trading_state=STATE_NAMES[ack.trading_state])
        record_audit(
            Actor.system("control", row.request_id),
            f"node.{row.command.lower()}.ack",
            "node",
            row.node.name,
            after={"nonce": row.nonce, "accepted": ack.accepted, "reason": ack.reason,
                   "trading_state": ack.trading_state, "seq": ack.seq},
        )  # fmt: skip


# ---------------------------------------------------------------------------- two-person rule


def request_approval(
    actor: Actor,
    action: str,
    node_name: str,
    *,
    reason: str = "",
    ttl: dt.timedelta = DEFAULT_APPROVAL_TTL,
) -> ApprovalRequest:
    """Ask for an action a second user must approve: RESUME of a halted node, or
    REENABLE_STRATEGY when a circuit breaker halted it (the node's last reported reason decides
    which one applies). The halt reason is recorded; if the node halts for another reason
    before the approval, the approval fails rather than lift a halt nobody asked about."""
    if action not in APPROVAL_ACTIONS:
        raise ValueError(f"{action!r} is not an action that goes through approval")
    if not isinstance(ttl, dt.timedelta) or not MIN_APPROVAL_TTL <= ttl <= MAX_APPROVAL_TTL:
        raise ValueError(
            f"an approval must expire between {MIN_APPROVAL_TTL} and {MAX_APPROVAL_TTL} from now"
        )
    reason = clean_reason(reason)
    audit_action = f"approval.request.{action.lower()}"
    user = require_permission(actor, APPROVAL_ACTIONS[action][0], audit_action, "node", str(node_name))
    with transaction.atomic():
        node = Node.objects.filter(name=node_name).first()
        if node is None:
            raise LookupError(f"no node named {node_name!r}")
        status = node.last_status or {}
        # the reason is known only when the node's own last report says it is halted (an ack can
        # run ahead of the report by up to a second: then nothing is recorded and checked)
        halt_reason = (
            status.get("trading_state_reason") if status.get("trading_state") == STATE_HALTED else None
        )
        if action == ApprovalRequest.Action.REENABLE_STRATEGY and not is_breaker(halt_reason):
            raise ValueError("the node was not halted by a circuit breaker: ask for a RESUME instead")
        if action == ApprovalRequest.Action.RESUME and is_breaker(halt_reason):
            raise ValueError(
                f"a circuit breaker ({reason_name(halt_reason)}) halted the node: ask to re-enable the strategy"
            )
        payload = {"halt_reason": halt_reason if isinstance(halt_reason, int) else None}
        request = create_approval(actor, user, action, node, payload=payload, reason=reason, ttl=ttl)
    return request


def resume_action(node_name: str) -> str:
    """Which approval lifts node `node_name`'s halt: REENABLE_STRATEGY after a circuit breaker
    (by the node's last report), RESUME otherwise."""
    status = Node.objects.filter(name=node_name).values_list("last_status", flat=True).first() or {}
    if status.get("trading_state") == STATE_HALTED and is_breaker(status.get("trading_state_reason")):
        return ApprovalRequest.Action.REENABLE_STRATEGY
    return ApprovalRequest.Action.RESUME


def create_approval(
    actor: Actor, user, action: str, node: Node, *, payload: dict | None = None, reason: str = "",
    ttl: dt.timedelta = DEFAULT_APPROVAL_TTL,
) -> ApprovalRequest:  # fmt: skip
    """In the caller's transaction: a pending request of `user` and its audit entry."""
    now = timezone.now()
    request = ApprovalRequest.objects.create(
        action=action,
        target_type="node",
        target_id=node.name,
        payload=payload or {},
        reason=reason,
        requested_by=user,
        requested_at=now,
        expires_at=now + ttl,
    )
    record_audit(actor, f"approval.request.{action.lower()}", "node", node.name,
                 after={"approval": request.pk, "reason": reason, "expires_at": request.expires_at,
                        "payload": request.payload})  # fmt: skip
    return request


def decide_approval(
    actor: Actor,
    request_id: int,
    *,
    approve: bool,
    note: str = "",
    publisher: Publisher = send_command,
    ack_timeout_s: float = ACK_TIMEOUT_S,
) -> ApprovalRequest:
    """Approve (and carry out) or reject a pending request of another user, once, in time."""
    note = clean_reason(note)
    verb = "approve" if approve else "reject"
    user = require_permission(actor, DECIDE_PERMISSION, f"approval.{verb}", "approval", str(request_id))
    denial = ""
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None:
            raise LookupError(f"no approval request {request_id}")
        now = timezone.now()
        if request.status != ApprovalRequest.Status.PENDING:
            denial = f"request already {request.status.lower()}: a request is decided once"
        elif now >= request.expires_at:
            request.status = ApprovalRequest.Status.EXPIRED
            request.save(update_fields=["status"])
            record_audit(Actor.system("approvals"), "approval.expired", "approval", str(request.pk))
            denial = "request expired"
        elif request.requested_by_id == user.pk:
            denial = "the requester cannot decide their own request: a second user must"
        else:
            request.status = ApprovalRequest.Status.APPROVED if approve else ApprovalRequest.Status.REJECTED
            request.decided_by, request.decided_at, request.outcome = user, now, note
            request.save(update_fields=["status", "decided_by", "decided_at", "outcome"])
            record_audit(actor, f"approval.{verb}", "approval", str(request.pk),
                         before={"status": "PENDING"}, after={"status": request.status, "note": note,
                         "action": request.action, "target": f"{request.target_type}:{request.target_id}"})  # fmt: skip
            if approve:
                _carry_out(actor, user, request, publisher, ack_timeout_s)
    if denial:
        _deny(actor, f"approval.{verb}", "approval", str(request_id), denial)
    request.refresh_from_db()
    return request


def _carry_out(
    actor: Actor, user, request: ApprovalRequest, publisher: Publisher, ack_timeout_s: float
) -> None:
    if request.action == ApprovalRequest.Action.RAISE_LIMIT:
        from trading.services.config_changes import carry_out_raise

        failure = carry_out_raise(actor, user, request, publisher)
        if failure:
            request.status, request.outcome = ApprovalRequest.Status.FAILED, failure[:500]
            request.save(update_fields=["status", "outcome"])
            record_audit(actor, "approval.failed", "approval", str(request.pk), after={"reason": failure})
        return
    command = APPROVAL_ACTIONS[request.action][1]
    node = Node.objects.select_for_update().get(name=request.target_id)
    asked_about = (request.payload or {}).get("halt_reason")
    current = (node.last_status or {}).get("trading_state_reason")
    if asked_about is not None and current != asked_about:
        failure = (f"the node's halt reason changed since the request ({reason_name(asked_about)} -> "
                   f"{reason_name(current) or 'none'}): ask again")  # fmt: skip
        request.status, request.outcome = ApprovalRequest.Status.FAILED, failure
        request.save(update_fields=["status", "outcome"])
        record_audit(actor, "approval.failed", "approval", str(request.pk), after={"reason": failure})
        return
    queue_command(
        actor, user, node, command, approval=request, publisher=publisher, ack_timeout_s=ack_timeout_s
    )


def cancel_approval(actor: Actor, request_id: int) -> ApprovalRequest:
    """The requester withdraws a pending request."""
    user = _fresh_user(actor)
    denial = ""
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None:
            raise LookupError(f"no approval request {request_id}")
        if user is None or request.requested_by_id != user.pk:
            denial = "only the requester can withdraw a request"
        elif request.status != ApprovalRequest.Status.PENDING:
            denial = f"request already {request.status.lower()}"
        else:
            request.status = ApprovalRequest.Status.CANCELLED
            request.save(update_fields=["status"])
            record_audit(actor, "approval.cancel", "approval", str(request.pk))
    if denial:
        _deny(actor, "approval.cancel", "approval", str(request_id), denial)
    return request


def expire_approvals(now: dt.datetime | None = None) -> int:
    """Mark every pending request past its expiry EXPIRED (audited); the number expired."""
    now = now or timezone.now()
    expired = 0
    with transaction.atomic():
        for request in ApprovalRequest.objects.select_for_update(skip_locked=True).filter(
            status=ApprovalRequest.Status.PENDING, expires_at__lte=now
        ):
            request.status = ApprovalRequest.Status.EXPIRED
            request.save(update_fields=["status"])
            record_audit(Actor.system("approvals"), "approval.expired", "approval", str(request.pk))
            expired += 1
    return expired
