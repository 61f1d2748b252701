"""HTTP answers: 201/200 on replay, 403 wrong role, 409 with the allowed actions, 422 with field errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from journeys import handlers
from journeys.access import POLICY
from journeys.api import install_error_handlers, partner_keys_router, router
from journeys.partners import OPERATIONS
from journeys.testing import EMPLOYER_ID, SEEKER_ID, eligibility, memory_ports
from tdu_dev.testing.access import guarded_app, partner_key, session
from tdu_shared.access.keys import KeyRing
from tdu_shared.contracts.access import PartnerKeyRevoked
from tdu_shared.envelope import new_envelope
from tdu_shared.problems import install_problem_details
from tdu_shared.v1 import mirror

SEEKER = session("seeker", SEEKER_ID)
EMPLOYER = session("employer", EMPLOYER_ID)
OPERATOR = session("basin_operator", "operateur@metz.test", basins=["4410"])
APPLY: dict[str, Any] = {
    "command_id": "apply-1",
    "offer_id": "OFFER-1",
    "seeker_id": SEEKER_ID,
    "first_name": "Camille",
    "last_name": "Durand",
    "email": "camille@example.org",
    "phone": "0612345678",
    "postal_code": "57000",
    "consent_email": True,
    "consent_sms": True,
}


@pytest.fixture
async def client() -> httpx.AsyncClient:
    ports, publisher = memory_ports()
    await handlers.on_eligibility_changed(eligibility(), ports)
    app = guarded_app([router(ports, publisher)], POLICY)
    install_error_handlers(app)
    app.state.ports = ports
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_apply_creates_then_a_replay_answers_200_with_the_same_journey(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/journeys", json=APPLY, headers=SEEKER)
    again = await client.post("/journeys", json=APPLY, headers=SEEKER)
    assert first.status_code == 201 and first.json()["state"] == "applied"
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["journey_id"] == first.json()["journey_id"]


async def test_invalid_application_answers_422_with_field_errors(client: httpx.AsyncClient) -> None:
    response = await client.post("/journeys", json={**APPLY, "postal_code": "57"}, headers=SEEKER)
    assert response.status_code == 422
    assert ["body", "postal_code"] in [e["loc"] for e in response.json()["detail"]]


async def test_missing_idempotency_key_answers_422(client: httpx.AsyncClient) -> None:
    body = {k: v for k, v in APPLY.items() if k != "command_id"}
    response = await client.post("/journeys", json=body, headers=SEEKER)
    assert response.status_code == 422
    with_header = await client.post("/journeys", json=body, headers={**SEEKER, "Idempotency-Key": "k-1"})
    assert with_header.status_code == 201


async def test_unknown_offer_answers_409(client: httpx.AsyncClient) -> None:
    response = await client.post("/journeys", json={**APPLY, "offer_id": "NOPE"}, headers=SEEKER)
    assert response.status_code == 409 and "inconnue" in response.json()["detail"]


async def test_invalid_transition_answers_409_with_the_actions_allowed_now(client: httpx.AsyncClient) -> None:
    jid = (await client.post("/journeys", json=APPLY, headers=SEEKER)).json()["journey_id"]
    response = await client.post(
        f"/journeys/{jid}/hire",
        headers=EMPLOYER,
        json={"command_id": "h-1", "contract_start": "2027-09-01", "contract_type": "CDI"},
    )
    assert response.status_code == 409
    assert response.json()["allowed_actions"] == ["DeclineApplication", "ScheduleImmersion", "AbandonJourney"]


async def test_wrong_role_answers_403(client: httpx.AsyncClient) -> None:
    jid = (await client.post("/journeys", json=APPLY, headers=SEEKER)).json()["journey_id"]
    response = await client.post(
        f"/journeys/{jid}/decline", headers=SEEKER, json={"command_id": "d-1", "reason": "je ne veux plus"}
    )
    assert response.status_code == 403


async def test_another_employer_cannot_read_or_act(client: httpx.AsyncClient) -> None:
    jid = (await client.post("/journeys", json=APPLY, headers=SEEKER)).json()["journey_id"]
    other = session("employer", "E2")
    assert (await client.get(f"/journeys/{jid}", headers=other)).status_code == 403
    response = await client.post(
        f"/journeys/{jid}/decline", headers=other, json={"command_id": "d", "reason": "x"}
    )
    assert response.status_code == 403


async def test_broken_rule_answers_422(client: httpx.AsyncClient) -> None:
    jid = (await client.post("/journeys", json=APPLY, headers=SEEKER)).json()["journey_id"]
    response = await client.post(
        f"/journeys/{jid}/schedule-immersion",
        headers=EMPLOYER,
        json={"command_id": "s-1", "starts_on": "2027-02-03", "ends_on": "2027-02-01", "place": "Metz"},
    )
    assert response.status_code == 422


async def test_actor_headers_are_ignored_without_a_credential(client: httpx.AsyncClient) -> None:
    forged = {"X-Actor-Role": "basin_operator", "X-Actor-Id": "anyone"}
    response = await client.get("/journeys", headers=forged)
    assert response.status_code == 401 and "Bearer" in response.headers["www-authenticate"]
    assert (await client.get(f"/contacts/{SEEKER_ID}", headers=forged)).status_code == 401


async def test_an_operator_of_another_basin_cannot_read_act_or_count(client: httpx.AsyncClient) -> None:
    jid = (await client.post("/journeys", json=APPLY, headers=SEEKER)).json()["journey_id"]
    nancy = session("basin_operator", "operateur@nancy.test", basins=["4412"])
    assert (await client.get(f"/journeys/{jid}", headers=nancy)).status_code == 403
    assert (await client.get(f"/contacts/{SEEKER_ID}", headers=nancy)).status_code == 403
    assert (await client.get("/kpis?basin=4410", headers=nancy)).status_code == 403
    assert (await client.get("/journeys?basin=4410", headers=nancy)).status_code == 403
    assert (await client.get("/journeys", headers=nancy)).json()["total"] == 0
    refused = await client.post(
        f"/journeys/{jid}/decline", headers=nancy, json={"command_id": "d", "reason": "x"}
    )
    assert refused.status_code == 403 and "4410" in refused.json()["detail"]
    assert (await client.get(f"/journeys/{jid}", headers=OPERATOR)).status_code == 200


async def test_journey_reads_with_its_history_and_no_personal_data(client: httpx.AsyncClient) -> None:
    jid = (await client.post("/journeys", json=APPLY, headers=SEEKER)).json()["journey_id"]
    await client.post(
        f"/journeys/{jid}/schedule-immersion",
        headers=EMPLOYER,
        json={"command_id": "s-1", "starts_on": "2027-02-01", "ends_on": "2027-02-03", "place": "Metz"},
    )
    response = await client.get(f"/journeys/{jid}", headers=EMPLOYER)
    body = response.json()
    assert [s["action"] for s in body["history"]] == ["SubmitApplication", "ScheduleImmersion"]
    assert "Durand" not in response.text and "camille@example.org" not in response.text


async def test_lists_are_paged_and_parties_see_only_their_own(client: httpx.AsyncClient) -> None:
    for n in range(3):
        await client.post("/journeys", json={**APPLY, "command_id": f"a-{n}"}, headers=SEEKER)
    page = (await client.get("/journeys?basin=4410&page=2&page_size=2", headers=OPERATOR)).json()
    assert (page["total"], len(page["items"])) == (3, 1)
    other = session("employer", "E2")
    assert (await client.get("/journeys", headers=other)).json()["total"] == 0


async def test_kpis_are_for_operators(client: httpx.AsyncClient) -> None:
    await client.post("/journeys", json=APPLY, headers=SEEKER)
    assert (await client.get("/kpis", headers=SEEKER)).status_code == 403
    kpis = (await client.get("/kpis?from=2027-01-01&to=2028-01-01", headers=OPERATOR)).json()
    assert kpis["region"]["journeys"] == 1 and kpis["basins"]["4410"]["states"] == {"applied": 1}


async def test_a_kpi_period_is_bounded_and_in_order(client: httpx.AsyncClient) -> None:
    """A period from the year 514 summed one document per basin and month since then: over 30 s."""
    ancient = await client.get("/kpis?from=0514-11-07&basin=4410", headers=OPERATOR)
    assert ancient.status_code == 422 and ancient.json()["detail"][0]["loc"] == ["query", "from"]
    backwards = await client.get("/kpis?from=2028-01-01&to=2027-01-01", headers=OPERATOR)
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"] == ["query", "to"]
    decade = await client.get("/kpis?from=2018-01-01&to=2028-01-01", headers=OPERATOR)
    assert decade.status_code == 200


async def test_erasure_is_for_the_person_or_an_operator(client: httpx.AsyncClient) -> None:
    await client.post("/journeys", json=APPLY, headers=SEEKER)
    assert (await client.delete(f"/contacts/{SEEKER_ID}", headers=EMPLOYER)).status_code == 403
    response = await client.delete(f"/contacts/{SEEKER_ID}", headers=SEEKER)
    assert response.json() == {"erased": SEEKER_ID, "journeys_anonymised": 1}
    assert (await client.get(f"/contacts/{SEEKER_ID}", headers=OPERATOR)).status_code == 404


async def test_a_contact_change_keeps_what_it_leaves_out_and_cannot_erase_required_fields(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/journeys", json=APPLY, headers=SEEKER)
    changed = await client.patch(f"/contacts/{SEEKER_ID}", json={"phone": None}, headers=SEEKER)
    assert changed.status_code == 200 and changed.json()["phone"] is None
    assert changed.json()["consent_email"] is True and changed.json()["first_name"] == "Camille"
    for field in ("consent_email", "consent_sms", "first_name", "postal_code"):
        refused = await client.patch(f"/contacts/{SEEKER_ID}", json={field: None}, headers=SEEKER)
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", field]
    stored = (await client.get(f"/contacts/{SEEKER_ID}", headers=SEEKER)).json()
    assert (stored["consent_email"], stored["consent_sms"], stored["postal_code"]) == (True, True, "57000")


async def test_an_operators_reads_of_personal_data_are_in_the_audit_log_of_the_basin(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/journeys", json=APPLY, headers=SEEKER)
    assert (await client.get(f"/contacts/{SEEKER_ID}", headers=SEEKER)).status_code == 200  # not audited
    assert (await client.get(f"/contacts/{SEEKER_ID}", headers=OPERATOR)).status_code == 200
    await client.patch(f"/contacts/{SEEKER_ID}", json={"phone": None}, headers=OPERATOR)
    log = (await client.get("/audit", headers=OPERATOR)).json()
    assert [(e["action"], e["person_id"], e["basins"]) for e in log] == [
        ("change", SEEKER_ID, ["4410"]),
        ("read", SEEKER_ID, ["4410"]),
    ]
    assert log[0]["operator"] == "operateur@metz.test"
    nancy = session("basin_operator", "operateur@nancy.test", basins=["4412"])
    assert (await client.get("/audit", headers=nancy)).json() == []
    assert (await client.get("/audit?basin=4410", headers=nancy)).status_code == 403
    assert (await client.get("/audit", headers=SEEKER)).status_code == 403


async def test_the_employer_sees_the_applicants_profile_and_note_and_no_one_else_does(
    client: httpx.AsyncClient,
) -> None:
    body = {**APPLY, "message": "Disponible dès lundi, permis B."}
    jid = (await client.post("/journeys", json=body, headers=SEEKER)).json()["journey_id"]
    seen = await client.get(f"/journeys/{jid}/applicant", headers=EMPLOYER)
    assert seen.status_code == 200, seen.text
    assert seen.json()["message"] == "Disponible dès lundi, permis B."
    assert (seen.json()["last_name"], seen.json()["email"]) == ("Durand", "camille@example.org")
    assert (await client.get(f"/journeys/{jid}", headers=EMPLOYER)).json().get("message") is None
    for other in (session("employer", "E2"), session("training_provider", "P1")):
        assert (await client.get(f"/journeys/{jid}/applicant", headers=other)).status_code == 403
    assert (await client.get(f"/journeys/{jid}/applicant", headers=OPERATOR)).status_code == 200
    assert [e["action"] for e in (await client.get("/audit", headers=OPERATOR)).json()] == ["read"]


async def test_an_operator_lists_the_partner_keys_of_their_basin_never_their_secrets() -> None:
    ring = KeyRing()
    metz, metz_key = partner_key(ring, "mission-locale-metz", ["journeys:read"], basins=["4410"])
    partner_key(ring, "mission-locale-nancy", ["journeys:read"], basins=["4412"])
    everywhere, _ = partner_key(ring, "france-travail", ["offers:write"])
    revoked = PartnerKeyRevoked(
        key_id=metz,
        partner="mission-locale-metz",
        revoked_by="op",
        reason="fuite",
        revoked_at=datetime.now(UTC),
    )
    ring.apply(metz, new_envelope(revoked, producer="tests", region="44", basin=None))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guarded_app([partner_keys_router(ring)], POLICY, ring)),
        base_url="http://test",
    )
    listed = await client.get("/partner-keys", headers=OPERATOR)
    assert listed.status_code == 200, listed.text
    keys = listed.json()
    assert [(k["key_id"], k["revoke_reason"]) for k in keys] == [(everywhere, None), (metz, "fuite")]
    assert metz_key["Authorization"].split("_")[-1] not in listed.text, "secrets are never shown"
    assert "secret" not in keys[0]
    assert (await client.get("/partner-keys", headers=SEEKER)).status_code == 403
    assert (await client.get("/partner-keys?basin=4412", headers=OPERATOR)).status_code == 403


async def test_v1_answers_refusals_as_problem_details_and_internal_paths_keep_their_shape() -> None:
    ports, publisher = memory_ports()
    await handlers.on_eligibility_changed(eligibility(), ports)
    ring = KeyRing()
    _, key = partner_key(
        ring, "mission-locale-metz", ["applications:write", "journeys:write"], basins=["4410"]
    )
    api = router(ports, publisher)
    app = guarded_app([api, mirror(api, OPERATIONS)], POLICY, ring)
    install_error_handlers(app)
    install_problem_details(app)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    applied = await client.post("/v1/journeys", json={**APPLY, "seeker_id": None}, headers=key)
    assert applied.status_code == 201, applied.text
    jid = applied.json()["journey_id"]
    hire = {"command_id": "h-1", "contract_start": "2027-09-01", "contract_type": "CDI"}
    refused = await client.post(f"/v1/journeys/{jid}/hire", json=hire, headers=key)
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["status"] == 409 and problem["instance"] == f"/v1/journeys/{jid}/hire"
    assert "ScheduleImmersion" in problem["allowed_actions"] and problem["detail"]
    invalid = await client.post("/v1/journeys", json={**APPLY, "postal_code": "57"}, headers=key)
    assert invalid.status_code == 422 and invalid.headers["content-type"] == "application/problem+json"
    assert "postal_code" in [e["field"] for e in invalid.json()["errors"]]
    internal = await client.post(f"/journeys/{jid}/hire", json=hire, headers=EMPLOYER)
    assert internal.status_code == 409 and "allowed_actions" in internal.json()
    assert internal.headers["content-type"] == "application/json"


def test_the_kpis_command_refuses_a_period_too_long_before_connecting() -> None:
    from typer.testing import CliRunner

    from journeys.cli import app

    result = CliRunner().invoke(app, ["kpis", "--from", "0514-01-01"])
    assert result.exit_code == 2 and "dix ans au plus" in result.output
