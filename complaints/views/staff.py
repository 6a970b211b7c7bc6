"""Staff pages: the queues and the case workspace. A case a user may not see does not
exist for them: 404, never a 403 that would confirm it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from complaints import access, services
from complaints.access import (
    is_staff_member,
    may_record_findings,
    may_view,
    may_view_investigation,
    may_write_note,
)
from complaints.errors import InvalidInput, TransitionForbidden, TransitionNotAllowed
from complaints.forms import (
    ConflictRemovalForm,
    EvidenceForm,
    InterviewForm,
    MessageForm,
    NoteForm,
    PlanForm,
    RemovalDecisionForm,
    TransitionForm,
)
from complaints.models import Attachment, Category, Complaint, Conflict, Severity, State
from complaints.selectors import (
    QUEUES,
    Queue,
    case_conflicts,
    case_deadlines,
    case_investigation,
    case_messages,
    case_notes,
    staff_queue,
)
from complaints.services.attachments import attachment_add, attachment_open
from complaints.services.conflicts import (
    complaint_declare_conflict,
    conflict_removal_decide,
    conflict_removal_request,
    directory_conflicts,
    may_decide_removal,
    may_request_removal,
    still_above_a_subject,
)
from complaints.services.investigation import (
    investigation_record_evidence,
    investigation_record_interview,
    investigation_update_plan,
)
from complaints.services.notes import case_note_add
from complaints.services.reads import CaseNotFound, complaint_open, complaint_read_recorded
from complaints.services.reporter import message_send
from complaints.views.public import SESSION_KEY as REPORTER_SESSION_KEY
from complaints.views.public import download_response


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
        "queue": found, "rows": _queue_rows(found, may_acknowledge=access.has_role(
            request.user, access.HANDLERS)),
        "queues": QUEUES, "filters": filters,
        "categories": Category.choices, "severities": Severity.choices,
        "states": State.choices,
    })


def _queue_rows(found: Queue, *, may_acknowledge: bool) -> list[dict[str, Any]]:
    """What each row of the queue page shows, worked out here once per page rather than by
    the template for each row: labels (get_FOO_display builds and translates a dict of every
    choice for each row), the due time in the reader's time zone as the ``date`` filter
    shows it, whether it is past, and the acknowledge button's label (the same message the
    template would translate). Plain dicts: the template finds their keys at the first
    lookup. About a third of the page's template time."""
    category_names, state_names = dict(Category.choices), dict(State.choices)
    acknowledge = _("Acknowledge %(ref)s")
    try:
        acknowledge % {"ref": ""}
    except (KeyError, ValueError, TypeError):
        # A translation with broken placeholders: English, as blocktranslate falls back.
        acknowledge = "Acknowledge %(ref)s"
    rows = []
    for c in found.page:
        due = c.next_due  # type: ignore[attr-defined]
        rows.append({
            "reference": c.reference, "critical": c.severity == Severity.CRITICAL,
            "category": category_names.get(c.category, c.category),
            "state": state_names.get(c.state, c.state),
            "due": date_filter(timezone.localtime(due), "j M Y H:i") if due else "",
            "overdue": due is not None and due < found.now,
            "level": c.escalation_level,
            "assignee": c.assignee_username,  # type: ignore[attr-defined]
            # Acknowledging is one click from the queue (the service still checks each case).
            "acknowledge_label": (acknowledge % {"ref": c.reference}
                                  if may_acknowledge and c.state == State.SUBMITTED else ""),
        })
    return rows


def _open(request: HttpRequest, reference: str, *, via: str = "web",
          audit_read: bool = True) -> Complaint:
    _staff_only(request)
    try:
        return complaint_open(actor=request.user, reference=reference, via=via,
                              audit_read=audit_read)
    except CaseNotFound:
        raise Http404 from None


# What each transition's button says (the contract's names stay in the URLs).
STEP_LABELS = {
    "acknowledge": _lazy("Acknowledge"),
    "request_information": _lazy("Ask the reporter for information"),
    "propose_dismissal": _lazy("Propose dismissal"),
    "approve_dismissal": _lazy("Approve the dismissal"),
    "reject_dismissal": _lazy("Reject the dismissal"),
    "start_investigation": _lazy("Start an investigation"),
    "record_findings": _lazy("Record the findings"),
    "approve_findings": _lazy("Approve the findings"),
    "return_for_work": _lazy("Return for more work"),
    "close": _lazy("Close the case"),
    "withdraw": _lazy("Withdraw the case"),
    "reopen": _lazy("Reopen the case"),
    "decline_withdrawal": _lazy("Decline the withdrawal"),
}


def _step_forms(names: list[str], failed: str, form: TransitionForm | None
                ) -> list[tuple[str, Any, TransitionForm]]:
    """One form per transition offered, each with its own field ids (so every label points
    at its own box), the failed one carrying what was typed and its errors."""
    return [(name, STEP_LABELS.get(name, name.replace("_", " ").capitalize()),
             form if form is not None and name == failed else TransitionForm(
                 auto_id=f"id_{name}_%s"))
            for name in names]


def _shown_again(request: HttpRequest, complaint: Complaint, status: int) -> None:
    if status != 200:
        # An action that failed shows the case again: that showing is a read. (A GET
        # recorded its read when it opened the case; a successful action redirects.)
        complaint_read_recorded(actor=request.user, complaint=complaint, via="web")


def _workspace(request: HttpRequest, complaint: Complaint, *, status: int = 200,
               form: TransitionForm | None = None, failed: str = "",
               message_form: MessageForm | None = None,
               note_form: NoteForm | None = None,
               removal_forms: dict[str, Any] | None = None) -> HttpResponse:
    _shown_again(request, complaint, status)
    return render(request, "complaints/staff/case.html", {
        "conflicts": _conflicts_panel(request, complaint, removal_forms or {}),
        "complaint": complaint,
        "subjects": complaint.subjects.select_related("person"),  # type: ignore[attr-defined]
        "witnesses": complaint.witnesses.select_related("person"),  # type: ignore[attr-defined]
        "deadlines": case_deadlines(complaint),
        "now": timezone.now(),
        "messages_": case_messages(complaint),
        "notes": case_notes(complaint),
        "attachments": complaint.attachments.all(),  # type: ignore[attr-defined]
        "steps": _step_forms(services.available_transitions(complaint, request.user),
                             failed, form),
        "message_form": message_form or MessageForm(),
        "note_form": note_form or NoteForm(auto_id="id_note_%s"),
        "may_write_note": may_write_note(complaint, request.user),
        "may_view_investigation": may_view_investigation(complaint, request.user),
    }, status=status)


@login_required
def case(request: HttpRequest, reference: str) -> HttpResponse:
    """/staff/cases/{reference}/: the workspace. Every opening is an audit event."""
    return _workspace(request, _open(request, reference))


@login_required
@require_POST
def transition(request: HttpRequest, reference: str, name: str) -> HttpResponse:
    complaint = _open(request, reference, via="web:action", audit_read=False)
    form = TransitionForm(request.POST, auto_id=f"id_{name}_%s")
    form.is_valid()
    try:
        services.complaint_transition(complaint=complaint, actor=request.user, name=name,
                                      **form.fields_for(name))
    except InvalidInput as exc:
        _form_errors(form, exc)
        if request.POST.get("next") == "investigation" and may_view_investigation(
                complaint, request.user):
            return _investigation_page(request, complaint, status=400, form=form, failed=name)
        return _workspace(request, complaint, status=400, form=form, failed=name)
    except TransitionNotAllowed as exc:
        messages.error(request, str(exc))
        return _workspace(request, complaint, status=409)
    except TransitionForbidden as exc:
        messages.error(request, str(exc).capitalize() + ".")
        return _workspace(request, complaint, status=403)
    messages.success(request, _("Done: %(step)s.") % {
        "step": str(STEP_LABELS.get(name, name.replace("_", " "))).lower()})
    if request.POST.get("next") == "investigation" and may_view_investigation(
            complaint, request.user):
        return redirect("complaints:staff_investigation", reference=complaint.reference)
    if request.POST.get("next") == "queue":
        back = request.POST.get("queue", "mine")
        return redirect(reverse("complaints:staff_queue") + "?queue="
                        + (back if back in QUEUES else "mine"))
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
def add_note(request: HttpRequest, reference: str) -> HttpResponse:
    complaint = _open(request, reference, via="web:action", audit_read=False)
    form = NoteForm(request.POST, auto_id="id_note_%s")
    if form.is_valid():
        try:
            case_note_add(complaint=complaint, actor=request.user, body=form.cleaned_data["body"])
        except (InvalidInput, TransitionForbidden) as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Note added. Only staff on the case can read it."))
            return redirect("complaints:staff_case", reference=complaint.reference)
    return _workspace(request, complaint, status=400, note_form=form)


def _form_errors(form: Any, exc: InvalidInput | TransitionForbidden) -> None:
    if isinstance(exc, InvalidInput):
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
    else:
        form.add_error(None, str(exc).capitalize() + ".")


# --- The investigation workspace --------------------------------------------------------

def _investigation_page(request: HttpRequest, complaint: Complaint, *, status: int = 200,
                        **forms_: Any) -> HttpResponse:
    _shown_again(request, complaint, status)
    investigation = case_investigation(complaint)
    if investigation is None or not may_view_investigation(complaint, request.user):
        raise Http404
    transitions = [name for name in services.available_transitions(complaint, request.user)
                   if name in ("record_findings", "approve_findings", "return_for_work")]
    return render(request, "complaints/staff/investigation.html", {
        "complaint": complaint, "investigation": investigation,
        "may_work": may_record_findings(complaint, request.user)
        and complaint.state == State.INVESTIGATING,
        "plan_form": forms_.get("plan_form") or PlanForm(initial={"plan": investigation.plan}),
        "interview_form": forms_.get("interview_form") or InterviewForm(),
        "evidence_form": forms_.get("evidence_form") or EvidenceForm(),
        "steps": _step_forms(transitions, forms_.get("failed", ""), forms_.get("form")),
    }, status=status)


@login_required
def investigation(request: HttpRequest, reference: str) -> HttpResponse:
    """/staff/cases/{reference}/investigation/: plan, interviews, evidence, findings and
    the second person's approval. For the investigator and those who decide or oversee."""
    complaint = _open(request, reference, via="web:investigation", audit_read=False)
    if not may_view_investigation(complaint, request.user):
        raise Http404
    complaint_read_recorded(actor=request.user, complaint=complaint, via="web:investigation")
    return _investigation_page(request, complaint)


def _investigation_action(request: HttpRequest, reference: str, form_class: Any, key: str,
                          act: Any, done: str) -> HttpResponse:
    complaint = _open(request, reference, via="web:action", audit_read=False)
    if not may_view_investigation(complaint, request.user):
        raise Http404
    form = form_class(request.POST)
    if form.is_valid():
        try:
            act(complaint, form.cleaned_data)
        except (InvalidInput, TransitionForbidden) as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, done)
            return redirect("complaints:staff_investigation", reference=complaint.reference)
    return _investigation_page(request, complaint, status=400, **{key: form})


@login_required
@require_POST
def update_plan(request: HttpRequest, reference: str) -> HttpResponse:
    return _investigation_action(
        request, reference, PlanForm, "plan_form",
        lambda complaint, data: investigation_update_plan(
            complaint=complaint, actor=request.user, plan=data["plan"]),
        _("Plan saved."))


@login_required
@require_POST
def record_interview(request: HttpRequest, reference: str) -> HttpResponse:
    return _investigation_action(
        request, reference, InterviewForm, "interview_form",
        lambda complaint, data: investigation_record_interview(
            complaint=complaint, actor=request.user, notes=data["notes"],
            held_at=data["held_at"],
            interviewee_employee_id=data["interviewee_employee_id"].strip(),
            interviewee_name=data["interviewee_name"]),
        _("Interview recorded."))


@login_required
@require_POST
def record_evidence(request: HttpRequest, reference: str) -> HttpResponse:
    return _investigation_action(
        request, reference, EvidenceForm, "evidence_form",
        lambda complaint, data: investigation_record_evidence(
            complaint=complaint, actor=request.user, description=data["description"]),
        _("Evidence recorded."))


# --- Conflicts: compliance removes one, a second person decides ------------------------------

OVERSIGHT = frozenset({access.COMPLIANCE_OFFICER, access.AUDIT_COMMITTEE})


def _conflicts_panel(request: HttpRequest, complaint: Complaint,
                     forms_: dict[str, Any]) -> dict[str, Any] | None:
    """The case's conflicts and pending removals, for compliance and the audit committee
    only; each with the form this user may use on it (the failed one with its errors)."""
    if not access.has_role(request.user, OVERSIGHT):
        return None
    found = case_conflicts(complaint)
    may_request = may_request_removal(complaint, request.user) and not complaint.purged_at
    supported = directory_conflicts([complaint.pk])[complaint.pk] if may_request else {}
    for row in found.active:
        row.still_above = still_above_a_subject(row, supported)  # type: ignore[attr-defined]
        offered = (may_request and not row.removal_pending  # type: ignore[attr-defined]
                   and row.source != Conflict.Source.SUBJECT
                   and not row.still_above)  # type: ignore[attr-defined]
        row.form = (forms_.get(f"conflict-{row.pk}")  # type: ignore[attr-defined]
                    or ConflictRemovalForm(auto_id=f"id_conflict_{row.pk}_%s")
                    ) if offered else None
    for removal in found.pending:
        offered = may_decide_removal(complaint, removal, request.user)
        removal.form = (forms_.get(f"removal-{removal.pk}")  # type: ignore[attr-defined]
                        or RemovalDecisionForm(auto_id=f"id_removal_{removal.pk}_%s")
                        ) if offered else None
    return {"active": found.active, "pending": found.pending, "removed": found.removed}


def _removal_refused(request: HttpRequest, form: Any,
                     exc: InvalidInput | TransitionForbidden) -> None:
    """A field's error goes on its form; any other refusal (not this user's to make, no such
    conflict or request) is a message, since the page may show this user no such form."""
    if isinstance(exc, InvalidInput) and set(exc.errors) <= set(form.fields):
        _form_errors(form, exc)
    elif isinstance(exc, InvalidInput):
        messages.error(request, " ".join(m for msgs in exc.errors.values() for m in msgs))
    else:
        messages.error(request, str(exc).capitalize() + ".")


@login_required
@require_POST
def request_conflict_removal(request: HttpRequest, reference: str, pk: int) -> HttpResponse:
    complaint = _open(request, reference, via="web:action", audit_read=False)
    form = ConflictRemovalForm(request.POST, auto_id=f"id_conflict_{pk}_%s")
    if form.is_valid():
        try:
            conflict_removal_request(complaint=complaint, conflict_id=pk, actor=request.user,
                                     reason=form.cleaned_data["reason"])
        except (InvalidInput, TransitionForbidden) as exc:
            _removal_refused(request, form, exc)
        else:
            messages.success(request, _("Removal requested. The conflict still applies until a "
                                        "second person approves it."))
            return redirect("complaints:staff_case", reference=complaint.reference)
    if form.errors:
        # The form sits far down the page: say at the top that it needs attention.
        messages.error(request, _("Nothing was sent: see the conflicts section below."))
    return _workspace(request, complaint, status=400, removal_forms={f"conflict-{pk}": form})


@login_required
@require_POST
def decide_conflict_removal(request: HttpRequest, reference: str, pk: int) -> HttpResponse:
    complaint = _open(request, reference, via="web:action", audit_read=False)
    form = RemovalDecisionForm(request.POST, auto_id=f"id_removal_{pk}_%s")
    if form.is_valid():
        approve = form.cleaned_data["decision"] == "approve"
        try:
            conflict_removal_decide(complaint=complaint, removal_id=pk, actor=request.user,
                                    approve=approve, reason=form.cleaned_data["reason"])
        except (InvalidInput, TransitionForbidden) as exc:
            _removal_refused(request, form, exc)
        else:
            messages.success(request, _("Removal approved: that conflict no longer applies.")
                             if approve else _("Removal rejected: the conflict still applies."))
            # The audit committee reads a case only while a removal waits for its decision.
            if not may_view(request.user, complaint):
                return redirect("complaints:staff_queue")
            return redirect("complaints:staff_case", reference=complaint.reference)
    if form.errors:
        # The form sits far down the page: say at the top that it needs attention.
        messages.error(request, _("Nothing was sent: see the conflicts section below."))
    return _workspace(request, complaint, status=400, removal_forms={f"removal-{pk}": form})


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
    """Template context: whether to show the staff navigation, and whether an anonymous
    follow-up is open in this browser (every page then offers to end it)."""
    user = getattr(request, "user", None)
    held = access.roles_of(user)
    session = getattr(request, "session", None)
    # Only a browser that already has a session is asked: no session is made for this.
    open_follow_up = bool(session is not None and session.session_key
                          and session.get(REPORTER_SESSION_KEY))
    return {"is_staff_role": bool(held),
            "is_compliance_role": bool(held & {access.COMPLIANCE_OFFICER, access.AUDIT_COMMITTEE}),
            "anonymous_follow_up": open_follow_up}


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
