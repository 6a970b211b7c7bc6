"""A file chosen on a report form that came back with an error is kept, so the reporter
does not have to find and choose it again (a browser never refills a file field).

The file is checked as an attachment would be, encrypted, and stored under a random name
in ``held/``; the page carries a signed ticket naming it. Filing the report attaches it and
deletes the held copy; a held file nobody comes back for is deleted by the daily sweep.
Nothing about who chose it is kept.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from complaints.encryption import decrypt_bytes, encrypt_bytes
from complaints.services.attachments import (
    CheckedFile,
    Upload,
    checked_content,
    clean_original_name,
)

log = logging.getLogger(__name__)

HELD_DIR = "held"
HOLD_FOR = timedelta(days=1)
_SALT = "complaints.held-upload"


@dataclass(frozen=True)
class HeldUpload:
    ticket: str  # signed; goes back to the form in a hidden field
    name: str
    size: int


def upload_hold(*, upload: Upload) -> HeldUpload:
    """Check and keep a file until the form is sent again, cleaned of hidden information
    as an attachment is. Raises ``InvalidInput`` (key ``attachment``) for a file that could
    never be attached."""
    data, _content_type = checked_content(upload)
    name = clean_original_name(getattr(upload, "name", None))
    stored = default_storage.save(f"{HELD_DIR}/{secrets.token_hex(16)}",
                                  ContentFile(encrypt_bytes(data)))
    ticket = signing.dumps({"stored": stored, "name": name, "size": len(data)}, salt=_SALT)
    return HeldUpload(ticket=ticket, name=name, size=len(data))


def upload_held(ticket: str) -> HeldUpload | None:
    """What a ticket from the form names, if it is genuine, recent and still kept."""
    found = _open_ticket(ticket)
    if found is None:
        return None
    return HeldUpload(ticket=ticket, name=found["name"], size=found["size"])


def upload_release(ticket: str) -> CheckedFile | None:
    """The held file, decrypted, as an upload ``attachment_add`` accepts; None when the
    ticket is not genuine or the file is gone. Call ``upload_forget`` once it is attached."""
    found = _open_ticket(ticket)
    if found is None:
        return None
    with default_storage.open(found["stored"], "rb") as handle:
        data = decrypt_bytes(handle.read())
    return CheckedFile(data, name=found["name"])


def upload_forget(ticket: str) -> None:
    found = _open_ticket(ticket)
    if found is not None:
        _delete_quietly(found["stored"])


def held_uploads_sweep(*, now: datetime | None = None) -> int:
    """Delete held files older than ``HOLD_FOR``: forms nobody came back to. Returns how
    many went."""
    cutoff = (now or timezone.now()) - HOLD_FOR
    try:
        _, names = default_storage.listdir(HELD_DIR)
    except FileNotFoundError:
        return 0
    deleted = 0
    for name in names:
        path = f"{HELD_DIR}/{name}"
        try:
            modified = default_storage.get_modified_time(path)
        except FileNotFoundError:
            continue
        if modified < cutoff and _delete_quietly(path):
            deleted += 1
    return deleted


def _open_ticket(ticket: str) -> dict[str, Any] | None:
    if not ticket:
        return None
    try:
        found = signing.loads(ticket, salt=_SALT, max_age=HOLD_FOR)
    except signing.BadSignature:  # also SignatureExpired
        return None
    stored = str(found.get("stored", ""))
    if not stored.startswith(f"{HELD_DIR}/") or ".." in stored:
        return None
    if not default_storage.exists(stored):
        return None
    return found  # type: ignore[no-any-return]


def _delete_quietly(name: str) -> bool:
    try:
        default_storage.delete(name)
    except Exception:
        log.exception("could not delete held upload %s", name)
        return False
    return True
