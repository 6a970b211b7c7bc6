"""The audit log for compliance and a SIEM: pages in the order written, and the chain's
status on demand. Shapeless to the conflicted: see audit/selectors/opaque.py."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import (
    extend_schema,
)
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent
from audit.opaque import (
    cursor_encode,
    event_id,
    reader_payload,
    verification_payload,
    verification_public,
)
from complaints.access import visible_complaints, visible_events
from complaints.api import serializers as s
from complaints.api.permissions import IsComplianceOfficer
from complaints.api.schema import errors
from complaints.api.views.base import ApiView, reference_or_404, valid
from complaints.models import REFERENCE_ALPHABET
from complaints.services.reads import complaint_open


def _event(event: AuditEvent) -> dict[str, Any]:
    return {"id": event_id(event), "occurred_at": event.occurred_at, "actor": event.actor_id,
            "actor_type": event.actor_type, "action": event.action,
            "target": event.target_id, "target_type": event.target_type,
            "from_state": event.from_state, "to_state": event.to_state,
            "payload": reader_payload(event)}


class AuditEventListView(ApiView):
    permission_classes = [IsComplianceOfficer]

    @extend_schema(
        operation_id="audit_events_list", parameters=[s.AuditQuerySerializer],
        responses={200: s.AuditPageSerializer, **errors(400, 401, 403, 404)},
        description="The log in the order it was written, a page at a time: resume with "
                    "?cursor= the `cursor` of the last page read. Events carry an opaque "
                    "`id`, never their sequence number or hashes, and the events hidden "
                    "from the caller (about a case they are conflicted on or reported) "
                    "leave no trace in what is shown; the page looks the same to every "
                    "caller. ?target= a reference gives one case's events (a read of that "
                    "case: audited, 404 when conflicted). Compliance only.")
    def get(self, request: Request) -> Response:
        query = valid(s.AuditQuerySerializer, request.query_params)
        limit = min(query["limit"], s.PAGE_SIZE_MAX)
        cursor = query.get("cursor")
        after = cursor.seq if cursor is not None and cursor.direction == "after" else 0
        if cursor is not None and cursor.direction != "after":
            raise ValidationError({"cursor": ["Not a cursor for this list."]})
        # Need-to-know holds in the log too, by the one rule the log viewer uses.
        events = visible_events(request.user).filter(seq__gt=after).order_by("seq")
        if "target" in query:
            complaint = complaint_open(actor=request.user, via="api:audit",
                                       reference=reference_or_404(query["target"]))
            events = events.filter(target_type="complaint", target_id=complaint.reference)
        else:
            with transaction.atomic():
                audit.record(action=Action.AUDIT_LOG_VIEWED, actor=request.user,
                             target=("audit_chain", "events"),
                             payload={"via": "api", "page": "next" if cursor else "first"})
        rows = list(events[:limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        resume = cursor_encode(direction="after", seq=rows[-1].seq if rows else after)
        return Response(s.AuditPageSerializer({
            "results": [_event(e) for e in rows], "cursor": resume,
            "next": (replace_query_param(request.build_absolute_uri(), "cursor", resume)
                     if more else None)}).data)


class AuditVerifyView(ApiView):
    permission_classes = [IsComplianceOfficer]

    @extend_schema(operation_id="audit_verify", responses={
        200: s.VerifySerializer, **errors(401, 403)},
        description="Walk the whole chain now: `{intact, checked_at, complete, missing}`, "
                    "and `first_broken_seq` with `problem` only when it is broken (an incident "
                    "to locate). Never the number of events, nor the head's hash (with two "
                    "of them a reader could find a position). `complete` is false when a "
                    "complaint lacks its filing event or a filed one is gone; `missing` says "
                    "what, naming only complaints the reader may open. The check is itself "
                    "on the record. Compliance only.")
    def get(self, request: Request) -> Response:
        result = audit.verify()
        checked_at = timezone.now()
        with transaction.atomic():
            audit.record(action=Action.AUDIT_CHAIN_VERIFIED, actor=request.user,
                         target=("audit_chain", "head"),
                         payload={**verification_payload(result), "via": "api"})
        shown = verification_public(result, checked_at=checked_at)
        return Response(s.VerifySerializer(
            {**shown, "complete": result.complete,
             "missing": _missing_for(request.user, result.missing)}).data)


_REFERENCE = re.compile(rf"MC-[{REFERENCE_ALPHABET}]{{4}}-[{REFERENCE_ALPHABET}]{{4}}")
_POSITION = re.compile(r" \(event #\d+\)")


def _missing_for(user: Any, problems: tuple[str, ...]) -> list[str]:
    """Completeness problems as this reader may see them: a complaint they may not open is
    not named (nor, for one that is gone, is any complaint: its conflicts went with it), and
    no event is located by its position. ``verify_audit`` on the server names everything.
    Every reader gets one line per problem, so the shape is the same for all."""
    named = {m.group(0) for problem in problems if (m := _REFERENCE.search(problem))}
    may_open = set(visible_complaints(user).filter(reference__in=named)
                   .values_list("reference", flat=True))
    shown = []
    for problem in problems:
        m = _REFERENCE.search(problem)
        line = _POSITION.sub("", problem)
        if m and m.group(0) not in may_open:
            line = line.replace(f"complaint {m.group(0)}", "a complaint not shown to you")
        shown.append(line)
    return shown
