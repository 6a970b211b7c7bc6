from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from complaints.services.next_due import next_due_repair


class Command(BaseCommand):
    help = (
        "Put right each complaint's next_due_at (the earliest running deadline, which the "
        "queues sort by) wherever it differs from its deadlines. Only needed after an "
        "upgrade during which processes running older code kept filing and handling cases; "
        "safe to run at any time."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        repaired = next_due_repair()
        for reference in repaired:
            self.stdout.write(f"{reference}  next deadline put right")
        self.stdout.write(f"{len(repaired)} complaint(s) put right")
