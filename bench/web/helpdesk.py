"""django-helpdesk 2.6.1's public ticket filing, side by side with ours (bench/web_load.py).

Helpdesk runs from its throwaway virtualenv and generated project (bench/helpdesk_site.py,
shared with bench/escalation_bench.py), under that virtualenv's gunicorn (this project's
version), on its own scratch database on the same PostgreSQL server. Its browsers are not
signed in: they hold a CSRF cookie and token, as from opening ``/helpdesk/tickets/submit/``,
and POST the public form (``helpdesk.forms.PublicTicketForm``: queue, title, body, priority,
submitter_email). A successful filing is a 302 to ``/helpdesk/view/?ticket=...``
(``helpdesk.views.public.BaseCreateTicketView.form_valid``); each creates a ticket and a
follow-up ("Ticket Opened Via Web") and mails the submitter once (Django's locmem backend:
the message is built and kept in the worker's memory, never sent).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from audit_bench import db_url, log, recreate_database
from escalation_bench import last_json, sql
from helpdesk_site import (
    HELPDESK_VERSION,
    ensure_helpdesk_venv,
    helpdesk_env,
    migrate,
    write_project,
)

from bench.web.data import BROWSER_HEADERS, NARRATIVE, _line, drop_database

SUBMIT = "/helpdesk/tickets/submit/"
SUCCESS_LOCATION = "/helpdesk/view/?ticket="
SUCCESS_ACCESS = f"POST {SUBMIT} 302"
OPENED_TITLE = "Ticket Opened Via Web"  # helpdesk.forms.PublicTicketForm.save
SEED = Path(__file__).resolve().parent.parent / "helpdesk_seed.py"


class HelpdeskServer:
    """The helpdesk side: its virtualenv, project, database and request file."""

    def __init__(self, venv: Path, server_url: str, dbname: str) -> None:
        self.venv = venv
        self.python = str(venv / "bin" / "python")
        self.server_url = server_url
        self.dbname = dbname
        self.url = db_url(server_url, dbname)
        self.project = Path(tempfile.mkdtemp(prefix="helpdesk-web-"))
        self.info: dict[str, Any] = {}

    def env(self, conn_max_age: int) -> dict[str, str]:
        # Persistent connections with health checks, as the app's production settings have.
        return helpdesk_env(self.venv, self.server_url, self.dbname,
                            HELPDESK_CONN_MAX_AGE=str(conn_max_age),
                            HELPDESK_CONN_HEALTH_CHECKS="true")

    def gunicorn_options(self) -> dict[str, Any]:
        return {"executable": str(self.venv / "bin" / "gunicorn"), "app": "hdsite.wsgi",
                "cwd": self.project}

    def prepare(self, requests: Path, origin: str, tickets: int, browsers: int = 500,
                count: int = 2000) -> dict[str, Any]:
        """Virtualenv, project, a fresh migrated database holding ``tickets`` tickets and a
        public queue, and the request file: ``count`` filings over ``browsers`` browsers."""
        setup = ensure_helpdesk_venv(self.venv)
        write_project(self.project)
        env = self.env(0)
        log(f"{self.dbname}: recreating, migrating helpdesk {HELPDESK_VERSION}, loading "
            f"{tickets:,} tickets")
        recreate_database(self.server_url, self.dbname)
        migrate(self.python, self.project, env)
        seeded = last_json(self._seed(env, "seed", "--tickets", str(tickets), "--overdue",
                                      str(max(1, tickets // 10))))
        web = last_json(self._seed(env, "web", "--browsers", str(browsers)))
        if not web["submitter_template"]:
            raise RuntimeError("helpdesk has no newticket_submitter e-mail template")
        rng = random.Random(13)
        lines = []
        for i in range(count):
            cookie, token = web["browsers"][i % len(web["browsers"])]
            form = {"csrfmiddlewaretoken": token, "queue": str(web["queue_id"]),
                    "title": f"Shouted at in team meetings ({i})", "body": NARRATIVE,
                    "priority": "3", "due_date": "",
                    "submitter_email": f"reporter{rng.randrange(1_000_000)}@example.com"}
            headers = {**{k: v for k, v in BROWSER_HEADERS.items() if k != "X-Forwarded-Proto"},
                       "Cookie": f"{web['csrf_cookie_name']}={cookie}",
                       "Content-Type": "application/x-www-form-urlencoded",
                       "Origin": origin, "Referer": f"{origin}{SUBMIT}"}
            lines.append(_line("POST", SUBMIT, urlencode(form), headers))
        requests.parent.mkdir(parents=True, exist_ok=True)
        requests.write_text("\n".join(lines) + "\n")
        self.info = {"setup": setup, "database": self.dbname, "tickets_before": tickets,
                     "seed_load_seconds": seeded["load_seconds"], "queue_id": web["queue_id"],
                     "browsers": len(web["browsers"]), "mail": "django.core.mail.backends."
                     "locmem.EmailBackend (built, kept in memory, not sent)",
                     "submit_url": SUBMIT}
        return self.info

    def _seed(self, env: dict[str, str], *argv: str) -> str:
        done = subprocess.run([self.python, str(SEED), *argv], cwd=self.project, env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"helpdesk_seed.py {argv[0]} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def marks(self) -> dict[str, int]:
        row = sql(self.url, "SELECT (SELECT coalesce(max(id), 0) FROM helpdesk_ticket), "
                            "(SELECT coalesce(max(id), 0) FROM helpdesk_followup)")[0]
        return {"ticket_id": row[0], "followup_id": row[1]}

    def check(self, before: dict[str, int], access: dict[str, int], wrk_ok: int,
              connections: int) -> dict[str, Any]:
        """Every filing answered with success made one ticket and one follow-up that mailed
        its submitter; nothing else was written and nothing failed."""
        tickets = sql(self.url, "SELECT count(*), count(*) FILTER (WHERE submitter_email "
                                "LIKE 'reporter%%@example.com') FROM helpdesk_ticket "
                                "WHERE id > %s", (before["ticket_id"],))[0]
        followups = sql(self.url, "SELECT count(*), count(*) FILTER (WHERE title = %s), "
                                  "count(*) FILTER (WHERE jsonb_array_length(coalesce("
                                  "email_recipients::jsonb, '[]'::jsonb)) = 1) "
                                  "FROM helpdesk_followup WHERE id > %s",
                        (OPENED_TITLE, before["followup_id"]))[0]
        served_ok = access.get(SUCCESS_ACCESS, 0)
        failed = {k: v for k, v in access.items()
                  if k.startswith(f"POST {SUBMIT}") and k != SUCCESS_ACCESS}
        growth = {"tickets": tickets[0], "tickets_from_the_form": tickets[1],
                  "followups": followups[0], "followups_opened_via_web": followups[1],
                  "followups_that_mailed_one_address": followups[2]}
        problems = []
        if tickets[0] != served_ok or tickets[1] != served_ok:
            problems.append(f"{tickets[0]} tickets ({tickets[1]} from the form) for "
                            f"{served_ok} successful filings")
        if followups[0] != served_ok or followups[1] != served_ok:
            problems.append(f"{followups[0]} follow-ups ({followups[1]} '{OPENED_TITLE}') for "
                            f"{served_ok} filings")
        if followups[2] != served_ok:
            problems.append(f"{followups[2]} follow-ups recorded one e-mail, expected "
                            f"{served_ok}")
        if failed:
            problems.append(f"failed filings in the access log: {failed}")
        in_flight = served_ok - wrk_ok
        if not 0 <= in_flight <= 2 * connections:
            problems.append(f"the server counted {served_ok} successes, wrk {wrk_ok}")
        return {"ok": not problems, "problems": problems, "served_ok": served_ok,
                "wrk_ok_including_warmup": wrk_ok, "in_flight_at_stop": in_flight,
                "growth": growth}

    def cleanup(self, drop: bool) -> None:
        shutil.rmtree(self.project, ignore_errors=True)
        if drop:
            drop_database(self.server_url, self.dbname)

