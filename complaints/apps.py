from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class ComplaintsConfig(AppConfig):
    name = "complaints"
    verbose_name = "Complaints"

    def ready(self) -> None:
        # The one receiver in the project, connected here where a reader finds it: an
        # account created or changed anywhere (admin, createsuperuser, SSO) is linked to its
        # directory person, so import and account creation may happen in either order.
        post_save.connect(_link_account, sender=settings.AUTH_USER_MODEL,
                          dispatch_uid="complaints.link_account")


def _link_account(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        from complaints.services import person_link_user

        person_link_user(user=instance)
