"""django-helpdesk 2.6.1's ``escalate_tickets``, timed beside the app's sweep
(bench/escalation_bench.py), in a throwaway virtualenv and a generated project on the
scratch database ``bench_sweep_helpdesk``. Nothing is installed into this project's .venv.

This file is also the seeding script the helpdesk virtualenv's Python runs, from the
generated project's folder:

    python helpdesk_compare.py seed --tickets N --overdue M      # one JSON line
    python helpdesk_compare.py check

A ticket is eligible for ``escalate_tickets`` when its queue has ``escalate_days`` set, it
is open, priority is not 1, not on hold, and created at least ``escalate_days`` ago. Each
escalation lowers the priority, writes a follow-up and a ticket change, and renders and
sends one templated e-mail to the submitter (Django's locmem mail backend: no SMTP), as
each of our escalations writes a notification.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

VERSION = "2.6.1"
VENV = Path(os.environ.get("HELPDESK_VENV", Path(tempfile.gettempdir()) / "helpdesk-bench-venv"))

SETTINGS = '''import os
from urllib.parse import urlsplit

_db = urlsplit(os.environ["HELPDESK_DATABASE_URL"])
SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes",
                  "django.contrib.sessions", "django.contrib.messages",
                  "django.contrib.staticfiles", "django.contrib.sites",
                  "django.contrib.humanize", "rest_framework", "helpdesk"]
SITE_ID = 1
ROOT_URLCONF = "hdsite.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                                 "django.contrib.auth.context_processors.auth"]}}]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql",
                         "NAME": _db.path.lstrip("/"), "USER": _db.username,
                         "PASSWORD": _db.password, "HOST": _db.hostname,
                         "PORT": str(_db.port or 5432)}}
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = "helpdesk@example.com"
HELPDESK_TEAMS_MODE_ENABLED = False
'''
URLS = '''from django.urls import include, path

urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]
'''
MANAGE = '''import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hdsite.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
'''


def _pin(package: str) -> str:
    """This project's pin of ``package``, so helpdesk runs on the same Django."""
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    found = re.search(rf'"{re.escape(package)}==([^"]+)"', text)
    if not found:
        raise RuntimeError(f"pyproject.toml pins no {package}")
    return found.group(1)


def ensure_venv() -> str:
    """The throwaway virtualenv's Python, created with pip on first use."""
    python = VENV / "bin" / "python"
    pins = [f"django-helpdesk=={VERSION}", f"Django=={_pin('Django')}", "psycopg[binary]==3.3.9"]
    probe = ("import importlib.metadata as m; "
             "print(m.version('django-helpdesk'), m.version('Django'))")
    if python.exists():
        found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
        if found.stdout.split() == [VERSION, _pin("Django")]:
            return str(python)
    if VENV.exists() and not (VENV / "pyvenv.cfg").exists():
        raise RuntimeError(f"{VENV} exists and is not a virtualenv; not touching it")
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], check=True, timeout=900)
    return str(python)


def run_escalate(tickets: int, overdue: int) -> dict[str, Any]:
    """Time ``manage.py escalate_tickets`` over ``overdue`` eligible of ``tickets`` tickets,
    and check it escalated exactly those."""
    import harness

    python = ensure_venv()
    project = Path(tempfile.mkdtemp(prefix="helpdesk-bench-"))
    try:
        (project / "hdsite").mkdir()
        (project / "hdsite" / "__init__.py").write_text("")
        (project / "hdsite" / "settings.py").write_text(SETTINGS)
        (project / "hdsite" / "urls.py").write_text(URLS)
        (project / "manage.py").write_text(MANAGE)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DJANGO_", "DATABASE_URL", "VIRTUAL_ENV", "PYTHON"))}
        env.update({"HELPDESK_DATABASE_URL": harness.recreate_database("bench_sweep_helpdesk"),
                    "DJANGO_SETTINGS_MODULE": "hdsite.settings"})

        def run(*args: str) -> dict[str, Any]:
            done = subprocess.run([python, *args], cwd=project, env=env, check=True,
                                  capture_output=True, text=True)
            return harness.last_json(done.stdout) if "{" in done.stdout else {}

        run("manage.py", "migrate", "--noinput", "-v", "0")
        run(__file__, "seed", "--tickets", str(tickets), "--overdue", str(overdue))
        harness.log(f"helpdesk {VERSION}: {tickets:,} tickets, {overdue:,} due; "
                    "timing manage.py escalate_tickets")
        harness.wait_quiet()
        done = harness.run_measured([python, "manage.py", "escalate_tickets"], env, project,
                                    dbname="bench_sweep_helpdesk")
        if done["code"] != 0:
            raise RuntimeError(f"escalate_tickets failed: {done['stderr'][-2000:]}")
        checked = run(__file__, "check")
        if checked != {"escalated": overdue, "followups": overdue, "emails": overdue}:
            raise RuntimeError(f"escalate_tickets did not escalate exactly {overdue}: {checked}")
        return {"tickets": tickets, "overdue": overdue, "wall_seconds": done["wall_seconds"],
                "escalations_per_s": round(overdue / done["wall_seconds"], 1),
                "python_cpu_seconds": done["cpu_seconds"],
                "postgres_cpu_seconds": done["postgres_cpu_seconds"]}
    finally:
        shutil.rmtree(project, ignore_errors=True)
        harness.drop_database("bench_sweep_helpdesk")


# --- Run by the helpdesk virtualenv's Python ----------------------------------------------------

def seed(tickets: int, overdue: int) -> None:
    import uuid
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone
    from helpdesk.models import Queue

    get_user_model().objects.create_user("bench_agent", "agent@example.com", is_staff=True)
    queue = Queue.objects.create(title="Support", slug="support", locale="en",
                                 email_address="support@example.com", escalate_days=1)
    now, step = timezone.now(), tickets // overdue
    columns = ("title, created, modified, submitter_email, status, on_hold, description, "
               "priority, queue_id, secret_key")
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY helpdesk_ticket ({columns}) FROM STDIN") as copy:
        for i in range(tickets):
            due = i % step == 0 and i // step < overdue
            created = now - timedelta(days=3 if due else 0, minutes=i % 600)
            copy.write_row((f"Ticket {i}", created, created, f"user{i}@example.com", 1, False,
                            "The printer on the third floor is on fire again.", 3, queue.pk,
                            str(uuid.uuid4())))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("CHECKPOINT")


def check() -> None:
    from helpdesk.models import FollowUp, Ticket

    followups = FollowUp.objects.filter(title="Ticket Escalated")
    print(json.dumps({
        "escalated": Ticket.objects.filter(last_escalation__isnull=False, priority=2).count(),
        "followups": followups.count(),
        "emails": sum(len(r or []) for r in followups.values_list("email_recipients",
                                                                   flat=True))}))


if __name__ == "__main__":
    sys.path[0] = os.getcwd()  # the generated project, not bench/
    import argparse

    import django

    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["seed", "check"])
    parser.add_argument("--tickets", type=int)
    parser.add_argument("--overdue", type=int)
    args = parser.parse_args()
    django.setup()
    if args.mode == "seed":
        seed(args.tickets, args.overdue)
    else:
        check()
