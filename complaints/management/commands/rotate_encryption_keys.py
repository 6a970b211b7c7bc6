"""Re-encrypt everything encrypted at rest under the newest FIELD_ENCRYPTION_KEYS key.

Text columns are rotated on their stored tokens, read and written through a cursor in
batches by primary key, never through the ORM: ``EncryptedTextField`` decrypts on read and
encrypts on save, so the ORM route would cost a decryption and an encryption per value
plus a compiled UPDATE per row, and ``.update(field=plaintext)`` would overwrite an edit
made between the read and the write with stale text. Here each token goes straight to
``MultiFernet.rotate`` and is written back with ``UPDATE ... WHERE pk = %s AND col = <old
token>``: a value someone changed meanwhile is left as its writer made it. Tokens the newest
key already opens are skipped, so a run is idempotent and an interrupted one resumes.

Attachment files are rewritten under a new random name, the row moved to it, and the old
file deleted after that commits, so at every moment the row names a complete file.

The work has no other caller than this command, so it lives here rather than in a service.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)
from django.db import connection, models, transaction

from audit import services as audit
from audit.actions import Action
from complaints.encryption import EncryptedTextField, rotate_token
from complaints.models import Attachment
from complaints.services.attachments import STORAGE_DIR, delete_stored_files

BATCH_SIZE = 500


@dataclass
class Rotated:
    fields: int = 0
    values: int = 0  # re-encrypted (in a dry run: would be)
    values_current: int = 0
    files: int = 0
    files_current: int = 0
    failed: list[str] = field(default_factory=list)  # what no current key opens

    def as_payload(self) -> dict[str, int]:
        return {"fields": self.fields, "values": self.values,
                "values_current": self.values_current, "files": self.files,
                "files_current": self.files_current, "failed": len(self.failed)}


def encrypted_columns() -> Iterator[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Every model with an encrypted column of its own table (future models included)."""
    for model in apps.get_models():
        if model._meta.proxy:  # its table is its concrete model's, rotated there
            continue
        own = [f for f in model._meta.local_concrete_fields if isinstance(f, EncryptedTextField)]
        if own:
            yield model, own


def _rotate_table(model: type[models.Model], fields: list[EncryptedTextField], *,
                  dry_run: bool, batch_size: int, result: Rotated) -> None:
    quote = connection.ops.quote_name
    opts = model._meta
    assert opts.pk is not None
    table, pk = quote(opts.db_table), quote(str(opts.pk.column))
    columns = [quote(str(f.column)) for f in fields]
    select = f"SELECT {pk}, {', '.join(columns)} FROM {table}"  # noqa: S608
    first_sql = f"{select} ORDER BY {pk} LIMIT %s"
    next_sql = f"{select} WHERE {pk} > %s ORDER BY {pk} LIMIT %s"
    update_sql = [f"UPDATE {table} SET {c} = %s WHERE {pk} = %s AND {c} = %s"  # noqa: S608
                  for c in columns]
    last: Any = None
    while True:
        # A dry run writes nothing, so it takes no (on SQLite: write-locking) transaction.
        with (nullcontext() if dry_run else transaction.atomic()), connection.cursor() as cursor:
            if last is None:
                cursor.execute(first_sql, [batch_size])
            else:
                cursor.execute(next_sql, [last, batch_size])
            rows = cursor.fetchall()
            changes: list[list[tuple[str, Any, str]]] = [[] for _ in fields]
            for pk_value, *tokens in rows:
                for i, token in enumerate(tokens):
                    if not token:
                        continue
                    try:
                        new = rotate_token(token.encode())
                    except InvalidToken:
                        result.failed.append(f"{opts.label}.{fields[i].name} #{pk_value}")
                        continue
                    if new is None:
                        result.values_current += 1
                    else:
                        result.values += 1
                        changes[i].append((new.decode(), pk_value, token))
            if not dry_run:
                for sql, params in zip(update_sql, changes, strict=True):
                    if params:
                        cursor.executemany(sql, params)
        if len(rows) < batch_size:
            return
        last = rows[-1][0]


def _rotate_file(pk: int, name: str, *, dry_run: bool, result: Rotated) -> None:
    try:
        with default_storage.open(name, "rb") as handle:
            token = handle.read()
        new = rotate_token(token)
    except (OSError, InvalidToken):
        result.failed.append(f"attachment #{pk}")
        return
    if new is None:
        result.files_current += 1
        return
    result.files += 1
    if dry_run:
        return
    new_name = default_storage.save(f"{STORAGE_DIR}/{secrets.token_hex(16)}", ContentFile(new))
    try:
        with transaction.atomic():
            # Conditional: an attachment purged or rotated meanwhile keeps what it has.
            moved = Attachment.objects.filter(pk=pk, stored_name=name).update(
                stored_name=new_name)
            if moved:
                transaction.on_commit(partial(delete_stored_files, [name]))
    except BaseException:
        delete_stored_files([new_name])
        raise
    if not moved:
        delete_stored_files([new_name])


def rotate_keys(*, dry_run: bool = False, batch_size: int = BATCH_SIZE) -> Rotated:
    """Re-encrypt every encrypted column and attachment file under the newest key.

    Changes: the stored tokens of every ``EncryptedTextField`` of every model, and every
    attachment file (written anew, ``Attachment.stored_name`` moved, the old file deleted
    after commit). A dry run changes nothing and only counts.
    Audits ``encryption.keys_rotated`` (counts only), unless a dry run.
    Raises nothing for a value no current key opens: it is listed in ``failed``.
    """
    result = Rotated()
    for model, fields in encrypted_columns():
        result.fields += len(fields)
        _rotate_table(model, fields, dry_run=dry_run, batch_size=batch_size, result=result)
    last_pk = 0
    while batch := list(Attachment.objects.filter(pk__gt=last_pk).order_by("pk")
                        .values_list("pk", "stored_name")[:batch_size]):
        for pk, name in batch:
            _rotate_file(pk, name, dry_run=dry_run, result=result)
        last_pk = batch[-1][0]
    if not dry_run:
        with transaction.atomic():
            audit.record(action=Action.ENCRYPTION_KEYS_ROTATED, actor=audit.SYSTEM,
                         target=("encryption", "keys"), payload=result.as_payload())
    return result


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the procedure's line breaks in --help."""


class Command(BaseCommand):
    help = """Re-encrypt all data at rest (encrypted columns and attachment files) under the
newest key in FIELD_ENCRYPTION_KEYS.

Procedure for rotating the key:
  1. Generate a key: python -c "from cryptography.fernet import Fernet; \\
     print(Fernet.generate_key().decode())"
  2. Put it FIRST in FIELD_ENCRYPTION_KEYS, keeping every old key after it, and restart
     the web, worker and beat processes (new writes now use the new key; old data still
     decrypts with the old ones).
  3. Run this command (--dry-run first to see the counts). It is idempotent: run it again
     after an interruption; values already under the new key are skipped.
  4. When it reports nothing failed and a second run re-encrypts 0 values and 0 files,
     remove the old keys from FIELD_ENCRYPTION_KEYS and restart again.
Backups taken before step 3 still need the old keys: keep them as long as those backups."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        return super().create_parser(prog_name, subcommand, formatter_class=_HelpFormatter,
                                     **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                            help=f"rows per transaction (default {BATCH_SIZE})")

    def handle(self, *args: Any, **options: Any) -> None:
        if len(settings.FIELD_ENCRYPTION_KEYS) < 2:
            self.stderr.write("Only one key is configured: values already under it are "
                              "skipped. Put the new key first, keeping the old ones.")
        result = rotate_keys(dry_run=options["dry_run"], batch_size=options["batch_size"])
        verb = "would re-encrypt" if options["dry_run"] else "re-encrypted"
        self.stdout.write(
            f"{verb} {result.values} value(s) in {result.fields} encrypted column(s) and "
            f"{result.files} attachment file(s); {result.values_current} value(s) and "
            f"{result.files_current} file(s) already under the newest key")
        if result.failed:
            for item in result.failed[:50]:
                self.stderr.write(f"no current key opens {item}")
            raise CommandError(f"{len(result.failed)} value(s) or file(s) could not be "
                               "decrypted with any current key: keep the old keys")
