from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pikepdf
import pillow_heif
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from audit.models import AuditEvent
from complaints.access import ReporterPrincipal
from complaints.encryption import decrypt_bytes
from complaints.errors import InvalidInput
from complaints.models import Attachment, Category, Complaint
from complaints.services import attachments, complaint_submit
from complaints.services.attachments import attachment_add, attachment_open

pillow_heif.register_heif_opener()  # this test writes HEIC; the product registers it on first use


def _zip(entries: list[tuple[str | zipfile.ZipInfo, str]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


def _image(fmt: str) -> bytes:
    # Whole files: images and PDFs are decoded to be cleaned, and a damaged one is refused.
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), "red").save(buffer, fmt)
    return buffer.getvalue()


def _pdf() -> bytes:
    buffer = io.BytesIO()
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(buffer)
    return buffer.getvalue()


PNG = _image("PNG")
EXE = b"MZ\x90\x00\x03" + bytes(64)
ALLOWED = {
    "pdf": (_pdf(), "application/pdf"),
    "png": (PNG, "image/png"),
    "jpeg": (_image("JPEG"), "image/jpeg"),
    "gif": (_image("GIF"), "image/gif"),
    "webp": (_image("WEBP"), "image/webp"),
    "heic": (_image("HEIF"), "image/heic"),
    "mp3": (b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(32), "audio/mpeg"),
    "m4a": (b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00M4A mp42" + bytes(32), "audio/mp4"),
    "wav": (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32), "audio/x-wav"),
    "mp4": (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(32), "video/mp4"),
    "docx": (_zip([("[Content_Types].xml", "<Types/>"), ("word/document.xml", "<w/>")]),
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": (_zip([("[Content_Types].xml", "<Types/>"), ("xl/workbook.xml", "<w/>")]),
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "odt": (_zip([(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text"),
                  ("content.xml", "<x/>")]), "application/vnd.oasis.opendocument.text"),
    "utf-8 text": ("He said: « come to my office » — twice.\n".encode(), "text/plain"),
}
REFUSED = {
    "windows executable": EXE,
    "linux executable": b"\x7fELF\x02\x01\x01" + bytes(64),
    "zip archive": _zip([("run.sh", "echo hi")]),
    "binary without a signature": b"\x01\x02\x00\x03" * 16,
    "latin-1 text": "Le café était fermé".encode("latin-1"),
}


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


def last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-seq").first()  # type: ignore[return-value]


@pytest.mark.parametrize("kind", list(ALLOWED))
def test_allowed_kinds_are_recognised_by_their_content(
    kind: str, filed: Complaint, hr_reviewer: Any, media: Path
) -> None:
    content, expected = ALLOWED[kind]
    # A misleading name and browser type: neither may matter.
    upload = SimpleUploadedFile("upload.bin", content, content_type="application/x-msdownload")
    attachment = attachment_add(complaint=filed, actor=hr_reviewer, upload=upload)
    assert attachment.content_type == expected


@pytest.mark.parametrize("kind", list(REFUSED))
def test_refused_kinds_leave_nothing_behind_whatever_they_claim_to_be(
    kind: str, filed: Complaint, hr_reviewer: Any, media: Path
) -> None:
    events = AuditEvent.objects.count()
    upload = SimpleUploadedFile("statement.pdf", REFUSED[kind], content_type="application/pdf")
    with pytest.raises(InvalidInput) as raised:
        attachment_add(complaint=filed, actor=hr_reviewer, upload=upload)
    assert raised.value.errors == {"attachment": [
        "This kind of file can't be attached. Use PDF, images, audio, video, Word, "
        "or plain text."]}
    assert not Attachment.objects.exists()
    assert stored_files(media) == []
    assert AuditEvent.objects.count() == events


def test_an_image_named_exe_is_stored_encrypted_under_a_random_name_and_audited(
    filed: Complaint, hr_reviewer: Any, media: Path
) -> None:
    upload = SimpleUploadedFile("holiday.exe", PNG, content_type="application/x-msdownload")
    attachment = attachment_add(complaint=filed, actor=hr_reviewer, upload=upload)

    attachment.refresh_from_db()
    assert attachment.content_type == "image/png"
    assert attachment.size == len(PNG)
    assert attachment.original_name == "holiday.exe"
    assert attachment.from_reporter is False
    assert attachment.uploaded_by == hr_reviewer
    assert re.fullmatch(r"attachments/[0-9a-f]{32}", attachment.stored_name)
    [stored] = stored_files(media)
    assert stored.relative_to(media).as_posix() == attachment.stored_name
    ciphertext = stored.read_bytes()
    assert b"PNG" not in ciphertext and b"holiday" not in ciphertext
    assert decrypt_bytes(ciphertext) == PNG

    event = last_event()
    assert event.action == "attachment.added"
    assert (event.actor_type, event.actor_id) == ("user", str(hr_reviewer.pk))
    assert (event.target_type, event.target_id) == ("complaint", filed.reference)
    assert json.loads(event.payload) == {"attachment": attachment.pk, "content_type": "image/png",
                                         "size": len(PNG), "from_reporter": False}


def test_a_signed_in_reporters_attachment_names_no_account(
    filed: Complaint, reporter: Any, media: Path
) -> None:
    upload = SimpleUploadedFile("notes.txt", b"What happened on Monday.")
    attachment = attachment_add(complaint=filed, actor=reporter, upload=upload)
    assert attachment.from_reporter is True
    assert attachment.uploaded_by is None
    assert json.loads(last_event().payload)["from_reporter"] is True


def test_an_anonymous_reporter_attaches_through_the_receipt_principal(
    db: None, media: Path
) -> None:
    complaint = complaint_submit(reporter=None, category=Category.FRAUD, summary="Invoices",
                                 narrative="Invoices are inflated.").complaint
    principal = ReporterPrincipal(complaint.pk, complaint.reference)
    attachment = attachment_add(complaint=complaint, actor=principal,
                                upload=SimpleUploadedFile("x.txt", b"ledger lines"))
    assert attachment.from_reporter is True and attachment.uploaded_by is None
    event = last_event()
    assert (event.actor_type, event.actor_id) == ("reporter", complaint.reference)


def test_an_empty_file_is_refused(filed: Complaint, hr_reviewer: Any, media: Path) -> None:
    with pytest.raises(InvalidInput) as raised:
        attachment_add(complaint=filed, actor=hr_reviewer,
                       upload=SimpleUploadedFile("empty.txt", b""))
    assert raised.value.errors == {"attachment": ["This file is empty."]}


def test_the_default_limit_is_ten_megabytes_and_said_plainly(
    filed: Complaint, hr_reviewer: Any, media: Path
) -> None:
    big = SimpleUploadedFile("big.pdf", b"%PDF-1.7\n" + bytes(10 * 1024 * 1024))
    with pytest.raises(InvalidInput) as raised:
        attachment_add(complaint=filed, actor=hr_reviewer, upload=big)
    assert raised.value.errors == {"attachment": ["This file is larger than 10 MB."]}
    assert stored_files(media) == []


def test_a_file_like_without_a_size_is_measured_by_reading(
    filed: Complaint, hr_reviewer: Any, media: Path, settings: Any
) -> None:
    settings.ATTACHMENT_MAX_BYTES = 1024
    stream = io.BytesIO(b"a" * 1025)
    stream.name = "long.txt"  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput):
        attachment_add(complaint=filed, actor=hr_reviewer, upload=stream)  # type: ignore[arg-type]
    exact = io.BytesIO(b"a" * 1024)
    exact.name = "exact.txt"  # type: ignore[attr-defined]
    attachment = attachment_add(complaint=filed, actor=hr_reviewer,
                                upload=exact)  # type: ignore[arg-type]
    assert attachment.size == 1024


def test_the_original_name_loses_its_folders_and_is_capped(
    filed: Complaint, hr_reviewer: Any, media: Path
) -> None:
    # A raw file-like keeps whatever name it was given, a Windows path included.
    stream = io.BytesIO(b"text")
    folders = "C:\\Users\\victim\\Documents\\"
    stream.name = folders + "n" * 300 + ".txt"  # type: ignore[attr-defined]
    attachment = attachment_add(complaint=filed, actor=hr_reviewer,
                                upload=stream)  # type: ignore[arg-type]
    assert attachment.original_name == "n" * 200


def test_a_failing_transaction_deletes_the_file_it_wrote(
    filed: Complaint, hr_reviewer: Any, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_record(**kwargs: Any) -> None:
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr(attachments.audit, "record", broken_record)
    with pytest.raises(RuntimeError):
        attachment_add(complaint=filed, actor=hr_reviewer,
                       upload=SimpleUploadedFile("a.txt", b"some text"))
    assert not Attachment.objects.exists()
    assert stored_files(media) == []


def test_a_purged_case_takes_no_more_files(
    filed: Complaint, hr_reviewer: Any, media: Path
) -> None:
    Complaint.objects.filter(pk=filed.pk).update(purged_at=timezone.now())
    with pytest.raises(InvalidInput) as raised:
        attachment_add(complaint=filed, actor=hr_reviewer,
                       upload=SimpleUploadedFile("a.txt", b"some text"))
    assert "erased" in raised.value.errors["attachment"][0]
    assert stored_files(media) == []


def test_opening_an_attachment_decrypts_it_and_is_audited(
    filed: Complaint, hr_reviewer: Any, hr_lead: Any, media: Path
) -> None:
    attachment = attachment_add(complaint=filed, actor=hr_reviewer,
                                upload=SimpleUploadedFile("minutes.txt", b"Meeting minutes"))
    content, content_type, name = attachment_open(attachment=attachment, actor=hr_lead)
    assert (content, content_type, name) == (b"Meeting minutes", "text/plain", "minutes.txt")
    event = last_event()
    assert event.action == "attachment.downloaded"
    assert (event.actor_type, event.actor_id) == ("user", str(hr_lead.pk))
    assert (event.target_type, event.target_id) == ("complaint", filed.reference)
    assert json.loads(event.payload) == {"attachment": attachment.pk}
