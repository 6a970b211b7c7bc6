from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import keys, services


def _key_text(value: str) -> str:
    # A file holding the key (or the JSON GET audit/public-key/ answers), or the text itself.
    path = Path(value)
    try:
        if path.is_file():
            return path.read_text()
    except OSError:
        pass
    return value


class Command(BaseCommand):
    # The system checks import every URLconf and so every view and its libraries (the API,
    # PDF export): tens of MB a verification never uses. Its promise is constant memory.
    requires_system_checks: list[str] = []
    help = (
        "Verify the audit log's hash chain in constant memory, and that it is complete "
        "(every complaint has its filing event, every filed complaint still exists). Exit 0 "
        "when intact and complete, 1 naming the first broken sequence number or what is "
        "missing. With --checkpoint FILE, also prove the log still holds that signed "
        "checkpoint's head; with --public-key KEY, against that public key, so no signing "
        "secret is needed on this machine."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--checkpoint", type=Path,
                            help="a file written by audit_checkpoint, mailed, written to the "
                                 "sink, or listed by GET audit/checkpoints/")
        parser.add_argument("--public-key", metavar="KEY",
                            help="the public key: a file or text holding the JSON of GET "
                                 "audit/public-key/, a PEM public key, or base64 raw bytes")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        public_keys = None
        if options["public_key"] is not None:
            try:
                public_keys = keys.parse_public_keys(_key_text(options["public_key"]))
            except keys.PublicKeyError as exc:
                raise CommandError(f"--public-key: {exc}") from exc
        result = services.verify()
        checkpoint_problem = ""
        if options["checkpoint"] is not None:
            checkpoint_problem = self._check_checkpoints(options["checkpoint"], public_keys)
        if options["json"]:
            out = result.as_dict() | {"checkpoint_problem": checkpoint_problem or None}
            self.stdout.write(json.dumps(out))
        else:
            self._report(result, options["checkpoint"], checkpoint_problem)
        if not result.intact or not result.complete or checkpoint_problem:
            sys.exit(1)

    def _check_checkpoints(self, path: Path, public_keys: Any) -> str:
        try:
            for document in services.checkpoint_documents(json.loads(path.read_text())):
                services.checkpoint_verify(document, public_keys=public_keys)
        except (OSError, ValueError) as exc:
            return f"cannot read checkpoint: {exc}"
        except services.CheckpointError as exc:
            return str(exc)
        return ""

    def _report(self, result: services.VerifyResult, checkpoint: Path | None,
                checkpoint_problem: str) -> None:
        if result.intact:
            self.stdout.write(f"intact: {result.events} events, head {result.head_hash}")
        else:
            self.stderr.write(
                f"BROKEN at seq {result.first_broken_seq}: {result.problem} "
                f"({result.events} events verified before it)"
            )
        if not result.complete:
            self.stderr.write("INCOMPLETE: the log and the complaints disagree:")
            for problem in result.missing:
                self.stderr.write(f"  {problem}")
        if checkpoint_problem:
            self.stderr.write(f"checkpoint: {checkpoint_problem}")
        elif checkpoint is not None:
            self.stdout.write("checkpoint: the log still holds the signed head")
