"""A step saves what its transition changed, found by comparing the complaint before and
after: a field a transition sets reaches the database without being listed anywhere."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from complaints import services
from complaints.models import Complaint
from complaints.services.locking import LOCK_FIELDS


def test_a_field_a_transition_newly_sets_is_saved_without_being_listed(
        filed: Complaint, hr_reviewer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither field is one the lock loads, nor one acknowledge sets: nothing names them.
    assert "reopened_at" not in LOCK_FIELDS and "location" not in LOCK_FIELDS
    original = Complaint.acknowledge
    marked: dict[str, datetime] = {}

    def acknowledge(self: Complaint, *, by: Any, at: datetime) -> None:
        original(self, by=by, at=at)
        marked["at"] = at
        self.reopened_at = at
        self.location = "Set by the transition"

    acknowledge._django_fsm = original._django_fsm  # type: ignore[attr-defined]
    monkeypatch.setattr(Complaint, "acknowledge", acknowledge)

    services.complaint_acknowledge(complaint=filed, actor=hr_reviewer)

    stored = Complaint.objects.get(pk=filed.pk)
    assert stored.state == "acknowledged"
    assert stored.reopened_at == marked["at"]
    assert stored.location == "Set by the transition"
    assert stored.acknowledged_at == marked["at"]


def test_a_step_leaves_fields_it_did_not_change_as_they_are_in_the_database(
        filed: Complaint, hr_reviewer: Any) -> None:
    # Written by someone else after the caller read the complaint: the step, which saves
    # only what its transition changed, does not put the old values back.
    Complaint.objects.filter(pk=filed.pk).update(location="Changed meanwhile",
                                                 escalation_level=2)
    services.complaint_acknowledge(complaint=filed, actor=hr_reviewer)
    stored = Complaint.objects.get(pk=filed.pk)
    assert (stored.location, stored.escalation_level) == ("Changed meanwhile", 2)
    assert stored.assignee_id == hr_reviewer.pk
