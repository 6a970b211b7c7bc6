"""Staff pages: the queues and the case workspace. A case a user may not see does not
exist for them: 404, never a 403 that would confirm it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from complaints import roles, services
from complaints.access import is_staff_member
from complaints.errors import InvalidInput, TransitionForbidden, TransitionNotAllowed
from complaints.forms import MessageForm, TransitionForm
from complaints.models import Attachment, Category, Complaint, Severity, State
from complaints.selectors import QUEUES, case_deadlines, case_messages, staff_queue
from complaints.services.access import CaseNotFound, complaint_open, complaint_read_recorded
from complaints.services.attachments import attachment_add, attachment_open
from complaints.services.conflicts import complaint_declare_conflict
from complaints.services.reporter import message_send


def _staff_only(request: HttpRequest) -> None:
    if not is_staff_member(request.user):
        raise Http404


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    """/staff/: mine, unassigned, overdue, escalated to me; nearest deadline first."""
    _staff_only(request)
    name = request.GET.get("queue", "mine")
    if name not in QUEUES:
        name = "mine"
    filters = {key: request.GET.get(key, "") for key in ("category", "severity", "state")}
    filters["category"] = filters["category"] if filters["category"] in Category.values else ""
    filters["severity"] = filters["severity"] if filters["severity"] in Severity.values else ""
    filters["state"] = filters["state"] if filters["state"] in State.values else ""
    found = staff_queue(request.user, name=name, page=request.GET.get("page", 1),
                        category=filters["category"], severity=filters["severity"],
                        state=filters["state"])
    return render(request, "complaints/staff/queue.html", {
        "queue": found, "queues": QUEUES, "filters": filters,
        "categories": Category.choices, "severities": Severity.choices,
        "states": State.choices,
    })


def _open(request: HttpRequest, reference: str, *, via: str = "web",
          audit_read: bool = True) -> Complaint:
    _staff_only(request)
    try:
        return complaint_open(actor=request.user, reference=reference, via=via,
                              audit_read=audit_read)
    except CaseNotFound:
        raise Http404 from None


def _workspace(request: HttpRequest, complaint: Complaint, *, status: int = 200,
               form: TransitionForm | None = None, failed: str = "",
               message_form: MessageForm | None = None) -> HttpResponse:
    if status != 200:
        # An action that failed shows the case again: that showing is a read. (A GET
        # recorded its read when it opened the case; a successful action redirects.)
        complaint_read_recorded(actor=request.user, complaint=complaint, via="web")
    return render(request, "complaints/staff/case.html", {
        "complaint": complaint,
        "subjects": complaint.subjects.select_related("person"),  # type: ignore[attr-defined]
        "deadlines": case_deadlines(complaint),
        "messages_": case_messages(complaint),
        "attachments": complaint.attachments.all(),  # type: ignore[attr-defined]
        "transitions": services.available_transitions(complaint, request.user),
        "form": form or TransitionForm(), "failed": failed,
        "message_form": message_form or MessageForm(),
        "takes": TransitionForm.TAKES,
    }, status=status)


@login_required
def case(request: HttpRequest, reference: str) -> HttpResponse:
    """/staff/cases/{reference}/: the workspace. Every opening is an audit event."""
    return _workspace(request, _open(request, reference))


@login_required
@require_POST
def transition(request: HttpRequest, reference: str, name: str) -> HttpResponse:
    complaint = _open(request, reference, via="web:action", audit_read=False)
    form = TransitionForm(request.POST)
    form.is_valid()
    try:
        services.complaint_transition(complaint=complaint, actor=request.user, name=name,
                                      **form.fields_for(name))
    except InvalidInput as exc:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _workspace(request, complaint, status=400, form=form, failed=name)
    except TransitionNotAllowed as exc:
        messages.error(request, str(exc))
        return _workspace(request, complaint, status=409)
    except TransitionForbidden as exc:
        messages.error(request, str(exc).capitalize() + ".")
        return _workspace(request, complaint, status=403)
    messages.success(request, _("Done: %(step)s.") % {"step": name.replace("_", " ")})
    return redirect("complaints:staff_case", reference=complaint.reference)


@login_required
@require_POST
def send_message(request: HttpRequest, reference: str) -> HttpResponse:
    complaint = _open(request, reference, via="web:action", audit_read=False)
    form = MessageForm(request.POST)
    if form.is_valid():
        try:
            message_send(complaint=complaint, actor=request.user, body=form.cleaned_data["body"])
        except (InvalidInput, TransitionForbidden) as exc:
            form.add_error("body", str(exc))
        else:
            messages.success(request, _("Message sent to the reporter."))
            return redirect("complaints:staff_case", reference=complaint.reference)
    return _workspace(request, complaint, status=400, message_form=form)


@login_required
@require_POST
def declare_conflict(request: HttpRequest, reference: str) -> HttpResponse:
    complaint = _open(request, reference, via="web:action", audit_read=False)
    complaint_declare_conflict(complaint=complaint, actor=request.user,
                               reason=request.POST.get("reason", ""))
    messages.success(request, _("Your conflict of interest is recorded. The case has been "
                                "taken off your queues."))
    return redirect("complaints:staff_queue")


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context: whether to show the staff navigation."""
    user = getattr(request, "user", None)
    held = roles.roles_of(user)
    return {"is_staff_role": bool(held),
            "is_compliance_role": bool(held & {roles.COMPLIANCE_OFFICER, roles.AUDIT_COMMITTEE})}


@login_required
def attachment(request: HttpRequest, reference: str, pk: int) -> HttpResponse:
    """Download one attachment, decrypted; the download is the audit event."""
    complaint = _open(request, reference, via="web:attachment", audit_read=False)
    found = Attachment.objects.filter(complaint=complaint, pk=pk).first()
    if found is None:
        raise Http404
    return download_response(*attachment_open(attachment=found, actor=request.user))


@login_required
@require_POST
def add_attachment(request: HttpRequest, reference: str) -> HttpResponse:
    complaint = _open(request, reference, via="web:action", audit_read=False)
    upload = request.FILES.get("attachment")
    try:
        if upload is None:
            raise InvalidInput({"attachment": [_("Choose a file to attach.")]})
        attachment_add(complaint=complaint, actor=request.user, upload=upload)
    except (InvalidInput, TransitionForbidden) as exc:
        messages.error(request, str(exc))
        return _workspace(request, complaint, status=400)
    messages.success(request, _("File attached."))
    return redirect("complaints:staff_case", reference=complaint.reference)


def download_response(data: bytes, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    # Always a download, never rendered in the browser: a file is evidence, not a page.
    response["Content-Disposition"] = content_disposition_header(True, name or "attachment")
    response["Cache-Control"] = "no-store"
    return response
