"""Reads of the audit log for the log viewer and the exports.

Need-to-know holds here too: events about a case the reader may not see (its target, or
its anonymous reporter as the actor) are left out, whatever the filters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from audit.actions import Action
from audit.chain import GENESIS_HASH, event_hash, format_time
from audit.models import AuditEvent
from audit.opaque import Cursor, cursor_encode, event_id
from complaints import access
from complaints.access import visible_events

PAGE_SIZE = 50
# The predecessor hashes of a case's events are read in chunks of this many sequence numbers.
_IN_CHUNK = 500


@dataclass(frozen=True)
class LogFilters:
    reference: str = ""
    actor_type: str = ""
    actor_id: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def as_payload(self) -> dict[str, Any]:
        """What the ``audit.log_viewed`` event keeps: the filters used, nothing typed freely
        beyond the case reference (the other values are checked against fixed forms)."""
        payload: dict[str, Any] = {}
        for name in ("reference", "actor_type", "actor_id", "action"):
            if value := getattr(self, name):
                payload[name] = value
        if self.since is not None:
            payload["from"] = format_time(self.since)
        if self.until is not None:
            payload["to"] = format_time(self.until)
        return payload


@dataclass
class LogPage:
    """One page of events, newest first, with opaque cursors for the neighbouring pages
    (``opaque.cursor_encode``: the page links carry no position a reader could read)."""

    events: list[AuditEvent]
    usernames: dict[str, str]
    newer: str | None = None  # cursor of the page of newer events, if there is one
    older: str | None = None  # cursor of the page of older events, if there is one


def _filtered(user: Any, filters: LogFilters) -> QuerySet[AuditEvent]:
    events = visible_events(user)
    if filters.reference:
        events = events.filter(target_type="complaint", target_id=filters.reference)
    if filters.actor_type:
        events = events.filter(actor_type=filters.actor_type)
    if filters.actor_id:
        events = events.filter(actor_id=filters.actor_id)
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.since is not None:
        events = events.filter(occurred_at__gte=filters.since)
    if filters.until is not None:
        events = events.filter(occurred_at__lt=filters.until)
    return events


def actor_label(event: AuditEvent, names: dict[str, str]) -> str:
    """How a page or a document names an event's actor: a username with the id the log
    keeps, "system", or the actor type and id."""
    if event.actor_type == AuditEvent.ActorType.USER:
        name = names.get(event.actor_id)
        return f"{name} (user #{event.actor_id})" if name else f"user #{event.actor_id}"
    if event.actor_type == AuditEvent.ActorType.SYSTEM:
        return "system"
    return f"{event.actor_type} {event.actor_id}".strip()


def usernames_for(user_ids: set[str]) -> dict[str, str]:
    """Usernames of the staff among these user actors: one query.

    Only staff are named. Anyone else is an employee, and in a case's log usually its
    reporter, whose identity the case pages keep from handlers (EU 2019/1937 art. 16): the
    log shows them by the account number it keeps and no more.
    """
    ids = [int(i) for i in user_ids if i.isdigit()]
    if not ids:
        return {}
    staff = (get_user_model().objects.filter(pk__in=ids)
             .filter(Q(groups__name__in=access.ALL_ROLES) | Q(is_staff=True) | Q(is_superuser=True))
             .values_list("pk", "username").distinct())
    return {str(pk): name for pk, name in staff}


def log_page(*, user: Any, filters: LogFilters, cursor: Cursor | None = None,
             size: int = PAGE_SIZE) -> LogPage:
    """A page of events matching ``filters``, newest first (keyset pagination on seq, so
    the cost does not grow with the page number). ``cursor`` (from a previous page) gives
    the page of events older or newer than that page. Two queries: the events and the
    usernames of the users among their actors."""
    events = _filtered(user, filters)
    newer: int | None
    older: int | None
    if cursor is not None and cursor.direction == "after":
        after = cursor.seq
        rows = list(events.filter(seq__gt=after).order_by("seq")[:size + 1])
        more = len(rows) > size
        rows = rows[:size][::-1]
        newer = rows[0].seq if more and rows else None
        older = rows[-1].seq if rows else after + 1
    else:
        before = cursor.seq if cursor is not None else None
        if before is not None:
            events = events.filter(seq__lt=before)
        rows = list(events.order_by("-seq")[:size + 1])
        more = len(rows) > size
        rows = rows[:size]
        older = rows[-1].seq if more else None
        newer = None
        if before is not None:
            newer = rows[0].seq if rows else before - 1
    names = usernames_for({e.actor_id for e in rows
                           if e.actor_type == AuditEvent.ActorType.USER})
    return LogPage(
        events=rows, usernames=names,
        newer=cursor_encode(direction="after", seq=newer) if newer is not None else None,
        older=cursor_encode(direction="before", seq=older) if older is not None else None)


@dataclass(frozen=True)
class ChainStatus:
    verified: AuditEvent | None
    verification: dict[str, Any]
    checkpoint: AuditEvent | None
    checkpoint_head: dict[str, Any]

    @property
    def intact(self) -> bool | None:
        """The latest recorded verification's verdict; None if the chain was never verified."""
        if self.verified is None:
            return None
        return bool(self.verification.get("intact"))

    def actor_ids(self) -> set[str]:
        return {e.actor_id for e in (self.verified, self.checkpoint)
                if e is not None and e.actor_type == AuditEvent.ActorType.USER}


def _latest(action: Action) -> AuditEvent | None:
    # Served by the index audit_action_seq.
    return AuditEvent.objects.filter(action=action).order_by("-seq").first()


def _payload(event: AuditEvent | None) -> dict[str, Any]:
    if event is None:
        return {}
    try:
        loaded = json.loads(event.payload)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def chain_status() -> ChainStatus:
    """The latest recorded verification (the hourly task's, or one asked for on the log
    page) and the latest signed checkpoint export. Two queries. Not the head: its hash or
    position would tell a reader about events hidden from them (audit/opaque.py)."""
    verified = _latest(Action.AUDIT_CHAIN_VERIFIED)
    checkpoint = _latest(Action.AUDIT_CHECKPOINT_EXPORTED)
    return ChainStatus(verified=verified,
                       verification=_payload(verified), checkpoint=checkpoint,
                       checkpoint_head=_payload(checkpoint))


def case_events(reference: str) -> list[AuditEvent]:
    """Every event about one case, in sequence order (the index audit_target_seq)."""
    return list(AuditEvent.objects.filter(target_type="complaint", target_id=reference)
                .order_by("seq"))


@dataclass(frozen=True)
class TrailCheck:
    """The result of checking a case's events against the chain, at export time."""

    events: int
    intact: bool
    first_broken_seq: int | None = None
    problem: str = ""


def check_trail(events: list[AuditEvent]) -> TrailCheck:
    """Each event must match its own hash and link to the event just before it in the
    chain (read here): a case's trail cannot be edited or have an event slipped into it
    without this failing. The whole chain is walked by ``audit.services.verify``."""
    wanted = sorted({e.seq - 1 for e in events if e.seq > 1})
    previous: dict[int, str] = {0: GENESIS_HASH}
    for i in range(0, len(wanted), _IN_CHUNK):
        previous.update(AuditEvent.objects.filter(seq__in=wanted[i:i + _IN_CHUNK])
                        .values_list("seq", "hash"))
    for e in events:
        if previous.get(e.seq - 1) != e.prev_hash:
            return TrailCheck(len(events), False, e.seq,
                              "does not link to the event before it in the chain")
        if e.hash != event_hash(e.prev_hash, e.seq, format_time(e.occurred_at), e.actor_type,
                                e.actor_id, e.action, e.target_type, e.target_id,
                                e.from_state, e.to_state, e.payload):
            return TrailCheck(len(events), False, e.seq, "does not match its hash")
    return TrailCheck(len(events), True)


POLICY_ACTIONS = (Action.POLICY_CHANGE_PROPOSED, Action.POLICY_CHANGED,
                  Action.POLICY_CHANGE_REJECTED, Action.CONFIG_OBSERVED)


def _value_text(value: Any) -> str:
    if not isinstance(value, dict):
        return "—"
    source = value.get("source", "")
    if value.get("amount") is None:
        return f"differs by severity ({source})" if source == "varies" else f"none ({source})"
    return f"{value['amount']} {str(value.get('unit', '')).replace('_', ' ')} ({source})"


@dataclass(frozen=True)
class PolicyEvent:
    event: AuditEvent
    actor: str
    payload: dict[str, Any]

    @property
    def id(self) -> str:
        # The log viewer's opaque id, never ``seq``: the distance between two policy events'
        # sequence numbers would count every event between them, hidden ones included.
        return event_id(self.event)

    @property
    def before(self) -> str:
        return _value_text(self.payload.get("before"))

    @property
    def after(self) -> str:
        return _value_text(self.payload.get("after"))


def policy_history(*, limit: int = 100) -> list[PolicyEvent]:
    """The configuration's history as the audit log holds it, newest first: proposals,
    changes, rejections and what the environment was seen to set. Two queries."""
    events = list(AuditEvent.objects.filter(action__in=[a.value for a in POLICY_ACTIONS])
                  .order_by("-seq")[:limit])
    names = usernames_for({e.actor_id for e in events
                           if e.actor_type == AuditEvent.ActorType.USER})
    return [PolicyEvent(event=e, actor=actor_label(e, names), payload=json.loads(e.payload))
            for e in events]
