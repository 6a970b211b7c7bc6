from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from complaints.services.retention import retention_due, retention_purge


class Command(BaseCommand):
    help = (
        "Erase the personal data of closed, dismissed and withdrawn cases that ended more "
        "than RETENTION_DAYS ago: the same service the beat task runs daily. --now simulates "
        "a later time; --dry-run lists what would be erased."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", help="ISO 8601 time to purge as of (default: now)")
        parser.add_argument("--dry-run", action="store_true", help="list, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        now = None
        if options["now"]:
            try:
                now = datetime.fromisoformat(options["now"])
            except ValueError as exc:
                raise CommandError(f"--now is not an ISO 8601 time: {options['now']}") from exc
            if timezone.is_naive(now):
                now = timezone.make_aware(now)
        if options["dry_run"]:
            due = retention_due(now=now)
            for reference, ended_at in due:
                self.stdout.write(f"{reference}  ended {ended_at:%Y-%m-%d}")
            self.stdout.write(
                f"{len(due)} case(s) past the {settings.RETENTION_DAYS}-day retention period; "
                "nothing changed (dry run)")
            return
        purged = retention_purge(now=now)
        self.stdout.write(f"{purged} case(s) purged")
        left = [reference for reference, _ in retention_due(now=now)]
        if left:
            # Held by another transaction or failing (the log says which): a rerun retries.
            raise CommandError(f"case(s) still due and not purged: {', '.join(left)}")
