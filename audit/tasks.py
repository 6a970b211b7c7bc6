from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from audit import services
from audit.actions import Action
from audit.opaque import verification_payload

log = logging.getLogger(__name__)


@shared_task
def audit_verify_chain() -> dict[str, object]:
    """Verify the whole chain, and that the log is complete, on a schedule and put the
    outcome on the record."""
    result = services.verify()
    if not result.intact:
        log.error("audit chain broken at #%s: %s", result.first_broken_seq, result.problem)
    if not result.complete:
        log.error("audit log incomplete: %s", "; ".join(result.missing))
    with transaction.atomic():
        services.record(
            action=Action.AUDIT_CHAIN_VERIFIED, actor=services.SYSTEM,
            target=("audit_chain", "head"), payload=verification_payload(result),
        )
    return result.as_dict()


@shared_task
def audit_checkpoint_tick() -> int | None:
    """Sign a checkpoint when one is due and deliver any not yet delivered."""
    from audit import checkpoints

    made = checkpoints.checkpoint_due()
    return made.seq if made is not None else None
