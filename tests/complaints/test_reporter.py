"""The reporter's side: anonymous filing that keeps no trace, follow-up by key alone,
brute force on keys stopped and audited, messages, and revealing identity later."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from audit.actions import Action
from audit.models import AuditEvent
from complaints import services
from complaints.errors import InvalidInput, TransitionForbidden
from complaints.models import Category, Complaint, Message
from complaints.receipts import normalise
from complaints.services.reporter import complaint_reveal_identity, message_send
from escalation.models import Notification

pytestmark = pytest.mark.django_db

IP = "203.0.113.77"
AGENT = "Mozilla/5.0 (UniqueTestBrowser/9.9.9)"


def _file_anonymously(client: Any, **extra: Any) -> tuple[Any, str, str]:
    response = client.post("/report/", {
        "category": Category.SEXUAL_ASSAULT, "summary": "After the party",
        "narrative": "He followed me into the stairwell.", "subjects": "ACC1",
        "anonymous": "on"}, REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT, **extra)
    assert response.status_code == 200
    body = response.content.decode()
    key = response.context["receipt_key"]
    reference = response.context["reference"]
    assert key in body and reference in body
    return response, reference, key


def _all_stored_text() -> str:
    """Every value in every table, as text: what someone with the database would read."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            chunks += [str(value) for row in cursor.fetchall() for value in row]
    return "\n".join(chunks)


def test_anonymous_filing_stores_no_identifying_metadata(client: Any, org: dict[str, Any],
                                                         reporter: Any) -> None:
    client.force_login(reporter)  # signed in, but choosing to report anonymously
    _, reference, key = _file_anonymously(client)
    complaint = Complaint.objects.get(reference=reference)
    assert complaint.anonymous
    assert complaint.reporter_user_id is None and complaint.reporter_person_id is None
    events = AuditEvent.objects.filter(target_id=reference)
    assert {(e.actor_type, e.actor_id) for e in events} == {("reporter", reference)}
    stored = _all_stored_text()
    assert IP not in stored and "UniqueTestBrowser" not in stored
    assert key not in stored and key.replace("-", "") not in stored
    # Nothing links the report to the account: no event, no row names the reporter.
    assert not Notification.objects.filter(complaint=complaint, recipient=reporter).exists()


def test_the_receipt_page_is_not_cached(client: Any, org: dict[str, Any]) -> None:
    response, _, _ = _file_anonymously(client)
    assert "no-store" in response["Cache-Control"]


def test_the_key_alone_opens_the_report(client: Any, org: dict[str, Any]) -> None:
    _, reference, key = _file_anonymously(client)
    client.cookies.clear()
    typed = key.lower().replace("-", " ")  # as a person might type it
    response = client.post("/follow-up/", {"receipt_key": typed})
    assert response.status_code == 302 and response["Location"] == "/follow-up/case/"
    page = client.get("/follow-up/case/")
    assert page.status_code == 200 and reference in page.content.decode()
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event.action == Action.REPORTER_KEY_ACCEPTED
    assert (event.actor_type, event.actor_id) == ("reporter", reference)


def test_a_wrong_key_is_refused_and_audited(client: Any) -> None:
    response = client.post("/follow-up/", {"receipt_key": "ABCD-EFGH-JKMN-PQRS-TUVW"})
    assert response.status_code == 400
    assert "No report has this key" in response.content.decode()
    assert client.get("/follow-up/case/").status_code == 404
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event.action == Action.REPORTER_KEY_REJECTED
    assert event.actor_type == "anonymous" and event.actor_id == ""


def test_brute_force_on_receipt_keys_is_stopped_and_audited(client: Any, settings: Any,
                                                           org: dict[str, Any]) -> None:
    settings.RECEIPT_KEY_RATE_PER_CLIENT = "3/h"
    _, _, key = _file_anonymously(client)
    guesses = [f"ABCD-EFGH-JKMN-PQRS-TUV{c}" for c in "23456789"]
    codes = [client.post("/follow-up/", {"receipt_key": g}, REMOTE_ADDR=IP).status_code
             for g in guesses]
    assert codes[:3] == [400, 400, 400]
    assert set(codes[3:]) == {429}
    # Another address is not blocked by this one's guesses.
    assert client.post("/follow-up/", {"receipt_key": key},
                       REMOTE_ADDR="198.51.100.1").status_code == 302
    actions = list(AuditEvent.objects.filter(action__startswith="reporter.key")
                   .values_list("action", flat=True))
    assert actions.count(Action.REPORTER_KEY_REJECTED) == 3
    # Audited once per window, not once per attempt, so a flood cannot flood the log.
    assert actions.count(Action.REPORTER_KEY_THROTTLED) == 1
    assert IP not in _all_stored_text()


@pytest.mark.parametrize("typed,expected", [
    ("abcd efgh jkmn pqrs tuvw", "ABCD-EFGH-JKMN-PQRS-TUVW"),
    ("ABCDEFGHJKMNPQRSTUVW", "ABCD-EFGH-JKMN-PQRS-TUVW"),
    ("ABCD-EFGH-JKMN-PQRS", None),          # too short
    ("ABCD-EFGH-JKMN-PQRS-TUV0", None),     # 0 is not in the alphabet
    ("", None),
])
def test_receipt_keys_are_read_as_people_type_them(typed: str, expected: str | None) -> None:
    assert normalise(typed) == expected


def test_the_anonymous_reporter_and_the_handler_exchange_messages(
        client: Any, org: dict[str, Any], hr_reviewer: Any) -> None:
    _, reference, key = _file_anonymously(client)
    complaint = Complaint.objects.get(reference=reference)
    services.complaint_acknowledge(complaint=complaint, actor=hr_reviewer)
    staff = client.__class__()
    staff.force_login(hr_reviewer)
    assert staff.post(f"/staff/cases/{reference}/messages/",
                      {"body": "Can you tell us the date?"}).status_code == 302
    client.post("/follow-up/", {"receipt_key": key})
    page = client.get("/follow-up/case/")
    assert "Can you tell us the date?" in page.content.decode()
    assert client.post("/follow-up/case/", {"action": "message",
                                            "body": "It was 3 March."}).status_code == 302
    bodies = list(Message.objects.filter(complaint=complaint).values_list("body", "from_reporter"))
    assert bodies == [("Can you tell us the date?", False), ("It was 3 March.", True)]
    # The handler is told there is a message, never what it says.
    note = Notification.objects.get(complaint=complaint, kind=Notification.Kind.MESSAGE,
                                    recipient=hr_reviewer)
    assert "3 March" not in note.body + note.subject
    sent = AuditEvent.objects.filter(action=Action.MESSAGE_SENT, target_id=reference)
    assert [json.loads(e.payload)["from_reporter"] for e in sent] == [False, True]
    assert all("March" not in e.payload and "date" not in e.payload for e in sent)


def test_an_empty_message_is_refused_and_keeps_the_page(client: Any, org: dict[str, Any]) -> None:
    _, _, key = _file_anonymously(client)
    client.post("/follow-up/", {"receipt_key": key})
    assert client.post("/follow-up/case/", {"action": "message", "body": "  "}).status_code == 400


def test_an_outsider_cannot_write_on_a_case(filed: Any, outsider: Any) -> None:
    with pytest.raises(TransitionForbidden):
        message_send(complaint=filed, actor=outsider, body="hello")


def test_a_reporter_may_reveal_their_identity_later(client: Any, org: dict[str, Any],
                                                    reporter: Any) -> None:
    _, reference, key = _file_anonymously(client)
    client.post("/follow-up/", {"receipt_key": key})
    with pytest.raises(InvalidInput):
        complaint_reveal_identity(complaint=Complaint.objects.get(reference=reference),
                                  actor=reporter, identity="")
    assert client.post("/follow-up/case/", {"action": "reveal",
                                            "identity": "Jo Bloggs, ext. 4471"}).status_code == 302
    complaint = Complaint.objects.get(reference=reference)
    assert complaint.reporter_identity == "Jo Bloggs, ext. 4471"
    event = AuditEvent.objects.get(action=Action.COMPLAINT_IDENTITY_REVEALED)
    assert json.loads(event.payload) == {"how": "details"}
    # Never by the account they happen to be signed in with: signing in ends the follow-up
    # (tests/complaints/test_anonymous_sessions.py), and the page offers no such choice.
    client.force_login(reporter)
    assert client.post("/follow-up/case/", {"action": "reveal",
                                            "link_account": "1"}).status_code == 302
    complaint = Complaint.objects.get(reference=reference)
    assert complaint.reporter_user_id is None and complaint.anonymous


def test_a_critical_withdrawal_from_the_case_page_goes_to_compliance(
        client: Any, org: dict[str, Any]) -> None:
    _, reference, key = _file_anonymously(client)
    client.post("/follow-up/", {"receipt_key": key})
    # The first step only asks, saying who decides; nothing changes yet.
    asked = client.post("/follow-up/case/", {"action": "withdraw", "reason": "Scared."})
    page = asked.content.decode()
    assert asked.status_code == 200 and "Are you sure you want to withdraw" in page
    assert "the compliance team will decide" in page and 'value="Scared."' in page
    assert Complaint.objects.get(reference=reference).withdrawal_requested_at is None
    confirmed = client.post("/follow-up/case/", {"action": "withdraw_confirmed",
                                                 "reason": "Scared."})
    assert confirmed.status_code == 302
    complaint = Complaint.objects.get(reference=reference)
    assert complaint.state == "submitted" and complaint.withdrawal_requested_at is not None


def test_a_withdrawal_asks_before_it_ends_a_standard_report(client: Any, reporter: Any) -> None:
    client.force_login(reporter)
    client.post("/report/", {"category": Category.BULLYING, "summary": "Meetings",
                             "narrative": "Shouting."})
    complaint = Complaint.objects.get()
    path = f"/my/{complaint.reference}/"
    page = client.post(path, {"action": "withdraw"}).content.decode()
    assert "Its handling will end" in page and 'value="withdraw_confirmed"' in page
    assert Complaint.objects.get().state == "submitted"
    assert client.post(path, {"action": "withdraw_confirmed"}).status_code == 302
    assert Complaint.objects.get().state == "withdrawn"


def test_every_public_page_offers_a_quick_exit_and_an_open_follow_up_its_end(
        client: Any, settings: Any) -> None:
    settings.QUICK_EXIT_URL = "https://weather.example/"
    for path in ("/", "/report/", "/follow-up/"):
        page = client.get(path).content.decode()
        assert "Leave this site quickly" in page and "End my follow-up session" not in page
    _, reference, key = _file_anonymously(client)
    client.post("/follow-up/", {"receipt_key": key})
    for path in ("/", "/report/", "/follow-up/case/"):
        assert "End my follow-up session" in client.get(path).content.decode()
    # The reference is one word to the reader, never broken at its hyphens.
    case_page = client.get("/follow-up/case/").content.decode()
    assert f'<span class="reference">{reference}</span>' in case_page

    ended = client.post("/follow-up/end/", follow=True)
    assert "Your follow-up session has ended" in ended.content.decode()
    assert client.get("/follow-up/case/").status_code in (302, 403, 404)

    client.post("/follow-up/", {"receipt_key": key})
    left = client.post("/follow-up/end/", {"quick": "1"})
    assert (left.status_code, left["Location"]) == (302, "https://weather.example/")
    assert left["Cache-Control"] == "no-store"
    assert "End my follow-up session" not in client.get("/").content.decode()


def test_the_report_form_keeps_what_was_typed_on_an_error(client: Any) -> None:
    response = client.post("/report/", {"category": "", "summary": "Kept title",
                                        "narrative": "Kept narrative text", "subjects": "X9"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Kept title" in body and "Kept narrative text" in body and "X9" in body
    assert Complaint.objects.count() == 0


def test_a_signed_in_report_lands_on_the_reporters_case_page(client: Any, reporter: Any) -> None:
    client.force_login(reporter)
    response = client.post("/report/", {"category": Category.BULLYING, "summary": "Meetings",
                                        "narrative": "Shouting."})
    complaint = Complaint.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/my/{complaint.reference}/"
    assert complaint.reporter_user_id == reporter.pk
    assert complaint.reference in client.get("/my/").content.decode()


def test_the_web_servers_access_log_records_no_address_or_browser() -> None:
    from pathlib import Path

    web = next(line for line in (Path(__file__).parents[2] / "Procfile").read_text()
               .splitlines() if line.startswith("web:"))
    # Gunicorn's default format logs %(h)s (address) and %(a)s (user agent).
    assert "--access-logformat" in web
    log_format = web.split("--access-logformat", 1)[1]
    assert "%(h)s" not in log_format and "%(a)s" not in log_format
    assert "%({x-forwarded-for}i)s" not in log_format.lower()


def test_a_server_that_reports_no_client_address_still_limits(client: Any,
                                                              settings: Any) -> None:
    settings.RECEIPT_KEY_RATE_PER_CLIENT = "2/h"
    codes = [client.post("/follow-up/", {"receipt_key": "ABCD-EFGH-JKMN-PQRS-TUVW"},
                         REMOTE_ADDR="").status_code for _ in range(3)]
    assert codes == [400, 400, 429]


def test_a_reporters_message_answers_a_request_for_information(filed: Any, reporter: Any,
                                                               hr_reviewer: Any) -> None:
    complaint = services.complaint_acknowledge(complaint=filed, actor=hr_reviewer)
    complaint = services.complaint_request_information(complaint=complaint, actor=hr_reviewer,
                                                       reason="Which meeting?")
    message_send(complaint=complaint, actor=reporter, body="The Monday stand-up.")
    assert Complaint.objects.get(pk=complaint.pk).state == "acknowledged"
    actions = list(AuditEvent.objects.filter(target_id=complaint.reference)
                   .order_by("-seq").values_list("action", flat=True)[:2])
    assert actions == [Action.COMPLAINT_REPORTER_REPLIED, Action.MESSAGE_SENT]
    # A handler's message does not move the case.
    message_send(complaint=complaint, actor=hr_reviewer, body="Thank you.")
    assert Complaint.objects.get(pk=complaint.pk).state == "acknowledged"


def test_a_late_acknowledgement_is_said_plainly_weeks_later(client: Any,
                                                           org: dict[str, Any]) -> None:
    from complaints.services.sweep import sweep

    _, reference, key = _file_anonymously(client)  # critical: one business day
    client.post("/follow-up/", {"receipt_key": key})
    assert "It will be acknowledged soon" in client.get("/follow-up/case/").content.decode()
    with time_machine.travel(timezone.now() + timedelta(weeks=8), tick=True):
        sweep()
        client.post("/follow-up/", {"receipt_key": key})  # a new visit: the old one expired
        page = client.get("/follow-up/case/").content.decode()
    assert "acknowledgement is overdue: the company is late" in page
    assert "will be acknowledged soon" not in page
    assert Complaint.objects.get(reference=reference).state == "submitted"
