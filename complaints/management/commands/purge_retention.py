from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from complaints.management.options import add_now_and_dry_run, now_from
from complaints.services.retention import retention_due, retention_purge
from escalation.policy import retention_days


class Command(BaseCommand):
    help = (
        "Erase the personal data of closed, dismissed and withdrawn cases that ended more "
        "than the retention period in force ago (the stored policy, else RETENTION_DAYS): the "
        "same service the beat task runs daily. --now simulates "
        "a later time; --dry-run lists what would be erased."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_now_and_dry_run(parser, "purge")

    def handle(self, *args: Any, **options: Any) -> None:
        now = now_from(options)
        if options["dry_run"]:
            due = retention_due(now=now)
            for reference, ended_at in due:
                self.stdout.write(f"{reference}  ended {ended_at:%Y-%m-%d}")
            self.stdout.write(
                f"{len(due)} case(s) past the {retention_days()}-day retention period; "
                "nothing changed (dry run)")
            return
        purged = retention_purge(now=now)
        self.stdout.write(f"{purged} case(s) purged")
        left = [reference for reference, _ in retention_due(now=now)]
        if left:
            # Held by another transaction or failing (the log says which): a rerun retries.
            raise CommandError(f"case(s) still due and not purged: {', '.join(left)}")
