from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit import services


class Command(BaseCommand):
    help = (
        "Export an Ed25519-signed checkpoint of the audit chain head. Keep it outside the "
        "database; `verify_audit --checkpoint FILE` later proves the log still contains it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", type=Path, help="write here instead of stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        document = services.checkpoint_export()
        text = json.dumps(document, indent=2, sort_keys=True)
        if options["output"]:
            options["output"].write_text(text + "\n")
            seq = document["checkpoint"]["seq"]
            self.stdout.write(f"checkpoint of event #{seq} written to {options['output']}")
        else:
            self.stdout.write(text)
