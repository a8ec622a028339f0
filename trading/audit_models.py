"""The audit trail and two-person approvals of the operator console.

`AuditEntry` is append-only twice over: PostgreSQL refuses UPDATE, DELETE and TRUNCATE on its
table (triggers from migration 0004), and each row carries the SHA-256 of its content chained
to the previous row's hash, with a contiguous `seq`, so an edit, a deletion or a reordering by
someone who got past the triggers (a superuser disabling them) is found by
`manage.py audit_verify`. Rows are written only by trading.audit.record_audit().

`ApprovalRequest` is one request of the two-person rule: asked by one user, decided once by a
different one before it expires, then spent.
"""

from django.conf import settings
from django.db import models

__all__ = ["ApprovalRequest", "AuditEntry"]


class AuditEntry(models.Model):
    seq = models.BigIntegerField(unique=True, help_text="contiguous from 1, assigned under a lock")
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )  # fmt: skip  (no FK constraint: deleting a user must neither fail nor touch this table)
    actor_username = models.CharField(max_length=150, help_text="as it was when the action was taken")
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=128, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        verbose_name_plural = "audit entries"
        permissions = [("export_auditentry", "Can export the audit trail")]
        constraints = [
            models.CheckConstraint(condition=models.Q(seq__gte=1), name="auditentry_seq_positive"),
            models.CheckConstraint(
                condition=models.Q(entry_hash__regex=r"^[0-9a-f]{64}$"), name="auditentry_hash_hex"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.actor_username} {self.action} {self.target_type}:{self.target_id}"


class ApprovalRequest(models.Model):
    class Action(models.TextChoices):
        RESUME = "RESUME", "resume trading"
        RAISE_LIMIT = "RAISE_LIMIT", "raise a risk limit"
        REENABLE_STRATEGY = "REENABLE_STRATEGY", "re-enable a strategy after a circuit breaker"

    class Status(models.TextChoices):
        PENDING = "PENDING"
        APPROVED = "APPROVED"  # approved and carried out
        REJECTED = "REJECTED"
        EXPIRED = "EXPIRED"
        CANCELLED = "CANCELLED"  # withdrawn by the requester
        FAILED = "FAILED"  # approved, but carrying it out failed (the reason is kept)

    action = models.CharField(max_length=32, choices=Action.choices)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=128)
    payload = models.JSONField(default=dict, blank=True, help_text="what exactly is to be done")
    reason = models.CharField(max_length=500, blank=True, help_text="why, in the requester's words")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("decide_approvalrequest", "Can approve or reject another user's request")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("requested_at")),
                name="approval_expires_after_request",
            ),
            # the two-person rule, also for whatever bypasses the services
            models.CheckConstraint(
                condition=models.Q(decided_by__isnull=True) | ~models.Q(decided_by=models.F("requested_by")),
                name="approval_decider_is_not_requester",
            ),
            models.CheckConstraint(
                condition=models.Q(status="PENDING", decided_by__isnull=True, decided_at__isnull=True)
                | models.Q(status__in=["EXPIRED", "CANCELLED"], decided_by__isnull=True)
                | models.Q(
                    status__in=["APPROVED", "REJECTED", "FAILED"],
                    decided_by__isnull=False,
                    decided_at__isnull=False,
                ),  # fmt: skip
                name="approval_decision_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.target_type}:{self.target_id} ({self.status})"
