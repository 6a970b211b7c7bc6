"""Files added to a case: checked by their content, stored only as ciphertext.

The media folder holds each attachment as one Fernet token under a random name
(``attachments/<32 hex>``); the name the user gave is an encrypted column. Nothing about a
file (its name, its type, a word of it) can be learnt from the folder or from a backup of it.
"""

from __future__ import annotations

import logging
import secrets
import unicodedata
from typing import Any, Protocol

import filetype
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from audit import services as audit
from audit.actions import Action
from complaints.access import is_reporter
from complaints.encryption import decrypt_bytes, encrypt_bytes
from complaints.errors import InvalidInput
from complaints.models import Attachment, Complaint
from complaints.services.metadata import metadata_strip

log = logging.getLogger(__name__)

STORAGE_DIR = "attachments"
ORIGINAL_NAME_MAX = 200
TEXT_PLAIN = "text/plain"

# What filetype may detect, by MIME type. Formats a browser or office suite opens without
# running anything; archives, executables and scripts are refused, whatever they are called.
ALLOWED_TYPES = frozenset({
    "application/pdf",
    "image/png",
    "image/apng",  # an animated PNG is still a PNG; filetype tells them apart
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/heic",
    "audio/mpeg",
    "audio/mp4",  # m4a
    "audio/x-wav",
    "video/mp4",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
})

# Marked here, translated where raised (into the language of the request at hand).
MSG_EMPTY = gettext_noop("This file is empty.")
MSG_TYPE = gettext_noop("This kind of file can't be attached. Use PDF, images, audio, video, "
                        "Word, or plain text.")
MSG_PURGED = gettext_noop(
    "This case has been erased under the retention policy; nothing can be added to it.")


class Upload(Protocol):
    """What ``attachment_add`` reads: a Django ``UploadedFile`` or any named file-like."""

    name: str | None

    def read(self, size: int = ..., /) -> bytes: ...


def _too_large_message() -> str:
    megabytes = settings.ATTACHMENT_MAX_BYTES / (1024 * 1024)
    return gettext("This file is larger than %(size)s MB.") % {"size": f"{megabytes:g}"}


def _read_capped(upload: Any) -> bytes:
    # A declared size can lie (a plain file-like has none): read one byte past the limit
    # so an oversized file is refused without ever holding more than that in memory.
    limit = settings.ATTACHMENT_MAX_BYTES
    declared = getattr(upload, "size", None)
    if isinstance(declared, int) and declared > limit:
        raise InvalidInput({"attachment": [_too_large_message()]})
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput({"attachment": [_too_large_message()]})
    if not data:
        raise InvalidInput({"attachment": [gettext(MSG_EMPTY)]})
    return bytes(data)


def detect_content_type(data: bytes) -> str | None:
    """The MIME type of ``data`` judged by its bytes alone, or None when it is not allowed.

    filetype recognises binary formats by their signatures and finds nothing in text;
    text is accepted when it is UTF-8 without NUL bytes (NUL marks a binary format that
    filetype does not know).
    """
    kind = filetype.guess(data[:8192])
    if kind is not None and kind.mime in ALLOWED_TYPES:
        return str(kind.mime)
    if kind is None and b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return TEXT_PLAIN
    return None


class CheckedFile(ContentFile):  # type: ignore[type-arg]
    """A file that ``checked_content`` has already cleaned: cleaning again would only
    re-encode a lossy image a second time."""


def checked_content(upload: Any) -> tuple[bytes, str]:
    """The upload's bytes, cleaned of hidden information (``metadata_strip``), and the type
    judged from them; ``InvalidInput`` (key ``attachment``) for an empty, oversized or
    disallowed file, or one that cannot be cleaned. Every stored file comes through here,
    so none is stored with the location, device or author it arrived with."""
    data = _read_capped(upload)
    content_type = detect_content_type(data)
    if content_type is None:
        raise InvalidInput({"attachment": [gettext(MSG_TYPE)]})
    if isinstance(upload, CheckedFile):
        return data, content_type
    return metadata_strip(data=data, content_type=content_type), content_type


def checked_file(upload: Upload) -> CheckedFile:
    """The upload checked and cleaned as ``attachment_add`` would, before anything else
    is done with it: a form can refuse a file that could not be attached while what was
    typed is still on the page. Raises ``InvalidInput`` (key ``attachment``)."""
    data, _content_type = checked_content(upload)
    return CheckedFile(data, name=clean_original_name(getattr(upload, "name", None)))


def clean_original_name(name: str | None) -> str:
    """The file's own name without any folder a browser sent, and no control characters
    (it may end up in a Content-Disposition header)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return base[:ORIGINAL_NAME_MAX] or "attachment"


def attachment_add(*, complaint: Complaint, actor: Any, upload: Upload) -> Attachment:
    """Attach a file to a case, encrypted.

    ``actor`` is a staff user, the reporting user, or a ``ReporterPrincipal``; who may
    attach is the caller's (the view's) decision. The type is judged from the content
    only (``ALLOWED_TYPES`` or UTF-8 text), never from the name or the browser's claim,
    and the file is stored without its hidden information (``checked_content``).

    Changes: writes the ciphertext to ``default_storage`` under a random name, then creates
    the ``Attachment`` (original name encrypted; ``uploaded_by`` only for staff, as a
    reporter's messages name no account). If the row is not created the file is deleted
    again. Call it outside any transaction: a rollback of an outer one would leave the
    (unreadable, unreferenced) ciphertext file behind.
    Audits ``attachment.added`` (attachment id, content type, size, from_reporter).
    Raises ``InvalidInput`` (key ``attachment``) for an empty, oversized or disallowed file,
    one that cannot be cleaned, or a case already purged under the retention policy.
    """
    data, content_type = checked_content(upload)
    if complaint.purged_at is not None:
        raise InvalidInput({"attachment": [gettext(MSG_PURGED)]})
    from_reporter = is_reporter(complaint, actor)
    staff = not from_reporter and isinstance(actor, get_user_model())
    uploaded_by = actor if staff else None
    original_name = clean_original_name(getattr(upload, "name", None))
    size = len(data)
    token = encrypt_bytes(data)
    del data

    # The file first, then the row: a file without a row is harmless ciphertext and is
    # deleted below; a row without a file would be a broken attachment.
    stored_name = default_storage.save(
        f"{STORAGE_DIR}/{secrets.token_hex(16)}", ContentFile(token))
    try:
        with transaction.atomic():
            # The lock orders this against retention_purge: a case is either purged with
            # this attachment or refuses it, never purged and then given a new file.
            purged_at = (Complaint.objects.select_for_update().filter(pk=complaint.pk)
                         .values_list("purged_at", flat=True).get())
            if purged_at is not None:
                raise InvalidInput({"attachment": [gettext(MSG_PURGED)]})
            attachment = Attachment.objects.create(
                complaint=complaint, from_reporter=from_reporter, uploaded_by=uploaded_by,
                stored_name=stored_name, original_name=original_name,
                content_type=content_type, size=size, created_at=timezone.now(),
            )
            audit.record(
                action=Action.ATTACHMENT_ADDED, actor=actor, target=complaint,
                payload={"attachment": attachment.pk, "content_type": content_type,
                         "size": size, "from_reporter": from_reporter},
            )
    except BaseException:
        _delete_quietly(stored_name)
        raise
    return attachment


def attachment_open(*, attachment: Attachment, actor: Any) -> tuple[bytes, str, str]:
    """Decrypt an attachment for someone about to receive it.

    Permission is the caller's: a view must decide that ``actor`` may see the case (and is
    not conflicted on it) before calling. Serve the bytes as a download
    (``Content-Disposition: attachment``, ``X-Content-Type-Options: nosniff``), never inline.

    Returns ``(content, content_type, original_name)``.
    Changes nothing. Audits ``attachment.downloaded`` (attachment id), written only once
    the content was read, so a failed read records no disclosure.
    Raises ``FileNotFoundError`` if the stored file is missing and
    ``cryptography.fernet.InvalidToken`` if no current key opens it.
    """
    with default_storage.open(attachment.stored_name, "rb") as handle:
        token = handle.read()
    content = decrypt_bytes(token)
    reference = (Complaint.objects.filter(pk=attachment.complaint_id)
                 .values_list("reference", flat=True).get())
    with transaction.atomic():
        audit.record(action=Action.ATTACHMENT_DOWNLOADED, actor=actor,
                     target=("complaint", reference), payload={"attachment": attachment.pk})
    return content, attachment.content_type, attachment.original_name


def delete_stored_files(names: list[str]) -> int:
    """Delete attachment files from storage; returns how many went. For after a commit:
    a file that cannot be deleted is logged, not raised, since its row is already gone."""
    deleted = 0
    for name in names:
        if _delete_quietly(name):
            deleted += 1
    return deleted


def _delete_quietly(name: str) -> bool:
    try:
        default_storage.delete(name)
    except Exception:
        log.exception("could not delete attachment file %s", name)
        return False
    return True
