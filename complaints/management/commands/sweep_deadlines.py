from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from complaints.management.options import add_now_and_dry_run, now_from
from complaints.services.sweep import sweep
from escalation.services.heartbeat import sweep_completed
from escalation.services.observed import config_observe


class Command(BaseCommand):
    help = (
        "One escalation pass over every missed deadline: the same service the beat task "
        "runs every minute. --now simulates a later time; --dry-run lists what is due."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_now_and_dry_run(parser, "sweep")

    def handle(self, *args: Any, **options: Any) -> None:
        now = now_from(options)
        if not options["dry_run"]:
            config_observe()
        started_at = timezone.now()
        result = sweep(now=now, dry_run=options["dry_run"])
        if not options["dry_run"] and now is None:
            # A pass at a simulated time (--now) says nothing about the beat.
            sweep_completed(started_at=started_at)
        if options["dry_run"]:
            for reference, kind, level, due_at in result.due:
                when = f"{due_at:%Y-%m-%d %H:%M}"
                self.stdout.write(f"{reference}  {kind:<15} level {level}  due {when}")
            self.stdout.write(f"{len(result.due)} deadline(s) due; nothing changed (dry run)")
            return
        self.stdout.write(
            f"{result.escalated} escalated, {result.replies_expired} reply window(s) expired, "
            f"{len(result.failed)} failed, in {result.passes} pass(es)")
        if result.failed:
            raise CommandError(f"complaints that could not be processed: {result.failed}")
