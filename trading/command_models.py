"""Operator commands sent to nodes, with what the node answered.

A row is created, in the same transaction as its audit entry, before the command is published
on the node's control stream (after commit); the node's acknowledgement (accepted or refused,
resulting trading state, journal seq) is filled in when it arrives. The audit trail says who
asked; this table says what became of it.
"""

from django.conf import settings
from django.db import models

__all__ = ["NodeCommand"]


class NodeCommand(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"  # committed, not yet published
        SENT = "SENT"  # published, no acknowledgement yet
        ACCEPTED = "ACCEPTED"  # the node applied it
        REFUSED = "REFUSED"  # the node refused it (reason kept)
        NO_ACK = "NO_ACK"  # no acknowledgement within the timeout (node down or busy)
        SEND_FAILED = "SEND_FAILED"  # Redis could not be reached (reason kept)

    node = models.ForeignKey("trading.Node", on_delete=models.PROTECT, related_name="commands")
    command = models.CharField(max_length=16)
    nonce = models.CharField(max_length=64, unique=True)
    request_id = models.CharField(max_length=64, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    issued_by_username = models.CharField(max_length=150)
    issued_at = models.DateTimeField(db_index=True)
    approval = models.ForeignKey(
        "trading.ApprovalRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="commands"
    )
    config_version = models.BigIntegerField(
        null=True, blank=True, help_text="RELOAD_CONFIG: the version to load"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    acked_at = models.DateTimeField(null=True, blank=True)
    ack_trading_state = models.SmallIntegerField(null=True, blank=True)
    ack_seq = models.BigIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return f"{self.command} {self.node} ({self.status})"
