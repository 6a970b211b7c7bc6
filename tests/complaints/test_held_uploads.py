"""A report form that comes back with an error keeps the file that was chosen: the
reporter never has to find it again, and a file nobody comes back for is swept away."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from complaints.models import Attachment, Category
from complaints.services.held_uploads import HELD_DIR, held_uploads_sweep

# One red pixel. A whole image: a damaged one is refused, since it cannot be cleaned.
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
       b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe"
       b"\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path / "media"


def _held(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "media" / HELD_DIR
    return sorted(folder.iterdir()) if folder.exists() else []


def _ticket(body: str) -> str:
    start = body.index('name="held_attachment" value="') + len('name="held_attachment" value="')
    return body[start:body.index('"', start)]


def test_a_file_chosen_before_an_error_is_sent_with_the_corrected_report(
        client: Client, db: None, tmp_path: Path) -> None:
    first = client.post("/report/", {
        "category": Category.BULLYING, "summary": "", "narrative": "See the screenshot.",
        "anonymous": "on", "attachment": SimpleUploadedFile("chat.png", PNG, "image/png")})
    assert first.status_code == 400
    body = first.content.decode()
    assert "Your file chat.png" in body and "is kept" in body
    assert "See the screenshot." in body
    kept = _held(tmp_path)
    assert len(kept) == 1 and PNG not in kept[0].read_bytes()  # stored encrypted

    second = client.post("/report/", {
        "category": Category.BULLYING, "summary": "Chat", "narrative": "See the screenshot.",
        "anonymous": "on", "held_attachment": _ticket(body)})
    assert second.status_code == 200 and second.context["attached"] is True
    attachment = Attachment.objects.get()
    assert attachment.original_name == "chat.png" and attachment.content_type == "image/png"
    assert _held(tmp_path) == []  # the kept copy is gone once attached


def test_the_reporter_can_drop_the_kept_file(client: Client, db: None,
                                             tmp_path: Path) -> None:
    body = client.post("/report/", {
        "category": "", "summary": "x", "narrative": "y", "anonymous": "on",
        "attachment": SimpleUploadedFile("a.png", PNG, "image/png")}).content.decode()
    answer = client.post("/report/", {
        "category": Category.BULLYING, "summary": "x", "narrative": "y", "anonymous": "on",
        "held_attachment": _ticket(body), "drop_held": "1"})
    assert answer.status_code == 200 and answer.context["attached"] is False
    assert not Attachment.objects.exists() and _held(tmp_path) == []


def test_a_forged_or_stale_ticket_attaches_nothing(client: Client, db: None,
                                                   tmp_path: Path) -> None:
    answer = client.post("/report/", {
        "category": Category.BULLYING, "summary": "x", "narrative": "y", "anonymous": "on",
        "held_attachment": "held/../../etc/passwd:forged"})
    assert answer.status_code == 200 and answer.context["attached"] is False
    assert not Attachment.objects.exists()


def test_a_file_that_could_never_be_attached_is_an_error_on_the_form(
        client: Client, db: None, tmp_path: Path) -> None:
    answer = client.post("/report/", {
        "category": "", "summary": "x", "narrative": "y", "anonymous": "on",
        "attachment": SimpleUploadedFile("run.exe", b"MZ\x90\x00" + b"\x00" * 64)})
    assert answer.status_code == 400
    assert "be attached. Use PDF" in answer.content.decode()
    assert _held(tmp_path) == []


def test_the_daily_sweep_deletes_files_nobody_came_back_for(
        client: Client, db: None, tmp_path: Path) -> None:
    for name in ("old.png", "new.png"):
        client.post("/report/", {"category": "", "summary": "x", "narrative": "y",
                                 "anonymous": "on",
                                 "attachment": SimpleUploadedFile(name, PNG, "image/png")})
    old, new = _held(tmp_path)
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    assert held_uploads_sweep(now=timezone.now()) == 1
    assert _held(tmp_path) == [new]
    assert held_uploads_sweep(now=timezone.now() + timedelta(days=2)) == 1
    assert _held(tmp_path) == []
