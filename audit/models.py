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


class Checkpoint(models.Model):
    """A signed statement of the chain head, each naming the one before it.

    Append-only like the log (migration 0008): the beat signs one on a schedule and after
    every so many events (``audit.services.checkpoint_due``), and copies leave the database
    (mail, the sink) so that cutting the log back below one is caught by anyone holding a
    copy and the public key. ``body`` is the exact text that was signed.
    """

    seq = models.BigIntegerField(unique=True)
    head_hash = models.CharField(max_length=64)
    made_at = models.DateTimeField()
    previous_seq = models.BigIntegerField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64, blank=True)
    key_id = models.CharField(max_length=64)
    body = models.TextField()
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq}"


class CheckpointDelivery(models.Model):
    """A checkpoint that reached one place outside the database. Rows are only added: a
    checkpoint without one for a channel is retried (``checkpoint_deliver``)."""

    class Channel(models.TextChoices):
        MAIL = "mail", "Mailed to the audit committee"
        SINK = "sink", "Written to the append-only sink"

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT,
                                   related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    delivered_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["checkpoint", "channel"],
                                               name="checkpoint_delivered_once")]

    def __str__(self) -> str:
        return f"{self.checkpoint} via {self.channel}"
