"""The environment's configuration on the record: settings a redeploy changes without any
service (the calendar, the retention setting, the sweep's interval) are audited the first
time a sweep sees them differ from what the log last holds."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import transaction

from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent

# Configuration the environment sets, which a redeploy changes without any service: put on
# the record the first time a sweep sees it differ from what the log last holds.
OBSERVED_SETTINGS = ("ORG_TIME_ZONE", "ORG_HOLIDAYS_COUNTRY", "ORG_HOLIDAYS_SUBDIVISION",
                     "RETENTION_DAYS", "SWEEP_EVERY_SECONDS")


def _observed() -> dict[str, str]:
    # As text: the log's payload takes no floats (SWEEP_EVERY_SECONDS is one).
    return {name: "" if getattr(settings, name) is None else str(getattr(settings, name))
            for name in OBSERVED_SETTINGS}


def config_observe() -> bool:
    """Record the environment's configuration if it differs from the last record of it.

    Changes nothing else. Audits ``config.observed`` (by the system) with the values now
    and those last recorded. Returns whether it recorded. One indexed read when nothing
    changed (audit_action_seq), so every sweep can afford it.
    """
    values = _observed()
    last = (AuditEvent.objects.filter(action=Action.CONFIG_OBSERVED).order_by("-seq")
            .values_list("payload", flat=True).first())
    previous = json.loads(last)["settings"] if last else None
    if previous == values:
        return False
    with transaction.atomic():
        audit.record(action=Action.CONFIG_OBSERVED, actor=audit.SYSTEM,
                     target=("configuration", "environment"),
                     payload={"settings": values, "previous": previous})
    return True
