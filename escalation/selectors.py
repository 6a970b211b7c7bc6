from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from complaints.conflicts import conflicted_exists
from escalation.models import Notification


def notifications_for(user: Any, *, limit: int = 50) -> QuerySet[Notification]:
    """A signed-in user's in-app notifications, newest first: those addressed to them,
    including, for a reporter, news of their own reports. Never one about a case they are
    conflicted on now: a case that became conflicted for them leaves their inbox too."""
    return (Notification.objects.filter(recipient=user)
            .exclude(conflicted_exists(user, complaint="complaint_id"))
            .select_related("complaint").only("kind", "subject", "body", "created_at", "read_at",
                                              "complaint__reference")
            .order_by("-created_at")[:limit])
