"""The compliance pages: dashboard, audit log viewer, exports, policies.

Open to compliance officers and the audit committee; both read everything here (the
committee's role is read-only, and the log and the reports are reads; the committee's
figures and log cover the cases it may see). Anyone else gets a 404, as for a case they may
not see. Every page view of the log and every export is an audit event.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from audit import services as audit
from audit.actions import Action
from audit.opaque import event_id, reader_payload_text, verification_payload
from complaints.access import visible_complaints
from complaints.errors import InvalidInput, TransitionForbidden, TransitionNotAllowed
from complaints.services.reads import CaseNotFound
from compliance.forms import LogFilterForm, PeriodForm, PolicyChangeForm
from compliance.reports.charts import dashboard_charts, human_duration
from compliance.reports.exports import (
    ExportFile,
    case_audit_export,
    compliance_report_export,
    may_export,
)
from compliance.selectors import chain_status, dashboard_figures, log_page, usernames_for
from compliance.selectors.log import ChainStatus, actor_label, policy_history
from compliance.selectors.policies import pending_policy_changes, policy_overrides, policy_table
from compliance.services import policies as policy_services
from escalation.models import PolicyChange
from escalation.policy import retention_in_force


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
        return render(request, "compliance/dashboard.html", context, status=400)
    figures = dashboard_figures(user=request.user, period=form.period)
    context.update(
        figures=figures, charts=dashboard_charts(figures), query=_period_query(form),
        ack_median=human_duration(figures.ack_median), ack_p90=human_duration(figures.ack_p90),
    )
    return render(request, "compliance/dashboard.html", context)


@never_cache
@login_required
@require_GET
def report_pdf(request: HttpRequest) -> HttpResponse:
    """/compliance/report.pdf?from=&to=: the periodic compliance report."""
    _readers_only(request)
    form = PeriodForm(request.GET)
    if not form.is_valid():
        return render(request, "compliance/dashboard.html",
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
        return render(request, "compliance/log.html", context, status=400)
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
    return render(request, "compliance/log.html", context)


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


def _policies_page(request: HttpRequest, form: PolicyChangeForm, status: int = 200
                   ) -> HttpResponse:
    pending = list(pending_policy_changes())
    retention, retention_source = retention_in_force()
    context = {
        "section": "policies", "form": form, "table": policy_table(),
        "overrides": policy_overrides(), "retention_days": retention,
        "retention_source": retention_source,
        "pending": [(change, policy_services.may_approve(change, request.user),
                     policy_services.may_reject(change, request.user)) for change in pending],
        "may_propose": policy_services.may_propose(request.user),
        "history": policy_history(),
    }
    return render(request, "compliance/policies.html", context, status=status)


@never_cache
@login_required
def policies(request: HttpRequest) -> HttpResponse:
    """/compliance/policies/: the deadlines and retention period in force, changes waiting
    for a second person, the history from the audit log; POST proposes a change."""
    _readers_only(request)
    if request.method == "GET":
        return _policies_page(request, PolicyChangeForm())
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    if not policy_services.may_propose(request.user):
        raise PermissionDenied
    form = PolicyChangeForm(request.POST)
    if not form.is_valid():
        return _policies_page(request, form, status=400)
    data = form.cleaned_data
    try:
        change = policy_services.policy_change_propose(
            actor=request.user, kind=data["kind"], category=data["category"],
            severity=data["severity"], amount=data["amount"], unit=data["unit"],
            reason=data["reason"])
    except InvalidInput as exc:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _policies_page(request, form, status=400)
    if change.status == PolicyChange.Status.PENDING:
        messages.success(request, "The change loosens a policy: it waits for a second "
                                  "person to approve it.")
    else:
        messages.success(request, "The change is in force.")
    return redirect("compliance:policies")


def _decide(request: HttpRequest, pk: int, decide: Any) -> HttpResponse:
    _readers_only(request)
    change = get_object_or_404(PolicyChange, pk=pk)
    try:
        decide(change=change, actor=request.user)
    except TransitionForbidden as exc:
        raise PermissionDenied(str(exc)) from None
    except TransitionNotAllowed:
        messages.error(request, "This change was already decided.")
    except InvalidInput as exc:
        messages.error(request, " ".join(e for errors in exc.errors.values() for e in errors))
    else:
        messages.success(request, "Done: the change is on the record.")
    return redirect("compliance:policies")


@login_required
@require_POST
def policy_change_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """POST /compliance/policies/changes/{id}/approve/"""
    return _decide(request, pk, policy_services.policy_change_approve)


@login_required
@require_POST
def policy_change_reject(request: HttpRequest, pk: int) -> HttpResponse:
    """POST /compliance/policies/changes/{id}/reject/"""
    return _decide(request, pk, policy_services.policy_change_reject)
