"""The compliance dashboard and the audit log viewer: right figures, one chart each, only for
compliance and the audit committee, never showing a case the viewer is conflicted on."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent
from complaints import services
from complaints.models import Category, Complaint
from complaints.services.sweep import sweep
from compliance.selectors import Period, dashboard_figures

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
PERIOD = {"from": "2026-01-01", "to": "2026-06-30"}
DAY = timedelta(days=1)


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def file(reporter: Any, category: str, subjects: list[str] | None = None) -> Complaint:
    return services.complaint_submit(
        reporter=reporter, category=category, summary="s", narrative="what happened",
        subjects=subjects or ["Someone outside the directory"],
    ).complaint


@pytest.fixture
def seeded(reporter: Any, org: dict[str, Any], hr_reviewer: Any, hr_lead: Any,
           investigator: Any, compliance: Any, audit_committee: Any,
           officer_on_chain: Any) -> dict[str, Complaint]:
    """Five reports in the first half of 2026 (times UTC):

    a  bullying        filed 2 Mar, acknowledged after 1 day, dismissed 5 Mar (feedback met)
    b  discrimination  filed 2 Mar, acknowledged after 4 days, investigating; its 3-month
                       feedback fell due 6 Jun and is still running (missed)
    c  accounting      filed 1 Apr; the acknowledgement deadline ran out 8 Apr and the sweep
                       escalated it to hr_lead (level 1); acknowledged after 8 days
    e  bullying        against the accused (the vice-president is conflicted), filed 4 May,
                       acknowledged after 1 day
    d  bullying        filed 20 Jun, never acknowledged
    """
    with time_machine.travel(at(3, 2), tick=False) as clock:
        a = file(reporter, Category.BULLYING)
        b = file(reporter, Category.DISCRIMINATION)
        clock.move_to(at(3, 3))
        services.complaint_acknowledge(complaint=a, actor=hr_reviewer)
        clock.move_to(at(3, 4))
        services.complaint_propose_dismissal(complaint=a, actor=hr_reviewer,
                                             reason="Not misconduct")
        clock.move_to(at(3, 5))
        services.complaint_approve_dismissal(complaint=a, actor=hr_lead)
        clock.move_to(at(3, 6))
        services.complaint_acknowledge(complaint=b, actor=hr_reviewer)
        clock.move_to(at(3, 9))
        services.complaint_start_investigation(complaint=b, actor=hr_lead,
                                               investigator=investigator)
        clock.move_to(at(4, 1))
        c = file(reporter, Category.ACCOUNTING)
        clock.move_to(at(4, 8, minute=1))
        assert sweep().escalated == 1
        clock.move_to(at(4, 9))
        services.complaint_acknowledge(complaint=c, actor=hr_lead)
        clock.move_to(at(5, 4))
        e = file(reporter, Category.BULLYING, subjects=[org["accused"].employee_id])
        clock.move_to(at(5, 5))
        services.complaint_acknowledge(complaint=e, actor=hr_reviewer)
        clock.move_to(at(6, 20))
        d = file(reporter, Category.BULLYING)
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def figures_for(user: Any) -> Any:
    fresh = get_user_model().objects.get(pk=user.pk)
    return dashboard_figures(user=fresh, period=Period(date(2026, 1, 1), date(2026, 6, 30)),
                             as_of=NOW)


def values(bars: list[Any]) -> list[tuple[str, int]]:
    return [(bar.label, bar.value) for bar in bars]


def svg(html: str, chart_id: str) -> str:
    match = re.search(rf'<svg id="{chart_id}".*?</svg>', html, re.S)
    assert match, f"no chart {chart_id}"
    return match.group(0)


# --- Figures -----------------------------------------------------------------------------

def test_the_figures_for_a_compliance_officer(seeded: dict[str, Complaint],
                                              compliance: Any) -> None:
    f = figures_for(compliance)
    assert f.received == 5
    assert f.acknowledged == 4
    # Durations 1, 1, 4 and 8 days: median 2.5 days; nearest-rank 90th percentile 8 days.
    assert f.ack_median == timedelta(days=2, hours=12)
    assert f.ack_p90 == 8 * DAY
    assert values(f.ack_buckets) == [("Within 1 day", 2), ("1 to 3 days", 0),
                                     ("3 to 7 days", 1), ("Over 7 days", 1),
                                     ("Not acknowledged", 1)]
    # a, b, e in time; c late; d's 7 days are over without an acknowledgement.
    assert (f.ack_within_7_days.met, f.ack_within_7_days.of, f.ack_within_7_days.percent) == (
        3, 5, 60)
    # a met (dismissed within 3 months), b missed (due 6 Jun, still running), c and e running.
    assert (f.feedback_within_3_months.met, f.feedback_within_3_months.of) == (1, 2)
    assert f.feedback_running == 2
    assert len(f.breaches_by_month) == 12
    assert f.breaches_by_month[0].key == "2025-07" and f.breaches_by_month[-1].key == "2026-06"
    assert {bar.key: bar.value for bar in f.breaches_by_month if bar.value} == {"2026-04": 1}
    assert values(f.open_by_age) == [("Under 7 days", 0), ("7 to 30 days", 1),
                                     ("30 to 90 days", 1), ("Over 90 days", 2)]
    assert values(f.escalations_by_level) == [("Level 1", 1), ("Level 2", 0), ("Level 3", 0)]
    assert values(f.escalations_by_handler) == [("hr_lead", 1)]
    assert values(f.by_category) == [("Bullying", 3), ("Accounting or auditing", 1),
                                     ("Discrimination", 1)]
    assert (f.sox_received, f.sox_committee_notified) == (1, 1)


def test_a_conflicted_officers_figures_leave_out_the_case(seeded: dict[str, Complaint],
                                                          officer_on_chain: Any) -> None:
    f = figures_for(officer_on_chain)
    assert f.received == 4
    assert f.ack_median == 4 * DAY  # 1, 4 and 8 days
    assert (f.ack_within_7_days.met, f.ack_within_7_days.of) == (2, 4)
    assert f.feedback_running == 1
    assert values(f.open_by_age) == [("Under 7 days", 0), ("7 to 30 days", 1),
                                     ("30 to 90 days", 0), ("Over 90 days", 2)]
    assert values(f.by_category) == [("Bullying", 2), ("Accounting or auditing", 1),
                                     ("Discrimination", 1)]


def test_the_audit_committee_sees_figures_for_the_cases_it_may_see(
        seeded: dict[str, Complaint], audit_committee: Any) -> None:
    f = figures_for(audit_committee)
    # SOX cases (and level-3 escalations) only: c.
    assert values(f.by_category) == [("Accounting or auditing", 1)]
    assert (f.sox_received, f.sox_committee_notified) == (1, 1)
    assert values(f.escalations_by_handler) == [("hr_lead", 1)]


def test_the_figures_take_a_fixed_number_of_queries(seeded: dict[str, Complaint],
                                                    reporter: Any, compliance: Any) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            figures_for(compliance)
        return len(queries) - 1  # the fresh user

    before = count()
    with time_machine.travel(at(5, 10), tick=False):
        for _ in range(6):
            file(reporter, Category.FRAUD)
        assert sweep(now=at(5, 18)).escalated >= 6
    assert count() == before <= 12


# --- The page ----------------------------------------------------------------------------

CHART_BARS = {"chart-ack": 5, "chart-breaches": 12, "chart-age": 4, "chart-levels": 3,
              "chart-handlers": 1, "chart-categories": 3}


def test_the_dashboard_draws_each_chart_with_a_text_alternative(
        seeded: dict[str, Complaint], compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    with time_machine.travel(NOW, tick=False):
        page = client.get("/compliance/", PERIOD)
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("<svg ") == len(CHART_BARS)
    for chart_id, bars in CHART_BARS.items():
        drawn = svg(html, chart_id)
        assert drawn.count('<rect class="bar"') == bars, chart_id
        assert f'<title id="{chart_id}-title">' in drawn and f'<desc id="{chart_id}-desc">' in drawn
        assert f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in drawn
    # The longest bar of a chart is its largest figure; zero draws nothing.
    categories = svg(html, "chart-categories")
    widths = [int(w) for w in re.findall(r'<rect class="bar"[^>]* width="(\d+)"', categories)]
    assert widths[0] > widths[1] == widths[2] > 0
    assert "Bullying: 3; Accounting or auditing: 1; Discrimination: 1." in categories
    assert re.search(r'<th scope="row">Over 90 days</th><td class="num">2</td>', html)
    assert "60%" in html and "2 d 12 h" in html
    assert "/compliance/report.pdf?from=2026-01-01&amp;to=2026-06-30" in html
    assert "style=" not in html and "<script" not in html


def test_a_bad_period_is_refused_with_the_input_kept(compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    with time_machine.travel(NOW, tick=False):
        page = client.get("/compliance/", {"from": "2026-06-30", "to": "2026-01-01"})
        nonsense = client.get("/compliance/", {"from": "last tuesday", "to": ""})
    assert page.status_code == 400
    html = page.content.decode()
    assert "The first day must be on or before the last day." in html
    assert 'value="2026-06-30"' in html and 'value="2026-01-01"' in html
    assert 'aria-invalid="true"' in html and "<svg" not in html
    assert nonsense.status_code == 400
    assert 'value="last tuesday"' in nonsense.content.decode()


def test_the_dashboard_defaults_to_the_last_90_days(seeded: dict[str, Complaint],
                                                    compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    with time_machine.travel(NOW, tick=False):
        page = client.get("/compliance/")
    assert page.status_code == 200
    assert page.context["figures"].period == Period(date(2026, 4, 3), date(2026, 7, 1))
    assert page.context["figures"].received == 2  # e and d


def test_a_conflicted_officers_dashboard_leaves_out_the_case(
        seeded: dict[str, Complaint], officer_on_chain: Any, client: Any) -> None:
    client.force_login(officer_on_chain)
    with time_machine.travel(NOW, tick=False):
        html = client.get("/compliance/", PERIOD).content.decode()
    assert "Bullying: 2;" in svg(html, "chart-categories")
    assert seeded["e"].reference not in html


URLS = ["/compliance/", "/compliance/audit/", "/compliance/report.pdf",
        "/compliance/cases/MC-2222-2222/audit.csv", "/compliance/cases/MC-2222-2222/audit.pdf"]


@pytest.mark.parametrize("persona", ["hr_reviewer", "hr_lead", "investigator", "reporter",
                                     "outsider"])
@pytest.mark.parametrize("url", URLS)
def test_only_compliance_and_the_committee_may_open_the_pages(
        persona: str, url: str, request: pytest.FixtureRequest, client: Any) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url).status_code == 404
    assert client.post("/compliance/audit/verify/").status_code == 404
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()


@pytest.mark.parametrize("persona", ["compliance", "audit_committee"])
def test_compliance_and_the_committee_may_open_the_dashboard_and_the_log(
        persona: str, request: pytest.FixtureRequest, client: Any) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/compliance/").status_code == 200
    assert client.get("/compliance/audit/").status_code == 200


def test_signed_out_visitors_are_sent_to_sign_in(client: Any, db: None) -> None:
    page = client.get("/compliance/audit/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")


# --- The audit log viewer ----------------------------------------------------------------

def listed(page: Any) -> list[AuditEvent]:
    assert page.status_code == 200, page.content.decode()[:2000]
    return list(page.context["page"].events)


def test_the_log_filters_by_case_actor_action_and_time(
        seeded: dict[str, Complaint], compliance: Any, hr_reviewer: Any, client: Any) -> None:
    client.force_login(compliance)
    a = seeded["a"].reference
    by_case = listed(client.get("/compliance/audit/", {"reference": a.lower()}))
    assert [e.action for e in by_case] == [
        Action.COMPLAINT_DISMISSAL_APPROVED, Action.COMPLAINT_DISMISSAL_PROPOSED,
        Action.COMPLAINT_ACKNOWLEDGED, Action.COMPLAINT_SUBMITTED]
    by_actor = listed(client.get("/compliance/audit/", {
        "actor_type": "user", "actor_id": str(hr_reviewer.pk)}))
    assert {e.actor_id for e in by_actor} == {str(hr_reviewer.pk)}
    assert len(by_actor) == 4  # three acknowledgements and one proposal
    escalated = listed(client.get("/compliance/audit/", {"action": "complaint.escalated"}))
    assert [e.target_id for e in escalated] == [seeded["c"].reference]
    in_march = listed(client.get("/compliance/audit/", {
        "action": "complaint.acknowledged", "since": "2026-03-01T00:00",
        "until": "2026-03-06T00:00"}))
    assert [e.target_id for e in in_march] == [a]


def test_viewing_the_log_is_audited_with_the_filters(seeded: dict[str, Complaint],
                                                     compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    c = seeded["c"].reference
    page = client.get("/compliance/audit/", {"reference": c, "action": "complaint.escalated"})
    assert len(listed(page)) == 1
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    assert (event.action, event.actor_id) == (Action.AUDIT_LOG_VIEWED, str(compliance.pk))
    assert (event.target_type, event.target_id) == ("complaint", c)
    assert json.loads(event.payload) == {"reference": c, "action": "complaint.escalated",
                                         "page": "first"}
    # The page links to this case's exports.
    assert f"/compliance/cases/{c}/audit.csv" in page.content.decode()


def test_a_conflicted_officer_never_sees_the_cases_events(
        seeded: dict[str, Complaint], officer_on_chain: Any, compliance: Any,
        client: Any) -> None:
    e = seeded["e"].reference
    client.force_login(officer_on_chain)
    everything = listed(client.get("/compliance/audit/"))
    assert everything and e not in {ev.target_id for ev in everything}
    asked = client.get("/compliance/audit/", {"reference": e})
    assert listed(asked) == []
    assert f"/compliance/cases/{e}/audit.csv" not in asked.content.decode()
    client.force_login(compliance)
    assert len(listed(client.get("/compliance/audit/", {"reference": e}))) == 2


def test_a_bad_filter_is_refused_with_the_input_kept(compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    page = client.get("/compliance/audit/", {"reference": "MC-1O1O", "actor_id": "x y",
                                              "since": "2026-05-01T00:00",
                                              "until": "2026-04-01T00:00"})
    assert page.status_code == 400
    html = page.content.decode()
    assert "Enter a case reference like MC-7KQ2-93TX." in html
    assert 'value="MC-1O1O"' in html and 'value="x y"' in html
    assert "The end must be after the start." in html
    assert not AuditEvent.objects.filter(action=Action.AUDIT_LOG_VIEWED).exists()


def append(n: int) -> None:
    with transaction.atomic():
        audit.record_many([audit.Entry(action=Action.DIRECTORY_IMPORTED, actor=audit.SYSTEM,
                                       target=("directory", "people"), payload={"i": i})
                           for i in range(n)])


def test_the_log_pages_newest_first_with_a_fixed_number_of_queries(
        compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    append(120)

    def page(link: str = "") -> tuple[list[int], Any, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/compliance/audit/" + (link or "?action=directory.imported"))
        return [e.seq for e in listed(response)], response, len(queries)

    first, response, first_cost = page()
    assert first == list(range(120, 70, -1))
    older = response.context["older_link"]
    assert "cursor=" in older and "action=directory.imported" in older
    assert "before" not in older and "71" not in older
    second, response, second_cost = page(older)
    assert second == list(range(70, 20, -1))
    newer = response.context["newer_link"]
    third, response, _ = page(response.context["older_link"])
    assert third == list(range(20, 0, -1)) and response.context["older_link"] == ""
    back, response, _ = page(newer)
    assert back == first
    assert first_cost == second_cost


def test_the_chain_status_shows_the_latest_verification_and_checkpoint(
        seeded: dict[str, Complaint], compliance: Any, client: Any) -> None:
    client.force_login(compliance)
    html = client.get("/compliance/audit/").content.decode()
    assert "The chain has not been verified yet." in html
    checkpoint = audit.checkpoint_export()

    response = client.post("/compliance/audit/verify/", follow=True)
    assert response.status_code == 200
    event = AuditEvent.objects.filter(action=Action.AUDIT_CHAIN_VERIFIED).get()
    assert event.actor_id == str(compliance.pk)
    assert json.loads(event.payload)["intact"] is True
    html = response.content.decode()
    assert "The chain is intact" in html
    assert 'class="status-ok">Intact' in html and "by compliance (user #" in html
    assert "Last signed checkpoint exported on" in html
    assert f"event #{checkpoint['checkpoint']['seq']}" not in html and "events verified" not in html
