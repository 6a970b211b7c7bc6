"""What `make run` prints before it starts: where the site is and where its mail goes.

Both are read from what the processes will use (``WEB_BIND``, as the Procfile reads it, and
the settings' mail backend), so the banner cannot disagree with them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402


def mail_destination() -> str:
    backend = settings.EMAIL_BACKEND
    if backend == "django.core.mail.backends.console.EmailBackend":
        return "printed in this terminal by the worker (its lines start with 'worker.1')"
    if backend == "django.core.mail.backends.filebased.EmailBackend":
        return f"written to {settings.EMAIL_FILE_PATH}/, one file per message"
    if backend == "django.core.mail.backends.smtp.EmailBackend":
        return f"sent through {settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    return f"handled by {backend}"


def main() -> None:
    url = f"http://{os.environ.get('WEB_BIND', '127.0.0.1:8000')}/"
    print(f"""
  Open {url}  (admin: {url}admin/)
  Mail is {mail_destination()}.
  Another port: make run PORT=9000. Mail to files instead:
  EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend make run
  Stop with Ctrl-C.
""")


if __name__ == "__main__":
    main()
