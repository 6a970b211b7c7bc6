"""Data for the web load benchmark: the seed database, the per-run copy, signed-in sessions
and the request files wrk replays.

The seed (``bench_web_seed`` by default) is built once and reused while its recorded shape
matches: escalation_bench's COPY loader writes the directory, the complaints, their
deadlines and subjects; audit_bench's generator writes a valid hash chain; then the SQL here
gives it the shape of a few years of work (most cases closed, the open ones spread over the
lifecycle and assigned to HR reviewers), the conflict rows the directory implies, and the
accounts that file (employees) and work the queues (HR reviewers). Each run works on a fresh
copy (``CREATE DATABASE ... TEMPLATE``), so every run starts from the same rows.
"""

from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from audit_bench import db_url, generate_events, log, recreate_database
from escalation_bench import (
    CONFLICTS_SQL,
    DIRECTORY,
    NEXT_DUE_SQL,
    STAFF,
    load_app_data,
    sql,
)

SEED_VERSION = 3
# Open share of the complaints (one in OPEN_EVERY), and of those the missed deadlines: one
# in OVERDUE_EVERY of all complaints, a multiple of OPEN_EVERY so every missed one is open.
OPEN_EVERY = 25
OVERDUE_EVERY = 500
REVIEWERS = 40
REVIEWER_FIRST_PERSON = 4100
EMPLOYEES = 2000
EMPLOYEE_FIRST_PERSON = 2000
REVIEWER_PREFIX = "bench_web_reviewer_"
EMPLOYEE_PREFIX = "bench_web_employee_"
HR_LEADS = [username for username, role, _ in STAFF if role == "hr_lead"]

NARRATIVE = (
    "Since the spring my team lead has shouted at me in most of our weekly meetings, in front "
    "of the whole team, and twice called my work useless in the team chat. Last week he told "
    "me that people like me do not get promoted here. Two colleagues saw the last meeting and "
    "one of them has the chat messages. I raised it informally with him in June and it got "
    "worse afterwards. I would like this to stop and I am worried about my review next month."
)


def _safe_name(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"refusing odd database name {name!r}")
    if name == "complaints" or name.startswith("test_"):
        raise SystemExit(f"refusing to touch database {name!r}: the app's or a test database")
    return name


def database_exists(server_url: str, name: str) -> bool:
    with psycopg.connect(server_url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            (name,)).fetchone() is not None


def connected(server_url: str, name: str) -> int:
    """How many sessions are connected to database ``name``."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                            (name,)).fetchone()[0]


def database_comment(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                           "WHERE datname = %s", (name,)).fetchone()
    return (row[0] or "") if row else ""


def seed_label(complaints: int, events: int) -> str:
    return f"bench/web_load.py seed v{SEED_VERSION}: complaints={complaints} events={events}"


def ensure_seed(server_url: str, name: str, complaints: int, events: int,
                rebuild: bool = False) -> dict[str, Any]:
    """The seed database with this shape, built unless it already exists."""
    _safe_name(name)
    label = seed_label(complaints, events)
    if not rebuild and database_exists(server_url, name):
        if database_comment(server_url, name) == label:
            log(f"seed database {name} is ready ({label})")
            return {"database": name, "built": False, "label": label}
        log(f"seed database {name} has another shape; rebuilding it")
    if complaints % OVERDUE_EVERY:
        raise SystemExit(f"--complaints must be a multiple of {OVERDUE_EVERY}")
    return build_seed(server_url, name, complaints, events, label)


def build_seed(server_url: str, name: str, complaints: int, events: int,
               label: str) -> dict[str, Any]:
    import subprocess

    from audit_bench import PY, ROOT, django_env

    from complaints.encryption import fernet

    started = time.perf_counter()
    url = db_url(server_url, name)
    log(f"building seed database {name}: {complaints:,} complaints, {events:,} audit events "
        "(once; later runs reuse it)")
    recreate_database(server_url, name)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=django_env(url), check=True)
    f = fernet()
    tokens = {"summary": f.encrypt(b"Shouted at in every team meeting since March.").decode(),
              "narrative": f.encrypt(NARRATIVE.encode()).decode(),
              "empty": f.encrypt(b"").decode()}
    # The conflict rows are written by the reshape, once the cases have their filing times.
    loaded = load_app_data(url, complaints, complaints // OVERDUE_EVERY, tokens,
                           datetime.now(UTC), conflicts=False)
    log(f"  directory, complaints, deadlines and subjects loaded in "
        f"{loaded['load_seconds']} s; reshaping")
    shaped = _reshape(url, complaints)
    log(f"  reshaped in {shaped['seconds']} s; generating {events:,} audit events")
    generated = generate_events(url, events) if events else {"events": 0}
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("complaints_complaint", "escalation_deadline", "auth_user",
                      "complaints_person"):
            conn.execute(f"VACUUM (FULL, ANALYZE) {table}")
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        conn.execute(f"COMMENT ON DATABASE {name} IS {_literal(label)}")
    seconds = round(time.perf_counter() - started, 1)
    log(f"  seed {name} ready in {seconds} s, {size / 2**20:,.0f} MB")
    return {"database": name, "built": True, "label": label, "seconds": seconds,
            "database_mb": round(size / 2**20), "load": loaded, "reshape": shaped,
            "events": generated}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _reshape(url: str, complaints: int) -> dict[str, Any]:
    """Accounts, states, assignees, deadlines and conflicts of a few years of work."""
    started = time.perf_counter()
    statements = [
        # Employees who file, linked to directory people who manage nobody in HR.
        ("INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
         "email, is_staff, is_active, date_joined) SELECT '!', false, %(emp)s || g, '', '', "
         "%(emp)s || g || '@example.com', false, true, now() FROM generate_series(1, %(n_emp)s) g"),
        ("UPDATE complaints_person p SET user_id = u.id FROM auth_user u "
         "WHERE u.username = %(emp)s || (p.id - %(emp_first)s + 1) "
         "AND p.id BETWEEN %(emp_first)s AND %(emp_first)s + %(n_emp)s - 1"),
        # HR reviewers: the intake queue.
        "INSERT INTO auth_group (name) VALUES ('hr_reviewer') ON CONFLICT DO NOTHING",
        ("INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
         "email, is_staff, is_active, date_joined) SELECT '!', false, %(rev)s || g, '', '', "
         "%(rev)s || g || '@example.com', false, true, now() FROM generate_series(1, %(n_rev)s) g"),
        ("INSERT INTO auth_user_groups (user_id, group_id) SELECT u.id, g.id FROM auth_user u, "
         "auth_group g WHERE u.username LIKE %(rev_like)s AND g.name = 'hr_reviewer'"),
        ("UPDATE complaints_person p SET user_id = u.id FROM auth_user u "
         "WHERE u.username = %(rev)s || (p.id - %(rev_first)s + 1) "
         "AND p.id BETWEEN %(rev_first)s AND %(rev_first)s + %(n_rev)s - 1"),
        # One open case in OPEN_EVERY, filed in the last 60 days; the rest closed over three
        # years. Of the open ones (h runs over 0-99 along them): 30 % submitted and unassigned
        # (with every missed acknowledge deadline), 45 % acknowledged, 7 % awaiting the
        # reporter, 13 % investigating (an HR lead), 5 % resolved.
        """
        WITH staff AS (
          SELECT array_agg(id ORDER BY id) FILTER (WHERE username LIKE %(rev_like)s) AS rev,
                 array_agg(id ORDER BY id) FILTER (WHERE username = ANY(%(leads)s)) AS lead
          FROM auth_user
        ), shaped AS (
          SELECT c.id,
                 (c.id - 1) %% %(open_every)s = 0 AS open,
                 (c.id - 1) %% %(overdue_every)s = 0 AS missed,
                 ((c.id - 1) / %(open_every)s * 37) %% 100 AS h
          FROM complaints_complaint c
        )
        UPDATE complaints_complaint c SET
          submitted_at = CASE
            WHEN s.missed THEN now() - interval '2 days'
            WHEN s.open THEN now() - (1 + c.id %% 60) * interval '1 day'
                                   - (c.id %% 1440) * interval '1 minute'
            ELSE now() - interval '60 days' - (c.id * 104729 %% 1035) * interval '1 day'
                       - (c.id %% 1440) * interval '1 minute' END,
          state = CASE
            WHEN NOT s.open THEN 'closed'
            WHEN s.missed OR s.h < 30 THEN 'submitted'
            WHEN s.h < 75 THEN 'acknowledged'
            WHEN s.h < 82 THEN 'awaiting_reporter'
            WHEN s.h < 95 THEN 'investigating'
            ELSE 'resolved' END,
          assignee_id = CASE
            WHEN s.open AND (s.missed OR s.h < 30) THEN NULL
            WHEN s.open AND s.h >= 82 AND s.h < 95 THEN staff.lead[1 + c.id %% 3]
            ELSE staff.rev[1 + ((c.id - 1) / %(open_every)s + (c.id - 1) / %(overdue_every)s)
                           %% %(n_rev)s] END
        FROM shaped s, staff WHERE s.id = c.id
        """,
        ("UPDATE complaints_complaint SET "
         "acknowledged_at = CASE WHEN state <> 'submitted' THEN submitted_at + interval '1 day' "
         "END, investigation_started_at = CASE WHEN state = 'investigating' "
         "THEN submitted_at + interval '5 days' END, "
         "resolved_at = CASE WHEN state = 'resolved' THEN submitted_at + interval '20 days' END, "
         "ended_at = CASE WHEN state = 'closed' THEN submitted_at + interval '40 days' END, "
         "updated_at = now()"),
        # The acknowledge deadline is met on every case past intake; the open ones run the
        # deadline of their stage (one in twenty of those already missed).
        ("UPDATE escalation_deadline d SET closed_at = c.acknowledged_at, outcome = 'met', "
         "started_at = c.submitted_at, due_at = c.submitted_at + interval '7 days' "
         "FROM complaints_complaint c WHERE c.id = d.complaint_id AND c.state <> 'submitted'"),
        ("INSERT INTO escalation_deadline (complaint_id, kind, level, started_at, due_at, "
         "outcome) SELECT id, CASE state WHEN 'acknowledged' THEN 'triage' "
         "WHEN 'awaiting_reporter' THEN 'reporter_reply' WHEN 'investigating' THEN 'findings' "
         "ELSE 'feedback' END, 0, acknowledged_at, CASE WHEN id %% 20 = 0 "
         "THEN now() - (1 + id %% 48) * interval '1 hour' "
         "ELSE now() + (1 + id %% 20) * interval '1 day' END, '' "
         "FROM complaints_complaint WHERE state IN ('acknowledged', 'awaiting_reporter', "
         "'investigating', 'resolved')"),
        # The queues' order, as the app keeps it for the clocks just written.
        NEXT_DUE_SQL,
        # Conflicts, as complaints.services.conflicts.conflicts_refresh writes them.
        CONFLICTS_SQL,
    ]
    params = {"emp": EMPLOYEE_PREFIX, "n_emp": EMPLOYEES, "emp_first": EMPLOYEE_FIRST_PERSON,
              "rev": REVIEWER_PREFIX, "n_rev": REVIEWERS, "rev_first": REVIEWER_FIRST_PERSON,
              "rev_like": REVIEWER_PREFIX + "%", "leads": HR_LEADS,
              "open_every": OPEN_EVERY, "overdue_every": OVERDUE_EVERY}
    if REVIEWER_FIRST_PERSON + REVIEWERS > DIRECTORY:
        raise SystemExit("the directory is too small for the reviewers")
    with psycopg.connect(url) as conn:
        for statement in statements:
            conn.execute(statement, params)
        conn.commit()
    counts = dict(sql(url, "SELECT state, count(*) FROM complaints_complaint GROUP BY state"))
    conflicts = sql(url, "SELECT count(*) FROM complaints_conflict")[0][0]
    return {"seconds": round(time.perf_counter() - started, 1), "states": counts,
            "conflicts": conflicts, "complaints": complaints}


def clone_database(server_url: str, source: str, target: str) -> float:
    """A fresh copy of ``source`` as ``target`` (file copy: fast, and nothing of the source
    changes). Fails if anything is connected to ``source``."""
    _safe_name(target)
    _safe_name(source)
    started = time.perf_counter()
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
        for attempt in range(10):
            try:
                conn.execute(f"CREATE DATABASE {target} TEMPLATE {source} STRATEGY FILE_COPY")
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 9:
                    raise
                time.sleep(3)
    with psycopg.connect(db_url(server_url, target), autocommit=True) as conn:
        conn.execute(f"COMMENT ON DATABASE {target} IS "
                     + _literal(f"bench/web_load.py run copy of {source}"))
    return round(time.perf_counter() - started, 1)


def drop_database(server_url: str, name: str) -> None:
    _safe_name(name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- Who files and who works the queues: signed in before the run ---------------------------

@dataclass
class Visitor:
    """A browser: its cookies and the CSRF token its last page carried."""

    cookies: dict[str, str]
    csrf_token: str
    username: str = ""
    person_id: int | None = None


@dataclass
class Actors:
    employees: list[Visitor] = field(default_factory=list)
    reviewers: list[Visitor] = field(default_factory=list)
    anonymous: list[Visitor] = field(default_factory=list)
    subject_ids: list[str] = field(default_factory=list)
    complaint_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _signed_in(user: Any) -> Visitor:
    """Sign ``user`` in as the login view does (django.contrib.auth.login: a new session,
    a new CSRF secret, last_login, the user_logged_in receivers) and return the cookies a
    browser would then hold."""
    from django.conf import settings
    from django.contrib.auth import login
    from django.middleware.csrf import get_token
    from django.test import RequestFactory
    from django.utils.module_loading import import_string

    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR="127.0.0.1",
                                    HTTP_USER_AGENT="bench/web_load.py")
    request.session = import_string(settings.SESSION_ENGINE + ".SessionStore")()
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.save()
    token = get_token(request)
    return Visitor(cookies={settings.SESSION_COOKIE_NAME: request.session.session_key,
                            settings.CSRF_COOKIE_NAME: request.META["CSRF_COOKIE"]},
                   csrf_token=token, username=user.username,
                   person_id=getattr(getattr(user, "person", None), "pk", None))


def _stranger() -> Visitor:
    """A browser that opened the report form without signing in: a CSRF cookie only."""
    from django.conf import settings
    from django.middleware.csrf import get_token
    from django.test import RequestFactory

    request = RequestFactory().get("/report/")
    token = get_token(request)
    return Visitor(cookies={settings.CSRF_COOKIE_NAME: request.META["CSRF_COOKIE"]},
                   csrf_token=token)


def prepare_actors(employees: int, reviewers: int, strangers: int) -> Actors:
    """Sign in ``employees`` employees (accounts with a directory entry and no staff role)
    and ``reviewers`` HR reviewers in the run database; pick the directory people reports
    name and the complaints the ceiling reads. Missing accounts are created (in the run
    copy only)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from complaints import access
    from complaints.models import Complaint, Person

    started = time.perf_counter()
    user_model = get_user_model()
    filers = list(user_model.objects.filter(is_active=True, person__isnull=False)
                  .exclude(groups__name__in=access.ALL_ROLES).exclude(is_staff=True)
                  .select_related("person").order_by("pk")[:employees])
    if len(filers) < employees:
        free = Person.objects.filter(user__isnull=True).order_by("pk")[:employees - len(filers)]
        for person in free:
            user = user_model.objects.create(username=f"{EMPLOYEE_PREFIX}{person.pk}",
                                             email=f"{EMPLOYEE_PREFIX}{person.pk}@example.com")
            user.set_unusable_password()
            user.save(update_fields=["password"])
            person.user = user
            person.save(update_fields=["user"])
            filers.append(user)
    staff = list(user_model.objects.filter(is_active=True, groups__name=access.HR_REVIEWER)
                 .order_by("pk")[:reviewers])
    if not staff:
        group = Group.objects.get_or_create(name=access.HR_REVIEWER)[0]
        for i in range(1, reviewers + 1):
            user = user_model.objects.create(username=f"{REVIEWER_PREFIX}{i}")
            user.groups.add(group)
            staff.append(user)
    actors = Actors()
    # django-axes logs every sign-in at INFO: a thousand lines here say nothing.
    axes_log = logging.getLogger("axes")
    level = axes_log.level
    axes_log.setLevel(logging.WARNING)
    try:
        actors.employees = [_signed_in(user) for user in filers]
        actors.reviewers = [_signed_in(user) for user in staff]
    finally:
        axes_log.setLevel(level)
    actors.anonymous = [_stranger() for _ in range(strangers)]
    # Reports name anyone but the people signed in here: no filer names themself or a
    # reviewer.
    signed_in = {v.person_id for v in actors.employees + actors.reviewers} - {None}
    people = list(Person.objects.order_by("pk").values_list("pk", "employee_id"))
    rng = random.Random(7)
    candidates = [e for pk, e in people if pk not in signed_in]
    actors.subject_ids = rng.sample(candidates, min(len(candidates), 2000))
    top = Complaint.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    actors.complaint_ids = sorted(rng.randrange(1, top + 1) for _ in range(5000)) if top else [1]
    actors.seconds = round(time.perf_counter() - started, 1)
    return actors


# --- Request files (bench/web/load.lua) -----------------------------------------------------

BROWSER_HEADERS = {
    # The proxy in front terminated TLS (production's SECURE_PROXY_SSL_HEADER).
    "X-Forwarded-Proto": "https",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) bench/web_load.py",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-GB,en;q=0.9",
}
CATEGORIES = ["bullying", "other", "discrimination", "sexual_harassment", "safety", "fraud",
              "retaliation", "violence", "accounting", "sexual_assault"]


def _line(method: str, path: str, body: str, headers: dict[str, str]) -> str:
    fields = [method, path, body]
    for name, value in headers.items():
        fields += [name, value]
    if any("\t" in f or "\n" in f for f in fields):
        raise ValueError("a request field holds a tab or a newline")
    return "\t".join(fields)


def _cookie(visitor: Visitor) -> str:
    return "; ".join(f"{k}={v}" for k, v in visitor.cookies.items())


def write_requests(directory: Path, actors: Actors, origin: str, count: int = 2000
                   ) -> dict[str, Path]:
    """One file per kind of request. Filings rotate over the signed-in sessions and over
    every category (fraud and accounting also notify the audit committee), each naming one
    directory person as the subject, as the form's "Who is it about?" does."""
    rng = random.Random(11)
    files: dict[str, list[str]] = {"read": [], "file_signed_in": [], "file_anonymous": []}
    for pk in actors.complaint_ids:
        files["read"].append(_line("GET", f"/__bench__/read/{pk}/", "", BROWSER_HEADERS))

    def filing(visitor: Visitor, i: int, anonymous: bool) -> str:
        form = {"csrfmiddlewaretoken": visitor.csrf_token,
                "category": CATEGORIES[i % len(CATEGORIES)],
                "summary": f"Shouted at in team meetings ({i})",
                "narrative": NARRATIVE,
                "subjects": rng.choice(actors.subject_ids),
                "conflicted": "", "occurred_at": "",
                "location": "Third floor meeting room"}
        if anonymous:
            form["anonymous"] = "on"
        headers = {**BROWSER_HEADERS, "Cookie": _cookie(visitor),
                   "Content-Type": "application/x-www-form-urlencoded",
                   "Origin": origin, "Referer": f"{origin}/report/"}
        return _line("POST", "/report/", urlencode(form), headers)

    for i in range(count):
        files["file_signed_in"].append(
            filing(actors.employees[i % len(actors.employees)], i, anonymous=False))
        files["file_anonymous"].append(
            filing(actors.anonymous[i % len(actors.anonymous)], i, anonymous=True))
    for queue in ("mine", "unassigned", "overdue"):
        files[f"queue_{queue}"] = [
            _line("GET", f"/staff/?queue={queue}", "",
                  {**BROWSER_HEADERS, "Cookie": _cookie(visitor),
                   "Referer": f"{origin}/staff/"})
            for visitor in actors.reviewers]
    # A team at work: every reviewer's three queues, one reviewer after another.
    files["queue_team"] = [line for lines in zip(
        *(files[f"queue_{queue}"] for queue in ("mine", "unassigned", "overdue")), strict=True)
        for line in lines]
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, lines in files.items():
        path = directory / f"{kind}.tsv"
        path.write_text("\n".join(lines) + "\n")
        paths[kind] = path
    return paths
