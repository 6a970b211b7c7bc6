"""Case notes: a step's reason and staff's internal notes. Never shown to the reporter.

The audit log points at a note by id and a salted digest, never the words, so purging a
closed case's personal data leaves the chain verifiable.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import services as audit
from audit.actions import Action
from complaints.access import may_write_note
from complaints.errors import InvalidInput, TransitionForbidden
from complaints.models import CaseNote, Complaint
from complaints.services.locking import lock_complaint

NOTE_MAX = 10_000


def note_write(*, complaint: Complaint, actor: Any, kind: str, action: Action, body: str,
               at: datetime) -> tuple[CaseNote, str]:
    """Store one note; returns it and the salted digest of its text that the audit event
    keeps in place of the words (noise once the note is purged)."""
    author = actor if getattr(actor, "_meta", None) is not None else None
    salt = secrets.token_hex(16)
    note = CaseNote.objects.create(complaint=complaint, kind=kind, action=action.value,
                                   author=author, body=body, digest_salt=salt, created_at=at)
    return note, hashlib.sha256(f"{salt}:{body}".encode()).hexdigest()


def case_note_add(*, complaint: Complaint, actor: Any, body: str) -> CaseNote:
    """An internal note on the case, for staff only. Audits ``complaint.note_added``."""
    body = (body or "").strip()
    if not body:
        raise InvalidInput({"body": [_("Write the note.")]})
    if len(body) > NOTE_MAX:
        raise InvalidInput({"body": [_("Keep the note under %(max)d characters.")
                                     % {"max": NOTE_MAX}]})
    with transaction.atomic():
        locked = lock_complaint(complaint, actor=actor)
        if locked.purged_at is not None:
            raise TransitionForbidden("this case's records were erased at the end of its "
                                      "retention period")
        if not may_write_note(locked, actor):
            raise TransitionForbidden("you may not add notes to this case")
        note, digest = note_write(complaint=locked, actor=actor, kind=CaseNote.Kind.INTERNAL,
                                  action=Action.COMPLAINT_NOTE_ADDED, body=body,
                                  at=timezone.now())
        audit.record(action=Action.COMPLAINT_NOTE_ADDED, actor=actor, target=locked,
                     payload={"note": note.pk, "note_sha256": digest})
    return note
