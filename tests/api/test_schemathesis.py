"""Schemathesis against the API's own schema, in process through the WSGI app.

Every operation gets its schema's examples, the coverage phase's boundary and invalid
values (wrong types, missing and unknown fields, huge strings...) and a bounded number of
generated cases, positive and negative, with a compliance officer's token. Every answer
must be no 5xx, a status the schema lists, and a body that conforms to the schema; invalid
input must be refused with a 4xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from complaints.api.tokens import api_token_issue_for_user
from complaints.api.views import EXAMPLE_REFERENCE
from complaints.models import Category, Complaint
from complaints.services import complaint_submit

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
MAX_EXAMPLES = 25


DJANGO = get_wsgi_application()


def app(environ: dict[str, Any], start_response: Any) -> Any:
    # Werkzeug's test environ has no client address; every real server sets one, and the
    # rate limits are keyed on it.
    environ.setdefault("REMOTE_ADDR", "127.0.0.1")
    return DJANGO(environ, start_response)


# Loaded through the app itself, as a client would; Django is set up by pytest-django first.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", app)
# The token is the test's to send (each case gets a fresh one): the generated cases must not
# count dropping the Authorization header as the invalid part of their input.
schema.config.generation.update(with_security_parameters=False)


@pytest.fixture
def served(db: None, settings: Any, org: dict[str, Any]) -> Iterator[None]:
    # A case behind the schema's example reference, so that the example cases reach a real
    # one: views, transitions (allowed, refused, out of order), messages, its audit trail.
    filed = complaint_submit(reporter=None, category=Category.BULLYING, summary="Shouted at",
                             narrative="He shouts.", subjects=[org["accused"].employee_id])
    Complaint.objects.filter(pk=filed.complaint.pk).update(reference=EXAMPLE_REFERENCE)
    settings.API_FILING_RATE = "1000/m"
    # Under the `db` fixture everything runs in one transaction on one connection: the WSGI
    # handler must not close it at the end of each request (Django's test client does the
    # same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_answers_every_input_within_its_schema(case: Any, served: None,
                                                    compliance: Any) -> None:
    # A fresh token for each case: a generated DELETE auth/token/ revokes the one it carries.
    token = api_token_issue_for_user(user=compliance, via="password").token
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
