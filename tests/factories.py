from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from complaints.models import Category, Complaint, Person, Severity


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw")

    @factory.post_generation
    def roles(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        for name in extracted or []:
            self.groups.add(Group.objects.get_or_create(name=name)[0])


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person

    employee_id = factory.Sequence(lambda n: f"E{n:05d}")
    name = factory.Faker("name")
    email = factory.LazyAttribute(lambda p: f"{p.employee_id.lower()}@example.com")
    department = "Operations"


class ComplaintFactory(factory.django.DjangoModelFactory):
    """A submitted complaint written straight to the table (no audit event): for tests
    that exercise a later step. Filing itself is tested through ``complaint_submit``."""

    class Meta:
        model = Complaint

    category = Category.BULLYING
    severity = Severity.STANDARD
    summary = "Shouted at in meetings"
    narrative = "My manager shouts at me in every team meeting."
    submitted_at = factory.LazyFunction(timezone.now)
