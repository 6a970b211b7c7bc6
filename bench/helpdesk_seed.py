"""Seed and check django-helpdesk 2.6.1's database for the side-by-side runs.

Run by escalation_bench.py and web_load.py with the throwaway helpdesk virtualenv's Python,
from the generated helpdesk project's folder (DJANGO_SETTINGS_MODULE=hdsite.settings; see
bench/helpdesk_site.py), never with this project's venv. Prints one JSON line.

    python helpdesk_seed.py seed --tickets 100000 --overdue 10000
    python helpdesk_seed.py check
    python helpdesk_seed.py web --browsers 500

``web`` (bench/web_load.py) adds the queue the public form files into and makes the CSRF
cookie and form token of ``--browsers`` browsers that opened the form, the way
bench/web/data.py makes them for the app: Django's own ``get_token`` under helpdesk's
settings.

What makes a ticket eligible for ``manage.py escalate_tickets`` (helpdesk 2.6.1,
helpdesk/management/commands/escalate_tickets.py): its queue has ``escalate_days`` set
and not 0; the ticket's status is open or reopened, its priority is not 1, it is not on
hold, and ``last_escalation`` (or, never escalated, ``created``) is at least
``escalate_days`` days ago, not counting ``EscalationExclusion`` dates (there are none).
Each eligible ticket is escalated once per run: priority - 1, ``last_escalation`` = now, a
templated e-mail to the submitter (when the ticket has an address; ``--no-email`` seeds
tickets without one), a public follow-up and a ticket change. Tickets are unassigned and
the queue has no CC addresses, so at most one e-mail goes out per escalation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import timedelta

sys.path.insert(0, os.getcwd())  # the generated project (hdsite/)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hdsite.settings")


def seed(tickets: int, overdue: int, email: bool) -> dict[str, object]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone
    from helpdesk.models import EscalationExclusion, Queue

    get_user_model().objects.create_user("bench_agent", "agent@example.com", is_staff=True)
    queue = Queue.objects.create(title="Support", slug="support", locale="en",
                                 email_address="support@example.com", escalate_days=1)
    assert not EscalationExclusion.objects.exists()
    now = timezone.now()
    step = tickets // overdue
    started = time.perf_counter()
    columns = ("title, created, modified, submitter_email, status, on_hold, description, "
               "priority, queue_id, secret_key")
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY helpdesk_ticket ({columns}) FROM STDIN") as copy:
        for i in range(tickets):
            if i % step == 0 and i // step < overdue:
                created = now - timedelta(days=3, minutes=i % 600)  # eligible: > 1 day old
            else:
                created = now - timedelta(minutes=i % 600)  # younger than escalate_days
            # Open (status 1), priority 3 (normal), unassigned, not on hold.
            submitter = f"user{i}@example.com" if email else None
            copy.write_row((f"Ticket {i}", created, created, submitter, 1, False,
                            "The printer on the third floor is on fire again.", 3, queue.pk,
                            str(uuid.uuid4())))
    loaded = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("CHECKPOINT")
    return {"tickets": tickets, "overdue": overdue, "submitter_email": email,
            "load_seconds": round(loaded, 2),
            "queue_escalate_days": queue.escalate_days}


def check() -> dict[str, object]:
    from django.db.models import Count
    from helpdesk.models import FollowUp, Ticket, TicketChange

    by_priority = {str(p): n for p, n in Ticket.objects.values_list("priority")
                   .order_by("priority").annotate(n=Count("id"))}
    followups = FollowUp.objects.filter(title="Ticket Escalated")
    mailed = sum(len(r or []) for r in followups.values_list("email_recipients", flat=True))
    return {"tickets_by_priority": by_priority,
            "escalated_tickets": Ticket.objects.filter(last_escalation__isnull=False).count(),
            "followups": followups.count(), "ticket_changes": TicketChange.objects.count(),
            "emails_recorded": mailed}


def web(browsers: int) -> dict[str, object]:
    from django.conf import settings
    from django.middleware.csrf import get_token
    from django.test import RequestFactory
    from helpdesk.models import EmailTemplate, Queue

    # No CC addresses and no default owner: one e-mail per ticket, to its submitter.
    queue = Queue.objects.create(title="Public", slug="public", locale="en",
                                 email_address="public@example.com",
                                 allow_public_submission=True)
    pairs = []
    for _ in range(browsers):
        request = RequestFactory().get("/helpdesk/tickets/submit/")
        token = get_token(request)
        pairs.append([request.META["CSRF_COOKIE"], token])
    return {"queue_id": queue.pk, "csrf_cookie_name": settings.CSRF_COOKIE_NAME,
            "browsers": pairs,
            "submitter_template": EmailTemplate.objects.filter(
                template_name="newticket_submitter").exists()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["seed", "check", "web"])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--overdue", type=int, default=10_000)
    parser.add_argument("--browsers", type=int, default=500)
    parser.add_argument("--no-email", action="store_true",
                        help="tickets without a submitter address: no mail is sent")
    args = parser.parse_args()

    import django

    django.setup()
    if args.mode == "seed":
        out = seed(args.tickets, args.overdue, not args.no_email)
    elif args.mode == "web":
        out = web(args.browsers)
    else:
        out = check()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
