"""Where checkpoints are written outside the database, never to be overwritten.

``AUDIT_CHECKPOINT_SINK_CLASS`` names the class (dotted path) and ``AUDIT_CHECKPOINT_SINK``
its location. A sink has one method, ``write(name, content)``: store ``content`` under
``name`` unless it is there already. Writing the same content again is not an error (a
retry after a crash between the write and its record); different content under a name
already taken is, since nothing may replace a checkpoint.

The default writes one file per checkpoint into a directory. Pointed at a bucket mounted
with a retention lock (S3 Object Lock in compliance mode, say), nobody holding the
application's credentials, nor the bucket's owner, can delete or replace what it wrote;
a class of your own can call the object store's API instead (docs/audit-log.md, "Checkpoints").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class SinkError(Exception):
    """A checkpoint that could not be written, or a name already holding something else."""


class CheckpointSink(Protocol):
    def write(self, name: str, content: bytes) -> None: ...


class DirectorySink:
    """One file per checkpoint in a directory, created exclusively (``O_EXCL``)."""

    def __init__(self, location: str) -> None:
        self.directory = Path(location)

    def write(self, name: str, content: bytes) -> None:
        if "/" in name or name.startswith("."):
            raise SinkError(f"not a plain file name: {name!r}")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / name
        try:
            # Exclusive create: an existing file is never opened for writing, let alone
            # truncated; the data is on disk before the checkpoint counts as written.
            with path.open("xb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
        except FileExistsError:
            if path.read_bytes() != content:
                raise SinkError(f"{name} already holds another checkpoint") from None
        except OSError as exc:
            raise SinkError(f"cannot write {name}: {exc}") from exc


def configured_sink() -> CheckpointSink:
    sink_class = import_string(settings.AUDIT_CHECKPOINT_SINK_CLASS)
    return sink_class(settings.AUDIT_CHECKPOINT_SINK)  # type: ignore[no-any-return]
