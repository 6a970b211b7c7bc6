"""Reporters' pages: the form, the receipt, follow-up by key, and the reporter's case page.

An anonymous report keeps no trace of who filed it: no account, no address, no browser.
The follow-up session holds only which case the key opened, and never alongside an
account: follow-up is refused while signed in, and signing in ends it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from complaints import services
from complaints.access import ReporterPrincipal
from complaints.errors import InvalidInput, TransitionForbidden, TransitionNotAllowed
from complaints.forms import MessageForm, ReceiptKeyForm, ReportForm, RevealForm
from complaints.models import Complaint, Severity, State
from complaints.selectors import case_messages, reporter_timeline
from complaints.services.attachments import attachment_add, attachment_open, checked_file
from complaints.services.held_uploads import (
    HeldUpload,
    upload_forget,
    upload_held,
    upload_hold,
    upload_release,
)
from complaints.services.reporter import (
    WrongReceiptKey,
    complaint_reveal_identity,
    message_send,
)
from complaints.throttle import (
    ReceiptKeyBusy,
    ReceiptKeyThrottled,
    filing_limited,
    receipt_key_check,
)
from escalation.models import Kind

SESSION_KEY = "reporter_complaint"

# What each state means to the person who reported, in plain words. Lazy: translated into
# each request's language when shown, not once at import.
# Said instead, or after, when the company is late: eight weeks after an unacknowledged
# report, "it will be acknowledged soon" would be untrue.
LATE_SUBMITTED = gettext_lazy("Received, and its acknowledgement is overdue: the company is "
                              "late.")
LATE_STEP = gettext_lazy("This step is overdue: the company is late.")

PLAIN_STATE = {
    State.SUBMITTED: gettext_lazy("Received. It will be acknowledged soon."),
    State.ACKNOWLEDGED: gettext_lazy("Acknowledged. Someone is looking at it."),
    State.AWAITING_REPORTER: gettext_lazy("We have asked you a question. Please answer below."),
    State.DISMISSAL_PROPOSED: gettext_lazy("Being reviewed by a second person."),
    State.DISMISSED: gettext_lazy("Closed without an investigation."),
    State.INVESTIGATING: gettext_lazy("Being investigated."),
    State.FINDINGS_RECORDED: gettext_lazy(
        "The investigation is finished; its findings are being reviewed."),
    State.RESOLVED: gettext_lazy("Resolved. You will receive feedback."),
    State.CLOSED: gettext_lazy("Closed."),
    State.WITHDRAWN: gettext_lazy("Withdrawn."),
}

# The reporter's timeline (complaints.selectors.reporter_timeline), one line per step. No
# line says who took a step or why.
PLAIN_STEP = {
    "filed": gettext_lazy("Your report was received."),
    "acknowledged": gettext_lazy(
        "Your report was acknowledged: someone is now responsible for handling it."),
    "information_requested": gettext_lazy(
        "You were asked for more information. The case waited for your answer."),
    "reporter_replied": gettext_lazy(
        "You answered, and the case went back to the people handling it."),
    "reply_window_expired": gettext_lazy(
        "The time to answer ran out, so the case carried on without your answer. You can "
        "still write at any time."),
    "investigation_started": gettext_lazy("An investigation started."),
    "findings_recorded": gettext_lazy(
        "The investigation finished. A second person began reviewing its findings."),
    "returned_for_work": gettext_lazy("The findings were sent back for more investigation."),
    "resolved": gettext_lazy("The findings were approved, and your report was resolved."),
    "closed": gettext_lazy("The case was closed."),
    "dismissed": gettext_lazy("The case was closed without an investigation."),
    "withdrawal_requested": gettext_lazy(
        "You asked to withdraw your report. Because it is serious, the compliance team "
        "decides."),
    "withdrawal_declined": gettext_lazy(
        "The compliance team decided that the case continues, despite your request to "
        "withdraw it."),
    "withdrawn": gettext_lazy("Your report was withdrawn."),
    "reopened": gettext_lazy("The case was reopened."),
    "escalated": gettext_lazy(
        "Escalated: a deadline was missed, so your report was passed to more senior people."),
}

# What the company must do by each deadline, as the reporter reads it. The reporter's own
# deadline (their answer) is worded on the page itself.
PLAIN_DEADLINE: dict[str, Promise] = {
    Kind.ACKNOWLEDGE: gettext_lazy("Acknowledge your report"),
    Kind.TRIAGE: gettext_lazy("Decide whether to investigate"),
    Kind.DECISION: gettext_lazy("Have a second person review the decision"),
    Kind.FINDINGS: gettext_lazy("Finish the investigation"),
    Kind.FEEDBACK: gettext_lazy("Tell you what has been done about your report"),
    Kind.REPORTER_REPLY: gettext_lazy("Your answer to our question"),
}


def home(request: HttpRequest) -> HttpResponse:
    """What the service is and the two ways in."""
    return render(request, "complaints/home.html")


@never_cache
def report(request: HttpRequest) -> HttpResponse:
    """/report/: signed in or anonymous. A validation error keeps everything typed, and the
    file chosen (a browser never fills a file field again), so nothing is chosen twice.
    Filing is limited per client address, as in the API (complaints/throttle.py): a refusal
    keeps everything typed too, but not a newly chosen file (keeping it costs the work the
    limit is there to spare)."""
    form = ReportForm(request.POST or None, request.FILES or None)
    if request.method != "POST":
        return render(request, "complaints/report.html", {"form": form})
    held = upload_held(request.POST.get("held_attachment", ""))
    if held is not None and request.POST.get("drop_held"):
        upload_forget(held.ticket)
        held = None
    wait = filing_limited(request)
    if wait is not None:
        form.add_error(None, _("Many reports were sent from your network in the last minute, "
                               "so this one was not sent yet. Nothing you typed has been "
                               "lost: please send it again in a minute."))
        if request.FILES.get("attachment") is not None:
            form.add_error("attachment", _("Choose your file again before sending."))
        response = render(request, "complaints/report.html", {"form": form, "held": held},
                          status=429)
        response["Retry-After"] = str(wait)
        return response
    if form.is_valid():
        _check_attachment(form)
    if form.is_valid():
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
            attached = _attach(request, filed.complaint, form, filed.receipt_key, held)
            if filed.receipt_key:
                return render(request, "complaints/receipt.html", {
                    "reference": filed.complaint.reference, "receipt_key": filed.receipt_key,
                    "attached": attached})
            messages.success(request, _("Your report %(ref)s has been received.")
                             % {"ref": filed.complaint.reference})
            return redirect("complaints:my_case", reference=filed.complaint.reference)
    held = _hold(form, request.FILES.get("attachment"), held)
    return render(request, "complaints/report.html", {"form": form, "held": held},
                  status=400)


def _check_attachment(form: ReportForm) -> None:
    """A new file is checked and cleaned before the report is filed: one that could never
    be attached (a damaged photo, a locked PDF) is an error on the form, with everything
    typed still there, rather than a report filed without it."""
    upload = form.cleaned_data.get("attachment")
    if not upload:
        return
    try:
        form.cleaned_data["attachment"] = checked_file(upload)
    except InvalidInput as exc:
        for error in exc.errors.get("attachment", []):
            form.add_error("attachment", error)


def _hold(form: ReportForm, upload: Any, held: HeldUpload | None) -> HeldUpload | None:
    """Keep a newly chosen file for the next try (it replaces one kept before); a file that
    could never be attached is an error on its field, and the one kept before stays."""
    if upload is None or "attachment" in form.errors:
        return held
    try:
        kept = upload_hold(upload=upload)
    except InvalidInput as exc:
        for error in exc.errors.get("attachment", []):
            form.add_error("attachment", error)
        return held
    if held is not None:
        upload_forget(held.ticket)
    return kept


def _attach(request: HttpRequest, complaint: Complaint, form: ReportForm,
            receipt_key: str | None, held: HeldUpload | None) -> bool | str:
    upload = form.cleaned_data.get("attachment")
    if not upload and held is not None:
        upload = upload_release(held.ticket)
    if not upload:
        return False
    actor: Any = (ReporterPrincipal(complaint.pk, complaint.reference) if receipt_key
                  else request.user)
    try:
        attachment_add(complaint=complaint, actor=actor, upload=upload)
    except InvalidInput as exc:
        # The report itself is filed; say why the file was not, so it can be added later.
        return " ".join(m for msgs in exc.errors.values() for m in msgs)
    finally:
        if held is not None:
            upload_forget(held.ticket)
    return True


def ends_follow_up(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """For a sign-in view: signing in ends an anonymous follow-up open in the same browser.

    Django's ``login`` keeps the session's data when it gives the session a new key, so
    without this the one session row would hold the account and the anonymous case.
    The case is taken out before the view runs (``login`` saves the session as it rotates
    the key), and put back only if nobody signed in (a mistyped password).
    """
    @wraps(view)
    def sign_in(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        opened = request.session.pop(SESSION_KEY, None) if request.method == "POST" else None
        response = view(request, *args, **kwargs)
        if opened is not None and not request.user.is_authenticated:
            request.session[SESSION_KEY] = opened
        return response
    return sign_in


def _signed_in_refusal(request: HttpRequest) -> HttpResponse | None:
    """Anonymous follow-up is refused to a signed-in user: one session holding both their
    account and the case would tie the report to them. Sends them to /follow-up/, which
    says why and offers to sign out."""
    if not request.user.is_authenticated:
        return None
    request.session.pop(SESSION_KEY, None)
    return redirect("complaints:follow_up")


@never_cache
def follow_up(request: HttpRequest) -> HttpResponse:
    """/follow-up/: the receipt key alone opens the report. Wrong keys are limited (429),
    and checking waits for a free slot (503 when none frees: complaints/throttle.py).
    Refused while signed in (403 for a key sent anyway): the page explains and offers to
    sign out, then come back here."""
    if request.user.is_authenticated:
        request.session.pop(SESSION_KEY, None)
        return render(request, "complaints/follow_up.html", {"signed_in": True},
                      status=403 if request.method == "POST" else 200)
    form = ReceiptKeyForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            principal = receipt_key_check(request, key=form.cleaned_data["receipt_key"])
        except WrongReceiptKey:
            form.add_error("receipt_key", _("No report has this key. Check it and try again."))
            status = 400
        except ReceiptKeyThrottled:
            form.add_error(None, _("Too many wrong keys. For your security, please wait an "
                                   "hour before trying again."))
            status = 429
        except ReceiptKeyBusy as exc:
            form.add_error(None, _("We are very busy just now and could not check your key. "
                                   "Please try again in a minute."))
            response = render(request, "complaints/follow_up.html", {"form": form},
                              status=503)
            response["Retry-After"] = str(exc.retry_after)
            return response
        else:
            request.session.cycle_key()
            request.session[SESSION_KEY] = principal.complaint_id
            return redirect("complaints:reporter_case")
    elif request.method == "POST":
        status = 400
    return render(request, "complaints/follow_up.html", {"form": form}, status=status)


def _plain_state(complaint: Complaint, timeline: Any) -> str:
    """The case's status in plain words, honest when the company is late: a running
    deadline past its due time, or an unacknowledged report already escalated (which
    closed its first clock)."""
    now = timezone.now()
    late = any(not d.paused and d.due_at < now for d in timeline.deadlines
               if d.kind != Kind.REPORTER_REPLY)
    if complaint.state == State.SUBMITTED:
        return str(LATE_SUBMITTED if late or complaint.escalation_level else
                   PLAIN_STATE[State.SUBMITTED])
    plain = str(PLAIN_STATE.get(complaint.state, ""))
    return f"{plain} {LATE_STEP}" if late else plain


def _reporter_case(request: HttpRequest, complaint: Complaint, actor: Any,
                   *, status: int = 200, message_form: MessageForm | None = None,
                   confirm_withdraw: bool = False) -> HttpResponse:
    timeline = reporter_timeline(complaint)
    return render(request, "complaints/reporter_case.html", {
        "complaint": complaint, "plain_state": _plain_state(complaint, timeline),
        "steps": [{"at": step.at, "text": PLAIN_STEP[step.event],
                   "missed": [PLAIN_DEADLINE.get(kind, kind) for kind in step.missed]}
                  for step in timeline.steps],
        "escalated": timeline.escalated,
        "deadlines": [{"what": PLAIN_DEADLINE.get(d.kind, d.kind), "due_at": d.due_at,
                       "paused": d.paused}
                      for d in timeline.deadlines if d.kind != Kind.REPORTER_REPLY],
        "answer_due": next((d.due_at for d in timeline.deadlines
                            if d.kind == Kind.REPORTER_REPLY), None),
        "messages_": case_messages(complaint),
        "attachments": complaint.attachments.filter(from_reporter=True),  # type: ignore[attr-defined]
        "message_form": message_form or MessageForm(), "reveal_form": RevealForm(),
        "may_withdraw": "withdraw" in services.available_transitions(complaint, actor),
        "confirm_withdraw": confirm_withdraw,
        "withdraw_reason": request.POST.get("reason", "") if confirm_withdraw else "",
        "withdraw_decided_by_compliance": complaint.severity == Severity.CRITICAL,
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
    refused = _signed_in_refusal(request)
    if refused is not None:
        return refused
    complaint, actor = _anonymous_principal(request)
    return _reporter_actions(request, complaint, actor)


@login_required
def my_cases(request: HttpRequest) -> HttpResponse:
    """/my/: the signed-in reporter's own reports."""
    cases = (Complaint.objects.filter(reporter_user_id=request.user.pk)
             .only("reference", "category", "state", "submitted_at").order_by("-submitted_at"))
    return render(request, "complaints/my_cases.html", {
        "cases": [(case, PLAIN_STATE.get(case.state, "")) for case in cases]})


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
            # A first step only asks: withdrawing ends the handling of the report.
            return _reporter_case(request, complaint, actor, confirm_withdraw=True)
        elif action == "withdraw_confirmed":
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
            # Never the signed-in account: the anonymous case page is refused while signed
            # in, and a signed-in reporter's own case is not anonymous.
            complaint_reveal_identity(complaint=complaint, actor=actor,
                                      identity=request.POST.get("identity", ""))
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
    except TransitionNotAllowed:
        # The service's own words name the lifecycle's steps and states; the reporter is
        # told what it means for them.
        messages.error(request, _("That is no longer possible: your report has moved on. "
                                  "This page shows where it stands now."))
        return _reporter_case(request, complaint, actor, status=409)
    except TransitionForbidden as exc:
        messages.error(request, str(exc))
        return _reporter_case(request, complaint, actor, status=409)
    return redirect(request.path)


@require_POST
def follow_up_end(request: HttpRequest) -> HttpResponse:
    """Ends an anonymous follow-up (the case leaves the session, which gets a new key).
    With ``quick``, for someone who may be watched: the session ends whatever it held and
    the browser goes straight to an ordinary page elsewhere (``QUICK_EXIT_URL``)."""
    if request.POST.get("quick"):
        request.session.flush()
        response = HttpResponseRedirect(settings.QUICK_EXIT_URL)
        response["Cache-Control"] = "no-store"
        return response
    request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()
    messages.success(request, _("Your follow-up session has ended. Keep your key to come "
                                "back."))
    return redirect("complaints:home")


def _reporter_download(complaint: Complaint, actor: Any, pk: int) -> HttpResponse:

    found = complaint.attachments.filter(pk=pk, from_reporter=True).first()  # type: ignore[attr-defined]
    if found is None:
        raise Http404
    return download_response(*attachment_open(attachment=found, actor=actor))


@never_cache
def reporter_attachment(request: HttpRequest, pk: int) -> HttpResponse:
    refused = _signed_in_refusal(request)
    if refused is not None:
        return refused
    complaint, actor = _anonymous_principal(request)
    return _reporter_download(complaint, actor, pk)


@login_required
def my_attachment(request: HttpRequest, reference: str, pk: int) -> HttpResponse:
    complaint, actor = _own_case(request, reference)
    return _reporter_download(complaint, actor, pk)


def download_response(data: bytes, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    # Always a download, never rendered in the browser: a file is evidence, not a page.
    response["Content-Disposition"] = content_disposition_header(True, name or "attachment")
    response["Cache-Control"] = "no-store"
    return response
