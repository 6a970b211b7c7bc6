"""The sweep: find missed deadlines, claim each exactly once, escalate in batches.

Run every minute by one Celery beat entry and by ``manage.py sweep_deadlines``. Several
sweeps may run at once: complaints are locked in id order with SKIP LOCKED (so sweeps and
handlers never deadlock and a case a handler holds is left for the next pass), and a
deadline is claimed by a conditional UPDATE that only one transaction can win. The
handler's transition closes the same deadline under the same row lock, so a missed
deadline ends exactly one way: met by the handler or escalated by the sweep.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from complaints import access
from complaints.access import Account, Conflicted, conflicted_many, role_holders
from complaints.models import Complaint
from complaints.services.next_due import next_due_refresh
from escalation.models import Deadline, Escalation, Kind, Notification
from escalation.policy import ESCALATION, Policies
from escalation.services import notifications
from escalation.services.deadlines import next_due_sql

log = logging.getLogger(__name__)

TOP_LEVEL = 3
# Who each level goes to (DESIGN.md): senior HR, then compliance, then the audit committee.
LEVEL_ROLE = {1: access.HR_LEAD, 2: access.COMPLIANCE_OFFICER, 3: access.AUDIT_COMMITTEE}


@dataclass
class SweepResult:
    escalated: int = 0
    replies_expired: int = 0
    passes: int = 0
    failed: list[int] = field(default_factory=list)
    due: list[tuple[str, str, int, datetime]] = field(default_factory=list)  # dry run

    def as_dict(self) -> dict[str, Any]:
        return {"escalated": self.escalated, "replies_expired": self.replies_expired,
                "passes": self.passes, "failed": len(self.failed)}


# Cases set aside in one sweep (held by handlers or another sweep) before it stops.
SKIP_LIMIT = 20_000


def _due(now: datetime, limit: int, skip: set[int]) -> list[tuple[int, int, str]]:
    # Served by the partial index deadline_due_running (closed_at IS NULL AND paused_at IS
    # NULL, on due_at).
    rows = (Deadline.objects.filter(closed_at=None, paused_at=None, due_at__lte=now)
            .exclude(complaint_id__in=skip).order_by("due_at")
            .values_list("pk", "complaint_id", "kind")[:limit])
    return list(rows)


def sweep(*, now: datetime | None = None, batch_size: int | None = None, dry_run: bool = False,
          workers: int | None = None) -> SweepResult:
    """Escalate every missed deadline, reading what is due again until nothing is.

    After downtime a case that missed several deadlines climbs the levels it missed, in
    order, one batch after another. Changes and audits per ``_escalate_batch``; a batch
    that fails is retried one case at a time, and a case that still fails is logged and
    left for the next sweep, never a crash loop.

    ``workers`` (default ``SWEEP_WORKERS``) batches of disjoint complaints are escalated at
    once, each on its own connection, so one batch's Python overlaps another's database
    work; only the audit append and the commit are serialised, by the chain head. As soon
    as a batch is done the next is read (leaving out the cases still in flight), so no
    worker waits for the slowest of a round. SQLite has one writer at a time, so there it
    is always one.
    """
    now = now or timezone.now()
    result = SweepResult()
    if dry_run:
        result.due = [
            (d.complaint.reference, d.kind, d.level, d.due_at)
            for d in Deadline.objects.filter(closed_at=None, paused_at=None, due_at__lte=now)
            .select_related("complaint").only("kind", "level", "due_at", "complaint__reference")
            .order_by("due_at")
        ]
        return result
    workers = 1 if connection.vendor == "sqlite" else (workers or settings.SWEEP_WORKERS)
    batch_size = batch_size or settings.SWEEP_BATCH_SIZE
    policies = Policies.current()
    staff: dict[str, list[Account]] = {}
    # Cases this sweep leaves alone from here on: held by others or failing (``skip``),
    # or looked at without effect (``settled``: nothing of theirs is due any more), so the
    # loop never reads the same rows for ever. A case whose reply window expired is not
    # settled: the clocks it resumes may be overdue already, and climb in this sweep.
    skip: set[int] = set()
    settled: set[int] = set()
    expired: set[int] = set()
    running: dict[Future[set[int]], list[int]] = {}
    queued: deque[list[int]] = deque()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="sweep") if workers > 1 else None

    def escalate(chunk: list[int], staff: dict[str, list[Account]]) -> set[int]:
        return _escalate_isolating(chunk, now, policies, staff, skip, result)

    try:
        while True:
            while len(running) < workers and (
                    queued or len(skip) + len(settled) <= SKIP_LIMIT):
                # Past SKIP_LIMIT the cases set aside are mostly another sweep's, working
                # now: rather than send an ever longer NOT IN, the rest is left to the
                # next sweep (beat's next tick).
                if not queued:
                    in_flight = {cid for chunk in running.values() for cid in chunk}
                    batch = _due(now, batch_size * workers, skip | settled | in_flight)
                    if not batch:
                        break
                    result.passes += 1
                    # Read once, and only when needed.
                    staff = staff or role_holders(LEVEL_ROLE.values())
                    queued.extend(_chunks(batch, workers, skip, settled, expired, result))
                    continue
                chunk = queued.popleft()
                future: Future[set[int]]
                if pool is None:
                    future = Future()
                    future.set_result(escalate(chunk, staff))
                else:
                    future = pool.submit(escalate, chunk, staff)
                running[future] = chunk
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = running.pop(future)
                escalated = future.result()
                result.escalated += len(escalated)
                # A case may be due again at the next level (after downtime); one that was
                # not escalated and not set aside has nothing due.
                settled.update(cid for cid in chunk if cid not in escalated)
    finally:
        if pool is not None:
            # Batches still running (when reading what is due failed) finish first: their
            # work commits either way, and a thread mid-batch cannot close its connection.
            wait(running)
            # Each pool thread closes the connection it opened.
            barrier = threading.Barrier(workers)
            list(pool.map(_close_connection, [barrier] * workers))
            pool.shutdown()
    return result


def _chunks(batch: list[tuple[int, int, str]], workers: int, skip: set[int],
            settled: set[int], expired: set[int], result: SweepResult) -> list[list[int]]:
    """Expire the reply windows of a batch read from the due deadlines, and split the rest
    of its cases into at most ``workers`` contiguous slices (each locks its complaints in id
    order). A reply window is expired once a sweep: a case that shows one again is settled."""
    windows = sorted({cid for _, cid, kind in batch if kind == Kind.REPORTER_REPLY})
    settled.update(cid for cid in windows if cid in expired)
    for cid in windows:
        if cid in expired:
            continue
        expired.add(cid)
        if _safely(lambda cid=cid: _expire_reply_window(cid), cid, skip, result):
            result.replies_expired += 1
    missed = sorted({cid for _, cid, kind in batch if kind != Kind.REPORTER_REPLY})
    size = -(-len(missed) // workers) if missed else 1
    return [missed[i:i + size] for i in range(0, len(missed), size)]


def _close_connection(barrier: threading.Barrier) -> None:
    barrier.wait(timeout=30)  # one call per thread, so every thread closes its own
    connection.close()


def _escalate_isolating(chunk: list[int], now: datetime, policies: Policies,
                        staff: dict[str, list[Account]], skip: set[int],
                        result: SweepResult) -> set[int]:
    try:
        return _escalate_batch(chunk, now, policies, staff, skip)
    except Exception:  # noqa: BLE001 - isolate the case that breaks the batch
        escalated: set[int] = set()
        for cid in chunk:
            escalated |= _safely(
                lambda cid=cid: _escalate_batch([cid], now, policies, staff, skip),
                cid, skip, result) or set()
        return escalated


def _safely(work: Any, complaint_id: int, skip: set[int], result: SweepResult) -> Any:
    try:
        return work()
    except Exception:
        log.exception("sweep: complaint %s could not be processed; skipped this sweep",
                      complaint_id)
        skip.add(complaint_id)
        result.failed.append(complaint_id)
        return None


def _expire_reply_window(complaint_id: int) -> bool:
    from complaints.services import complaint_reply_window_expired

    complaint_reply_window_expired(complaint=Complaint(pk=complaint_id))
    return True


def _claim(complaint_ids: list[int], now: datetime) -> list[tuple[int, int, str, Any]]:
    """Close the missed deadlines of these (locked) complaints as escalated; only the
    transaction whose UPDATE matches a deadline gets it back."""
    if connection.vendor == "postgresql":
        # One statement text for any batch, so it is planned once per connection.
        return audit.fetch_prepared(_CLAIM.format(batch="complaint_id = ANY(%b::bigint[])"), [
            now, Deadline.Outcome.ESCALATED, complaint_ids, now, Kind.REPORTER_REPLY])
    marks = ", ".join(["%s"] * len(complaint_ids))
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM.format(batch=f"complaint_id IN ({marks})"), [
            now, Deadline.Outcome.ESCALATED, *complaint_ids, now, Kind.REPORTER_REPLY])
        return [(row[0], row[1], row[2], row[3]) for row in cursor.fetchall()]


_CLAIM = (
    f"UPDATE {Deadline._meta.db_table} SET closed_at = %s, outcome = %s "  # noqa: S608
    "WHERE {batch} AND closed_at IS NULL AND paused_at IS NULL "
    "AND due_at <= %s AND kind <> %s RETURNING id, complaint_id, kind, due_at"
)


def _escalate_batch(complaint_ids: list[int], now: datetime, policies: Policies,
                    staff: dict[str, list[Account]], skip: set[int]) -> set[int]:
    """Escalate these complaints one level each, in one transaction.

    Changes: the missed deadlines (closed as escalated), each complaint's escalation level,
    assignee (level 1, an hr_lead) and co-owner (level 2, compliance); a new, shorter
    deadline of each missed kind at the new level; an ``Escalation`` row; outbox rows for
    the new owners, the reminded assignee and (from level 2) the reporter.
    Audits ``complaint.escalated`` once per complaint, by the system. Returns the ids of
    the complaints escalated.
    """
    with transaction.atomic():
        locked_q = (Complaint.objects.filter(pk__in=complaint_ids).order_by("pk")
                    .only("id", "reference", "state", "category", "severity", "escalation_level",
                          "assignee_id", "co_owner_id", "reporter_user_id", "anonymous"))
        if connection.features.has_select_for_update_skip_locked:
            locked_q = locked_q.select_for_update(skip_locked=True, of=("self",))
        locked = {c.pk: c for c in locked_q}
        # Held by a handler or by another sweep (on this host or another): left to whoever
        # holds them, or to the next sweep, while this one carries on with the rest of
        # what is due instead of stopping.
        skip.update(set(complaint_ids) - locked.keys())
        if not locked:
            return set()
        claimed = _claim(sorted(locked), now)
        by_complaint: dict[int, list[tuple[int, str, datetime]]] = defaultdict(list)
        for deadline_id, cid, kind, due_at in claimed:
            by_complaint[cid].append((deadline_id, kind, _aware(due_at)))
        if not by_complaint:
            return set()
        # The reporters (told from level 2) and the assignees being replaced (reminded).
        users = _users({uid for cid in by_complaint for uid in
                        (locked[cid].reporter_user_id, locked[cid].assignee_id)
                        if uid is not None})
        # Whether anyone the sweep may tell is conflicted: the senior staff and the
        # assignees it would remind.
        told = {u for people in staff.values() for u in people}
        told |= {users[a] for cid in by_complaint if (a := locked[cid].assignee_id) in users}
        conflicted = conflicted_many(by_complaint, among=told)
        plan = _Plan(now)
        for cid, missed in by_complaint.items():
            plan.escalate(locked[cid], missed, conflicted[cid], staff, policies, users)
        plan.write()
    return set(by_complaint)


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite's RETURNING hands back the stored text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _users(user_ids: set[int]) -> dict[int, Account]:
    if not user_ids:
        return {}
    return {pk: Account(pk, email, person_id) for pk, email, person_id in
            get_user_model().objects.filter(pk__in=user_ids)
            .values_list("pk", "email", "person__id")}


_COMPLAINT = Complaint._meta.db_table
_DEADLINE = Deadline._meta.db_table
_ESCALATION = Escalation._meta.db_table
# On PostgreSQL a batch is written by one set-based statement per table, from plain tuples:
# Django's bulk_update builds a CASE expression per row and field, and model instances cost
# more than the rows they describe (bench/README.md, "Escalation sweep benchmark").
# After the deadlines' INSERT: next_due_at is read from the clocks as they now run.
_UPDATE_COMPLAINTS = (
    f"UPDATE {_COMPLAINT} AS c SET escalation_level = v.level, assignee_id = v.assignee, "  # noqa: S608
    f"co_owner_id = v.co_owner, updated_at = %s, next_due_at = "
    f"{next_due_sql('postgresql', complaint='c.id')} FROM unnest(%b::bigint[], %b::smallint[], "
    "%b::integer[], %b::integer[]) AS v(id, level, assignee, co_owner) WHERE c.id = v.id"
)
_INSERT_DEADLINES = (
    f"INSERT INTO {_DEADLINE} (complaint_id, kind, level, started_at, due_at, paused_at, "  # noqa: S608
    "closed_at, outcome) SELECT c, k, l, %s, d, NULL, NULL, '' FROM unnest(%b::bigint[], "
    "%b::text[], %b::smallint[], %b::timestamptz[]) AS t(c, k, l, d)"
)
_INSERT_ESCALATIONS = (
    f"INSERT INTO {_ESCALATION} (complaint_id, deadline_id, level, raised_at, recipients, "  # noqa: S608
    "reporter_told, resolution) SELECT c, d, l, %s, r::jsonb, t, '' FROM unnest(%b::bigint[], "
    "%b::bigint[], %b::smallint[], %b::text[], %b::boolean[]) AS x(c, d, l, r, t)"
)


class _Plan:
    """Everything one batch writes, gathered as plain rows and then written in a few
    statements."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        # (id, escalation_level, assignee_id, co_owner_id)
        self.complaints: list[tuple[int, int, int | None, int | None]] = []
        # (complaint_id, kind, level, due_at)
        self.deadlines: list[tuple[int, str, int, datetime]] = []
        # (complaint_id, deadline_id, level, recipient ids, reporter_told)
        self.escalations: list[tuple[int, int, int, list[int], bool]] = []
        self.notes: list[notifications.Outgoing] = []
        self.events: list[audit.Entry] = []
        # (complaint id, reference, level) of each case escalated to nobody.
        self.unroutable: list[tuple[int, str, int]] = []

    def escalate(self, complaint: Complaint, missed: list[tuple[int, str, datetime]],
                 conflicted: Conflicted, staff: dict[str, list[Account]], policies: Policies,
                 users: dict[int, Account]) -> None:
        before = complaint.escalation_level
        level, chosen, skipped = before, [], []
        # One level up; a level whose people are all conflicted is skipped to the next.
        while level < TOP_LEVEL:
            level += 1
            chosen = self._eligible(LEVEL_ROLE[level], complaint, conflicted, staff)
            if chosen:
                break
            skipped.append(level)
        if before == TOP_LEVEL:  # already at the top: the committee hears again
            chosen = self._eligible(LEVEL_ROLE[TOP_LEVEL], complaint, conflicted, staff)
        if not chosen:
            log.error("complaint %s: nobody left to escalate to at level %s",
                      complaint.reference, level)
            self.unroutable.append((complaint.pk, complaint.reference, level))
        owner = chosen[complaint.pk % len(chosen)] if chosen else None
        notify = [owner] if owner and level < TOP_LEVEL else chosen
        assignee_id, co_owner_id = complaint.assignee_id, complaint.co_owner_id
        if level == 1 and owner is not None:
            previous = users.get(assignee_id or 0)
            if previous is not None and previous.pk != owner.pk and not conflicted.includes(
                    previous):
                self.notes.append(notifications.build(
                    kind=Notification.Kind.REMINDER, complaint=complaint, now=self.now,
                    recipient=previous))
            assignee_id = owner.pk
        if level == 2 and owner is not None:
            co_owner_id = owner.pk
        self.complaints.append((complaint.pk, level, assignee_id, co_owner_id))
        self.notes += [notifications.build(kind=Notification.Kind.ESCALATED, complaint=complaint,
                                           now=self.now, recipient=user, level=level)
                       for user in notify]
        reporter_told = level >= 2 and before < 2
        if reporter_told:
            self.notes.append(notifications.build(
                kind=Notification.Kind.REPORTER_ESCALATED, complaint=complaint, now=self.now,
                recipient=users.get(complaint.reporter_user_id or 0), for_reporter=True))
        duration = policies.duration(ESCALATION, complaint.category, complaint.severity)
        recipients = [u.pk for u in notify]
        for deadline_id, kind, due_at in missed:
            # Climb from the missed due time, so a sweep after downtime walks the levels in
            # order; at the top, from now, so reminders do not pile up.
            base = due_at if level < TOP_LEVEL else max(due_at, self.now)
            self.deadlines.append((complaint.pk, kind, level, duration.after(base)))
            self.escalations.append((complaint.pk, deadline_id, level, recipients,
                                     reporter_told))
        self.events.append(audit.Entry(
            action=Action.COMPLAINT_ESCALATED, actor=audit.SYSTEM, target=complaint,
            from_state=complaint.state, to_state=complaint.state,
            payload={"from_level": before, "level": level, "skipped_levels": skipped,
                     "missed": sorted(kind for _, kind, _ in missed),
                     "deadlines": sorted(d for d, _, _ in missed),
                     "recipients": recipients, "reporter_told": reporter_told,
                     # A case nobody unconflicted can receive is an incident: marked on the
                     # record, and the operators are told (``alert_operators``).
                     **({"nobody_left": True} if not chosen else {})}))

    @staticmethod
    def _eligible(role: str, complaint: Complaint, conflicted: Conflicted,
                  staff: dict[str, list[Account]]) -> list[Account]:
        return [u for u in staff.get(role, [])
                if u.pk != complaint.reporter_user_id and not conflicted.includes(u)]

    def write(self) -> None:
        if connection.vendor == "postgresql":
            self._write_set_based()
        else:
            self._write_orm()
        notifications.enqueue(self.notes)
        alert_operators(self.unroutable)
        # Last, so the chain head is locked only for the append and the commit.
        audit.record_many(self.events)

    def _write_set_based(self) -> None:
        def columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
            return [list(column) for column in zip(*rows, strict=True)]

        audit.execute_prepared(_INSERT_DEADLINES, [self.now, *columns(self.deadlines)])
        audit.execute_prepared(_UPDATE_COMPLAINTS, [self.now, *columns(self.complaints)])
        audit.execute_prepared(_INSERT_ESCALATIONS, [self.now, *columns([
            (c, d, level, json.dumps(r), told) for c, d, level, r, told in self.escalations
        ])])

    def _write_orm(self) -> None:
        Complaint.objects.bulk_update(
            [Complaint(pk=pk, escalation_level=level, assignee_id=assignee, co_owner_id=co_owner,
                       updated_at=self.now) for pk, level, assignee, co_owner in self.complaints],
            ["escalation_level", "assignee", "co_owner", "updated_at"], batch_size=500)
        Deadline.objects.bulk_create([
            Deadline(complaint_id=c, kind=k, level=level, started_at=self.now, due_at=due)
            for c, k, level, due in self.deadlines])
        Escalation.objects.bulk_create([
            Escalation(complaint_id=c, deadline_id=d, level=level, raised_at=self.now,
                       recipients=r, reporter_told=told)
            for c, d, level, r, told in self.escalations])
        next_due_refresh([pk for pk, *_ in self.complaints])


UNROUTABLE_SUBJECT = "Complaints escalated to nobody: everyone who could receive them is conflicted"
UNROUTABLE_BODY = (
    "The deadline sweep escalated these complaints and found nobody at the level who is not "
    "conflicted on them, so nobody was told:\n\n{cases}\n\nGive the role to someone who is "
    "not in the accused's management chain (the admin, with their directory entry linked), "
    "or ask a compliance officer or audit committee member who is not conflicted to remove a "
    "conflict. Each is marked nobody_left on its complaint.escalated event.\n")


def alert_operators(unroutable: list[tuple[int, str, int]]) -> None:
    """Mail the operators (``ADMINS``) about the cases a sweep escalated to nobody, once the
    sweep's transaction commits. Never an address of anyone conflicted on one of them: an
    operator who is (by their directory entry or their account) is left out."""
    if not unroutable or not settings.ADMINS:
        return
    from complaints.access import active_conflicts

    ids = [cid for cid, _, _ in unroutable]
    conflicted = {email.lower() for row in active_conflicts().filter(complaint_id__in=ids)
                  .values_list("person__email", "person__user__email", "user__email")
                  for email in row if email}
    to = [email for _, email in settings.ADMINS if email.lower() not in conflicted]
    if not to:
        log.error("nobody left to tell about %s unroutable complaint(s)", len(unroutable))
        return
    body = UNROUTABLE_BODY.format(cases="\n".join(
        f"  {reference}: level {level}" for _, reference, level in sorted(unroutable)))

    def send() -> None:
        try:
            EmailMessage(f"{settings.EMAIL_SUBJECT_PREFIX}{UNROUTABLE_SUBJECT}", body,
                         settings.SERVER_EMAIL, to).send()
        except Exception:  # a mail server down must not fail the sweep: the log says it
            log.exception("could not mail the operators about unroutable complaints")

    transaction.on_commit(send)
