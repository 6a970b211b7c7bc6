"""The log's shape tells the conflicted nothing.

A compliance officer above the accused reads the log (the viewer at /compliance/audit/ and
the API) while a case against the accused is filed and worked on among other events. What
they see carries no sequence number, no hash they could test a sequence number against,
no count of all events and no readable page position; and an unconflicted officer sees the
very same shape, so the presentation itself gives nothing away.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.core import signing
from django.db import transaction
from django.test import Client
from django.utils.dateparse import parse_datetime

from audit import services as audit
from audit.actions import Action
from audit.chain import GENESIS_HASH, canonical_payload, event_hash, format_time
from audit.models import AuditEvent
from audit.opaque import cursor_encode, event_id
from complaints.access import visible_events
from complaints.models import Category, Complaint
from complaints.services import complaint_acknowledge, complaint_submit
from tests.api.conftest import Api
from tests.factories import PersonFactory

HEX = re.compile(r"[0-9a-f]{16,64}")


@pytest.fixture
def hidden(org: dict[str, Any], hr_lead: Any) -> list[Complaint]:
    """Sixty directory events; among them four cases against the accused, filed and
    acknowledged, and two cases about someone else: the hidden ones are in the middle."""
    outside = PersonFactory(employee_id="OUT1", name="Someone Else")
    cases = []
    for i in range(60):
        with transaction.atomic():
            audit.record(action=Action.DIRECTORY_IMPORTED, actor=audit.SYSTEM,
                         target=("directory", "people"), payload={"i": i})
        if i % 15 == 7:
            case = complaint_submit(reporter=None, category=Category.BULLYING,
                                    summary="Shouted at", narrative="He shouts at me.",
                                    subjects=[org["accused"].employee_id]).complaint
            complaint_acknowledge(complaint=case, actor=hr_lead)
            cases.append(case)
        if i % 30 == 3:
            complaint_submit(reporter=None, category=Category.BULLYING, summary="Late",
                             narrative="Always late.", subjects=[outside.employee_id])
    return cases


def _api_pages(api: Api, user: Any, limit: int = 7) -> list[dict[str, Any]]:
    officer = api.as_user(user)
    pages = [officer.get("audit/events/", {"limit": limit}).json()]
    while pages[-1]["next"]:
        cursor = parse_qs(urlparse(pages[-1]["next"]).query)["cursor"][0]
        pages.append(officer.get("audit/events/", {"cursor": cursor, "limit": limit}).json())
    return pages


def _seq_candidates(exposed_text: str, events: list[dict[str, Any]], max_seq: int) -> list[int]:
    """A reader's attack: any full hash they were shown may be the previous event's; try
    every position for each event they see and look for the result among what they were
    shown (whole or as a 16-character prefix). A payload shown without some keys is tried
    with the hashes they know put back (a verification records the head it began at)."""
    exposed = set(HEX.findall(exposed_text))
    previous = {h for h in exposed if len(h) == 64} | {GENESIS_HASH}
    found = []
    for e in events:
        payloads = [e["payload"]]
        if e["action"] == Action.AUDIT_CHAIN_VERIFIED:
            payloads += [{**e["payload"], "head_hash": h} for h in previous]
        for payload in payloads:
            fields = (format_time(parse_datetime(e["occurred_at"])), e["actor_type"],
                      e["actor"], e["action"], e["target_type"], e["target"], e["from_state"],
                      e["to_state"], canonical_payload(payload))
            for prev in previous:
                for seq in range(1, max_seq + 1):
                    digest = event_hash(prev, seq, *fields)
                    if digest in exposed or digest[:16] in exposed:
                        found.append(seq)
    return found


def test_the_api_shows_no_position_and_none_can_be_derived(
        api: Api, hidden: list[Complaint], officer_on_chain: Any) -> None:
    # Two checks in a row: the first one's event lies between the two heads they began at.
    officer = api.as_user(officer_on_chain)
    checks = [officer.get("audit/verify/").json() for _ in range(2)]
    pages = _api_pages(api, officer_on_chain, limit=100)
    events = [e for page in pages for e in page["results"]]
    text = json.dumps([checks, pages])

    assert events and not any(c.reference in text for c in hidden)
    assert all(set(e) == {"id", "occurred_at", "actor", "actor_type", "action", "target",
                          "target_type", "from_state", "to_state", "payload"} for e in events)
    assert all("last_seq" not in page and "count" not in page for page in pages)
    # Ids are no numbers in order: not the positions, and not sorted.
    ids = [e["id"] for e in events]
    assert not set(ids) & {str(e.seq) for e in AuditEvent.objects.all()}
    assert ids != sorted(ids)
    # Nothing shown lets a reader test a position against a hash.
    assert _seq_candidates(text, events, AuditEvent.objects.count() + 5) == []


def test_a_cursor_holds_no_readable_position(api: Api, hidden: list[Complaint],
                                            officer_on_chain: Any) -> None:
    pages = _api_pages(api, officer_on_chain)
    assert len(pages) > 3
    for page in pages:
        cursor = page["cursor"]
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        assert b"after" not in decoded and b"before" not in decoded
        assert not re.fullmatch(r"\d+", cursor)
        for seq in AuditEvent.objects.values_list("seq", flat=True):
            for plain in (f'["after",{seq}]', f'{{"seq":{seq}}}', f'"{seq}"'):
                assert base64.urlsafe_b64encode(plain.encode()).decode().rstrip("=") not in cursor
        with pytest.raises(signing.BadSignature):
            signing.loads(cursor)


def test_paging_the_api_yields_every_visible_event_once(api: Api, hidden: list[Complaint],
                                                        officer_on_chain: Any) -> None:
    before = list(AuditEvent.objects.values_list("seq", flat=True))
    expected = [event_id(e) for e in visible_events(officer_on_chain).filter(seq__in=before)
                .order_by("seq")]

    ids = [e["id"] for page in _api_pages(api, officer_on_chain) for e in page["results"]]

    assert len(ids) == len(set(ids))
    assert ids[:len(expected)] == expected
    # After them, only what the reading itself wrote (the token, each page's read).
    assert set(ids[len(expected):]) <= {
        event_id(e) for e in AuditEvent.objects.exclude(seq__in=before)}


def test_paging_the_log_page_yields_every_visible_event_once(
        client: Client, hidden: list[Complaint], officer_on_chain: Any) -> None:
    client.force_login(officer_on_chain)
    expected = [event_id(e) for e in visible_events(officer_on_chain).order_by("-seq")]
    response = client.get("/compliance/audit/")
    seen: list[str] = []
    while True:
        assert response.status_code == 200
        seen += [row[0] for row in response.context["rows"]]
        if not response.context["older_link"]:
            break
        response = client.get("/compliance/audit/" + response.context["older_link"])

    assert len(seen) > 50  # more than one page
    # Each page's own read is newer than the first page: none of them is in it.
    assert seen == expected


def _status_box(html: str) -> str:
    start = html.index('aria-labelledby="chain-status"')
    return html[start:html.index('<form method="post"', start)]


def test_the_log_page_shows_no_position_and_looks_the_same_to_everyone(
        client: Client, hidden: list[Complaint], officer_on_chain: Any,
        compliance: Any) -> None:
    audit.checkpoint_export()
    pages = {}
    for reader in (officer_on_chain, compliance):
        client.force_login(reader)
        client.post("/compliance/audit/verify/")
        pages[reader.username] = client.get("/compliance/audit/")
    conflicted = pages["officer_on_chain"]
    html = conflicted.content.decode()
    table = html[html.index('<table class="log">'):]

    assert not any(c.reference in html for c in hidden)
    assert "Seq" not in table and "event #" not in html and "events verified" not in html
    cells = re.findall(r'data-label="Event"><code class="event-id">([^<]*)</code>', table)
    assert cells == [row[0] for row in conflicted.context["rows"]]
    assert all(re.fullmatch(r"[0-9a-f]{16}", cell) for cell in cells)
    # No full hash of an event is shown, so no position can be tried against one.
    shown_hashes = set(re.findall(r"[0-9a-f]{64}", table))
    assert not shown_hashes & set(AuditEvent.objects.values_list("hash", flat=True))
    # The unconflicted officer's status box and table head are the same, word for word.
    other = pages["compliance"].content.decode()
    noise = r"officer_on_chain|compliance|#\d+|[0-9a-f]{64}|\d+ \w+ \d{4} \d\d:\d\d \w+"
    assert re.sub(noise, "", _status_box(html)) == re.sub(noise, "", _status_box(other))
    assert table[:table.index("<tbody>")] == other[other.index('<table class="log">'):][
        :other[other.index('<table class="log">'):].index("<tbody>")]


def test_old_payloads_lose_their_positions_and_counts(client: Client,
                                                      officer_on_chain: Any) -> None:
    with transaction.atomic():
        audit.record(action=Action.AUDIT_CHAIN_VERIFIED, actor=audit.SYSTEM,
                     target=("audit_chain", "head"),
                     payload={"intact": True, "events": 3407, "first_broken_seq": None,
                              "head_hash": "a" * 64})
        audit.record(action=Action.AUDIT_CHECKPOINT_EXPORTED, actor=audit.SYSTEM,
                     target=("audit_chain", "head"), payload={"seq": 3408, "hash": "b" * 64})
    client.force_login(officer_on_chain)
    html = client.get("/compliance/audit/").content.decode()
    assert "3407" not in html and "3408" not in html
    viewed = AuditEvent.objects.filter(action=Action.AUDIT_LOG_VIEWED).get()
    assert json.loads(viewed.payload) == {"page": "first"}  # no count of what was shown


@pytest.mark.parametrize("where", ["page", "api"])
def test_a_forged_cursor_is_a_400(client: Client, api: Api, compliance: Any, settings: Any,
                                  where: str) -> None:
    real = cursor_encode(direction="after", seq=1)
    forged = [
        "x", real[:-3] + ("AAA" if real[-3:] != "AAA" else "BBB"),
        signing.dumps(["after", 1]), base64.urlsafe_b64encode(b'["after",1]').decode(),
    ]
    ours = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-for-another-server-0123456789"
    forged.append(cursor_encode(direction="before", seq=5))
    settings.SECRET_KEY = ours
    client.force_login(compliance)
    officer = api.as_user(compliance)
    for cursor in forged:
        if where == "page":
            response = client.get("/compliance/audit/", {"cursor": cursor})
            assert response.status_code == 400
            assert "This page link is not valid" in response.content.decode()
        else:
            response = officer.get("audit/events/", {"cursor": cursor})
            assert response.status_code == 400
            assert set(response.json()) == {"cursor"}


def test_verify_has_the_same_keys_for_every_reader_and_no_count(
        api: Api, hidden: list[Complaint], officer_on_chain: Any, compliance: Any) -> None:
    bodies = [api.as_user(u).get("audit/verify/").json() for u in (officer_on_chain, compliance)]
    assert [set(b) for b in bodies] == [{"intact", "checked_at", "complete", "missing"}] * 2
    assert all(b["intact"] is True for b in bodies)
    recorded = AuditEvent.objects.filter(action=Action.AUDIT_CHAIN_VERIFIED)
    assert all("events" not in json.loads(e.payload) for e in recorded)
