"""The reporter's side: coming back with a receipt key, messages with the handlers, and
choosing to reveal who they are."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent
from complaints.access import ReporterPrincipal, is_reporter, may_view
from complaints.errors import InvalidInput, TransitionForbidden
from complaints.models import Complaint, Message, Person, State
from complaints.receipts import normalise, receipt_key_hash
from complaints.services.lifecycle import complaint_reporter_replies
from complaints.services.locking import lock_complaint
from escalation.models import Notification
from escalation.services import notifications

MESSAGE_MAX = 20_000
IDENTITY_MAX = 500
# Who a wrong key is attributed to: nobody (no address, no browser, no account is kept).
ANONYMOUS = audit.ActorRef(AuditEvent.ActorType.ANONYMOUS)


class WrongReceiptKey(Exception):
    """No report has this key (or it was mistyped)."""


def receipt_key_redeem(*, key: str, audit_rejection: bool = True) -> ReporterPrincipal:
    """The reporter a receipt key stands for.

    Audits ``reporter.key_accepted`` (by that reporter) or ``reporter.key_rejected`` (by
    an anonymous actor, with nothing about who tried; not with ``audit_rejection=False``,
    for a client already audited as throttled). Raises ``WrongReceiptKey``.
    Rate limiting and the bound on concurrent hashing are the caller's
    (complaints/throttle.py).
    """
    issued = normalise(key)
    complaint = None
    if issued is not None:
        complaint = (Complaint.objects.filter(receipt_key_hash=receipt_key_hash(issued))
                     .only("id", "reference").first())
    if complaint is None:
        if not audit_rejection:
            raise WrongReceiptKey
        with transaction.atomic():
            audit.record(action=Action.REPORTER_KEY_REJECTED, actor=ANONYMOUS,
                         target=("receipt_key", ""),
                         payload={"well_formed": issued is not None})
        raise WrongReceiptKey  # after the commit: the refusal stays on the record
    principal = ReporterPrincipal(complaint.pk, complaint.reference)
    with transaction.atomic():
        audit.record(action=Action.REPORTER_KEY_ACCEPTED, actor=principal, target=complaint)
    return principal


def receipt_key_throttled() -> None:
    """Audits ``reporter.key_throttled``: someone is guessing keys and has been stopped."""
    with transaction.atomic():
        audit.record(action=Action.REPORTER_KEY_THROTTLED, actor=ANONYMOUS,
                     target=("receipt_key", ""))


def _clean(text: str, limit: int, field: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        # Translators: %(what)s is "a message" or "your name and how to reach you".
        raise InvalidInput({field: [gettext("Write %(what)s.") % {"what": what}]})
    if len(text) > limit:
        raise InvalidInput({field: [gettext("Keep it under %(limit)s characters.")
                                    % {"limit": limit}]})
    return text


def message_send(*, complaint: Complaint, actor: Any, body: str) -> Message:
    """A message from the reporter to the handlers, or from a handler to the reporter.
    A reporter's message while the case awaits them also takes ``reporter_replies``.

    Changes: a ``Message`` (encrypted at rest); an outbox row telling the other side that
    there is a message (never its words). Audits ``message.sent`` (id and direction only).
    Raises ``InvalidInput`` for an empty or over-long message, ``TransitionForbidden`` for
    someone who is neither the reporter nor staff who may see the case.
    """
    body = _clean(body, MESSAGE_MAX, "body", gettext("a message"))
    with transaction.atomic():
        locked = lock_complaint(complaint)
        from_reporter = is_reporter(locked, actor)
        if not from_reporter and not may_view(actor, locked):
            raise TransitionForbidden(gettext("you may not write on this case"))
        if locked.purged_at is not None:
            raise TransitionForbidden(gettext("this case's records have been erased"))
        now = timezone.now()
        message = Message.objects.create(
            complaint=locked, from_reporter=from_reporter, body=body, created_at=now,
            author=None if from_reporter else actor)
        if from_reporter:
            handlers = [u for u in (locked.assignee, locked.co_owner) if u is not None]
            outgoing = [notifications.build(kind=Notification.Kind.MESSAGE, complaint=locked,
                                            now=now, recipient=u) for u in handlers]
        else:
            reporter_user = locked.reporter_user if locked.reporter_user_id else None
            outgoing = [notifications.build(kind=Notification.Kind.MESSAGE, complaint=locked,
                                            now=now, recipient=reporter_user,
                                            for_reporter=True)]
        notifications.enqueue(outgoing)
        audit.record(action=Action.MESSAGE_SENT, actor=actor, target=locked,
                     from_state=locked.state, to_state=locked.state,
                     payload={"message": message.pk, "from_reporter": from_reporter})
        if from_reporter and locked.state == State.AWAITING_REPORTER:
            # The reporter's message is the answer the handler asked for: the case goes
            # back to them, decided under the same lock so it cannot race a handler's step.
            complaint_reporter_replies(complaint=locked, actor=actor)
    return message


def complaint_reveal_identity(*, complaint: Complaint, actor: Any, identity: str = "",
                              account: Any = None) -> Complaint:
    """An anonymous reporter chooses to say who they are: by linking the account they are
    signed in with, or by writing their name and how to reach them (encrypted at rest).

    Audits ``complaint.identity_revealed`` (how, never who). Raises ``TransitionForbidden``
    for anyone but the reporter, ``InvalidInput`` when neither is given.
    """
    linked = account is not None and getattr(account, "is_authenticated", False)
    if not linked:
        identity = _clean(identity, IDENTITY_MAX, "identity",
                          gettext("your name and how to reach you"))
    with transaction.atomic():
        locked = lock_complaint(complaint)
        if not is_reporter(locked, actor) or not (locked.anonymous or
                                                   locked.reporter_user_id is None):
            raise TransitionForbidden(
                gettext("only the anonymous reporter may reveal who they are"))
        fields: dict[str, Any] = {"updated_at": timezone.now()}
        if linked:
            fields |= {"reporter_user": account, "anonymous": False,
                       "reporter_person": Person.objects.filter(user=account).first()}
        else:
            fields["reporter_identity"] = identity
        Complaint.objects.filter(pk=locked.pk).update(**fields)
        audit.record(action=Action.COMPLAINT_IDENTITY_REVEALED, actor=actor, target=locked,
                     from_state=locked.state, to_state=locked.state,
                     payload={"how": "account" if linked else "details"})
    return Complaint.objects.get(pk=locked.pk)
