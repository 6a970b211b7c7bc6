"""Following up anonymously never ties the report to an account: no session row ever holds
both a signed-in user and the anonymous case a receipt key opened."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.contrib.sessions.models import Session
from django.test import Client

from audit.actions import Action
from audit.models import AuditEvent
from complaints.models import Category
from complaints.views.public import SESSION_KEY

pytestmark = pytest.mark.django_db


def _file_anonymously(client: Client) -> tuple[str, str]:
    response = client.post("/report/", {
        "category": Category.BULLYING, "summary": "At the away day",
        "narrative": "My manager shouted at me in front of the team.", "anonymous": "on"})
    assert response.status_code == 200
    return response.context["reference"], response.context["receipt_key"]


def _no_session_links_an_account_to_a_case() -> None:
    """What someone with the database would look for: one session row with both."""
    for row in Session.objects.all():
        data = row.get_decoded()
        assert not (AUTH_SESSION_KEY in data and SESSION_KEY in data), data


def test_a_signed_in_employee_cannot_open_their_anonymous_report_with_its_key(
        client: Client, reporter: Any) -> None:
    reference, key = _file_anonymously(client)
    client.post("/accounts/login/", {"username": reporter.username, "password": "pw"})
    assert client.session.get(AUTH_SESSION_KEY) == str(reporter.pk)

    page = client.get("/follow-up/")
    assert page.status_code == 200
    body = page.content.decode()
    assert f"You are signed in as {reporter.username}." in body
    assert ("Following up an anonymous report while signed in would connect it to your "
            "account. Sign out first, then enter your key.") in body
    assert 'action="/accounts/logout/"' in body and 'name="next" value="/follow-up/"' in body
    assert "csrfmiddlewaretoken" in body
    assert 'name="receipt_key"' not in body

    refused = client.post("/follow-up/", {"receipt_key": key})
    assert refused.status_code == 403
    assert SESSION_KEY not in client.session
    assert client.get("/follow-up/case/")["Location"] == "/follow-up/"
    _no_session_links_an_account_to_a_case()
    assert not AuditEvent.objects.filter(action=Action.REPORTER_KEY_ACCEPTED).exists()

    # Signing out (the page's button) comes back here, and then the key works.
    signed_out = client.post("/accounts/logout/", {"next": "/follow-up/"})
    assert signed_out.status_code == 302 and signed_out["Location"] == "/follow-up/"
    assert AUTH_SESSION_KEY not in client.session
    opened = client.post("/follow-up/", {"receipt_key": key})
    assert opened.status_code == 302 and opened["Location"] == "/follow-up/case/"
    case = client.get("/follow-up/case/")
    assert case.status_code == 200 and reference in case.content.decode()
    _no_session_links_an_account_to_a_case()
    accepted = AuditEvent.objects.get(action=Action.REPORTER_KEY_ACCEPTED)
    assert (accepted.actor_type, accepted.actor_id) == ("reporter", reference)


def test_signing_in_ends_an_anonymous_follow_up(client: Client, reporter: Any) -> None:
    _, key = _file_anonymously(client)
    assert client.post("/follow-up/", {"receipt_key": key}).status_code == 302
    assert client.get("/follow-up/case/").status_code == 200

    # A mistyped password signs nobody in and leaves the follow-up open.
    client.post("/accounts/login/", {"username": reporter.username, "password": "wrong"})
    assert client.session.get(SESSION_KEY) is not None
    assert client.get("/follow-up/case/").status_code == 200

    signed_in = client.post("/accounts/login/", {"username": reporter.username,
                                                 "password": "pw"})
    assert signed_in.status_code == 302
    assert client.session.get(AUTH_SESSION_KEY) == str(reporter.pk)
    assert SESSION_KEY not in client.session
    _no_session_links_an_account_to_a_case()
    assert client.get("/follow-up/case/")["Location"] == "/follow-up/"
    assert client.get("/follow-up/case/attachments/1/")["Location"] == "/follow-up/"


def test_signing_in_to_the_admin_also_ends_an_anonymous_follow_up(
        client: Client, reporter: Any) -> None:
    reporter.is_staff = True
    reporter.save(update_fields=["is_staff"])
    _, key = _file_anonymously(client)
    client.post("/follow-up/", {"receipt_key": key})
    client.post("/admin/login/", {"username": reporter.username, "password": "pw",
                                  "next": "/admin/"})
    assert client.session.get(AUTH_SESSION_KEY) == str(reporter.pk)
    assert SESSION_KEY not in client.session
    _no_session_links_an_account_to_a_case()
