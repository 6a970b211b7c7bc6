"""The outbox: written with the event, delivered by a worker, marked delivered once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from complaints.models import Complaint
from escalation.models import Notification
from escalation.services import notifications
from tests.factories import ComplaintFactory


def queue(recipient: Any, complaint: Complaint | None = None) -> Notification:
    complaint = complaint or ComplaintFactory()
    note = notifications.build(kind=Notification.Kind.ESCALATED, complaint=complaint,
                               now=timezone.now(), recipient=recipient, level=1)
    with transaction.atomic():
        notifications.enqueue([note])
    return Notification.objects.get(complaint=complaint, recipient=recipient)


@pytest.mark.django_db
def test_a_notification_is_mailed_once_with_its_own_message_id(hr_lead: Any) -> None:
    note = queue(hr_lead)
    assert notifications.deliver_pending().sent == 1
    assert notifications.deliver_pending().sent == 0
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [hr_lead.email]
    assert message.extra_headers["Message-ID"] == f"<notification-{note.pk}@complaints>"
    note.refresh_from_db()
    assert note.delivered_at is not None and note.attempts == 1 and note.claimed_until is None


@pytest.mark.django_db
def test_a_failed_send_is_retried_later_with_backoff(hr_lead: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    note = queue(hr_lead)

    def refuse(self: Any, fail_silently: bool = False) -> int:
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    assert notifications.deliver_pending().failed == 1
    note.refresh_from_db()
    assert note.delivered_at is None and note.attempts == 1
    assert "smtp down" in note.last_error
    assert note.next_attempt_at > timezone.now() + timedelta(seconds=20)
    assert notifications.deliver_pending().sent == 0  # not before its time
    monkeypatch.undo()
    assert notifications.deliver_pending(now=note.next_attempt_at).sent == 1


@pytest.mark.django_db
def test_a_claim_held_by_a_live_worker_is_not_taken_but_a_dead_ones_is(hr_lead: Any) -> None:
    note = queue(hr_lead)
    now = timezone.now()
    # A worker claimed it and died before sending.
    Notification.objects.filter(pk=note.pk).update(claimed_until=now + timedelta(seconds=60))
    assert notifications.deliver_pending(now=now).sent == 0
    assert notifications.deliver_pending(now=now + timedelta(seconds=61)).sent == 1
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_in_app_notifications_need_no_mail(reporter: Any) -> None:
    complaint = ComplaintFactory()
    note = notifications.build(kind=Notification.Kind.REPORTER_ESCALATED, complaint=complaint,
                               now=timezone.now(), for_reporter=True)
    with transaction.atomic():
        notifications.enqueue([note])
    assert notifications.deliver_pending().sent == 0
    assert Notification.objects.get(for_reporter=True).email == ""


@pytest.mark.django_db
def test_a_notification_rolls_back_with_its_event(hr_lead: Any) -> None:
    complaint = ComplaintFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        notifications.enqueue([notifications.build(
            kind=Notification.Kind.ESCALATED, complaint=complaint, now=timezone.now(),
            recipient=hr_lead, level=1)])
        raise RuntimeError("the escalation failed")
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_each_user_sees_their_own_notifications_in_the_app(client: Any, hr_lead: Any,
                                                           compliance: Any) -> None:
    note = queue(hr_lead)
    queue(compliance)
    assert client.get("/notifications/").status_code == 302  # sign in first
    client.force_login(hr_lead)
    page = client.get("/notifications/").content.decode()
    assert note.subject in page
    assert page.count("<li>") == 1


@pytest.mark.django_db
def test_a_full_delivery_batch_queues_the_next_at_once(hr_lead: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from escalation import tasks

    for _ in range(3):
        queue(hr_lead)
    monkeypatch.setattr(tasks, "DELIVERY_BATCH", 2)
    woken: list[int] = []
    monkeypatch.setattr(tasks.deliver_notifications, "delay", lambda: woken.append(1))
    assert tasks.deliver_notifications() == {"sent": 2, "failed": 0}
    assert len(woken) == 1  # a full batch: more may wait, so the next is queued now
    assert tasks.deliver_notifications() == {"sent": 1, "failed": 0}
    assert len(woken) == 1  # the outbox is empty: nothing more is queued
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_while_every_send_fails_no_next_batch_is_queued(hr_lead: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from escalation import tasks

    for _ in range(2):
        queue(hr_lead)
    monkeypatch.setattr(tasks, "DELIVERY_BATCH", 2)
    woken: list[int] = []
    monkeypatch.setattr(tasks.deliver_notifications, "delay", lambda: woken.append(1))

    def refuse(self: Any, fail_silently: bool = False) -> int:
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    assert tasks.deliver_notifications() == {"sent": 0, "failed": 2}
    assert woken == []  # beat's ticks pace the retries
