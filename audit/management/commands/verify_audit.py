from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit import services


class Command(BaseCommand):
    # The system checks import every URLconf and so every view and its libraries (the API,
    # PDF export): tens of MB a verification never uses. Its promise is constant memory.
    requires_system_checks: list[str] = []
    help = (
        "Verify the audit log's hash chain in constant memory. Exit 0 when intact, 1 naming "
        "the first broken sequence number. With --checkpoint FILE, also prove the log still "
        "holds that signed checkpoint's head."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoint", type=Path, help="a file written by audit_checkpoint")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.verify()
        checkpoint_problem = ""
        if options["checkpoint"] is not None:
            try:
                document = json.loads(options["checkpoint"].read_text())
                services.checkpoint_verify(document)
            except (OSError, ValueError) as exc:
                checkpoint_problem = f"cannot read checkpoint: {exc}"
            except services.CheckpointError as exc:
                checkpoint_problem = str(exc)
        if options["json"]:
            out = result.as_dict() | {"checkpoint_problem": checkpoint_problem or None}
            self.stdout.write(json.dumps(out))
        elif result.intact:
            self.stdout.write(f"intact: {result.events} events, head {result.head_hash}")
        else:
            self.stderr.write(
                f"BROKEN at seq {result.first_broken_seq}: {result.problem} "
                f"({result.events} events verified before it)"
            )
        if checkpoint_problem and not options["json"]:
            self.stderr.write(f"checkpoint: {checkpoint_problem}")
        elif options["checkpoint"] is not None and not options["json"]:
            self.stdout.write("checkpoint: the log still holds the signed head")
        if not result.intact or checkpoint_problem:
            sys.exit(1)
