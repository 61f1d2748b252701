"""HTTP API on in-memory fakes: field errors, submissions to offers.submitted, listing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from offers.access import POLICY
from offers.api import build_router
from offers.handlers import Submission, submit_batch
from tdu_dev.testing.access import guarded_app, partner_key, session
from tdu_shared.access.keys import KeyRing
from tdu_shared.topics import OFFERS_SUBMITTED

from .fakes import fake_deps, real_record

RING = KeyRing()
_, GE_INTERIM = partner_key(RING, "ge-interim", ["offers:write"])
EMPLOYER = session("employer", "E1", email="rh@acme.fr")


def app_with_fakes() -> tuple[TestClient, Any, Any]:
    deps, _, publisher = fake_deps()
    app = guarded_app([build_router(deps, publisher)], POLICY, RING)
    return TestClient(app), deps, publisher


def test_partner_offer_with_bad_fields_gets_422_with_the_field_errors() -> None:
    http, _, publisher = app_with_fakes()
    response = http.post(
        "/partners/ge-interim/offers", json=[{"id": "1", "title": "Ripeur", "lat": 123}], headers=GE_INTERIM
    )
    assert response.status_code == 422
    fields = {tuple(e["loc"][-1:]) for e in response.json()["detail"]}
    assert {("lat",), ("contract_type",)} <= fields
    assert publisher.sent == []


def test_partner_offers_are_submitted_under_namespaced_ids() -> None:
    http, _, publisher = app_with_fakes()
    offer = {"id": "42", "title": "Ripeur", "contract_type": "CDI", "postal_code": "57000"}
    assert http.post("/partners/ge-interim/offers", json=[offer]).status_code == 401
    _, other = partner_key(RING, "alsace-emploi", ["offers:write"])
    refused = http.post("/partners/ge-interim/offers", json=[offer], headers=other)
    assert refused.status_code == 403 and "alsace-emploi" in refused.json()["detail"]
    response = http.post("/partners/ge-interim/offers", json=[offer], headers=GE_INTERIM)
    assert response.status_code == 202
    assert response.json() == {"offer_ids": ["ge-interim:42"]}
    [sent] = publisher.sent
    assert sent.spec is OFFERS_SUBMITTED and sent.key == "ge-interim:42"
    assert sent.envelope.payload.source == "partner" and sent.envelope.basin == "4410"


def test_employer_form_gets_an_employer_id_and_the_signed_in_address() -> None:
    http, _, publisher = app_with_fakes()
    form = {"title": "Agent de tri", "contract_type": "CDD", "contract_months": 12, "commune_insee": "67482"}
    refused = http.post("/employer-offers", json={**form, "contact_email": "other@acme.fr"}, headers=EMPLOYER)
    assert refused.status_code == 403 and publisher.sent == []
    response = http.post("/employer-offers", json=form, headers=EMPLOYER)
    assert response.status_code == 202
    [offer_id] = response.json()["offer_ids"]
    assert offer_id.startswith("employer:")
    record = publisher.sent[0].envelope.payload.record
    assert record["id"] == offer_id and record["contact_email"] == "rh@acme.fr"


async def test_offers_are_listed_by_basin_and_rome_fiche_without_personal_data() -> None:
    http, deps, _ = app_with_fakes()
    metz = {**real_record("184MMPS"), "contact": {"courriel": "rh@acme.fr"}}
    await submit_batch(
        [Submission("france_travail", metz), Submission("france_travail", real_record("182HMPP"))], deps
    )
    listed = http.get("/offers", params={"basin": "4410", "rome": "K2303"}).json()
    assert [i["offer"]["offer_id"] for i in listed["items"]] == ["184MMPS"]
    assert listed["total"] == 1
    assert "acme.fr" not in str(listed)
    assert http.get("/offers/NOPE").status_code == 404
