"""Degrade, never fail: with Redis gone, filing and follow-up work (the limits count
nothing meanwhile); with the database gone, every page is a plain 503, the API's is JSON,
and the report form comes back with what was typed."""

from __future__ import annotations

import json
import logging
from typing import Any
from unittest import mock

import pytest
from django.contrib.sessions.middleware import SessionMiddleware
from django.db import IntegrityError, connection
from django.db.utils import OperationalError
from django.test import Client

from complaints import throttle
from complaints.models import Category, Complaint
from complaints.services import complaint_submit

REPORT = {"category": Category.BULLYING, "summary": "Shouted at in meetings",
          "narrative": "My manager shouts at me in every team meeting."}
WEB_REPORT = {**REPORT, "anonymous": "on"}
DEAD_REDIS = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": "redis://127.0.0.1:1/0"}}


def _api_post(client: Client, path: str, body: Any) -> Any:
    return client.post(f"/api/v1/{path}", json.dumps(body), content_type="application/json")


# --- Redis down -----------------------------------------------------------------------------

@pytest.fixture
def redis_down(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Changing CACHES drops Django's cache connections (django.test.signals), so every
    # `cache` now reaches for a Redis that refuses.
    settings.CACHES = DEAD_REDIS
    monkeypatch.setattr(throttle, "_warned_at", -60.0, raising=False)


@pytest.mark.django_db
def test_with_redis_down_filing_and_follow_up_still_work(
        redis_down: None, caplog: pytest.LogCaptureFixture) -> None:
    client = Client()
    with caplog.at_level(logging.WARNING, logger="complaints.throttle"):
        api = _api_post(client, "complaints/", REPORT)
        web = client.post("/report/", WEB_REPORT)
        key = web.context["receipt_key"]
        wrong = client.post("/follow-up/", {"receipt_key": "ABCD-EFGH-JKMN-PQRS-TUVW"})
        opened = client.post("/follow-up/", {"receipt_key": key})
        session = _api_post(client, "reporter/session/", {"receipt_key": api.json()["receipt_key"]})

    assert api.status_code == 201 and web.status_code == 200
    assert wrong.status_code == 400
    assert opened.status_code == 302 and session.status_code == 200
    assert Complaint.objects.count() == 2
    # Said once, not once a request.
    warnings = [r for r in caplog.records if "rate-limit counters unavailable" in r.message]
    assert len(warnings) == 1


# --- The database down ----------------------------------------------------------------------

LOST = OperationalError("connection to server at \"127.0.0.1\", port 5432 failed: "
                        "Connection refused")


def _plain_503(response: Any) -> str:
    assert response.status_code == 503
    assert response["Retry-After"] == "60" and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    assert "Traceback" not in page and "OperationalError" not in page
    return page


@pytest.mark.django_db
def test_a_lost_database_while_filing_gives_the_form_back_with_what_was_typed() -> None:
    client = Client(raise_request_exception=False)
    with mock.patch("complaints.services.complaint_submit", side_effect=LOST):
        response = client.post("/report/", {**WEB_REPORT, "subjects": "Line Manager"})

    page = _plain_503(response)
    assert REPORT["narrative"] in page and REPORT["summary"] in page and "Line Manager" in page
    assert "send it again in a few minutes" in page
    assert 'name="csrfmiddlewaretoken"' in page  # it can be sent again as it is


@pytest.mark.django_db
def test_a_report_form_that_cannot_be_shown_falls_back_to_the_plain_page() -> None:
    client = Client(raise_request_exception=False)
    with mock.patch("complaints.services.complaint_submit", side_effect=LOST), \
            mock.patch("complaints.unavailable.ReportForm", side_effect=ValueError):
        response = client.post("/report/", WEB_REPORT)

    assert "your text is still in the form there" in _plain_503(response)


@pytest.mark.django_db
def test_a_lost_database_in_the_api_is_a_503_in_json() -> None:
    client = Client(raise_request_exception=False)
    with mock.patch("complaints.services.complaint_submit", side_effect=LOST):
        response = _api_post(client, "complaints/", REPORT)

    _plain_503(response)
    assert set(response.json()) == {"detail"}


@pytest.mark.django_db
def test_a_lost_database_on_a_page_is_a_plain_503() -> None:
    client = Client(raise_request_exception=False)
    with mock.patch("complaints.views.public.receipt_key_check", side_effect=LOST):
        response = client.post("/follow-up/", {"receipt_key": "ABCD-EFGH-JKMN-PQRS-TUVW"})

    assert "Briefly unavailable" in _plain_503(response)


@pytest.mark.django_db
def test_a_lost_database_while_the_middlewares_read_the_session_is_a_503(
        settings: Any) -> None:
    # In production the two-factor check reads the user, and so the session, before any
    # view runs; Django turns what it raises into a 500 before an outer middleware sees it.
    settings.OTP_REQUIRED_FOR_STAFF = True
    client = Client(raise_request_exception=False)
    client.cookies["sessionid"] = "x" * 32
    with mock.patch("django.contrib.sessions.backends.db.SessionStore._get_session_from_db",
                    side_effect=LOST):
        response = client.get("/follow-up/")

    assert "Briefly unavailable" in _plain_503(response)


@pytest.mark.django_db
def test_a_lost_database_while_the_session_is_saved_on_the_way_out_is_a_503() -> None:
    client = Client(raise_request_exception=False)
    with mock.patch.object(SessionMiddleware, "process_response", side_effect=LOST):
        response = client.get("/follow-up/")

    _plain_503(response)


@pytest.mark.django_db
def test_a_query_the_database_refuses_is_still_a_500_not_an_outage() -> None:
    client = Client(raise_request_exception=False)
    with mock.patch("complaints.services.complaint_submit",
                    side_effect=IntegrityError("duplicate key")):
        response = client.post("/report/", WEB_REPORT)

    assert response.status_code == 500


@pytest.mark.services
def test_postgresql_out_of_reach_is_a_503_and_the_form_is_kept(committed_db: None) -> None:
    """The real thing: the connection points at a port nothing listens on."""
    complaint_submit(reporter=None, **REPORT)  # a working database first
    client = Client(raise_request_exception=False)
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = 1
    try:
        web = client.post("/report/", WEB_REPORT)
        api = _api_post(client, "complaints/", REPORT)
        page = client.post("/follow-up/", {"receipt_key": "ABCD-EFGH-JKMN-PQRS-TUVW"})
    finally:
        connection.settings_dict["PORT"] = port
        connection.close()

    assert REPORT["narrative"] in _plain_503(web)
    _plain_503(api)
    assert set(api.json()) == {"detail"}
    assert "Briefly unavailable" in _plain_503(page)
    # Back: nothing half-written, and filing works again.
    assert Complaint.objects.count() == 1
    assert client.post("/report/", WEB_REPORT).status_code == 200
