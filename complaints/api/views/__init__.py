"""The API's views: parse, call one service or selector, answer. Domain errors become
statuses in complaints/api/errors.py; a case the caller may not see is a 404, as on the web."""

from complaints.api.views.audit import AuditEventListView, AuditVerifyView
from complaints.api.views.auth import ReporterSessionView, TokenView
from complaints.api.views.base import NotFoundView
from complaints.api.views.checkpoints import CheckpointListView, PublicKeyView
from complaints.api.views.complaints import (
    EXAMPLE_REFERENCE,
    ComplaintDetailView,
    ComplaintListView,
    MessageListView,
    TransitionView,
)
from complaints.api.views.directory import PersonView

__all__ = [
    "EXAMPLE_REFERENCE",
    "AuditEventListView",
    "AuditVerifyView",
    "CheckpointListView",
    "ComplaintDetailView",
    "ComplaintListView",
    "MessageListView",
    "NotFoundView",
    "PersonView",
    "PublicKeyView",
    "ReporterSessionView",
    "TokenView",
    "TransitionView",
]
