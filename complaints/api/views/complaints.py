"""Filing, queues, one case, its transitions and its messages: the web's services and
selectors, with the same need-to-know rules."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
)
from rest_framework import status
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from complaints import services
from complaints.access import ReporterPrincipal, may_decline_withdrawal
from complaints.api import serializers as s
from complaints.api.errors import secret
from complaints.api.permissions import is_staff
from complaints.api.schema import BODY_ERRORS, errors
from complaints.api.views.base import ApiView, case_for, page_links, page_of, valid
from complaints.models import Complaint
from complaints.selectors import case_deadlines, case_messages, staff_queue
from complaints.services.reporter import message_send
from complaints.throttle import filing_limited
from escalation.models import Deadline

# Compliance's answer to a critical complaint's withdrawal request, taken like a transition.
STEPS: dict[str, Callable[..., Complaint]] = {
    **services.TRANSITIONS, "decline_withdrawal": services.complaint_decline_withdrawal}


def _transitions(complaint: Complaint, actor: Any) -> list[str]:
    names = services.available_transitions(complaint, actor)
    if may_decline_withdrawal(complaint, actor):
        names.append("decline_withdrawal")
    return names


def _deadline(deadline: Deadline) -> dict[str, Any]:
    met = deadline.outcome == Deadline.Outcome.MET
    return {"kind": deadline.kind, "due_at": deadline.due_at, "level": deadline.level,
            "met_at": deadline.closed_at if met else None,
            "outcome": deadline.outcome or None, "paused": deadline.paused_at is not None}


def _detail(complaint: Complaint, actor: Any, *, as_reporter: bool) -> dict[str, Any]:
    deadlines = case_deadlines(complaint)
    common = {
        "reference": complaint.reference, "state": complaint.state,
        "category": complaint.category, "severity": complaint.severity,
        "anonymous": complaint.anonymous, "submitted_at": complaint.submitted_at,
        "withdrawal_requested": complaint.withdrawal_requested_at is not None,
        "available_transitions": _transitions(complaint, actor),
    }
    if as_reporter:
        # What the reporter's web page shows: no handler, no case file; an escalation once
        # it reaches the level at which the reporter is told (DESIGN.md).
        return common | {
            "viewer": "reporter",
            "escalation_level": complaint.escalation_level if complaint.escalation_level >= 2
            else None,
            "assignee": None, "co_owner": None, "summary": None, "narrative": None,
            "location": None, "occurred_at": None, "subjects": None,
            "deadlines": [_deadline(d) for d in deadlines.filter(closed_at=None)],
        }
    subjects = complaint.subjects.select_related("person")  # type: ignore[attr-defined]
    return common | {
        "viewer": "staff", "escalation_level": complaint.escalation_level,
        "assignee": complaint.assignee.username if complaint.assignee else None,
        "co_owner": complaint.co_owner.username if complaint.co_owner else None,
        "summary": complaint.summary, "narrative": complaint.narrative,
        "location": complaint.location, "occurred_at": complaint.occurred_at,
        "subjects": [{"employee_id": x.person.employee_id if x.person else None,
                      "name": x.person.name if x.person else x.name_given} for x in subjects],
        "deadlines": [_deadline(d) for d in deadlines],
    }


class ComplaintListView(ApiView):
    def get_permissions(self) -> list[Any]:
        return [AllowAny()] if self.request.method == "POST" else super().get_permissions()

    @extend_schema(
        operation_id="complaints_list", parameters=[s.QueueQuerySerializer],
        responses={200: s.ComplaintPageSerializer, **errors(400, 401)},
        description="The caller's queue, nearest deadline first (staff: mine, unassigned, "
                    "overdue or escalated to me); a reporter's own complaints otherwise.")
    def get(self, request: Request) -> Response:
        query = valid(s.QueueQuerySerializer, request.query_params)
        page, size = query["page"], min(query["page_size"], s.PAGE_SIZE_MAX)
        filters = {k: query[k] for k in ("category", "severity", "state") if k in query}
        caller = request.user
        counts = None
        if is_staff(request):
            queue = staff_queue(caller, name=query["queue"], **filters)
            rows = queue.page.paginator.object_list
            count, counts = queue.page.paginator.count, queue.counts
            results = [{"reference": c.reference, "state": c.state, "category": c.category,
                        "severity": c.severity, "escalation_level": c.escalation_level,
                        "assignee": c.assignee_username,
                        "submitted_at": c.submitted_at, "next_due": c.next_due}
                       for c in page_of(rows, page, size)]
        else:
            own = (Complaint.objects.filter(pk=caller.complaint_id)
                   if isinstance(caller, ReporterPrincipal)
                   else Complaint.objects.filter(reporter_user_id=caller.pk))
            rows = (own.filter(**filters)
                    .only("reference", "state", "category", "severity", "escalation_level",
                          "submitted_at").order_by("-submitted_at", "-pk"))
            count = rows.count()
            results = [{"reference": c.reference, "state": c.state, "category": c.category,
                        "severity": c.severity, "assignee": None, "next_due": None,
                        "escalation_level": c.escalation_level if c.escalation_level >= 2
                        else None, "submitted_at": c.submitted_at}
                       for c in page_of(rows, page, size)]
        return Response(s.ComplaintPageSerializer(
            {**page_links(request, page, size, count), "results": results,
             "counts": counts}).data)

    @extend_schema(
        operation_id="complaints_create", request=s.ComplaintFileSerializer,
        examples=[OpenApiExample("An anonymous report", request_only=True, value={
            "category": "bullying", "summary": "Shouted at in meetings",
            "narrative": "My manager shouts at me in every team meeting.",
            "subjects": ["E1001"], "anonymous": True})],
        responses={201: s.FiledSerializer, **errors(*BODY_ERRORS, 401, 429)},
        description="File a complaint, with a user's token or with none at all (anonymous: "
                    "the answer carries a receipt key, shown once, and is never cached). "
                    "Limited per client address, together with the web form.")
    def post(self, request: Request) -> Response:
        wait = filing_limited(request._request)
        if wait is not None:
            raise Throttled(wait=wait)
        data = valid(s.ComplaintFileSerializer, request.data)
        caller = request.user
        signed_in = (getattr(caller, "is_authenticated", False)
                     and not isinstance(caller, ReporterPrincipal))
        anonymous = data.pop("anonymous", False) or not signed_in
        filed = services.complaint_submit(reporter=None if anonymous else caller,
                                          anonymous=anonymous, **data)
        body: dict[str, Any] = {"reference": filed.complaint.reference,
                                "state": filed.complaint.state}
        if filed.receipt_key:
            body["receipt_key"] = filed.receipt_key
        return secret(Response(s.FiledSerializer(body).data, status=status.HTTP_201_CREATED))


EXAMPLE_REFERENCE = "MC-7KQ2-93TX"
REFERENCE_PARAM = OpenApiParameter(
    "reference", str, OpenApiParameter.PATH, description="The complaint's reference.",
    examples=[OpenApiExample("A reference", value=EXAMPLE_REFERENCE)])


class ComplaintDetailView(ApiView):
    @extend_schema(operation_id="complaints_retrieve", parameters=[REFERENCE_PARAM],
                   responses={200: s.ComplaintDetailSerializer, **errors(401, 404)},
                   description="One case. Staff: audited, 404 when conflicted or not "
                               "involved. A reporter (by token or own account) sees less.")
    def get(self, request: Request, reference: str) -> Response:
        complaint, as_reporter = case_for(request, reference, via="api")
        return Response(s.ComplaintDetailSerializer(
            _detail(complaint, request.user, as_reporter=as_reporter)).data)


def _fields_for(service: Callable[..., Any], given: dict[str, Any]) -> dict[str, Any]:
    """The fields this step's service takes: the ones given, and "" for a missing required
    one so that the service itself says what is missing, as for the web form."""
    taken = {name: p.default is inspect.Parameter.empty
             for name, p in inspect.signature(service).parameters.items()
             if name not in ("complaint", "actor")}
    # An empty field the step does not take loses nothing; anything else would be lost.
    refused = {name: ["This step does not take this field."] for name, value in given.items()
               if name not in taken and value not in ("", None)}
    if refused:
        raise ValidationError(refused)
    return {name: given.get(name) or "" for name, required in taken.items()
            if required or name in given}


class TransitionView(ApiView):
    @extend_schema(
        operation_id="complaints_transition",
        parameters=[REFERENCE_PARAM, OpenApiParameter(
            "name", str, OpenApiParameter.PATH, enum=list(STEPS),
            description="A lifecycle transition, or decline_withdrawal (compliance keeps a "
                        "critical case open despite the reporter's request to withdraw).")],
        request=s.TransitionSerializer,
        examples=[OpenApiExample("A reason", request_only=True,
                                 value={"reason": "The reporter's account is detailed."})],
        responses={200: s.TransitionResultSerializer,
                   **errors(*BODY_ERRORS, 401, 403, 404, 409)},
        description="Take a step. The fields are those of the step's service: reason "
                    "(required where a step must be explained), investigator and plan "
                    "(start_investigation), outcome, findings and recommended_actions "
                    "(record_findings). A non-empty field the step does not take is a 400.")
    def post(self, request: Request, reference: str, name: str) -> Response:
        complaint, _ = case_for(request, reference, via="api:action", audit_read=False)
        given = valid(s.TransitionSerializer, request.data)
        if name not in STEPS:
            # Not a step of the lifecycle: the service refuses it as not possible (409).
            services.complaint_transition(complaint=complaint, actor=request.user, name=name)
        service = STEPS[name]
        done = service(complaint=complaint, actor=request.user, **_fields_for(service, given))
        return Response(s.TransitionResultSerializer({
            "reference": done.reference, "state": done.state,
            "withdrawal_requested": done.withdrawal_requested_at is not None,
            "available_transitions": _transitions(done, request.user)}).data)


class MessageListView(ApiView):
    @extend_schema(operation_id="complaints_messages_list",
                   parameters=[REFERENCE_PARAM, s.PageQuerySerializer],
                   responses={200: s.MessagePageSerializer, **errors(400, 401, 404)},
                   description="The thread between the reporter and the handlers.")
    def get(self, request: Request, reference: str) -> Response:
        complaint, as_reporter = case_for(request, reference, via="api")
        query = valid(s.PageQuerySerializer, request.query_params)
        page, size = query["page"], min(query["page_size"], s.PAGE_SIZE_MAX)
        rows = case_messages(complaint)
        results = [{"id": m.pk, "from_reporter": m.from_reporter, "body": m.body,
                    "created_at": m.created_at,
                    "author": None if as_reporter or m.author is None else m.author.username}
                   for m in page_of(rows, page, size)]
        return Response(s.MessagePageSerializer(
            {**page_links(request, page, size, rows.count()), "results": results}).data)

    @extend_schema(operation_id="complaints_messages_create",
                   parameters=[REFERENCE_PARAM], request=s.MessageInputSerializer,
                   responses={201: s.MessageSerializer,
                              **errors(*BODY_ERRORS, 401, 403, 404, 409)},
                   description="Write to the other side. A reporter's message answers a "
                               "request for information, as on the web.")
    def post(self, request: Request, reference: str) -> Response:
        complaint, as_reporter = case_for(request, reference, via="api:action", audit_read=False)
        data = valid(s.MessageInputSerializer, request.data)
        message = message_send(complaint=complaint, actor=request.user, body=data["body"])
        return Response(s.MessageSerializer({
            "id": message.pk, "from_reporter": message.from_reporter, "body": message.body,
            "created_at": message.created_at,
            "author": None if as_reporter else request.user.username}).data,
            status=status.HTTP_201_CREATED)
