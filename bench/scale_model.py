"""Three years of a large organisation's complaints (bench/scale_org.py), as a
deterministic model.

Plain Python over integers, no database: times are microseconds since the Unix epoch (UTC).
``bench/scale_data.py`` turns the model into rows and the audit hash chain. The rules are
the app's own, imported where they are data and mirrored where they are code:

- the lifecycle and who may take each step (complaints/models.py, complaints/permissions.py);
- the clocks each state runs and their durations (escalation/services/deadlines.py
  ``STATE_KINDS`` and ``PAUSED``, escalation/policy.py ``DEFAULTS``, escalation/calendar.py);
- the sweep's escalation ladder, recipients and payload (escalation/services/sweep.py);
- conflicts of interest: each subject and everyone above them (complaints/conflicts.py),
  staff who are conflicted never handle, decide or hear about the case;
- what each service writes: rows, outbox notifications and audit events with their payloads.

A complaint's whole history is simulated when it is filed (``Simulator.simulate``) and kept
as ops, each an instant with the audit events it appends and the rows it creates; the loader
merges the ops of every complaint in time order. Only Django settings-level modules are
imported here, after ``django.setup()``.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import math
import random
from typing import Any

from scale_org import DAY, HOUR, MINUTE, SECOND, Clock, Org, at_work, below

from complaints import access
from complaints import models as complaint_models
from complaints.models import AUDIT_COMMITTEE_CATEGORIES, CRITICAL_CATEGORIES, REFERENCE_ALPHABET
from complaints.services.sweep import LEVEL_ROLE, TOP_LEVEL
from escalation import models as escalation_models
from escalation.policy import ESCALATION
from escalation.services.deadlines import PAUSED, STATE_KINDS


class State:
    """The app's states (complaints.models.State) as plain strings: cheaper to compare and
    to format by the million."""

    SUBMITTED = str(complaint_models.State.SUBMITTED)
    ACKNOWLEDGED = str(complaint_models.State.ACKNOWLEDGED)
    AWAITING_REPORTER = str(complaint_models.State.AWAITING_REPORTER)
    DISMISSAL_PROPOSED = str(complaint_models.State.DISMISSAL_PROPOSED)
    DISMISSED = str(complaint_models.State.DISMISSED)
    INVESTIGATING = str(complaint_models.State.INVESTIGATING)
    FINDINGS_RECORDED = str(complaint_models.State.FINDINGS_RECORDED)
    RESOLVED = str(complaint_models.State.RESOLVED)
    CLOSED = str(complaint_models.State.CLOSED)
    WITHDRAWN = str(complaint_models.State.WITHDRAWN)


class Kind:
    """The app's deadline kinds (escalation.models.Kind) as plain strings."""

    ACKNOWLEDGE = str(escalation_models.Kind.ACKNOWLEDGE)
    TRIAGE = str(escalation_models.Kind.TRIAGE)
    DECISION = str(escalation_models.Kind.DECISION)
    FINDINGS = str(escalation_models.Kind.FINDINGS)
    FEEDBACK = str(escalation_models.Kind.FEEDBACK)
    REPORTER_REPLY = str(escalation_models.Kind.REPORTER_REPLY)


# --- Shape of the data: every number the generator draws from ---------------------------------

# Share of complaints per category (percent); the critical ones are critical by default.
CATEGORY_SHARES = (
    ("bullying", 22), ("other", 15), ("discrimination", 12), ("sexual_harassment", 12),
    ("safety", 10), ("fraud", 8), ("retaliation", 8), ("violence", 6), ("accounting", 4),
    ("sexual_assault", 3),
)
ANONYMOUS_SHARE = 1 / 3
# Subjects per complaint: 1, 2 or 3; a few are names typed by the reporter, not people.
SUBJECT_COUNTS = ((1, 85), (2, 12), (3, 3))
TYPED_SUBJECT_SHARE = 0.05
MANAGER_SUBJECT_SHARE = 0.6  # complaints are disproportionately about managers
WITNESS_SHARE = 0.25
OCCURRED_AT_SHARE = 0.8

# Steps: (median hours, sigma) of a log-normal delay, standard and critical. The medians
# sit well inside the deadlines (escalation/policy.py), so most steps are on time and the
# tail is what escalates; a late step comes soon after its deadline passes (LATE_MEAN).
DELAYS = {
    "acknowledge": ((30, 0.9), (4, 0.9)),
    "request_information": ((24, 0.8), (8, 0.8)),
    "reporter_reply": ((48, 1.0), (36, 1.0)),
    "triage": ((110, 0.6), (18, 0.6)),
    "decide": ((48, 0.7), (14, 0.7)),
    "findings": ((450, 0.45), (260, 0.45)),
    "close": ((48, 0.8), (30, 0.8)),
    "withdrawal_decision": ((20, 0.8), (20, 0.8)),
}
LATE_MEAN = {"standard": 1.5 * DAY, "critical": 0.5 * DAY}
# Most handlers who would miss a deadline make it anyway, a few hours before it.
DEADLINE_PRESSURE = 0.7
# After a case has been escalated every later step comes this many times sooner.
URGENCY = 3
P_WITHDRAW_SUBMITTED = 0.01
P_INFO_FIRST, P_INFO_AGAIN = 0.18, 0.05
P_NO_REPLY = 0.15
P_WITHDRAW_AT_TRIAGE = 0.03
P_PROPOSE_DISMISSAL = 0.25
P_APPROVE_DISMISSAL = 0.85
P_WITHDRAW_INVESTIGATING = 0.02
P_RETURN_FOR_WORK = 0.12
P_WITHDRAWAL_GRANTED = 0.6  # compliance's decision on a critical case's withdrawal
P_REOPEN = 0.015
P_REPORTER_MESSAGE = 0.15  # a message from the reporter during the investigation, answered
OUTCOMES = (("substantiated", 40), ("not_substantiated", 35), ("inconclusive", 25))
INTERVIEWS = (0, 2)
EVIDENCE = (0, 1)
# Reads (complaint.viewed, reporter.key_accepted) fill the log up to the requested number
# of events. Each case gets a share proportional to how long it was worked (with a tail
# after it ended), investigated cases twice as much.
READ_TAIL = 14 * DAY
READ_VIA_API = 0.15

# --- Text of encrypted fields: a small pool of plaintexts, each encrypted once ----------------

SUMMARIES = (
    "Shouted at in front of the team", "Repeated comments about my appearance",
    "Expense claims that do not add up", "Passed over after raising a concern",
    "Unsafe loading bay practice", "Threatening messages after a meeting",
    "Excluded from meetings since my return", "Invoices approved without delivery",
)
NARRATIVES = (
    "It started in March and has happened most weeks since. Others saw it.",
    "After I raised the issue with my manager I was moved off the project.",
    "The figures in the quarterly report do not match the ledger I was given.",
    "It happened at the team offsite; two colleagues were there.",
)
LOCATIONS = ("", "Head office, third floor", "Warehouse 2", "Remote, on a video call")
# Reasons (CaseNote bodies), by the audit action of the step that requires one.
REASONS = {
    "complaint.information_requested": (
        "Please tell us the dates and who else was present.",
        "Can you share the messages you mention?"),
    "complaint.dismissal_proposed": (
        "Outside the scope of this procedure; referred to line management.",
        "Duplicate of an earlier report on the same events."),
    "complaint.dismissal_rejected": ("There is enough here to investigate.",),
    "complaint.returned_for_work": ("Interview the second witness before concluding.",),
    "complaint.reopened": ("New evidence from the reporter.", "Appeal upheld."),
    "complaint.withdrawal_declined": (
        "The allegation is serious enough to continue without the reporter.",),
}
MESSAGES = ("Here are the dates you asked for.", "Thank you, we are looking into it.",
            "Is there any update?", "We will contact you within two weeks.")
PLANS = ("", "Interview the reporter, the subject and two witnesses.")
FINDINGS = ("The account is supported by two witnesses.",
            "No evidence beyond the reporter's account.")
ACTIONS = ("", "Written warning and training.", "Process change in the team.")
INTERVIEW_NOTES = ("Confirmed the reporter's account of the meeting.",
                   "Did not recall the events described.")
EVIDENCE_TEXT = ("Email thread of 12 March.", "Screenshots of chat messages.",
                 "Rota for the week in question.")
TYPED_NAMES = ("The new shift supervisor", "A contractor called Sam", "Someone from Finance")


def weighted(pairs: tuple[tuple[Any, int], ...]) -> tuple[list[Any], list[int]]:
    values = [v for v, _ in pairs]
    cumulative, total = [], 0
    for _, weight in pairs:
        total += weight
        cumulative.append(total)
    return values, cumulative


def pick(rng: random.Random, table: tuple[list[Any], list[int]]) -> Any:
    values, cumulative = table
    return values[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def lognormal_us(rng: random.Random, median_hours: float, sigma: float) -> int:
    return int(median_hours * HOUR * math.exp(rng.gauss(0.0, sigma)))


def reference(cid: int, seed: int) -> str:
    """A complaint reference (MC-XXXX-XXXX) that looks random and never repeats: the id
    under a bijection of the 31^8 possible references."""
    modulus = len(REFERENCE_ALPHABET) ** 8
    n = (cid * 0x9E3779B1 + seed * 7_919 + 12_345) % modulus  # 0x9E3779B1 is prime to 31
    symbols = []
    for _ in range(8):
        n, r = divmod(n, len(REFERENCE_ALPHABET))
        symbols.append(REFERENCE_ALPHABET[r])
    return f"MC-{''.join(symbols[:4])}-{''.join(symbols[4:])}"


def receipt_key(cid: int, seed: int) -> str:
    """The receipt key of a complaint whose key the load benchmarks may use."""
    rng = random.Random(f"receipt-key:{seed}:{cid}")
    symbols = "".join(rng.choice(REFERENCE_ALPHABET) for _ in range(20))
    return "-".join(symbols[i:i + 4] for i in range(0, 20, 4))


def is_anonymous(cid: int, seed: int) -> bool:
    """A third of reporters stay anonymous (a hash of the id, so it is known up front)."""
    return (cid * 2_654_435_761 + seed * 40_503) % 2**32 < ANONYMOUS_SHARE * 2**32


def unusable_receipt_hash(cid: int, seed: int) -> str:
    """What an Argon2 hash of an unknown key looks like: 64 hex digits no key opens."""
    return hashlib.sha256(f"no-key:{seed}:{cid}".encode()).hexdigest()


# --- One complaint's history ------------------------------------------------------------------

class Row:
    """A row the loader writes when the op that creates it is emitted, so ids grow with
    time (within a shard)."""

    __slots__ = ("id",)
    table = ""

    def __init__(self) -> None:
        self.id = 0


class Deadline(Row):
    __slots__ = ("kind", "level", "started", "due", "paused", "closed", "outcome")
    table = "deadline"

    def __init__(self, kind: str, level: int, started: int, due: int) -> None:
        super().__init__()
        self.kind, self.level, self.started, self.due = kind, level, started, due
        self.paused: int | None = None
        self.closed: int | None = None
        self.outcome = ""


class EscalationRow(Row):
    __slots__ = ("deadline", "level", "raised", "recipients", "reporter_told")
    table = "escalation"

    def __init__(self, deadline: Deadline, level: int, raised: int, recipients: list[int],
                 reporter_told: bool) -> None:
        super().__init__()
        self.deadline, self.level, self.raised = deadline, level, raised
        self.recipients, self.reporter_told = recipients, reporter_told


class Note(Row):
    """A step's reason (CaseNote): the log keeps its id and a salted digest of its text."""

    __slots__ = ("action", "author", "text", "salt", "created", "digest")
    table = "note"

    def __init__(self, action: str, author: int | None, text: str, salt: str,
                 created: int) -> None:
        super().__init__()
        self.action, self.author, self.text, self.salt, self.created = (
            action, author, text, salt, created)
        self.digest = hashlib.sha256(f"{salt}:{text}".encode()).hexdigest()


class MessageRow(Row):
    __slots__ = ("from_reporter", "author", "text", "created")
    table = "message"

    def __init__(self, from_reporter: bool, author: int | None, text: str,
                 created: int) -> None:
        super().__init__()
        self.from_reporter, self.author, self.text, self.created = (
            from_reporter, author, text, created)


class Notification(Row):
    """An outbox row; the loader decides when it was delivered and read."""

    __slots__ = ("recipient", "for_reporter", "kind", "level", "created")
    table = "notification"

    def __init__(self, recipient: int | None, for_reporter: bool, kind: str, created: int,
                 level: int = 0) -> None:
        super().__init__()
        self.recipient, self.for_reporter, self.kind = recipient, for_reporter, kind
        self.created, self.level = created, level


class InvestigationRow(Row):
    __slots__ = ("investigator", "plan", "started", "outcome", "findings", "actions",
                 "recorded_by", "recorded_at", "approved_by", "approved_at")
    table = "investigation"

    def __init__(self) -> None:
        super().__init__()
        self.investigator = 0
        self.plan = ""
        self.started = 0
        self.outcome = ""
        self.findings = ""
        self.actions = ""
        self.recorded_by: int | None = None
        self.recorded_at: int | None = None
        self.approved_by: int | None = None
        self.approved_at: int | None = None


class Interview(Row):
    __slots__ = ("investigation", "person", "name", "held", "notes", "by", "at")
    table = "interview"

    def __init__(self, investigation: InvestigationRow, person: int | None, name: str,
                 held: int, notes: str, by: int, at: int) -> None:
        super().__init__()
        self.investigation, self.person, self.name, self.held = (
            investigation, person, name, held)
        self.notes, self.by, self.at = notes, by, at


class Evidence(Row):
    __slots__ = ("investigation", "text", "by", "at")
    table = "evidence"

    def __init__(self, investigation: InvestigationRow, text: str, by: int, at: int) -> None:
        super().__init__()
        self.investigation, self.text, self.by, self.at = investigation, text, by, at


# Payloads, as audit.chain.canonical_payload writes them. An event's payload is None (no
# payload), a ready canonical text, a (template, row) pair formatted once the loader has
# numbered the row, or a dict (canonical_payload at emission; Row values become their ids).
# check_templates() proves each template equals canonical_payload of the dict it stands for.
VIA = {"web": '{"via":"web"}', "api": '{"via":"api"}'}
REASON = '{{"reason_note":{0.id},"reason_sha256":"{0.digest}"}}'
INTERVIEW = '{{"interview":{0.id}}}'
EVIDENCE_PAYLOAD = '{{"evidence":{0.id}}}'
REPORTER_MESSAGE = '{{"from_reporter":true,"message":{0.id}}}'
STAFF_MESSAGE = '{{"from_reporter":false,"message":{0.id}}}'
TEMPLATE_DICTS = {
    REASON: lambda row: {"reason_note": row.id, "reason_sha256": row.digest},
    INTERVIEW: lambda row: {"interview": row.id},
    EVIDENCE_PAYLOAD: lambda row: {"evidence": row.id},
    REPORTER_MESSAGE: lambda row: {"message": row.id, "from_reporter": True},
    STAFF_MESSAGE: lambda row: {"message": row.id, "from_reporter": False},
}


def check_templates() -> None:
    from audit.chain import canonical_payload

    class Probe:
        id = 123_456
        digest = hashlib.sha256(b"probe").hexdigest()

    for template, as_dict in TEMPLATE_DICTS.items():
        if template.format(Probe) != canonical_payload(as_dict(Probe)):
            raise AssertionError(f"payload template {template!r} is not canonical")
    for via, text in VIA.items():
        if text != canonical_payload({"via": via}):
            raise AssertionError(f"payload {text!r} is not canonical")


class Op:
    """One instant of a case: the audit events it appends, consecutively (one transaction
    holds the chain head), and the rows it creates. An event is (action, actor_type,
    actor_id, from_state, to_state, payload)."""

    __slots__ = ("t", "events", "rows", "submit")

    def __init__(self, t: int, events: list[tuple[Any, ...]], rows: list[Row] | None = None,
                 submit: bool = False) -> None:
        self.t, self.events, self.rows, self.submit = t, events, rows or [], submit


class Case:
    """A complaint: its row, its parties, and its ops in time order."""

    __slots__ = (
        "id", "reference", "category", "severity", "anonymous", "receipt_hash",
        "reporter_person", "reporter_user", "subjects", "witnesses", "conflicts",
        "occurred", "summary", "narrative", "location", "state", "level", "assignee",
        "co_owner", "proposed_by", "withdrawal_requested", "submitted", "acknowledged",
        "investigation_started", "dismissal_proposed", "findings_recorded", "resolved",
        "ended", "reopened", "updated", "investigation", "ops", "segments", "events",
        "weight", "run",
    )


class _Stop(Exception):
    """The next step would come after the moment the data stands at."""


class Simulator:
    """Simulates each complaint from filing to the moment ``now``.

    Escalations happen as the sweep would have run them, up to ``horizon`` (``now`` minus
    the time since the sweep last ran), so a few deadlines that fell due since then are
    overdue and open, as the next sweep would find them.
    """

    def __init__(self, org: Org, clock: Clock, seed: int, now: int, horizon: int) -> None:
        self.org, self.clock, self.seed, self.now, self.horizon = org, clock, seed, now, horizon
        self.categories = weighted(CATEGORY_SHARES)
        self.subject_counts = weighted(SUBJECT_COUNTS)
        self.outcomes = weighted(OUTCOMES)
        self.staff_people = frozenset(org.staff_person.values())

    # -- parties ---------------------------------------------------------------------------

    def _parties(self, case: Case, rng: random.Random) -> None:
        org = self.org
        tree_size = org.size - len(org.board)
        while True:
            subjects: list[int] = []
            for _ in range(pick(rng, self.subject_counts)):
                if rng.random() < MANAGER_SUBJECT_SHARE:
                    person = org.managers[below(rng, len(org.managers))]
                else:
                    person = rng.randint(2, tree_size)
                if person != 1 and person not in subjects:
                    subjects.append(person)
            if not subjects:
                continue
            conflicts: dict[int, str] = {p: "subject" for p in subjects}
            for person in subjects:
                for boss in org.chain(person):
                    conflicts.setdefault(boss, "chain")
            eligible = self._eligible_all(conflicts, 0)
            # Someone must be left for each step (an investigator, and a lead or compliance
            # officer to decide); conflicts run up the chain, so that is almost always so.
            # The chief executive is never a subject: a simplification of this model.
            if all(eligible[role] for role in (access.INVESTIGATOR, access.COMPLIANCE_OFFICER)) \
                    or (eligible[access.INVESTIGATOR] and eligible[access.HR_LEAD]):
                break
        case.conflicts = conflicts
        typed = [rng.choice(TYPED_NAMES)] if rng.random() < TYPED_SUBJECT_SHARE else []
        case.subjects = [(p, "") for p in subjects] + [(None, name) for name in typed]
        main = subjects[0]
        if case.anonymous:
            case.reporter_person = case.reporter_user = None
        else:
            reporter = self._colleague(main, rng)
            # Staff file reports too, but then they are taken off their own case; keep the
            # model simple and let employees report.
            while reporter in conflicts or reporter in org.user_of:
                reporter = rng.randint(2, tree_size)
            case.reporter_person = reporter
            case.reporter_user = org.user_id(reporter)
        case.witnesses = []
        if rng.random() < WITNESS_SHARE:
            witness = self._colleague(main, rng)
            if witness not in conflicts and witness != case.reporter_person:
                case.witnesses.append(witness)

    def _colleague(self, person: int, rng: random.Random) -> int:
        """Someone who works with ``person``: one of their reports, a peer, or anyone."""
        org = self.org
        roll = rng.random()
        team = org.reports.get(person)
        if roll < 0.5 and team:
            return team[below(rng, len(team))]
        peers = org.reports.get(org.manager[person])
        if roll < 0.8 and peers and len(peers) > 1:
            return peers[below(rng, len(peers))]
        return rng.randint(2, org.size - len(org.board))

    def _eligible_all(self, conflicts: dict[int, str], reporter_user: int | None
                      ) -> dict[str, list[int]]:
        """Per role, the staff who may act: not the reporter, not conflicted (in id order,
        as the app's queries return them). Shared lists: callers never change them."""
        if reporter_user not in self.org.staff_person and self.staff_people.isdisjoint(
                conflicts):
            return self.org.by_role
        person = self.org.staff_person
        return {role: [u for u in users if u != reporter_user and person[u] not in conflicts]
                for role, users in self.org.by_role.items()}

    # -- simulation ------------------------------------------------------------------------

    def simulate(self, cid: int, t0: int) -> Case:
        rng = random.Random((self.seed << 40) ^ cid)
        case = Case()
        case.id = cid
        case.reference = reference(cid, self.seed)
        case.category = pick(rng, self.categories)
        case.severity = "critical" if case.category in CRITICAL_CATEGORIES else "standard"
        case.anonymous = is_anonymous(cid, self.seed)
        case.receipt_hash = unusable_receipt_hash(cid, self.seed) if case.anonymous else ""
        self._parties(case, rng)
        case.occurred = (t0 - below(rng, 60 * DAY)) if rng.random() < OCCURRED_AT_SHARE \
            else None
        case.summary = SUMMARIES[below(rng, len(SUMMARIES))]
        case.narrative = NARRATIVES[below(rng, len(NARRATIVES))]
        case.location = LOCATIONS[below(rng, len(LOCATIONS))]
        case.state = State.SUBMITTED
        case.level = 0
        case.assignee = case.co_owner = case.proposed_by = None
        case.withdrawal_requested = None
        case.submitted = t0
        case.acknowledged = case.investigation_started = case.dismissal_proposed = None
        case.findings_recorded = case.resolved = case.ended = case.reopened = None
        case.updated = t0
        case.investigation = None
        case.ops = []
        case.segments = []
        run = _Run(self, case, rng)
        with contextlib.suppress(_Stop):
            run.start()
        case.ops.sort(key=_op_time)
        case.events = sum(len(op.events) for op in case.ops)
        end = min((case.ended or self.now) + READ_TAIL, self.now)
        minutes = max(1, (end - t0) // MINUTE)
        case.weight = minutes * (2 if case.investigation is not None else 1)
        run.read_window = (t0 + MINUTE, max(t0 + MINUTE, end))
        case.segments = run.segments
        case.run = run
        return case

    def add_reads(self, case: Case, count: int) -> None:
        """``count`` reads of the case by the people who worked it, at random times while
        it was worked: staff opening it (complaint.viewed) and an anonymous reporter coming
        back with the receipt key (reporter.key_accepted)."""
        run, case.run = case.run, None
        if not count:
            return
        rng = run.rng
        first, last = run.read_window
        times = sorted(first + below(rng, last + 1 - first) for _ in range(count))
        starts = [s[0] for s in run.segments]
        # The audit committee sees SOX cases (and level-3 ones, which it is told of anyway).
        committee_sees = case.category in AUDIT_COMMITTEE_CATEGORIES and bool(
            run.eligible[access.AUDIT_COMMITTEE])
        reads = []
        for t in times:
            segment = run.segments[max(0, bisect.bisect_right(starts, t) - 1)]
            _, state, assignee, investigator = segment
            roll = rng.random()
            if case.anonymous and roll < 0.06:
                reads.append(Op(t, [("reporter.key_accepted", "reporter", case.reference,
                                     "", "", None)]))
                continue
            if investigator and roll < 0.35 and state in (State.INVESTIGATING,
                                                          State.FINDINGS_RECORDED):
                who = investigator
            elif assignee and roll < 0.75:
                who = assignee
            elif roll >= 0.9 and committee_sees:
                who = run.any_of(access.AUDIT_COMMITTEE, access.COMPLIANCE_OFFICER)
            else:
                # Need-to-know (complaints/access.py): reviewers see the intake stages,
                # senior HR and compliance every case they are not conflicted on.
                handlers = run.eligible[access.HR_REVIEWER] + run.eligible[access.HR_LEAD]
                who = handlers[below(rng, len(handlers))] if handlers and \
                    state in (State.SUBMITTED, State.ACKNOWLEDGED) else \
                    run.any_of(access.HR_LEAD, access.COMPLIANCE_OFFICER)
            seen = at_work(t, rng)
            if seen > last:
                seen = t
            via = "api" if rng.random() < READ_VIA_API else "web"
            reads.append(Op(seen, [("complaint.viewed", "user", str(who), "", "",
                                    VIA[via])]))
        case.ops.extend(reads)
        case.ops.sort(key=_op_time)
        case.events += count


def _op_time(op: Op) -> int:
    return op.t


class _Run:
    """One case being simulated: the state machine, its clocks and the sweep."""

    def __init__(self, sim: Simulator, case: Case, rng: random.Random) -> None:
        self.sim, self.case, self.rng = sim, case, rng
        self.clock = sim.clock
        self.t = case.submitted
        self.open: list[Deadline] = []
        self.segments: list[tuple[int, str, int | None, int | None]] = []
        self.read_window = (case.submitted, case.submitted)
        self.urgent = False
        self.info_requests = 0
        self.reopened = False
        self.dismissal_rejected = False
        self.investigator: int | None = None
        self.eligible = sim._eligible_all(case.conflicts, case.reporter_user)

    # -- helpers -----------------------------------------------------------------------------

    def jitter(self, t: int) -> int:
        # audit.record reads the clock again after the step's own timezone.now().
        return t + 200 + below(self.rng, 2500)

    def any_of(self, *roles_in_order: str) -> int:
        for role in roles_in_order:
            users = self.eligible[role]
            if users:
                return users[below(self.rng, len(users))]
        raise RuntimeError("no eligible staff")

    def reporter_actor(self) -> tuple[str, str]:
        case = self.case
        if case.anonymous:
            return "reporter", case.reference
        return "user", str(case.reporter_user)

    def segment(self, t: int) -> None:
        self.segments.append((t, self.case.state, self.case.assignee, self.investigator))

    def delay(self, step: str) -> int:
        standard, critical = DELAYS[step]
        median, sigma = critical if self.case.severity == "critical" else standard
        took = lognormal_us(self.rng, median, sigma)
        return max(MINUTE, took // URGENCY if self.urgent else took)

    def when(self, step: str, answers: str | None, staff: bool = True) -> int:
        """When the next step comes: a delay from now; a step that would miss the deadline
        it answers comes a little after it instead (the escalation gets things moving)."""
        rng = self.rng
        t = self.t + self.delay(step)
        if staff:
            t = at_work(t, rng)
        if answers is not None:
            due = next((d.due for d in self.open if d.kind == answers and d.level == 0), None)
            if due is not None and t > due:
                if rng.random() < DEADLINE_PRESSURE:
                    return max(self.t + MINUTE, due - HOUR - below(rng, 12 * HOUR))
                t = max(due, self.t) + int(rng.expovariate(1.0) * LATE_MEAN[self.case.severity])
                return at_work(t, rng) if staff else t
        return t

    def advance(self, t: int) -> None:
        """Run the sweep up to ``t``; stop the simulation if ``t`` is after ``now``."""
        self.sweep(min(t, self.sim.horizon))
        if t > self.sim.now:
            raise _Stop
        self.t = t

    def note(self, action: str, author: int | None, t: int) -> Note:
        texts = REASONS[action]
        salt = f"{self.rng.getrandbits(128):032x}"
        return Note(action, author, texts[below(self.rng, len(texts))], salt, t)

    def follow(self, before: str, after: str, t: int, outcome: str = "met") -> list[Deadline]:
        """escalation.services.deadlines.deadlines_follow: close, pause, resume, start."""
        ended, started_kinds, pausing, resuming = _clocks(before, after)
        if after == State.WITHDRAWN:
            outcome = "cancelled"
        still = []
        for deadline in self.open:
            if deadline.kind in ended:
                deadline.closed, deadline.outcome = t, outcome
            else:
                still.append(deadline)
        self.open = still
        if pausing or resuming:
            for deadline in still:
                if deadline.kind in pausing and deadline.paused is None:
                    deadline.paused = t
                elif deadline.kind in resuming and deadline.paused is not None:
                    deadline.due += t - deadline.paused
                    deadline.paused = None
        started = [Deadline(kind, 0, t, self.clock.after(kind, self.case.severity, t))
                   for kind in started_kinds]
        self.open += started
        return started

    def step(self, t: int, action: str, actor: tuple[str, str], after: str,
             payload: Any = None, rows: list[Row] | None = None, outcome: str = "met",
             extra: list[tuple[Any, ...]] | None = None, note: Note | None = None) -> None:
        """A transition at ``t`` by ``actor``: the clocks follow, one audit event (after
        ``extra`` ones in the same transaction); ``note`` is its reason."""
        case = self.case
        before = case.state
        case.state = after
        case.updated = t
        new_rows = self.follow(before, after, t, outcome)
        if rows:
            new_rows = rows + new_rows
        if note is not None:
            new_rows.append(note)
            payload = (REASON, note)
        event = (action, actor[0], actor[1], before, after, payload)
        case.ops.append(Op(self.jitter(t), [*extra, event] if extra else [event], new_rows))
        self.segments.append((t, after, case.assignee, self.investigator))

    # -- the sweep -----------------------------------------------------------------------------

    def sweep(self, limit: int) -> None:
        """Every escalation the sweep (run each minute) makes up to ``limit``."""
        while True:
            running = [d for d in self.open if d.paused is None and d.kind != Kind.REPORTER_REPLY]
            if not running:
                return
            due = min(d.due for d in running)
            at = max(due, self.t) + SECOND + below(self.rng, 60 * SECOND)
            if at > limit:
                return
            missed = sorted((d for d in running if d.due <= at), key=_started_then_kind)
            self.escalate(at, missed)
            if any(d.kind == Kind.FEEDBACK for d in missed):
                self.urgent = True

    def escalate(self, at: int, missed: list[Deadline]) -> None:
        """complaints.services.sweep._Plan.escalate, for one complaint."""
        case = self.case
        before = case.level
        level, chosen, skipped = before, [], []
        while level < TOP_LEVEL:
            level += 1
            chosen = self.eligible[LEVEL_ROLE[level]]
            if chosen:
                break
            skipped.append(level)
        if before == TOP_LEVEL:
            chosen = self.eligible[LEVEL_ROLE[TOP_LEVEL]]
        owner = chosen[case.id % len(chosen)] if chosen else None
        notify = [owner] if owner is not None and level < TOP_LEVEL else list(chosen)
        rows: list[Row] = []
        if level == 1 and owner is not None:
            if case.assignee is not None and case.assignee != owner:
                rows.append(Notification(case.assignee, False, "reminder", at))
            case.assignee = owner
        if level == 2 and owner is not None:
            case.co_owner = owner
        case.level = level
        rows += [Notification(user, False, "escalated", at, level) for user in notify]
        told = level >= 2 and before < 2
        if told:
            rows.append(Notification(case.reporter_user, True, "reporter_escalated", at))
        for deadline in missed:
            deadline.closed, deadline.outcome = at, "escalated"
            base = deadline.due if level < TOP_LEVEL else max(deadline.due, at)
            fresh = Deadline(deadline.kind, level, at,
                             self.clock.after(ESCALATION, case.severity, base))
            rows.append(fresh)
            rows.append(EscalationRow(deadline, level, at, list(notify), told))
        self.open = [d for d in self.open if d.closed is None] + \
            [r for r in rows if isinstance(r, Deadline)]
        case.updated = at
        payload = {"from_level": before, "level": level, "skipped_levels": skipped,
                   "missed": sorted(d.kind for d in missed), "deadlines": list(missed),
                   "recipients": list(notify), "reporter_told": told}
        # record_many reads the clock once for the batch, after the batch's writes.
        case.ops.append(Op(at + 20_000 + below(self.rng, 80_000),
                           [("complaint.escalated", "system", "", case.state, case.state,
                             payload)], rows))
        self.segment(at)

    # -- the lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        case, rng = self.case, self.rng
        t = case.submitted
        rows: list[Row] = self.follow("", State.SUBMITTED, t)
        routed = False
        if not (self.eligible[access.HR_REVIEWER] or self.eligible[access.HR_LEAD]):
            officers = self.eligible[access.COMPLIANCE_OFFICER]
            if officers:
                case.assignee = officers[case.id % len(officers)]
                rows.append(Notification(case.assignee, False, "routed", t))
                routed = True
        if case.category in AUDIT_COMMITTEE_CATEGORIES:
            rows += [Notification(u, False, "filed", t)
                     for u in self.eligible[access.AUDIT_COMMITTEE]]
        payload = {
            "category": case.category, "severity": case.severity,
            "subjects": len(case.subjects), "witnesses": len(case.witnesses),
            "anonymous": case.anonymous}
        if routed:
            payload["routed_to"] = "compliance"
        case.ops.append(Op(self.jitter(t), [("complaint.submitted", *self.reporter_actor(),
                                            "", State.SUBMITTED, payload)], rows, submit=True))
        self.segment(t)

        ack = self.when("acknowledge", Kind.ACKNOWLEDGE)
        if rng.random() < P_WITHDRAW_SUBMITTED:
            withdraw = t + HOUR + below(rng, 3 * DAY - HOUR)
            if withdraw < ack:
                self.withdraw(withdraw)
                return
        self.advance(ack)
        first = access.HR_REVIEWER if rng.random() < 0.9 else access.HR_LEAD
        actor = case.assignee or self.any_of(first, access.HR_REVIEWER, access.HR_LEAD,
                                             access.COMPLIANCE_OFFICER)
        case.acknowledged = ack
        if case.assignee is None:
            case.assignee = actor
        self.step(ack, "complaint.acknowledged", ("user", str(actor)), State.ACKNOWLEDGED)
        self.acknowledged()

    def handler(self) -> int:
        """Who takes a handler's step: the assignee (a reviewer, or the lead or compliance
        officer the case was escalated or routed to)."""
        if self.case.assignee is not None:
            return self.case.assignee
        return self.any_of(access.HR_REVIEWER, access.HR_LEAD, access.COMPLIANCE_OFFICER)

    def decider(self, not_this: int | None = None) -> int:
        """An hr_lead (mostly) or compliance officer who is not ``not_this``."""
        rng = self.rng
        leads = [u for u in self.eligible[access.HR_LEAD] if u != not_this]
        officers = [u for u in self.eligible[access.COMPLIANCE_OFFICER] if u != not_this]
        if self.case.assignee in leads and rng.random() < 0.7:
            return self.case.assignee
        pool = leads if leads and (rng.random() < 0.8 or not officers) else officers
        if not pool:
            raise RuntimeError("no decider left")
        return pool[below(rng, len(pool))]

    def acknowledged(self) -> None:
        case, rng = self.case, self.rng
        while True:
            chance = P_INFO_FIRST if self.info_requests == 0 else P_INFO_AGAIN
            if self.info_requests < 2 and rng.random() < chance:
                self.info_requests += 1
                self.request_information()
                continue
            decided = self.when("triage", Kind.TRIAGE)
            roll = rng.random()
            if roll < P_WITHDRAW_AT_TRIAGE:
                self.withdraw(decided if rng.random() < 0.5 else self.t + below(rng,
                    max(HOUR, decided - self.t)))
                return
            if roll < P_WITHDRAW_AT_TRIAGE + P_PROPOSE_DISMISSAL and not self.dismissal_rejected:
                self.advance(decided)
                actor = self.handler()
                case.proposed_by, case.dismissal_proposed = actor, decided
                note = self.note("complaint.dismissal_proposed", actor, decided)
                self.step(decided, "complaint.dismissal_proposed", ("user", str(actor)),
                          State.DISMISSAL_PROPOSED, note=note)
                if self.dismissal_decision():
                    return
                continue
            self.advance(decided)
            self.start_investigation(decided)
            return

    def request_information(self) -> None:
        case, rng = self.case, self.rng
        asked = self.when("request_information", None)
        self.advance(asked)
        actor = self.handler()
        self.step(asked, "complaint.information_requested", ("user", str(actor)),
                  State.AWAITING_REPORTER,
                  note=self.note("complaint.information_requested", actor, asked))
        reply_due = next(d.due for d in self.open if d.kind == Kind.REPORTER_REPLY)
        expires = reply_due + SECOND + below(rng, 60 * SECOND)
        replies = self.when("reporter_reply", None, staff=False)
        if rng.random() < P_NO_REPLY or replies >= expires:
            if expires > self.sim.horizon:  # the next sweep will find it: waiting still
                self.advance(self.sim.now + 1)
            self.advance(expires)
            self.step(expires, "complaint.reply_window_expired", ("system", ""),
                      State.ACKNOWLEDGED, outcome="expired")
            return
        self.advance(replies)
        message = MessageRow(True, None, MESSAGES[0], replies)
        rows: list[Row] = [message]
        rows += [Notification(u, False, "message", replies)
                 for u in (case.assignee, case.co_owner) if u is not None]
        sent = ("message.sent", *self.reporter_actor(), case.state, case.state,
                (REPORTER_MESSAGE, message))
        self.step(replies, "complaint.reporter_replied", self.reporter_actor(),
                  State.ACKNOWLEDGED, rows=rows, extra=[sent])

    def dismissal_decision(self) -> bool:
        """Approve (the case ends) or reject (back to acknowledged). True if it ended."""
        case, rng = self.case, self.rng
        decided = self.when("decide", Kind.DECISION)
        self.advance(decided)
        actor = self.decider(not_this=case.proposed_by)
        if rng.random() < P_APPROVE_DISMISSAL:
            case.ended = decided
            self.step(decided, "complaint.dismissal_approved", ("user", str(actor)),
                      State.DISMISSED)
            self.ended()
            return True
        case.proposed_by = case.dismissal_proposed = None
        self.dismissal_rejected = True
        self.step(decided, "complaint.dismissal_rejected", ("user", str(actor)),
                  State.ACKNOWLEDGED,
                  note=self.note("complaint.dismissal_rejected", actor, decided))
        return False

    def start_investigation(self, t: int) -> None:
        case, rng = self.case, self.rng
        actor = self.decider()
        investigators = self.eligible[access.INVESTIGATOR]
        self.investigator = investigators[below(rng, len(investigators))]
        rows: list[Row] = []
        investigation = case.investigation
        if investigation is None:
            investigation = case.investigation = InvestigationRow()
            rows.append(investigation)
        investigation.investigator = self.investigator
        investigation.plan = PLANS[below(rng, len(PLANS))]
        investigation.started = t
        investigation.outcome = ""
        investigation.approved_by = investigation.approved_at = None
        case.investigation_started = t
        self.step(t, "complaint.investigation_started", ("user", str(actor)),
                  State.INVESTIGATING, f'{{"investigator":{self.investigator}}}', rows=rows)
        self.investigating()

    def investigating(self) -> None:
        case, rng = self.case, self.rng
        started = self.t
        findings = self.when("findings", Kind.FINDINGS)
        if rng.random() < P_WITHDRAW_INVESTIGATING:
            self.withdraw(started + below(rng, max(HOUR, findings - started)))
            return
        self.record_work(started, findings)
        if rng.random() < P_REPORTER_MESSAGE:
            self.exchange_messages(started + below(rng, max(HOUR, findings - started)),
                                   findings)
        self.advance(findings)
        investigation = case.investigation
        outcome = pick(rng, self.sim.outcomes)
        investigation.outcome = outcome
        investigation.findings = FINDINGS[below(rng, len(FINDINGS))]
        investigation.actions = ACTIONS[below(rng, len(ACTIONS))]
        investigation.recorded_by, investigation.recorded_at = self.investigator, findings
        case.findings_recorded = findings
        self.step(findings, "complaint.findings_recorded", ("user", str(self.investigator)),
                  State.FINDINGS_RECORDED, f'{{"outcome":"{outcome}"}}')
        decided = self.when("decide", Kind.DECISION)
        self.advance(decided)
        actor = self.decider(not_this=self.investigator)
        if rng.random() < P_RETURN_FOR_WORK:
            case.findings_recorded = None
            self.step(decided, "complaint.returned_for_work", ("user", str(actor)),
                      State.INVESTIGATING,
                      note=self.note("complaint.returned_for_work", actor, decided))
            self.investigating()
            return
        investigation.approved_by, investigation.approved_at = actor, decided
        case.resolved = decided
        self.step(decided, "complaint.findings_approved", ("user", str(actor)),
                  State.RESOLVED)
        closed = self.when("close", None)
        self.advance(closed)
        actor = self.handler()
        case.ended = closed
        self.step(closed, "complaint.closed", ("user", str(actor)), State.CLOSED)
        self.ended()

    def record_work(self, started: int, until: int) -> None:
        """Interviews and evidence, recorded by the investigator during the investigation
        (they do not change the state: from/to are empty, as the services record them)."""
        case, rng = self.case, self.rng
        investigation = case.investigation
        span = max(HOUR, until - started)
        for _ in range(rng.randint(*INTERVIEWS)):
            t = at_work(started + below(rng, span), rng)
            if t >= until or t > self.sim.now:
                continue
            person = case.witnesses[0] if case.witnesses and rng.random() < 0.5 else None
            name = "" if person else rng.choice(("", "A colleague of the reporter"))
            row = Interview(investigation, person, name, t - below(rng, 3 * DAY),
                            INTERVIEW_NOTES[below(rng, len(INTERVIEW_NOTES))],
                            self.investigator, t)
            case.ops.append(Op(self.jitter(t), [(
                "investigation.interview_recorded", "user", str(self.investigator), "", "",
                (INTERVIEW, row))], [row]))
        for _ in range(rng.randint(*EVIDENCE)):
            t = at_work(started + below(rng, span), rng)
            if t >= until or t > self.sim.now:
                continue
            row = Evidence(investigation, EVIDENCE_TEXT[below(rng, len(EVIDENCE_TEXT))],
                           self.investigator, t)
            case.ops.append(Op(self.jitter(t), [(
                "investigation.evidence_recorded", "user", str(self.investigator), "", "",
                (EVIDENCE_PAYLOAD, row))], [row]))

    def exchange_messages(self, t: int, until: int) -> None:
        """The reporter asks for news; the assignee answers a day or two later."""
        case, rng = self.case, self.rng
        if t > self.sim.now or t >= until:
            return
        state = State.INVESTIGATING
        message = MessageRow(True, None, MESSAGES[2], t)
        rows: list[Row] = [message]
        rows += [Notification(u, False, "message", t)
                 for u in (case.assignee, case.co_owner) if u is not None]
        case.ops.append(Op(self.jitter(t), [("message.sent", *self.reporter_actor(), state,
                                             state, (REPORTER_MESSAGE, message))], rows))
        answer = at_work(t + 2 * HOUR + below(rng, 2 * DAY - 2 * HOUR), rng)
        if answer > self.sim.now or answer >= until or case.assignee is None:
            return
        reply = MessageRow(False, case.assignee, MESSAGES[3], answer)
        note = Notification(case.reporter_user, True, "message", answer)
        case.ops.append(Op(self.jitter(answer), [("message.sent", "user", str(case.assignee),
                                                  state, state, (STAFF_MESSAGE, reply))],
                           [reply, note]))

    def withdraw(self, t: int) -> None:
        """The reporter withdraws. A critical case only asks; compliance decides."""
        case, rng = self.case, self.rng
        self.advance(t)
        if case.severity != "critical":
            case.ended = t
            self.step(t, "complaint.withdrawn", self.reporter_actor(), State.WITHDRAWN)
            self.ended()
            return
        case.withdrawal_requested = t
        case.updated = t
        case.ops.append(Op(self.jitter(t), [("complaint.withdrawal_requested",
                                             *self.reporter_actor(), case.state, case.state,
                                             {})]))
        decided = self.when("withdrawal_decision", None)
        self.advance(decided)
        officer = self.any_of(access.COMPLIANCE_OFFICER)
        case.withdrawal_requested = None
        if rng.random() < P_WITHDRAWAL_GRANTED:
            case.ended = decided
            self.step(decided, "complaint.withdrawn", ("user", str(officer)), State.WITHDRAWN)
            self.ended()
            return
        case.updated = decided
        note = self.note("complaint.withdrawal_declined", officer, decided)
        case.ops.append(Op(self.jitter(decided), [(
            "complaint.withdrawal_declined", "user", str(officer), case.state, case.state,
            (REASON, note))], [note]))
        self.t = decided
        self.resume()

    def resume(self) -> None:
        """Carry on from the current state after a declined withdrawal."""
        state = self.case.state
        if state == State.SUBMITTED:
            ack = self.when("acknowledge", Kind.ACKNOWLEDGE)
            self.advance(ack)
            actor = self.case.assignee or self.any_of(access.HR_REVIEWER, access.HR_LEAD,
                                                      access.COMPLIANCE_OFFICER)
            self.case.acknowledged = ack
            self.case.assignee = self.case.assignee or actor
            self.step(ack, "complaint.acknowledged", ("user", str(actor)), State.ACKNOWLEDGED)
            self.acknowledged()
        elif state == State.ACKNOWLEDGED:
            self.info_requests = 2
            self.acknowledged()
        elif state == State.INVESTIGATING:
            self.investigating()

    def ended(self) -> None:
        """A closed, dismissed or withdrawn case is occasionally reopened (once)."""
        case, rng = self.case, self.rng
        if self.reopened or rng.random() >= P_REOPEN:
            return
        self.reopened = True
        t = at_work(self.t + 7 * DAY + below(rng, 83 * DAY), rng)
        self.advance(t)
        actor = self.decider()
        case.reopened, case.ended = t, None
        case.proposed_by = case.dismissal_proposed = None
        self.dismissal_rejected = True  # a reopened case is investigated
        self.step(t, "complaint.reopened", ("user", str(actor)), State.ACKNOWLEDGED,
                  note=self.note("complaint.reopened", actor, t))
        self.info_requests = 2
        self.acknowledged()


_CLOCKS: dict[tuple[str, str], tuple[frozenset[str], list[str], frozenset[str],
                                     frozenset[str]]] = {}


def _clocks(before: str, after: str) -> tuple[frozenset[str], list[str], frozenset[str],
                                              frozenset[str]]:
    """For a transition: the clocks it ends, starts (in the order the app inserts them),
    pauses and resumes (escalation/services/deadlines.py)."""
    key = (before, after)
    found = _CLOCKS.get(key)
    if found is None:
        old = {str(k) for k in STATE_KINDS.get(before, frozenset())}
        new = {str(k) for k in STATE_KINDS[after]}
        paused_before = {str(k) for k in PAUSED.get(before, frozenset())}
        paused_after = {str(k) for k in PAUSED.get(after, frozenset())}
        found = _CLOCKS[key] = (frozenset(old - new), sorted(new - old),
                                frozenset(paused_after - paused_before),
                                frozenset(paused_before - paused_after))
    return found


def _started_then_kind(deadline: Deadline) -> tuple[int, str]:
    return deadline.started, deadline.kind


# --- When complaints are filed ----------------------------------------------------------------

def filing_days(first_day: int, last_day: int, count: int) -> list[int]:
    """How many complaints are filed on each day: weekdays busier than weekends, and a
    quarter more by the end of the window than at its start; exactly ``count`` in all."""
    weights = []
    span = max(1, last_day - first_day)
    for day in range(first_day, last_day + 1):
        weekday = (day + 3) % 7
        weight = (0.25 if weekday == 5 else 0.2 if weekday == 6 else 1.0)
        weights.append(weight * (1 + 0.25 * (day - first_day) / span))
    total = sum(weights)
    exact = [count * w / total for w in weights]
    counts = [int(x) for x in exact]
    short = count - sum(counts)
    for i in sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])[:short]:
        counts[i] += 1
    return counts


def filing_times(day: int, n: int, rng: random.Random, first: int, last: int) -> list[int]:
    """``n`` sorted instants on ``day``: mostly office hours, the rest at any time."""
    times = []
    for _ in range(n):
        if rng.random() < 0.75:
            t = day * DAY + 8 * HOUR + below(rng, 10 * HOUR)
        else:
            t = day * DAY + below(rng, DAY)
        times.append(min(max(t, first), last))
    times.sort()
    return times
