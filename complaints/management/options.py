"""The ``--now`` and ``--dry-run`` options of the commands that run a periodic service by
hand (``sweep_deadlines``, ``purge_retention``), parsed one way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone


def add_now_and_dry_run(parser: CommandParser, what: str) -> None:
    parser.add_argument("--now", help=f"ISO 8601 time to {what} as of (default: now)")
    parser.add_argument("--dry-run", action="store_true", help="list, change nothing")


def now_from(options: dict[str, Any]) -> datetime | None:
    """The ``--now`` given (a naive time is in the server's zone), or None for now."""
    if not options.get("now"):
        return None
    try:
        now = datetime.fromisoformat(options["now"])
    except ValueError as exc:
        raise CommandError(f"--now is not an ISO 8601 time: {options['now']}") from exc
    return timezone.make_aware(now) if timezone.is_naive(now) else now
