"""End to end, with nothing called by hand: a real ``celery worker`` and ``celery beat``,
started here as subprocesses on real Redis and the PostgreSQL test database, escalate a
missed deadline and deliver its notification by email; and a worker killed in the middle of
a delivery leaves the notification to the next worker, which sends it exactly once.

The subprocesses run ``config.settings.local`` with environment overrides: the test
database, a Redis database of their own (flushed first), a sweep and delivery tick every
second, the file-based email backend writing into a temporary directory.
"""

from __future__ import annotations

import contextlib
import email
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from django.db import connection
from django.utils import timezone

from audit import services as audit
from audit.models import AuditEvent
from complaints import access
from complaints.models import Category, Complaint
from complaints.services import complaint_submit
from escalation.models import Deadline, Escalation, Kind, Notification, SlaPolicy, Unit
from escalation.policy import ESCALATION
from tests.factories import UserFactory

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 15  # the workers' own: flushed at the start and end of every test
LEASE_SECONDS = 4
SLOW_EMAIL_SECONDS = 6
FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
SLOW_BACKEND = "tests.e2e.slow_email.SlowFileEmailBackend"
# django.core.mail.backends.filebased writes each message followed by this line.
MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def _celery() -> Path:
    for candidate in (ROOT / ".venv" / "bin" / "celery", Path(sys.executable).with_name("celery")):
        if candidate.exists():
            return candidate
    pytest.fail("no celery executable next to the test interpreter or in .venv/bin")


def _database_url() -> str:
    """The pytest test database (test_<name>), where the committed_db fixture commits."""
    s = connection.settings_dict
    user, password = quote(s["USER"] or "", safe=""), quote(s["PASSWORD"] or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _redis_url() -> str:
    base = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urlunsplit((base.scheme, base.netloc, f"/{REDIS_DB}", "", ""))


class Stack:
    """Celery processes started by one test, each in its own process group, each logging to
    a file; all killed at teardown."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.mail_dir = Path(env["EMAIL_FILE_PATH"])
        self.marker_dir = Path(env["E2E_SLOW_EMAIL_MARKER_DIR"])
        self.logs_dir = tmp / "logs"
        self.logs_dir.mkdir()
        self.procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        self.celery = _celery()

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        assert name not in self.procs, name
        log_path = self.logs_dir / f"{name}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own executable and arguments
                [str(self.celery), "-A", "config.celery_app", *args], cwd=ROOT,
                env={**self.env, **env}, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.procs[name] = (proc, log_path)
        return proc

    def worker(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        return self._start(name, [
            "worker", "--pool", "solo", "--concurrency", "1",
            "-n", f"e2e-{name}-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
        ], env)

    def beat(self, **env: str) -> subprocess.Popen[bytes]:
        return self._start("beat", [
            "beat", "-s", str(self.tmp / "celerybeat-schedule"), "--max-interval", "1",
            "--loglevel", "INFO",
        ], env)

    def kill(self, name: str) -> None:
        """SIGKILL the process group: no warm shutdown, no acknowledgement, no clean-up."""
        proc, _ = self.procs[name]
        # Until it is reaped the leader's pid (the group id) cannot be reused.
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def kill_all(self) -> None:
        for name in self.procs:
            self.kill(name)

    def log(self, name: str) -> str:
        return self.procs[name][1].read_text(errors="replace")

    def assert_running(self, *names: str) -> None:
        for name in names:
            proc, _ = self.procs[name]
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{self.log(name)[-6000:]}")

    def wait_ready(self, name: str, timeout: float = 30) -> None:
        wait_for(lambda: " ready." in self.log(name), timeout, f"{name} to be ready", self, name)

    def dump_logs(self) -> None:
        for name, (proc, path) in self.procs.items():
            lines = path.read_text(errors="replace").splitlines()
            print(f"\n===== {name} (pid {proc.pid}, exit {proc.returncode}), "
                  f"last {min(len(lines), 300)} of {len(lines)} lines: {path}")
            print("\n".join(lines[-300:]))


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, stack: Stack,
             *running: str, describe: Callable[[], str] = lambda: "") -> Any:
    """Poll until ``predicate`` is truthy; fail at once if a process that should be running
    has died, and after ``timeout`` seconds with the state ``describe`` gives."""
    deadline = time.monotonic() + timeout
    while True:
        stack.assert_running(*running)
        if value := predicate():
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}. {describe()}")
        time.sleep(0.2)


@pytest.fixture
def stack(committed_db: None, tmp_path: Path) -> Any:
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL: run it through `make test-services`")
    redis_url = _redis_url()
    try:
        broker = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
        broker.ping()
        broker.flushdb()
    except redis.RedisError as exc:
        pytest.fail(f"this test needs Redis at {redis_url} (`make services`): {exc}")
    for folder in ("mail", "markers", "var"):
        (tmp_path / folder).mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis_url,
        "VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
        "SWEEP_EVERY_SECONDS": "1",
        "AUDIT_VERIFY_EVERY_SECONDS": "86400",
        "NOTIFICATION_LEASE_SECONDS": str(LEASE_SECONDS),
        "EMAIL_BACKEND": FILE_BACKEND,
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "E2E_SLOW_EMAIL_MARKER_DIR": str(tmp_path / "markers"),
        "E2E_SLOW_EMAIL_SECONDS": str(SLOW_EMAIL_SECONDS),
    }
    processes = Stack(tmp_path, env)
    try:
        yield processes
    finally:
        processes.kill_all()
        processes.dump_logs()  # shown by pytest only when the test fails
        broker.flushdb()
        broker.close()


# --- Data ------------------------------------------------------------------------------

ESCALATION_SECONDS = 5


@dataclass
class Staff:
    lead: Any
    compliance: Any
    reporter: Any


@dataclass
class Seeded:
    lead: Any
    compliance: Any
    complaint: Complaint
    deadline: Deadline


def seed_policies_and_staff() -> Staff:
    """A 2-second acknowledgement, a 5-second escalation clock, one hr_lead (level 1, with an
    email), one compliance officer (level 2, no email) and a reporter (no email). Written
    before any worker starts: a worker reads the SLA table at most every 30 seconds."""
    SlaPolicy.objects.create(kind=Kind.ACKNOWLEDGE, category="", severity="", amount=2,
                             unit=Unit.SECONDS)
    SlaPolicy.objects.create(kind=ESCALATION, category="", severity="",
                             amount=ESCALATION_SECONDS, unit=Unit.SECONDS)
    return Staff(
        lead=UserFactory(username="e2e_lead", email="lead@example.com", roles=[access.HR_LEAD]),
        compliance=UserFactory(username="e2e_compliance", email="",
                               roles=[access.COMPLIANCE_OFFICER]),
        reporter=UserFactory(username="e2e_reporter", email=""),
    )


def file_complaint(staff: Staff) -> Seeded:
    """A complaint filed through the service, which starts its 2-second acknowledge clock."""
    complaint = complaint_submit(
        reporter=staff.reporter, category=Category.BULLYING, summary="Shouted at",
        narrative="He shouts at me in every meeting.", subjects=["A. Nother"],
    ).complaint
    deadline = Deadline.objects.get(complaint=complaint, kind=Kind.ACKNOWLEDGE, closed_at=None)
    assert deadline.due_at - deadline.started_at == timedelta(seconds=2)
    return Seeded(lead=staff.lead, compliance=staff.compliance, complaint=complaint,
                  deadline=deadline)


def lead_notification(seeded: Seeded) -> Notification | None:
    return Notification.objects.filter(complaint=seeded.complaint, recipient=seeded.lead,
                                       kind=Notification.Kind.ESCALATED).first()


def describe(seeded: Seeded, stack: Stack) -> Callable[[], str]:
    def state() -> str:
        complaint = Complaint.objects.filter(pk=seeded.complaint.pk).values(
            "escalation_level", "assignee_id", "co_owner_id").first()
        deadlines = list(Deadline.objects.filter(complaint=seeded.complaint).values(
            "kind", "level", "due_at", "closed_at", "outcome"))
        notes = list(Notification.objects.filter(complaint=seeded.complaint).values(
            "pk", "kind", "email", "claimed_until", "delivered_at", "attempts", "last_error"))
        events = list(AuditEvent.objects.values_list("seq", "action"))
        mail = [p.name for p in stack.mail_dir.iterdir()]
        return (f"now={timezone.now()}\ncomplaint={complaint}\ndeadlines={deadlines}\n"
                f"notifications={notes}\naudit={events}\nmail files={mail}")
    return state


def sent_mail(mail_dir: Path) -> list[tuple[Path, Message]]:
    """Every message the file-based backend wrote, with the file it is in."""
    messages = []
    for path in sorted(p for p in mail_dir.iterdir() if p.is_file()):
        for chunk in path.read_bytes().split(MAIL_SEPARATOR):
            if chunk.strip():
                messages.append((path, email.message_from_bytes(chunk)))
    return messages


def message_id(note: Notification) -> str:
    return f"<notification-{note.pk}@complaints>"


# --- Tests -----------------------------------------------------------------------------

def test_a_missed_deadline_escalates_and_mails_by_itself(stack: Stack) -> None:
    staff = seed_policies_and_staff()
    stack.worker("worker")
    stack.beat()
    stack.wait_ready("worker")

    seeded = file_complaint(staff)  # the 2-second clock starts now, with the system running
    state = describe(seeded, stack)
    assert Complaint.objects.get(pk=seeded.complaint.pk).escalation_level == 0

    def escalated_and_delivered() -> bool:
        complaint = Complaint.objects.only("escalation_level").get(pk=seeded.complaint.pk)
        note = lead_notification(seeded)
        return (complaint.escalation_level >= 1
                and Escalation.objects.filter(complaint=seeded.complaint).exists()
                and AuditEvent.objects.filter(action="complaint.escalated",
                                              target_id=seeded.complaint.reference).exists()
                and note is not None and note.delivered_at is not None)

    wait_for(escalated_and_delivered, 60, "the escalation and its delivered notification",
             stack, "worker", "beat", describe=state)

    # The sweep, run by beat in the worker, closed the missed clock as escalated...
    deadline = Deadline.objects.get(pk=seeded.deadline.pk)
    assert deadline.outcome == Deadline.Outcome.ESCALATED
    assert deadline.closed_at is not None and deadline.closed_at >= deadline.due_at
    # ...raised level 1 to the hr_lead, who now owns the case...
    complaint = Complaint.objects.get(pk=seeded.complaint.pk)
    assert complaint.assignee_id == seeded.lead.pk
    first = Escalation.objects.get(complaint=complaint, level=1)
    assert first.deadline_id == deadline.pk
    assert first.recipients == [seeded.lead.pk]
    assert first.raised_at >= deadline.due_at
    # ...on the shorter escalation clock of the SLA table, counted from the missed due time...
    level_1 = Deadline.objects.get(complaint=complaint, kind=Kind.ACKNOWLEDGE, level=1)
    assert level_1.due_at == deadline.due_at + timedelta(seconds=ESCALATION_SECONDS)
    # ...on the record, by the system, in an audit chain that still verifies...
    event = AuditEvent.objects.filter(action="complaint.escalated",
                                      target_id=complaint.reference).order_by("seq").first()
    assert event is not None
    assert event.actor_type == AuditEvent.ActorType.SYSTEM
    assert '"level":1' in event.payload and '"from_level":0' in event.payload
    assert audit.verify().intact
    # ...and the hr_lead's notification went out by email, once.
    note = lead_notification(seeded)
    assert note is not None and note.delivered_at is not None
    assert note.attempts == 1 and note.claimed_until is None and note.last_error == ""
    assert note.delivered_at >= first.raised_at
    mine = [(path, msg) for path, msg in sent_mail(stack.mail_dir)
            if msg["Message-ID"] == message_id(note)]
    assert len(mine) == 1, state()
    _, msg = mine[0]
    assert msg["To"] == "lead@example.com"
    assert msg["Subject"] == note.subject
    assert complaint.reference in msg["Subject"]


def test_a_worker_killed_mid_delivery_leaves_the_mail_to_the_next_one(stack: Stack) -> None:
    seeded = file_complaint(seed_policies_and_staff())
    state = describe(seeded, stack)
    # The first worker's mail backend sleeps before it writes anything.
    stack.worker("worker-1", EMAIL_BACKEND=SLOW_BACKEND)
    stack.beat()

    def sending() -> list[Path]:
        return [p for p in stack.marker_dir.iterdir() if not p.name.startswith(".")]

    markers = wait_for(sending, 60, "worker-1 to start sending a notification", stack,
                       "worker-1", "beat", describe=state)
    note = lead_notification(seeded)
    assert note is not None, state()
    assert markers[0].read_text().split() == [message_id(note)]
    # Claimed and leased, not delivered: kill it in mid-send.
    assert note.delivered_at is None and note.claimed_until is not None, state()
    lease_ends = note.claimed_until
    stack.assert_running("worker-1")
    stack.kill("worker-1")
    killed_at = timezone.now()
    assert stack.procs["worker-1"][0].returncode == -signal.SIGKILL
    assert killed_at < lease_ends, "worker-1 was killed after its lease had run out"
    note.refresh_from_db()
    assert note.delivered_at is None and note.claimed_until == lease_ends
    assert not [m for _, m in sent_mail(stack.mail_dir) if m["Message-ID"] == message_id(note)]

    # A new worker (ordinary file backend) takes the notification over once the lease ends.
    stack.worker("worker-2")

    def delivered() -> bool:
        note.refresh_from_db()
        return note.delivered_at is not None

    wait_for(delivered, 60, "worker-2 to deliver the notification", stack, "worker-2", "beat",
             describe=state)

    assert note.delivered_at >= lease_ends  # nobody took it while the dead worker held it
    assert note.claimed_until is None and note.last_error == ""
    # Sent exactly once: one message, in one file, with the notification's own Message-ID.
    mine = [(path, msg) for path, msg in sent_mail(stack.mail_dir)
            if msg["Message-ID"] == message_id(note)]
    assert len(mine) == 1, state()
    files = [p for p in stack.mail_dir.iterdir() if message_id(note).encode() in p.read_bytes()]
    assert files == [mine[0][0]]
    assert mine[0][1]["To"] == "lead@example.com"
    # Later ticks of worker-2 do not send it again.
    time.sleep(1.5)
    assert len([m for _, m in sent_mail(stack.mail_dir)
                if m["Message-ID"] == message_id(note)]) == 1
    # The attempt worker-1 died in counts: two attempts, one delivery (so a message that
    # kills every worker still runs out of attempts instead of looping forever).
    assert note.attempts == 2, state()
