"""Django settings for the scale-out benchmark (bench/scale_out.py): the web load benchmark's
(bench/web/settings.py: config.settings.production with its secrets defaulted to the
development ones the seed was written with, the bench urlconf, staff two-factor off), with
one difference: mail goes to bench/scaleout_mail.py, which records every message it is
handed, so the benchmark can count deliveries per notification. Never use these anywhere
else.
"""

from __future__ import annotations

from bench.web.settings import *  # noqa: F403

EMAIL_BACKEND = "bench.scaleout_mail.RecordingBackend"
