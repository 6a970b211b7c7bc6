"""GET audit/checkpoints/ and GET audit/public-key/."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.utils import timezone

from audit import checkpoints, keys
from audit.models import Checkpoint
from tests.api.conftest import Api


@pytest.fixture
def three(db: None, checkpoints_at_chosen_times: None) -> list[Checkpoint]:
    now = timezone.now()
    return [checkpoints.checkpoint_due(now=now + timedelta(hours=i)) for i in range(3)]


@pytest.mark.parametrize("who", ["compliance", "audit_committee"])
def test_checkpoints_are_listed_newest_first_each_signed(
        api: Api, three: list[Checkpoint], who: str, request: pytest.FixtureRequest) -> None:
    body = api.as_user(request.getfixturevalue(who)).get("audit/checkpoints/").json()

    assert [c["seq"] for c in body["results"]] == [c.seq for c in reversed(three)]
    assert body["next"] is None
    newest = body["results"][0]
    assert set(newest) == {"seq", "head_hash", "made_at", "previous", "signature", "key_id"}
    assert newest["previous"] == {"seq": three[1].seq, "head_hash": three[1].head_hash}
    assert body["results"][-1]["previous"] is None
    # Anyone can check one with what GET public-key/ publishes.
    published = {k["key_id"]: k["public_key"] for k in Api().get("audit/public-key/")
                 .json()["keys"]}
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(published[newest["key_id"]]))
    signed = {name: value for name, value in newest.items() if name != "signature"}
    public.verify(base64.b64decode(newest["signature"]), keys.signed_body(signed))


def test_checkpoints_page_with_before(api: Api, compliance: Any,
                                      three: list[Checkpoint]) -> None:
    officer = api.as_user(compliance)
    first = officer.get("audit/checkpoints/", {"limit": 2}).json()
    assert len(first["results"]) == 2 and "before=" in first["next"]
    rest = officer.get("audit/checkpoints/", {"before": first["results"][-1]["seq"]}).json()
    assert [c["seq"] for c in rest["results"]] == [three[0].seq]


@pytest.mark.parametrize("who", ["hr_lead", "investigator", "outsider"])
def test_other_staff_may_not_list_checkpoints(api: Api, who: str,
                                              request: pytest.FixtureRequest) -> None:
    response = api.as_user(request.getfixturevalue(who)).get("audit/checkpoints/")
    assert response.status_code == 403


def test_checkpoints_need_a_token_and_good_input(api: Api, compliance: Any) -> None:
    assert api.get("audit/checkpoints/").status_code == 401
    response = api.as_user(compliance).get("audit/checkpoints/", {"before": "x"})
    assert response.status_code == 400 and "before" in response.json()


def test_the_public_key_is_for_anyone(api: Api, settings: Any) -> None:
    retired = keys.public_key_text(Ed25519PublicKey.from_public_bytes(bytes(32)))
    settings.AUDIT_PREVIOUS_PUBLIC_KEYS = [retired]

    response = api.get("audit/public-key/", HTTP_AUTHORIZATION="Bearer nonsense")

    assert response.status_code == 200
    listed = response.json()["keys"]
    current = keys.signing_key().public_key()
    assert listed[0] == {"key_id": keys.key_id(current), "algorithm": "Ed25519",
                         "public_key": keys.public_key_text(current), "current": True}
    assert listed[1]["public_key"] == retired and listed[1]["current"] is False
    assert keys.parse_public_keys(json.dumps(response.json())).keys() == {
        item["key_id"] for item in listed}
