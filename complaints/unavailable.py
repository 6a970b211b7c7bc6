"""When the database is gone: a 503 with a plain page, never a traceback, and nothing a
reporter typed is lost.

Two ways in, one answer. ``DatabaseUnavailableMiddleware.process_exception`` takes what a
view raises (DRF re-raises what its own handler does not know). ``server_error`` (the
project's ``handler500``) takes what the middlewares raise around the view: the session
loaded by the two-factor check or saved on the way out, which Django turns into a 500
before any outer middleware could see the exception.

Only a lost connection is answered so (``OperationalError``, ``InterfaceError``): an
integrity or programming error is a bug and stays a 500. The pages need no database: they
are rendered without the request, so no context processor reads the session or the user.
The report form comes back with what was typed (its choices are fixed, not from the
database), ready to send again; a newly chosen file has to be chosen again.
"""

from __future__ import annotations

import logging
import sys

from django.db.utils import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views import defaults

from complaints.forms import ReportForm
from complaints.services.held_uploads import upload_held

log = logging.getLogger(__name__)

RETRY_AFTER = 60
API_PREFIX = "/api/"
# Django's wrappers and the drivers (sqlite3, psycopg) name them alike.
_CONNECTION_ERRORS = {"OperationalError", "InterfaceError"}


def connection_lost(exc: BaseException) -> bool:
    """True for a failure to reach or keep the database, not for a query it refused."""
    if any(cls.__name__ in _CONNECTION_ERRORS for cls in type(exc).__mro__):
        return True
    # A bare DatabaseError (not Integrity, Programming, Data...) raised from such a failure.
    return (type(exc) is DatabaseError and exc.__cause__ is not None
            and connection_lost(exc.__cause__))


def unavailable_response(request: HttpRequest) -> HttpResponse:
    response: HttpResponse | None = None
    if request.path_info.startswith(API_PREFIX):
        response = JsonResponse(
            {"detail": "The service is briefly unavailable. Nothing was saved; please try "
                       "again in a minute."}, status=503)
    elif request.path_info == reverse("complaints:report"):
        response = _report_form(request)
    if response is None:
        response = HttpResponse(render_to_string("unavailable.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    # It may hold what was typed; and a cache must not serve the outage after it ends.
    add_never_cache_headers(response)
    return response


def _report_form(request: HttpRequest) -> HttpResponse | None:
    """The report form with what was typed; None when even that cannot be shown (the plain
    page then tells the reporter that their text is still in the form they came from)."""
    try:
        form = ReportForm(request.POST) if request.method == "POST" else ReportForm()
        file_lost = request.method == "POST" and bool(request.FILES.get("attachment"))
        held = (upload_held(request.POST.get("held_attachment", ""))
                if request.method == "POST" else None)
        # Without the request: base.html then shows no signed-in user (nothing reads the
        # session), and the form posts back here with its CSRF token from the cookie.
        page = render_to_string("complaints/report.html", {
            "form": form, "held": held, "unavailable": True, "file_lost": file_lost,
            "csrf_token": get_token(request)})
    except Exception:  # noqa: BLE001 - an outage page must not fail in turn
        log.exception("could not show the report form during a database outage")
        return None
    return HttpResponse(page, status=503)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: object) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)  # type: ignore[operator, no-any-return]

    def process_exception(self, request: HttpRequest, exception: Exception
                          ) -> HttpResponse | None:
        if not connection_lost(exception):
            return None
        log.error("database unavailable, answered 503 (%s %s): %s", request.method,
                  request.path, exception)
        return unavailable_response(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a lost database raised outside the view is a 503 too; anything else is
    Django's own 500 page."""
    exc = sys.exc_info()[1]
    if exc is not None and connection_lost(exc):
        return unavailable_response(request)
    return defaults.server_error(request)
