"""COPY streams for the scale data, used by bench/scale_data.py.

Each shard process simulates its complaints, emits their ops in time order, numbers and
formats their rows and writes them through its own connections, one ``COPY ... FROM STDIN``
per table open for the whole load (``ShardEmitter``, ``merge``). It hands the events to the
chain process, which merges the shards' streams in time order and alone numbers and hashes
the audit log (``Chain``).
"""

from __future__ import annotations

import heapq
import random
import time
from contextlib import ExitStack
from typing import Any

import scale_model as model
from scale_model import Case, Op
from scale_org import DAY, MINUTE, SECOND, Org, iso

NULL = "\\N"

# table key -> (table, columns), in the order the loader opens them.
STREAMS: dict[str, tuple[str, str]] = {
    "audit": ("audit_auditevent", "seq, occurred_at, actor_type, actor_id, action, "
              "target_type, target_id, from_state, to_state, payload, prev_hash, hash"),
    "complaint": ("complaints_complaint",
                  "id, reference, category, severity, summary, narrative, occurred_at, "
                  "location, anonymous, receipt_key_hash, state, escalation_level, "
                  "withdrawal_requested_at, submitted_at, acknowledged_at, "
                  "investigation_started_at, dismissal_proposed_at, findings_recorded_at, "
                  "resolved_at, ended_at, reopened_at, updated_at, assignee_id, "
                  "dismissal_proposed_by_id, reporter_user_id, reporter_person_id, "
                  "co_owner_id, purged_at, reporter_identity"),
    "subject": ("complaints_subject", "id, name_given, complaint_id, person_id"),
    "witness": ("complaints_witness", "id, name_given, complaint_id, person_id"),
    "conflict": ("complaints_conflict", "id, source, created_at, complaint_id, person_id, "
                 "user_id"),
    "deadline": ("escalation_deadline", "id, kind, level, started_at, due_at, paused_at, "
                 "closed_at, outcome, complaint_id"),
    "escalation": ("escalation_escalation", "id, level, raised_at, recipients, reporter_told, "
                   "resolution, complaint_id, deadline_id"),
    "notification": ("escalation_notification",
                     "id, for_reporter, kind, subject, body, created_at, read_at, email, "
                     "delivered_at, attempts, next_attempt_at, claimed_until, last_error, "
                     "complaint_id, recipient_id"),
    "investigation": ("complaints_investigation",
                      "id, plan, started_at, outcome, findings, recommended_actions, "
                      "findings_recorded_at, approved_at, approved_by_id, complaint_id, "
                      "findings_recorded_by_id, investigator_id"),
    "interview": ("complaints_interview", "id, interviewee_name, held_at, notes, recorded_at, "
                  "recorded_by_id, investigation_id, interviewee_id"),
    "evidence": ("complaints_evidenceitem", "id, description, recorded_at, recorded_by_id, "
                 "investigation_id"),
    "note": ("complaints_casenote", "id, kind, action, body, created_at, author_id, "
             "complaint_id, digest_salt"),
    "message": ("complaints_message", "id, from_reporter, body, created_at, author_id, "
                "complaint_id"),
}
FLUSH_EVERY = 4096  # ops between writes to the COPY streams (a few MB of text)


def ts(t: int | None) -> str:
    return NULL if t is None else iso(t)


def ref(value: int | None) -> str:
    return NULL if value is None else str(value)


class Streams:
    """One connection and one open COPY per table; lines buffered and written in batches."""

    def __init__(self, url: str, keys: list[str]) -> None:
        import psycopg

        self.stack = ExitStack()
        self.connections: dict[str, Any] = {}
        self.copies: dict[str, Any] = {}
        self.buffers: dict[str, list[str]] = {}
        self.rows: dict[str, int] = {}
        self.write_seconds = 0.0
        for key in keys:
            table, columns = STREAMS[key]
            conn = self.stack.enter_context(psycopg.connect(url))
            conn.execute("SET synchronous_commit = off")
            cursor = self.stack.enter_context(conn.cursor())
            self.copies[key] = self.stack.enter_context(
                cursor.copy(f"COPY {table} ({columns}) FROM STDIN"))
            self.connections[key] = conn
            self.buffers[key] = []
            self.rows[key] = 0

    def flush(self) -> None:
        started = time.perf_counter()
        for key, lines in self.buffers.items():
            if lines:
                self.copies[key].write("".join(lines))
                self.rows[key] += len(lines)
                lines.clear()
        self.write_seconds += time.perf_counter() - started

    def finish(self) -> None:
        """End every COPY and commit each stream's transaction."""
        self.flush()
        started = time.perf_counter()
        self.stack.close()  # ends each COPY, then commits and closes its connection
        self.write_seconds += time.perf_counter() - started


class Tokens:
    """Fernet tokens under the app's field key, one per distinct plaintext (a small pool,
    reused: every encrypted column holds a valid token the ORM can read)."""

    def __init__(self) -> None:
        from complaints.encryption import fernet

        self.fernet = fernet()
        self.cache: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        token = self.cache.get(text)
        if token is None:
            token = self.cache[text] = self.fernet.encrypt(text.encode()).decode()
        return token


class ShardEmitter:
    """One shard's side of the load: numbers and formats the rows of each op (ids strided by
    shard, so shards never collide and ids still grow with time) and writes them to its
    COPY streams; hands each op's audit events, formatted but not yet chained, to ``send``
    in time order."""

    def __init__(self, streams: Streams, org: Org, tokens: Tokens, seed: int,
                 now: int, shard: int, shards: int, receipt_hashes: dict[int, str],
                 send: Any) -> None:
        from audit.chain import canonical_payload
        from escalation.services.notifications import TEXTS

        self.streams, self.org, self.tok, self.now = streams, org, tokens, now
        self.shard, self.shards, self.send = shard, shards, send
        self.buffers = streams.buffers
        self.rng = random.Random(f"emit:{seed}:{shard}")
        self.canonical = canonical_payload
        self.texts = {str(kind): texts for kind, texts in TEXTS.items()}
        self.receipt_hashes = receipt_hashes
        self.next_id = dict.fromkeys(STREAMS, shard + 1)
        self.staff_count = len(org.staff)
        self.empty = tokens("")
        self.ops = 0
        self.events = 0
        self.outbox: list[tuple[int, int, int, list[tuple[str, ...]]]] = []
        self.formatters = {
            "deadline": self._deadline, "escalation": self._escalation,
            "notification": self._notification, "investigation": self._investigation,
            "interview": self._interview, "evidence": self._evidence, "note": self._note,
            "message": self._message,
        }

    def email(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        if user_id <= self.staff_count:
            return f"{self.org.staff[user_id - 1].username}@example.com"
        return f"e{user_id - self.staff_count:07d}@example.com"

    def flush(self) -> None:
        self.streams.flush()
        if self.outbox:
            self.send(self.outbox)
            self.outbox = []

    # -- one op ------------------------------------------------------------------------------

    def op(self, op: Op, case: Case) -> None:
        next_id, shards = self.next_id, self.shards
        for row in op.rows:
            table = row.table
            row.id = next_id[table]
            next_id[table] += shards
            self.buffers[table].append(self.formatters[table](row, case))
        if op.submit:
            self._submitted(case)
        t = op.t
        events = []
        reference = case.reference
        for action, actor_type, actor_id, from_state, to_state, payload in op.events:
            if payload is None:
                text = "{}"
            elif payload.__class__ is str:
                text = payload
            elif payload.__class__ is tuple:
                text = payload[0].format(payload[1])
            else:
                resolved = {}
                for key, value in payload.items():
                    if isinstance(value, model.Row):
                        value = value.id
                    elif isinstance(value, list) and value and isinstance(value[0], model.Row):
                        value = sorted(row.id for row in value)
                    resolved[key] = value
                text = self.canonical(resolved)
            # In event_hash's order, from occurred_at on (audit/chain.py).
            events.append((iso(t), actor_type, actor_id, action, "complaint", reference,
                           from_state, to_state, text))
            t += 150 + (len(events) * 40)  # the next record() in the same transaction
        self.events += len(events)
        self.outbox.append((op.t, self.shard, self.ops, events))
        self.ops += 1
        if self.ops % FLUSH_EVERY == 0:
            self.flush()

    def _submitted(self, case: Case) -> None:
        tok, cid, t0 = self.tok, case.id, case.submitted
        # A real Argon2 hash for the complaints whose receipt key is published.
        receipt = self.receipt_hashes.get(cid, case.receipt_hash)
        self.buffers["complaint"].append("\t".join((
            str(cid), case.reference, case.category, case.severity, tok(case.summary),
            tok(case.narrative), ts(case.occurred), tok(case.location),
            "t" if case.anonymous else "f", receipt, case.state, str(case.level),
            ts(case.withdrawal_requested), iso(t0), ts(case.acknowledged),
            ts(case.investigation_started), ts(case.dismissal_proposed),
            ts(case.findings_recorded), ts(case.resolved), ts(case.ended), ts(case.reopened),
            iso(case.updated), ref(case.assignee), ref(case.proposed_by),
            ref(case.reporter_user), ref(case.reporter_person), ref(case.co_owner), NULL,
            self.empty)) + "\n")
        next_id, shards = self.next_id, self.shards
        lines = self.buffers["subject"]
        for person, name in case.subjects:
            lines.append(f"{next_id['subject']}\t{tok(name)}\t{cid}\t{ref(person)}\n")
            next_id["subject"] += shards
        lines = self.buffers["witness"]
        for person in case.witnesses:
            lines.append(f"{next_id['witness']}\t{self.empty}\t{cid}\t{person}\n")
            next_id["witness"] += shards
        lines = self.buffers["conflict"]
        at = iso(t0)
        first = next_id["conflict"]
        for i, (person, source) in enumerate(case.conflicts.items()):
            lines.append(f"{first + i * shards}\t{source}\t{at}\t{cid}\t{person}\t{NULL}\n")
        next_id["conflict"] = first + len(case.conflicts) * shards

    # -- rows -----------------------------------------------------------------------------------

    def _deadline(self, d: model.Deadline, case: Case) -> str:
        return (f"{d.id}\t{d.kind}\t{d.level}\t{iso(d.started)}\t{iso(d.due)}\t{ts(d.paused)}\t"
                f"{ts(d.closed)}\t{d.outcome}\t{case.id}\n")

    def _escalation(self, e: model.EscalationRow, case: Case) -> str:
        recipients = "[" + ", ".join(map(str, e.recipients)) + "]"
        return (f"{e.id}\t{e.level}\t{iso(e.raised)}\t{recipients}\t"
                f"{'t' if e.reporter_told else 'f'}\t\t{case.id}\t{e.deadline.id}\n")

    def _notification(self, n: model.Notification, case: Case) -> str:
        subject, body = self.texts[n.kind]
        values = {"ref": case.reference, "category": case.category, "level": n.level}
        email = self.email(n.recipient)
        rng, created = self.rng, n.created
        delivered = read = None
        if email and created + 2 * MINUTE < self.now:
            delivered = created + SECOND + int(rng.random() * 59 * SECOND)
        if n.recipient is not None and rng.random() < 0.6:
            read = created + 10 * MINUTE + int(rng.random() * 2 * DAY)
            if read > self.now:
                read = None
        return (f"{n.id}\t{'t' if n.for_reporter else 'f'}\t{n.kind}\t"
                f"{subject.format(**values)}\t{body.format(**values)}\t{iso(created)}\t"
                f"{ts(read)}\t{email}\t{ts(delivered)}\t{1 if delivered else 0}\t"
                f"{iso(created)}\t{NULL}\t\t{case.id}\t{ref(n.recipient)}\n")

    def _investigation(self, i: model.InvestigationRow, case: Case) -> str:
        tok = self.tok
        return (f"{i.id}\t{tok(i.plan)}\t{iso(i.started)}\t{i.outcome}\t{tok(i.findings)}\t"
                f"{tok(i.actions)}\t{ts(i.recorded_at)}\t{ts(i.approved_at)}\t"
                f"{ref(i.approved_by)}\t{case.id}\t{ref(i.recorded_by)}\t{i.investigator}\n")

    def _interview(self, i: model.Interview, case: Case) -> str:
        tok = self.tok
        return (f"{i.id}\t{tok(i.name)}\t{iso(i.held)}\t{tok(i.notes)}\t{iso(i.at)}\t{i.by}\t"
                f"{i.investigation.id}\t{ref(i.person)}\n")

    def _evidence(self, e: model.Evidence, case: Case) -> str:
        return (f"{e.id}\t{self.tok(e.text)}\t{iso(e.at)}\t{e.by}\t{e.investigation.id}\n")

    def _note(self, n: model.Note, case: Case) -> str:
        return (f"{n.id}\treason\t{n.action}\t{self.tok(n.text)}\t{iso(n.created)}\t"
                f"{ref(n.author)}\t{case.id}\t{n.salt}\n")

    def _message(self, m: model.MessageRow, case: Case) -> str:
        return (f"{m.id}\t{'t' if m.from_reporter else 'f'}\t{self.tok(m.text)}\t"
                f"{iso(m.created)}\t{ref(m.author)}\t{case.id}\n")


class Chain:
    """The one writer of the chain: events in time order get their sequence numbers and
    hashes (audit.chain.event_hash, as audit.services does) and go to the audit table."""

    def __init__(self, streams: Streams) -> None:
        from audit.chain import GENESIS_HASH, canonical_payload, event_hash

        self.streams = streams
        self.lines = streams.buffers["audit"]
        self.event_hash, self.canonical = event_hash, canonical_payload
        self.seq = 0
        self.prev = GENESIS_HASH
        self.ops = 0

    def append(self, events: list[tuple[str, ...]]) -> None:
        """The events of one op, consecutively (one transaction holds the chain head)."""
        seq, prev, lines, event_hash = self.seq, self.prev, self.lines, self.event_hash
        for fields in events:
            seq += 1
            digest = event_hash(prev, seq, *fields)
            # COPY text: no value holds a tab, newline or backslash (check_text, tokens).
            lines.append(f"{seq}\t" + "\t".join(fields) + f"\t{prev}\t{digest}\n")
            prev = digest
        self.seq, self.prev = seq, prev
        self.ops += 1
        if self.ops % FLUSH_EVERY == 0:
            self.streams.flush()

    def chain_verified(self, t: int) -> None:
        """The scheduled audit_verify_chain task's own event (audit/tasks.py): what it found
        when it walked the chain."""
        payload = self.canonical({"intact": True, "events": self.seq, "first_broken_seq": None,
                                  "head_hash": self.prev})
        self.append([(iso(t), "system", "", "audit.chain_verified", "audit_chain", "head", "",
                      "", payload)])


def merge(emitter: ShardEmitter, cases: Any) -> None:
    """Emit every op of a shard's cases in time order.

    ``cases`` yields simulated cases in filing order; a case's first op is its filing, so
    once a case is yielded nothing earlier than its filing can still arrive. The heap holds
    one entry per case that still has ops to come.
    """
    heap: list[tuple[int, int, Any, int]] = []
    push, pop, replace = heapq.heappush, heapq.heappop, heapq.heapreplace

    def emit_until(limit: int) -> None:
        while heap and heap[0][0] <= limit:
            _, key, case, index = heap[0]
            ops = case.ops
            op = ops[index]
            ops[index] = None
            emitter.op(op, case)
            index += 1
            if index < len(ops):
                replace(heap, (ops[index].t, key, case, index))
            else:
                pop(heap)

    for case in cases:
        emit_until(case.ops[0].t)
        push(heap, (case.ops[0].t, case.id, case, 0))
    emit_until(2**62)
    emitter.flush()


def check_text(value: str) -> None:
    """COPY's text format would misread a tab, a newline or a backslash."""
    if any(c in value for c in "\t\n\r\\"):
        raise ValueError(f"value unsafe for COPY text format: {value!r}")
