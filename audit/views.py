"""The compliance pages: dashboard, audit log viewer, exports.

Open to compliance officers and the audit committee; both read everything here (the
committee's role is read-only, and the log and the reports are reads; the committee's
figures and log cover the cases it may see). Anyone else gets a 404, as for a case they may
not see. Every page view of the log and every export is an audit event.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from audit import services as audit
from audit.actions import Action
from audit.forms import LogFilterForm, PeriodForm
from audit.reports.charts import dashboard_charts, human_duration
from audit.reports.exports import (
    ExportFile,
    case_audit_export,
    compliance_report_export,
    may_export,
)
from audit.selectors import chain_status, dashboard_figures, log_page, usernames_for
from audit.selectors.log import ChainStatus, actor_label
from audit.selectors.opaque import event_id, reader_payload_text, verification_payload
from complaints.access import visible_complaints
from complaints.services.access import CaseNotFound


def _readers_only(request: HttpRequest) -> None:
    if not may_export(request.user):
        raise Http404


def _download(export: ExportFile) -> HttpResponse:
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = content_disposition_header(True, export.filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _period_query(form: PeriodForm) -> str:
    period = form.period
    return urlencode({"from": period.start.isoformat(), "to": period.end.isoformat()})


@never_cache
@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """/compliance/: the figures and charts for a period (default: the last 90 days)."""
    _readers_only(request)
    form = PeriodForm(request.GET)
    context: dict[str, object] = {"form": form, "section": "dashboard"}
    if not form.is_valid():
        return render(request, "audit/dashboard.html", context, status=400)
    figures = dashboard_figures(user=request.user, period=form.period)
    context.update(
        figures=figures, charts=dashboard_charts(figures), query=_period_query(form),
        ack_median=human_duration(figures.ack_median), ack_p90=human_duration(figures.ack_p90),
    )
    return render(request, "audit/dashboard.html", context)


@never_cache
@login_required
@require_GET
def report_pdf(request: HttpRequest) -> HttpResponse:
    """/compliance/report.pdf?from=&to=: the periodic compliance report."""
    _readers_only(request)
    form = PeriodForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/dashboard.html",
                      {"form": form, "section": "dashboard"}, status=400)
    return _download(compliance_report_export(actor=request.user, period=form.period))


def _case_export(request: HttpRequest, reference: str, fmt: str) -> HttpResponse:
    _readers_only(request)
    try:
        return _download(case_audit_export(actor=request.user, reference=reference, fmt=fmt))
    except CaseNotFound:
        raise Http404 from None


@never_cache
@login_required
@require_GET
def case_audit_csv(request: HttpRequest, reference: str) -> HttpResponse:
    """/compliance/cases/{reference}/audit.csv"""
    return _case_export(request, reference, "csv")


@never_cache
@login_required
@require_GET
def case_audit_pdf(request: HttpRequest, reference: str) -> HttpResponse:
    """/compliance/cases/{reference}/audit.pdf"""
    return _case_export(request, reference, "pdf")


def _status_context(status: ChainStatus, names: dict[str, str]) -> dict[str, object]:
    return {
        "status": status,
        "verified_by": actor_label(status.verified, names) if status.verified else "",
        "checkpoint_by": actor_label(status.checkpoint, names) if status.checkpoint else "",
    }


def _page_link(request: HttpRequest, cursor: str) -> str:
    query = {key: value for key, value in request.GET.items() if key != "cursor" and value}
    return "?" + urlencode({**query, "cursor": cursor})


@never_cache
@login_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    """/compliance/audit/: events newest first, filtered; the chain's status."""
    _readers_only(request)
    form = LogFilterForm(request.GET)
    status = chain_status()
    context: dict[str, object] = {"form": form, "section": "audit"}
    if not form.is_valid():
        context |= _status_context(status, usernames_for(status.actor_ids()))
        return render(request, "audit/log.html", context, status=400)
    filters = form.filters()
    cursor = form.cleaned_data["cursor"]
    page = log_page(user=request.user, filters=filters, cursor=cursor)
    case_visible = bool(filters.reference) and visible_complaints(request.user).filter(
        reference=filters.reference).exists()
    names = {**usernames_for(status.actor_ids() - set(page.usernames)), **page.usernames}
    # Which page, not how many events it held nor where it starts: every reader sees this
    # event, and a count or a position here would describe events hidden from some of them.
    payload = {**filters.as_payload(),
               "page": "first" if cursor is None else ("newer" if cursor.direction == "after"
                                                       else "older")}
    with transaction.atomic():
        # After the read, so the page shows the log as it was; before the response, so
        # nobody reads the log off the record.
        audit.record(action=Action.AUDIT_LOG_VIEWED, actor=request.user,
                     target=("complaint", filters.reference) if case_visible
                     else ("audit_log", "events"),
                     payload=payload)
    context |= _status_context(status, names)
    context.update(
        page=page, rows=[(event_id(e), e, actor_label(e, names), reader_payload_text(e))
              for e in page.events],
        case_visible=case_visible, reference=filters.reference,
        filtered=any(filters.as_payload().values()),
        newer_link=_page_link(request, page.newer) if page.newer else "",
        older_link=_page_link(request, page.older) if page.older else "",
    )
    return render(request, "audit/log.html", context)


@login_required
@require_POST
def verify_chain(request: HttpRequest) -> HttpResponse:
    """POST /compliance/audit/verify/: walk the whole chain now and put the result on the
    record (the hourly task does the same as the system)."""
    _readers_only(request)
    result = audit.verify()
    with transaction.atomic():
        audit.record(action=Action.AUDIT_CHAIN_VERIFIED, actor=request.user,
                     target=("audit_chain", "head"), payload=verification_payload(result))
    # Neither the number of events checked nor how long it took (which grows with it): read
    # against the events a reader can see, either would count the hidden ones.
    if result.intact:
        messages.success(request, "The chain is intact.")
    else:
        messages.error(request, f"The chain is broken at event #{result.first_broken_seq}: "
                                f"{result.problem}.")
    return redirect("compliance:audit_log")
