"""Structured logs carry request ids and never what a reporter typed; error tracking gets
nothing personal."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from complaints.models import Complaint
from config import observability
from tests.factories import UserFactory

NARRATIVE = "Quillfeather-narrative: he cornered me by the zarvex cabinet"
TYPED_NAME = "Ottoline Brambleworth-Vexley"
REPORTER_EMAIL = "reporter.kestrelmoss@example.org"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every record, at every level, as production writes it (JSON lines)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    config = observability.logging_config(fmt="json", level="DEBUG")
    handler.setFormatter(logging.config.dictConfigClass(config).configure_custom(
        dict(config["formatters"]["structured"])))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_filing_through_the_form_logs_ids_and_nothing_the_reporter_typed(
        client: Any, org: dict[str, Any], json_log: io.StringIO) -> None:
    reporter = UserFactory(username="reporter9", email=REPORTER_EMAIL)
    client.force_login(reporter)
    response = client.post("/report/?from=Brambleworth", {
        "category": "bullying", "summary": f"About {TYPED_NAME}", "narrative": NARRATIVE,
        "subjects": f"{TYPED_NAME}\nottoline.vexley@example.org", "conflicted": "",
        "occurred_at": "", "location": "the zarvex cabinet"})
    assert response.status_code == 302
    assert Complaint.objects.filter(reporter_user=reporter).exists()

    lines = [json.loads(line) for line in json_log.getvalue().splitlines() if line.strip()]
    finished = [line for line in lines if line.get("event") == "request_finished"]
    assert finished and finished[0]["request"] == "POST /report/"
    assert finished[0]["request_id"] and finished[0]["user_id"] == reporter.pk
    assert "ip" not in finished[0] and "user_agent" not in finished[0]
    written = json_log.getvalue()
    for secret in (NARRATIVE, "Quillfeather", "zarvex", TYPED_NAME, "Brambleworth",
                   "Ottoline", REPORTER_EMAIL, "kestrelmoss", "ottoline.vexley"):
        assert secret not in written


def test_embedded_default_logs_readable_lines_and_production_json() -> None:
    assert settings.LOG_FORMAT == "console"
    assert "ConsoleRenderer" in repr(
        observability.logging_config(fmt="console", level="INFO")["formatters"])
    assert "JSONRenderer" in repr(
        observability.logging_config(fmt="json", level="INFO")["formatters"])


def test_error_tracking_is_off_without_a_dsn() -> None:
    assert observability.init_error_tracking(dsn="", environment="test") is False


def test_error_events_are_scrubbed_of_personal_data_before_sending() -> None:
    event: dict[str, Any] = {
        "request": {
            "url": f"https://complaints.example.com/report/?name={TYPED_NAME}",
            "method": "POST", "data": {"narrative": NARRATIVE}, "query_string": "name=x",
            "cookies": {"sessionid": "abc"},
            "headers": {"Cookie": "sessionid=abc", "Authorization": "Bearer tok",
                        "User-Agent": "Firefox", "X-Forwarded-For": "203.0.113.9",
                        "Content-Type": "application/x-www-form-urlencoded"},
            "env": {"REMOTE_ADDR": "203.0.113.9"},
        },
        "user": {"id": "42", "email": REPORTER_EMAIL, "username": "kestrel",
                 "ip_address": "203.0.113.9"},
        "exception": {"values": [{"type": "ValueError", "stacktrace": {"frames": [
            {"function": "complaint_submit", "vars": {"narrative": NARRATIVE}}]}}]},
        "breadcrumbs": {"values": [{"category": "query", "message": "INSERT ...",
                                    "data": {"params": [NARRATIVE]}}]},
        "extra": {"form": {"narrative": NARRATIVE}},
    }
    sent = observability.scrub_event(event, {})
    text = json.dumps(sent)
    for secret in (NARRATIVE, TYPED_NAME, REPORTER_EMAIL, "kestrel", "203.0.113.9",
                   "sessionid", "Bearer tok", "Firefox"):
        assert secret not in text
    # What locates the fault is kept.
    assert sent["request"]["url"] == "https://complaints.example.com/report/"
    assert sent["request"]["method"] == "POST"
    assert sent["request"]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent["user"] == {"id": "42"}
    assert sent["exception"]["values"][0]["stacktrace"]["frames"][0]["function"] == (
        "complaint_submit")
