"""Reporters' pages: the form, the receipt, follow-up by key, and the reporter's case page.

An anonymous report keeps no trace of who filed it: no account, no address, no browser.
The follow-up session holds only which case the key opened.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from complaints import services
from complaints.errors import InvalidInput, TransitionForbidden, TransitionNotAllowed
from complaints.forms import MessageForm, ReceiptKeyForm, ReportForm, RevealForm
from complaints.models import Complaint, State
from complaints.permissions import ReporterPrincipal
from complaints.selectors import case_deadlines, case_messages
from complaints.services.attachments import attachment_add, attachment_open
from complaints.services.reporter import (
    WrongReceiptKey,
    complaint_reveal_identity,
    message_send,
    receipt_key_redeem,
)
from complaints.throttle import receipt_key_blocked, receipt_key_failed

SESSION_KEY = "reporter_complaint"

# What each state means to the person who reported, in plain words.
PLAIN_STATE = {
    State.SUBMITTED: _("Received. It will be acknowledged soon."),
    State.ACKNOWLEDGED: _("Acknowledged. Someone is looking at it."),
    State.AWAITING_REPORTER: _("We have asked you a question. Please answer below."),
    State.DISMISSAL_PROPOSED: _("Being reviewed by a second person."),
    State.DISMISSED: _("Closed without an investigation."),
    State.INVESTIGATING: _("Being investigated."),
    State.FINDINGS_RECORDED: _("The investigation is finished; its findings are being reviewed."),
    State.RESOLVED: _("Resolved. You will receive feedback."),
    State.CLOSED: _("Closed."),
    State.WITHDRAWN: _("Withdrawn."),
}


def home(request: HttpRequest) -> HttpResponse:
    """What the service is and the two ways in."""
    return render(request, "complaints/home.html")


@never_cache
def report(request: HttpRequest) -> HttpResponse:
    """/report/: signed in or anonymous. A validation error keeps everything typed."""
    form = ReportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        anonymous = form.cleaned_data["anonymous"] or not request.user.is_authenticated
        try:
            filed = services.complaint_submit(
                reporter=None if anonymous else request.user, anonymous=anonymous,
                **form.service_fields())
        except InvalidInput as exc:
            for field, errors in exc.errors.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            attached = _attach(request, filed.complaint, form, filed.receipt_key)
            if filed.receipt_key:
                return render(request, "complaints/receipt.html", {
                    "reference": filed.complaint.reference, "receipt_key": filed.receipt_key,
                    "attached": attached})
            messages.success(request, _("Your report %(ref)s has been received.")
                             % {"ref": filed.complaint.reference})
            return redirect("complaints:my_case", reference=filed.complaint.reference)
    return render(request, "complaints/report.html", {"form": form},
                  status=400 if request.method == "POST" else 200)


def _attach(request: HttpRequest, complaint: Complaint, form: ReportForm,
            receipt_key: str | None) -> bool | str:
    upload = form.cleaned_data.get("attachment")
    if not upload:
        return False
    actor: Any = (ReporterPrincipal(complaint.pk, complaint.reference) if receipt_key
                  else request.user)
    try:
        attachment_add(complaint=complaint, actor=actor, upload=upload)
    except InvalidInput as exc:
        # The report itself is filed; say why the file was not, so it can be added later.
        return " ".join(m for msgs in exc.errors.values() for m in msgs)
    return True


@never_cache
def follow_up(request: HttpRequest) -> HttpResponse:
    """/follow-up/: the receipt key alone opens the report. Wrong keys are limited (429)."""
    form = ReceiptKeyForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if receipt_key_blocked(request):
            form.add_error(None, _("Too many wrong keys. For your security, please wait an "
                                   "hour before trying again."))
            return render(request, "complaints/follow_up.html", {"form": form}, status=429)
        try:
            principal = receipt_key_redeem(key=form.cleaned_data["receipt_key"])
        except WrongReceiptKey:
            receipt_key_failed(request)
            form.add_error("receipt_key", _("No report has this key. Check it and try again."))
            status = 400
        else:
            request.session.cycle_key()
            request.session[SESSION_KEY] = principal.complaint_id
            return redirect("complaints:reporter_case")
    elif request.method == "POST":
        status = 400
    return render(request, "complaints/follow_up.html", {"form": form}, status=status)


def _reporter_case(request: HttpRequest, complaint: Complaint, actor: Any,
                   *, status: int = 200, message_form: MessageForm | None = None
                   ) -> HttpResponse:
    return render(request, "complaints/reporter_case.html", {
        "complaint": complaint, "plain_state": PLAIN_STATE.get(complaint.state, ""),
        "deadlines": case_deadlines(complaint).filter(closed_at=None),
        "messages_": case_messages(complaint),
        "attachments": complaint.attachments.filter(from_reporter=True),  # type: ignore[attr-defined]
        "message_form": message_form or MessageForm(), "reveal_form": RevealForm(),
        "may_withdraw": "withdraw" in services.available_transitions(complaint, actor),
        "action_base": request.path,
    }, status=status)


def _anonymous_principal(request: HttpRequest) -> tuple[Complaint, ReporterPrincipal]:
    complaint_id = request.session.get(SESSION_KEY)
    complaint = Complaint.objects.filter(pk=complaint_id).first() if complaint_id else None
    if complaint is None:
        raise Http404
    return complaint, ReporterPrincipal(complaint.pk, complaint.reference)


def _own_case(request: HttpRequest, reference: str) -> tuple[Complaint, Any]:
    complaint = Complaint.objects.filter(reference=reference.upper(),
                                         reporter_user_id=request.user.pk).first()
    if complaint is None:
        raise Http404
    return complaint, request.user


@never_cache
def reporter_case(request: HttpRequest) -> HttpResponse:
    """/follow-up/case/: the anonymous reporter's case page."""
    complaint, actor = _anonymous_principal(request)
    return _reporter_actions(request, complaint, actor)


@login_required
def my_cases(request: HttpRequest) -> HttpResponse:
    """/my/: the signed-in reporter's own reports."""
    cases = (Complaint.objects.filter(reporter_user_id=request.user.pk)
             .only("reference", "category", "state", "submitted_at").order_by("-submitted_at"))
    return render(request, "complaints/my_cases.html", {"cases": cases,
                                                        "plain_state": PLAIN_STATE})


@login_required
@never_cache
def my_case(request: HttpRequest, reference: str) -> HttpResponse:
    complaint, actor = _own_case(request, reference)
    return _reporter_actions(request, complaint, actor)


def _reporter_actions(request: HttpRequest, complaint: Complaint, actor: Any) -> HttpResponse:
    """The case page, and what a reporter may do on it: write, withdraw, reveal."""
    if request.method != "POST":
        return _reporter_case(request, complaint, actor)
    action = request.POST.get("action", "")
    try:
        if action == "message":
            form = MessageForm(request.POST)
            if not form.is_valid():
                return _reporter_case(request, complaint, actor, status=400, message_form=form)
            message_send(complaint=complaint, actor=actor, body=form.cleaned_data["body"])
            messages.success(request, _("Your message was sent."))
        elif action == "withdraw":
            done = services.complaint_withdraw(complaint=complaint, actor=actor,
                                               reason=request.POST.get("reason", ""))
            messages.success(request, _("Your report is withdrawn.") if
                             done.state == State.WITHDRAWN else
                             _("Your request to withdraw has been passed to the compliance "
                               "team, who decide on serious reports."))
        elif action == "attach":
            upload = request.FILES.get("attachment")
            if upload is None:
                raise InvalidInput({"attachment": [_("Choose a file to attach.")]})
            attachment_add(complaint=complaint, actor=actor, upload=upload)
            messages.success(request, _("Your file was added to the report."))
        elif action == "reveal":
            complaint_reveal_identity(
                complaint=complaint, actor=actor, identity=request.POST.get("identity", ""),
                account=request.user if request.POST.get("link_account") else None)
            messages.success(request, _("Thank you. The people handling your report now know "
                                        "who you are."))
        else:
            return _reporter_case(request, complaint, actor, status=400)
    except InvalidInput as exc:
        form = MessageForm(request.POST)
        for errors in exc.errors.values():
            for error in errors:
                form.add_error(None, error)
        return _reporter_case(request, complaint, actor, status=400, message_form=form)
    except (TransitionForbidden, TransitionNotAllowed) as exc:
        messages.error(request, str(exc))
        return _reporter_case(request, complaint, actor, status=409)
    return redirect(request.path)


@require_POST
def follow_up_end(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()
    return redirect("complaints:home")


def _reporter_download(complaint: Complaint, actor: Any, pk: int) -> HttpResponse:
    from complaints.views.staff import download_response

    found = complaint.attachments.filter(pk=pk, from_reporter=True).first()  # type: ignore[attr-defined]
    if found is None:
        raise Http404
    return download_response(*attachment_open(attachment=found, actor=actor))


@never_cache
def reporter_attachment(request: HttpRequest, pk: int) -> HttpResponse:
    complaint, actor = _anonymous_principal(request)
    return _reporter_download(complaint, actor, pk)


@login_required
def my_attachment(request: HttpRequest, reference: str, pk: int) -> HttpResponse:
    complaint, actor = _own_case(request, reference)
    return _reporter_download(complaint, actor, pk)
