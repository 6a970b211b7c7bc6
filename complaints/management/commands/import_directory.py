from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import services as audit
from complaints import access
from complaints.services.directory import COLUMNS, DirectoryImportError, directory_import


class Command(BaseCommand):
    help = (
        f"Import the directory from a CSV with the header {','.join(COLUMNS)}. All or "
        "nothing: any bad line is reported by number and nothing is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--actor", metavar="USERNAME", default="",
            help=f"The {access.DIRECTORY_SYNC} account the import is recorded as (by default "
                 "the system). Refused for any account outside that group.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            text = options["file"].read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {options['file']}: {exc}") from exc
        actor: Any = audit.SYSTEM
        if options["actor"]:
            actor = get_user_model().objects.filter(username=options["actor"]).first()
            if actor is None or not access.is_directory_sync(actor):
                raise CommandError(f"{options['actor']!r} is not a {access.DIRECTORY_SYNC} "
                                   "account; only that account (or the system) writes the "
                                   "directory")
        try:
            result = directory_import(text=text, actor=actor)
        except DirectoryImportError as exc:
            for line, message in exc.errors:
                self.stderr.write(f"line {line}: {message}")
            raise CommandError(f"{len(exc.errors)} problem(s); nothing was imported") from exc
        self.stdout.write(
            f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged, "
            f"{result.linked} linked to accounts"
        )
