"""A file-based email backend that dawdles before it writes, for the end-to-end tests.

Selected in a worker by ``EMAIL_BACKEND=tests.e2e.slow_email.SlowFileEmailBackend``. It
drops a marker in ``E2E_SLOW_EMAIL_MARKER_DIR`` naming the messages it is about to send,
then sleeps ``E2E_SLOW_EMAIL_SECONDS`` before writing anything, so a test can kill the
worker while it is known to be in the middle of a delivery and nothing has been written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.core.mail.backends.filebased import EmailBackend


class SlowFileEmailBackend(EmailBackend):
    def send_messages(self, email_messages: Sequence[Any]) -> int:
        if email_messages:
            marker_dir = os.environ.get("E2E_SLOW_EMAIL_MARKER_DIR")
            if marker_dir:
                ids = [str(m.extra_headers.get("Message-ID", "")) for m in email_messages]
                name = f"sending-{os.getpid()}-{time.monotonic_ns()}"
                partial = Path(marker_dir) / f".{name}"
                partial.write_text("\n".join(ids) + "\n")
                partial.rename(Path(marker_dir) / name)  # appears whole or not at all
            time.sleep(float(os.environ.get("E2E_SLOW_EMAIL_SECONDS", "5")))
        return super().send_messages(email_messages)
