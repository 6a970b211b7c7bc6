"""System checks: configuration from the environment must be within the same bounds as
configuration stored through compliance.services.policies."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from escalation.bounds import RETENTION_MAX_DAYS, RETENTION_MIN_DAYS


@checks.register(checks.Tags.compatibility)
def retention_days_in_bounds(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    days = settings.RETENTION_DAYS
    if RETENTION_MIN_DAYS <= days <= RETENTION_MAX_DAYS:
        return []
    return [checks.Error(
        f"RETENTION_DAYS is {days}: it must be between {RETENTION_MIN_DAYS} and "
        f"{RETENTION_MAX_DAYS} days.",
        hint="It is the retention period in force until one is stored through the "
             "compliance policies page.",
        id="escalation.E001")]
