"""Bounds that settings are checked against too, so free of models (the settings modules
import this before the apps are loaded)."""

from __future__ import annotations

# Retention is in days. Under a year, a case could be erased before an appeal or a related
# claim is heard; over ten, records outlive any limitation period the organisation answers
# to, which the GDPR's storage limitation forbids. compliance.services.policies holds a
# stored policy to these, and the system check (escalation/checks.py) and the production
# settings hold RETENTION_DAYS to them.
RETENTION_MIN_DAYS = 365
RETENTION_MAX_DAYS = 3650
