"""Attachments through the web: reporters add evidence, staff download it, and every
download (or refused attempt) is on the record."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.actions import Action
from audit.models import AuditEvent
from complaints import access, services
from complaints.models import Attachment, Category, Complaint
from tests.factories import UserFactory

# One red pixel. A whole image: a damaged one is refused, since it cannot be cleaned.
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
       b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe"
       b"\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _anonymous_case(client: Any) -> tuple[str, str]:
    response = client.post("/report/", {
        "category": Category.BULLYING, "summary": "Screenshots", "narrative": "See the chat.",
        "anonymous": "on", "attachment": SimpleUploadedFile("chat.png", PNG, "image/png")})
    assert response.status_code == 200 and response.context["attached"] is True
    return response.context["reference"], response.context["receipt_key"]


def test_a_file_filed_with_the_report_reaches_the_handler(client: Any, db: None,
                                                          hr_reviewer: Any) -> None:
    reference, _ = _anonymous_case(client)
    attachment = Attachment.objects.get(complaint__reference=reference)
    staff = client.__class__()
    staff.force_login(hr_reviewer)
    case = staff.get(f"/staff/cases/{reference}/")
    assert "chat.png" in case.content.decode()
    download = staff.get(f"/staff/cases/{reference}/attachments/{attachment.pk}/")
    assert download.status_code == 200 and download.content == PNG
    assert download["Content-Type"] == "image/png"
    assert download["Content-Disposition"].startswith("attachment;")
    last = AuditEvent.objects.order_by("-seq").first()
    assert last is not None and last.action == Action.ATTACHMENT_DOWNLOADED
    assert last.actor_id == str(hr_reviewer.pk)


def test_a_conflicted_user_cannot_download_and_is_recorded(client: Any, org: dict[str, Any],
                                                            reporter: Any) -> None:
    lead = UserFactory(username="chain_lead", email=org["manager"].email, roles=[access.HR_LEAD])
    complaint = services.complaint_submit(
        reporter=reporter, category=Category.BULLYING, summary="x", narrative="y",
        subjects=[org["accused"].employee_id]).complaint
    from complaints.services.attachments import attachment_add

    attachment = attachment_add(complaint=complaint, actor=reporter,
                                upload=SimpleUploadedFile("a.png", PNG))
    client.force_login(lead)
    response = client.get(f"/staff/cases/{complaint.reference}/attachments/{attachment.pk}/")
    assert response.status_code == 404
    last = AuditEvent.objects.order_by("-seq").first()
    assert last is not None and last.action == Action.COMPLAINT_ACCESS_DENIED
    assert not AuditEvent.objects.filter(action=Action.ATTACHMENT_DOWNLOADED).exists()


def test_the_anonymous_reporter_adds_and_reads_back_their_own_files(client: Any,
                                                                     db: None) -> None:
    reference, key = _anonymous_case(client)
    client.post("/follow-up/", {"receipt_key": key})
    added = client.post("/follow-up/case/", {
        "action": "attach", "attachment": SimpleUploadedFile("more.txt", b"More detail.\n")})
    assert added.status_code == 302
    files = Attachment.objects.filter(complaint__reference=reference).order_by("pk")
    assert [f.content_type for f in files] == ["image/png", "text/plain"]
    assert client.get(f"/follow-up/case/attachments/{files[1].pk}/").content == b"More detail.\n"
    refused = client.post("/follow-up/case/", {
        "action": "attach", "attachment": SimpleUploadedFile("x.pdf", b"MZ\x90\x00binary")})
    assert refused.status_code == 400
    assert "can" in refused.content.decode()  # the plain refusal is shown on the page


def test_a_reporter_cannot_reach_another_cases_files(client: Any, db: None) -> None:
    first, _ = _anonymous_case(client)
    client.cookies.clear()
    _, key = _anonymous_case(client)
    other = Attachment.objects.get(complaint__reference=first)
    client.post("/follow-up/", {"receipt_key": key})
    assert client.get(f"/follow-up/case/attachments/{other.pk}/").status_code == 404
    assert Complaint.objects.count() == 2
