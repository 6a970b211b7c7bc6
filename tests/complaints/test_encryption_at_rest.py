from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import SYSTEM
from complaints.encryption import EncryptedTextField, decrypt_bytes
from complaints.management.commands.rotate_encryption_keys import encrypted_columns
from complaints.models import Attachment, Category, Complaint, Message
from complaints.services import complaint_submit
from complaints.services.attachments import attachment_add, attachment_open

NEEDLES = {
    "narrative": "Narrative-PELICAN-7731 he cornered me by the lifts",
    "summary": "Summary-OSPREY-2290",
    "location": "Location-HERON-5512 third floor",
    "subject": "Subject-KESTREL Featherstonehaugh",
    "message": "Message-PLOVER-8843 I have more to add",
    "attachment": "Attachment-BITTERN-6604 my diary of the incidents",
    "file name": "diary-WIGEON-3317.txt",
}


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def file_a_case(reporter: Any) -> tuple[Complaint, Attachment]:
    complaint = complaint_submit(
        reporter=reporter, category=Category.SEXUAL_HARASSMENT, summary=NEEDLES["summary"],
        narrative=NEEDLES["narrative"], location=NEEDLES["location"],
        subjects=[NEEDLES["subject"]], witnesses=[NEEDLES["subject"] + " Jr"],
    ).complaint
    Message.objects.create(complaint=complaint, from_reporter=True, body=NEEDLES["message"],
                           created_at=timezone.now())
    upload = SimpleUploadedFile(NEEDLES["file name"], NEEDLES["attachment"].encode(),
                                content_type="text/plain")
    return complaint, attachment_add(complaint=complaint, actor=reporter, upload=upload)


def raw_database_values() -> Iterator[tuple[str, Any]]:
    """Every value of every column of every table, as the database stores it."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {quote(table)}")
            for row in cursor.fetchall():
                for value in row:
                    yield table, value


def contains(value: Any, needle: str) -> bool:
    if isinstance(value, str):
        return needle.lower() in value.lower()
    if isinstance(value, bytes | bytearray | memoryview):
        return needle.lower().encode() in bytes(value).lower()
    return False


def test_nothing_a_reporter_wrote_is_stored_in_plaintext(
    reporter: Any, media: Path
) -> None:
    complaint, attachment = file_a_case(reporter)

    found = [(table, name) for table, value in raw_database_values()
             for name, needle in NEEDLES.items() if contains(value, needle)]
    assert found == []
    # The scan does read the rows: the reference is stored in plaintext, by design.
    assert any(contains(value, complaint.reference) for _, value in raw_database_values())

    files = [p for p in media.rglob("*") if p.is_file()]
    assert len(files) == 1
    for path in files:
        content = path.read_bytes()
        for needle in NEEDLES.values():
            assert needle.encode().lower() not in content.lower()

    # The stored name is random, not the reporter's file name.
    assert re.fullmatch(r"attachments/[0-9a-f]{32}", attachment.stored_name)
    assert "diary" not in attachment.stored_name and "WIGEON" not in attachment.stored_name
    # ... and everything still reads back through the application.
    complaint.refresh_from_db()
    assert complaint.narrative == NEEDLES["narrative"]
    assert attachment_open(attachment=attachment, actor=reporter)[0] == (
        NEEDLES["attachment"].encode())


# --- Key rotation ----------------------------------------------------------------------------

def raw_tokens() -> list[str]:
    """Every stored token of every encrypted column, read past the field's decryption."""
    tokens = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model, fields in encrypted_columns():
            columns = ", ".join(quote(f.column) for f in fields)
            cursor.execute(f"SELECT {columns} FROM {quote(model._meta.db_table)}")
            tokens += [value for row in cursor.fetchall() for value in row if value]
    return tokens


def read_everything() -> list[Any]:
    """Every encrypted value through the ORM, which decrypts with the configured keys."""
    values: list[Any] = []
    for model, fields in encrypted_columns():
        values += model._default_manager.values_list(*[f.name for f in fields])
    for attachment in Attachment.objects.all():
        values.append(attachment_open(attachment=attachment, actor=SYSTEM)[0])
    return values


@pytest.fixture
def keys() -> dict[str, str]:
    return {"A": Fernet.generate_key().decode(), "B": Fernet.generate_key().decode()}


def test_rotation_moves_every_value_and_file_to_the_new_key(
    reporter: Any, media: Path, settings: Any, keys: dict[str, str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [keys["A"]]
    complaint, attachment = file_a_case(reporter)
    expected = read_everything()
    tokens = raw_tokens()
    assert len(tokens) >= 8  # summary, narrative, location, subject, witness, message, ...
    assert {field.name for model, fields in encrypted_columns() if model is Complaint
            for field in fields} >= {"summary", "narrative", "location"}

    settings.FIELD_ENCRYPTION_KEYS = [keys["B"], keys["A"]]
    dry = io.StringIO()
    call_command("rotate_encryption_keys", "--dry-run", stdout=dry, stderr=io.StringIO())
    assert f"would re-encrypt {len(tokens)} value(s)" in dry.getvalue()
    assert raw_tokens() == tokens  # a dry run changes nothing
    assert not AuditEvent.objects.filter(action="encryption.keys_rotated").exists()

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("rotate_encryption_keys", "--batch-size", "3", stdout=out)
    assert f"re-encrypted {len(tokens)} value(s)" in out.getvalue()
    assert "and 1 attachment file(s)" in out.getvalue()
    event = AuditEvent.objects.get(action="encryption.keys_rotated")
    payload = json.loads(event.payload)
    assert (payload["values"], payload["files"], payload["failed"]) == (len(tokens), 1, 0)
    assert event.actor_type == "system"

    # Idempotent: a second run finds everything under the new key and moves nothing.
    attachment.refresh_from_db()
    again = io.StringIO()
    call_command("rotate_encryption_keys", stdout=again)
    assert "re-encrypted 0 value(s)" in again.getvalue()
    assert "and 0 attachment file(s)" in again.getvalue()
    assert Attachment.objects.get(pk=attachment.pk).stored_name == attachment.stored_name

    # With only the new key, everything still reads...
    settings.FIELD_ENCRYPTION_KEYS = [keys["B"]]
    assert read_everything() == expected
    for token in raw_tokens():
        Fernet(keys["B"]).decrypt(token.encode())
    # ... and the old key alone opens nothing, in the database or in the media folder.
    settings.FIELD_ENCRYPTION_KEYS = [keys["A"]]
    for token in raw_tokens():
        with pytest.raises(InvalidToken):
            Fernet(keys["A"]).decrypt(token.encode())
    with pytest.raises(InvalidToken):
        Complaint.objects.get(pk=complaint.pk)
    files = [p for p in media.rglob("*") if p.is_file()]
    assert [p.relative_to(media).as_posix() for p in files] == [attachment.stored_name]
    with pytest.raises(InvalidToken):
        decrypt_bytes(files[0].read_bytes())


def test_rotation_reports_values_no_current_key_opens(
    reporter: Any, media: Path, settings: Any, keys: dict[str, str]
) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [keys["A"]]
    file_a_case(reporter)
    settings.FIELD_ENCRYPTION_KEYS = [keys["B"]]  # the old key removed too early
    err = io.StringIO()
    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("rotate_encryption_keys", stdout=io.StringIO(), stderr=err)
    assert "complaints.Complaint.narrative" in err.getvalue()
    assert "attachment #" in err.getvalue()


def test_every_encrypted_field_is_found_for_rotation() -> None:
    found = {(model._meta.label, field.name) for model, fields in encrypted_columns()
             for field in fields}
    declared = {(model._meta.label, field.name) for model in apps.get_models()
                for field in model._meta.get_fields() if isinstance(field, EncryptedTextField)}
    assert found == declared
    assert ("complaints.Message", "body") in found
    assert ("complaints.Attachment", "original_name") in found
