from __future__ import annotations

from django.apps import AppConfig


class EscalationConfig(AppConfig):
    name = "escalation"
    verbose_name = "Deadlines and escalation"

    def ready(self) -> None:
        from escalation import checks  # noqa: F401 (registers the system checks)
