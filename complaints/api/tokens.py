"""Issuing, finding and revoking API bearer tokens.

A token is 256 random bits shown once; the database keeps its SHA-256 (``ApiToken``). A
user's token lasts a working day, an anonymous reporter's (from the receipt key) half an
hour, both set in settings. Revoking stamps ``revoked_at``; nothing is deleted, so the
audit events that name a token keep pointing at a row.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from audit.actions import Action
from complaints.access import ReporterPrincipal
from complaints.models import ApiToken, Complaint

# Longer than any token we issue: a header beyond this is refused without hashing it.
TOKEN_MAX_LENGTH = 200


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    token: str  # shown once
    record: ApiToken


def _issue(*, actor: Any, user: Any = None, complaint_id: int | None = None,
           via: str) -> Issued:
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    ttl = settings.API_TOKEN_TTL_USER if user is not None else settings.API_TOKEN_TTL_REPORTER
    with transaction.atomic():
        record = ApiToken.objects.create(key_hash=token_hash(token), user=user,
                                         complaint_id=complaint_id, created_at=now,
                                         expires_at=now + ttl)
        target: Any = ("user", str(user.pk)) if user is not None else (
            "complaint", actor.reference)
        audit.record(action=Action.API_TOKEN_ISSUED, actor=actor, target=target,
                     payload={"token": record.pk, "via": via,
                              "expires_in": int(ttl.total_seconds())})
    return Issued(token=token, record=record)


def api_token_issue_for_user(*, user: Any, via: str) -> Issued:
    """A bearer token for a user who has just proved who they are (``via``: ``password`` or
    ``password+otp``). Changes: an ``ApiToken``. Audits ``api.token_issued``."""
    return _issue(actor=user, user=user, via=via)


def api_token_issue_for_reporter(*, principal: ReporterPrincipal) -> Issued:
    """A short-lived bearer token for the anonymous reporter whose receipt key was just
    redeemed; it opens that one complaint. Audits ``api.token_issued``."""
    return _issue(actor=principal, complaint_id=principal.complaint_id, via="receipt_key")


def api_token_revoke(*, record: ApiToken, actor: Any) -> None:
    """Revoke a token from now on. Audits ``api.token_revoked``."""
    with transaction.atomic():
        if ApiToken.objects.filter(pk=record.pk, revoked_at=None).update(
                revoked_at=timezone.now()):
            target: Any = (("user", str(record.user_id)) if record.user_id is not None
                           else ("complaint", actor.reference))
            audit.record(action=Action.API_TOKEN_REVOKED, actor=actor, target=target,
                         payload={"token": record.pk})


def api_token_holder(token: str) -> tuple[Any, ApiToken] | None:
    """Who a presented token stands for (an active user, or a reporter principal), or None
    when it is unknown, expired or revoked. One indexed query."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    record = (ApiToken.objects.select_related("user")
              .filter(key_hash=token_hash(token), revoked_at=None,
                      expires_at__gt=timezone.now()).first())
    if record is None:
        return None
    if record.user is not None:
        return (record.user, record) if record.user.is_active else None
    complaint_id = record.complaint_id
    reference = (Complaint.objects.filter(pk=complaint_id)
                 .values_list("reference", flat=True).first()) if complaint_id else None
    if complaint_id is None or reference is None:
        return None
    return ReporterPrincipal(complaint_id, reference), record
