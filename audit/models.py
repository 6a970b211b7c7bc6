"""The append-only, hash-chained audit log.

Rows are written only by ``audit.services.record``. Database triggers (see migration 0002)
reject UPDATE, DELETE and, on PostgreSQL, TRUNCATE, whoever sends them.
"""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    class ActorType(models.TextChoices):
        USER = "user", "User"
        REPORTER = "reporter", "Reporter"
        SYSTEM = "system", "System"
        # Someone not signed in and not (yet) known as a reporter: a wrong receipt key.
        ANONYMOUS = "anonymous", "Anonymous"

    # seq is the primary key: gapless, assigned under the chain-head lock.
    seq = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField()
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    # No foreign keys: deleting a user must never need to touch (or cascade into) the log.
    actor_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    from_state = models.CharField(max_length=32, blank=True)
    to_state = models.CharField(max_length=32, blank=True)
    # Canonical JSON text (sorted keys, no spaces): hashed exactly as stored.
    payload = models.TextField(default="{}")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "seq"], name="audit_target_seq"),
            models.Index(fields=["actor_type", "actor_id", "seq"], name="audit_actor_seq"),
            models.Index(fields=["action", "seq"], name="audit_action_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target_type}:{self.target_id}"


class ChainHead(models.Model):
    """One row: the last sequence number and hash. Locking it serialises appends."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"head #{self.seq}"
