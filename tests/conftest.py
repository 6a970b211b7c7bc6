from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.management.color import no_style
from django.db import connection

from audit.triggers import checkpoint_insert_postgresql
from complaints import access
from complaints.models import Category, Complaint
from complaints.services import complaint_submit
from escalation.services.deadlines import running_min
from tests.factories import PersonFactory, UserFactory


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # `make test-services` sets REQUIRE_SERVICES: there a test that needs PostgreSQL must
    # fail when it is missing, never skip. `make test` deselects them with -m.
    if os.environ.get("REQUIRE_SERVICES") and "postgres" not in os.environ.get(
        "DATABASE_URL", ""
    ):
        raise pytest.UsageError("REQUIRE_SERVICES is set but DATABASE_URL is not PostgreSQL")


@pytest.fixture(autouse=True)
def _services_are_real(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("services") and connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL: run it through `make test-services`")


@pytest.fixture(autouse=True)
def _fresh_sla_policies() -> None:
    # The SLA table is cached per process; a test's rolled-back policies must not linger.
    from escalation.policy import Policies

    Policies.forget()


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    # Rate limits count in the cache, which outlives a test in the same process.
    from django.core.cache import cache

    cache.clear()


_DATABASE_FIXTURES = ("committed_db", "transactional_db", "db")


@pytest.fixture(autouse=True)
def _next_due_agrees_with_the_deadlines(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test that used the database, each complaint's next_due_at is still
    the earliest due time of its running deadlines, whatever the test made the services
    and the sweep do. (The database fixture is taken first, so it is still there when this
    checks.)"""
    used = next((name for name in _DATABASE_FIXTURES if name in request.fixturenames), None)
    if used is None:
        yield
        return
    request.getfixturevalue(used)
    yield
    disagree = [(reference, stored, due) for reference, stored, due in
                Complaint.objects.annotate(due=running_min())
                .values_list("reference", "next_due_at", "due") if stored != due]
    assert not disagree, f"next_due_at disagrees with the running deadlines: {disagree}"


@pytest.fixture
def committed_db(transactional_db: None) -> Any:
    """A database whose writes really commit (for threads and processes), cleaned after.

    Clean-up has to get past the triggers that keep the audit log append-only and
    complaints undeletable, which is what needs database-superuser rights, as DESIGN.md
    allows for tests: on PostgreSQL session_replication_role for Django's TRUNCATE, on
    SQLite every trigger dropped, the tables emptied and the triggers put back.
    """
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        return
    with past_the_triggers():
        tables = connection.introspection.django_table_names(only_existing=True,
                                                             include_views=False)
        connection.ops.execute_sql_flush(connection.ops.sql_flush(no_style(), tables))


@pytest.fixture
def checkpoints_at_chosen_times(db: None) -> Iterator[None]:
    """For tests that sign checkpoints at times they choose (``checkpoint_due(now=...)``):
    on PostgreSQL the checkpoint insert guard's clock check (no more than a minute from the
    database's clock) is widened for the test, as only the database owner could; the
    order and head checks stay. SQLite's guard already allows a day ahead."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute(checkpoint_insert_postgresql("1000 years")[0])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(checkpoint_insert_postgresql()[0])


@contextmanager
def past_the_triggers() -> Iterator[None]:
    """Every trigger off for the block, as only a database superuser (PostgreSQL's
    session_replication_role) or the file's owner (SQLite: dropped and put back) could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
            try:
                yield
            finally:
                cursor.execute("SET session_replication_role = DEFAULT")
            return
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        saved = cursor.fetchall()
        for name, _ in saved:
            cursor.execute(f'DROP TRIGGER "{name}"')
        try:
            yield
        finally:
            for _, sql in saved:
                cursor.execute(sql)


# --- Personas ------------------------------------------------------------------------------

@pytest.fixture
def org(db: None) -> dict[str, Any]:
    """A small org chart: ceo <- vp <- manager <- (accused, reporter)."""
    ceo = PersonFactory(employee_id="CEO1", name="Chief Executive")
    vp = PersonFactory(employee_id="VP1", name="Vice President", manager=ceo)
    manager = PersonFactory(employee_id="MGR1", name="Line Manager", manager=vp)
    accused = PersonFactory(employee_id="ACC1", name="Accused Person", manager=manager)
    peer = PersonFactory(employee_id="PEER1", name="Reporter Person", manager=manager)
    return {"ceo": ceo, "vp": vp, "manager": manager, "accused": accused, "peer": peer}


def _staff(username: str, *role_names: str) -> Any:
    return UserFactory(username=username, roles=list(role_names))


@pytest.fixture
def reporter(org: dict[str, Any]) -> Any:
    user = UserFactory(username="reporter", email=org["peer"].email)
    return user


@pytest.fixture
def hr_reviewer(db: None) -> Any:
    return _staff("hr_reviewer", access.HR_REVIEWER)


@pytest.fixture
def hr_lead(db: None) -> Any:
    return _staff("hr_lead", access.HR_LEAD)


@pytest.fixture
def hr_lead_2(db: None) -> Any:
    return _staff("hr_lead_2", access.HR_LEAD)


@pytest.fixture
def investigator(db: None) -> Any:
    return _staff("investigator", access.INVESTIGATOR)


@pytest.fixture
def compliance(db: None) -> Any:
    return _staff("compliance", access.COMPLIANCE_OFFICER)


@pytest.fixture
def audit_committee(db: None) -> Any:
    return _staff("audit_committee", access.AUDIT_COMMITTEE)


@pytest.fixture
def directory_sync(db: None) -> Any:
    """The HR system's service account: the directory's only writer."""
    return _staff("hr-system", access.DIRECTORY_SYNC)


@pytest.fixture
def outsider(db: None) -> Any:
    return UserFactory(username="outsider")


@pytest.fixture
def conflicted(org: dict[str, Any]) -> Any:
    """An hr_lead who sits above the accused in the management chain."""
    user = _staff("conflicted_lead", access.HR_LEAD)
    org["vp"].user = user
    org["vp"].save()
    return user


@pytest.fixture
def officer_on_chain(org: dict[str, Any]) -> Any:
    """A compliance officer who is the accused's vice-president: conflicted on any case
    against the accused."""
    user = _staff("officer_on_chain", access.COMPLIANCE_OFFICER)
    org["vp"].user = user
    org["vp"].save()
    return user


@pytest.fixture
def filed(reporter: Any, org: dict[str, Any]) -> Any:
    """A standard complaint filed by the signed-in reporter against the accused."""
    return complaint_submit(
        reporter=reporter, category=Category.BULLYING, summary="Shouted at",
        narrative="He shouts at me in meetings.", subjects=[org["accused"].employee_id],
    ).complaint
