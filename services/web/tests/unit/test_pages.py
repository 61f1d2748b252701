"""The pages against services answering as the real ones do (recorded shapes, through a mock transport):
what the person sees, what is sent with their credential, and the errors next to the fields."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from web.app import create_app
from web.backend import Backend
from web.session import COOKIE, SignedIn
from web.settings import Settings

Handler = Callable[[httpx.Request], httpx.Response]

HIT = {
    "offer": {
        "offer_id": "O1",
        "title": "Soudeur (H/F)",
        "contract_type": "CDI",
        "employer_name": "ACIER METZ",
        "commune_name": "Metz",
    },
    "distance_km": 1.9,
    "session_count": 1,
    "sessions": [
        {
            "session_id": "S1",
            "title": "Soudage TIG",
            "distance_km": 4.0,
            "start_date": "2027-02-04",
            "end_date": "2027-06-04",
            "provider_name": "AFPA Metz",
            "commune_name": "Woippy",
            "lat": 49.15,
            "lon": 6.15,
        }
    ],
}


def session_token(role: str, subject: str = "P1", basins: list[str] | None = None) -> str:
    """A session as the sign-in issues it (the web reads its claims; the services check its signature)."""
    claims = {
        "sub": subject,
        "role": role,
        "email": "p@exemple.fr",
        "basins": basins or [],
        "exp": time.time() + 600,
    }
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{body}.c2lnbmF0dXJl"


def client(handler: Handler, role: str | None = None) -> tuple[TestClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, Backend(settings, httpx.MockTransport(recording)))
    web = TestClient(app, follow_redirects=False)
    if role:
        web.cookies.set(COOKIE, session_token(role))
    return web, seen


def csrf(web: TestClient) -> str:
    token = web.cookies.get(COOKIE)
    assert token
    return SignedIn(token, "", "", None, (), 0).csrf


def test_search_near_metz_shows_each_offer_with_its_funded_session() -> None:
    def services(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/search"
        assert request.url.params["commune"] == "57463" and request.url.params["radius_km"] == "20"
        return httpx.Response(
            200, json={"origin": {}, "offset": 0, "limit": 10, "has_more": False, "results": [HIT]}
        )

    web, _ = client(services)
    page = web.get("/recherche", params={"lieu": "Metz", "rayon": "20"})
    assert page.status_code == 200
    assert "Soudeur (H/F)" in page.text and "AFPA Metz" in page.text and "4 février 2027" in page.text
    assert "1,9 km" in page.text


def test_no_offer_near_says_so_and_shows_the_nearest_further_away() -> None:
    def services(request: httpx.Request) -> httpx.Response:
        wide = request.url.params["radius_km"] == "100"
        body = {"origin": {}, "offset": 0, "limit": 10, "has_more": False, "results": [HIT] if wide else []}
        return httpx.Response(200, json=body)

    web, _ = client(services)
    page = web.get("/recherche", params={"lieu": "57000", "rayon": "10"})
    assert "Aucune offre à moins de 10 km" in page.text and "Les offres les plus proches" in page.text
    assert "rayon=50" in page.text and "Soudeur (H/F)" in page.text


@pytest.mark.parametrize(
    ("lieu", "shown"),
    [("", "Indiquez une commune"), ("Mars", "Plusieurs communes"), ("Zzyzx", "Commune inconnue")],
)
def test_a_place_that_is_not_one_commune_is_asked_again_next_to_the_field(lieu: str, shown: str) -> None:
    web, seen = client(lambda r: httpx.Response(500))
    page = web.get("/recherche", params={"lieu": lieu})
    assert page.status_code == 422 and not seen
    assert 'id="lieu-erreur"' in page.text and shown in page.text


def test_applying_sends_the_profile_with_the_seekers_credential_and_leads_to_the_journey() -> None:
    def services(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/journeys":
            return httpx.Response(201, json={"journey_id": "J1", "state": "applied"})
        return httpx.Response(200, json=HIT)

    web, seen = client(services, "seeker")
    form = {
        "csrf": csrf(web),
        "cle": "k1",
        "first_name": "Léa",
        "last_name": "Bernard",
        "postal_code": "57000",
        "message": "Bonjour",
        "consent_email": "on",
        "notice": "on",
    }
    answer = web.post("/offres/O1/candidature", data=form)
    assert (answer.status_code, answer.headers["location"]) == (303, "/parcours/J1?fait=candidature")
    [sent] = [r for r in seen if r.url.path == "/journeys"]
    body = json.loads(sent.content)
    assert body["offer_id"] == "O1" and body["email"] == "p@exemple.fr" and body["consent_sms"] is False
    assert sent.headers["authorization"] == f"Bearer {web.cookies.get(COOKIE)}"
    assert sent.headers["idempotency-key"] == "k1"


def test_an_application_the_service_refuses_shows_each_error_next_to_its_field() -> None:
    def services(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/journeys":
            detail = [{"loc": ["body", "postal_code"], "msg": "5 chiffres attendus", "type": "value_error"}]
            return httpx.Response(422, json={"detail": detail})
        if request.url.path.startswith("/offers/"):
            return httpx.Response(200, json={"description": "Poste en atelier."})
        return httpx.Response(200, json=HIT)

    web, _ = client(services, "seeker")
    form = {"csrf": csrf(web), "first_name": "Léa", "last_name": "B", "postal_code": "570", "notice": "on"}
    page = web.post("/offres/O1/candidature", data=form)
    assert page.status_code == 422
    assert 'id="postal_code-erreur"' in page.text and "5 chiffres attendus" in page.text
    assert 'value="Léa"' in page.text, "what was typed is kept"


def test_a_form_without_its_token_is_refused_and_nothing_is_sent() -> None:
    web, seen = client(lambda r: httpx.Response(200, json=HIT), "seeker")
    answer = web.post("/offres/O1/candidature", data={"first_name": "x", "notice": "on", "csrf": "forged"})
    assert answer.status_code == 400 and not [r for r in seen if r.method == "POST"]


JOURNEY = {
    "journey_id": "J1",
    "state": "immersion_done",
    "offer_id": "O1",
    "offer_title": "Soudeur (H/F)",
    "basin": "4410",
    "history": [
        {"at": "2026-12-01T10:00:00Z", "action": "SubmitApplication", "to_state": "applied", "details": {}}
    ],
    "allowed_actions": ["SignHiringPromise", "AbandonJourney"],
    "promise_signed": False,
}


def test_the_employer_signs_the_promise_from_the_journey_page() -> None:
    posted: list[dict[str, Any]] = []

    def services(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posted.append(json.loads(request.content))
            return httpx.Response(200, json={**JOURNEY, "state": "promise_signed"})
        if request.url.path.endswith("/applicant"):
            return httpx.Response(
                200, json={"first_name": "Léa", "last_name": "Bernard", "message": "Motivée"}
            )
        return httpx.Response(200, json=JOURNEY)

    web, seen = client(services, "employer")
    page = web.get("/employeur/parcours/J1")
    assert "Léa Bernard" in page.text and "Motivée" in page.text and "Signer la promesse" in page.text
    form = {
        "csrf": csrf(web),
        "position": "Soudeur",
        "contract_type": "CDD",
        "contract_months": "9",
        "planned_start": "2027-07-01",
    }
    answer = web.post("/employeur/parcours/J1/hiring-promise", data=form)
    assert answer.headers["location"] == "/employeur/parcours/J1?fait=hiring-promise"
    assert posted == [
        {"position": "Soudeur", "contract_type": "CDD", "contract_months": 9, "planned_start": "2027-07-01"}
    ]
    assert seen[-1].url.path == "/journeys/J1/hiring-promise"


def test_a_rule_the_journey_refuses_is_shown_on_its_form() -> None:
    def services(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            detail = [{"loc": ["body"], "type": "rule", "msg": "un CDD dure au moins 6 mois"}]
            return httpx.Response(422, json={"detail": detail})
        if request.url.path.endswith("/applicant"):
            return httpx.Response(200, json={"first_name": "Léa", "last_name": "Bernard"})
        return httpx.Response(200, json=JOURNEY)

    web, _ = client(services, "employer")
    form = {
        "csrf": csrf(web),
        "position": "Soudeur",
        "contract_type": "CDD",
        "contract_months": "3",
        "planned_start": "2027-07-01",
    }
    page = web.post("/employeur/parcours/J1/hiring-promise", data=form)
    assert page.status_code == 422 and "un CDD dure au moins 6 mois" in page.text


def test_a_required_field_left_empty_is_said_next_to_it_before_anything_is_sent() -> None:
    web, seen = client(lambda r: httpx.Response(200, json=JOURNEY), "employer")
    page = web.post("/employeur/parcours/J1/hiring-promise", data={"csrf": csrf(web), "position": "Soudeur"})
    assert page.status_code == 422 and 'id="hiring-promise-planned_start-erreur"' in page.text
    assert not [r for r in seen if r.method == "POST"]


def test_another_persons_journey_or_a_session_of_another_role_gets_no_data() -> None:
    web, _ = client(lambda r: httpx.Response(403, json={"detail": "pas votre parcours"}), "employer")
    assert web.get("/employeur/parcours/J9").status_code == 403
    assert (
        web.get("/organisme/parcours/J9").headers["location"].startswith("/connexion?role=training_provider")
    )


def test_the_operator_dashboard_draws_the_kpis_and_offers_them_as_csv() -> None:
    kpis = {
        "journeys": 3,
        "states": {"applied": 1, "hired": 1, "abandoned": 1},
        "conversions": {},
        "promises_signed": 1,
        "promises_target": 20.5,
        "hires": 1,
        "return_to_employment": {"end_of_training": 1.0, "6m": None, "12m": None},
        "return_to_employment_target": 0.9,
        "median_days": {"applied->immersion_scheduled": 4.0},
        "abandonments": {"applied": {"plus de nouvelles": 1}},
    }
    body = {
        "period": {"from": "2026-01-01T00:00:00+00:00", "to": "2026-12-07T00:00:00+00:00"},
        "region": {},
        "basins": {"4410": kpis},
    }
    web, seen = client(lambda r: httpx.Response(200, json=body))
    web.cookies.set(COOKIE, session_token("basin_operator", "op", ["4410"]))
    page = web.get("/operateur")
    assert seen[-1].url.params["basin"] == "4410"
    assert page.text.count("<svg") == 4 and "objectif 90%" in page.text and "plus de nouvelles" in page.text
    assert "Candidature envoyée → Immersion prévue" in page.text
    csv = web.get("/operateur/indicateurs.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    rows = csv.content.decode("utf-8-sig").splitlines()
    assert "parcours;;3" in rows and "embauches;;1" in rows
    assert "retour à l'emploi;À la fin de la formation;1.0000" in rows


def test_a_signed_out_visitor_of_the_dashboard_goes_to_the_agents_sign_in() -> None:
    web, _ = client(lambda r: httpx.Response(500))
    answer = web.get("/operateur")
    assert answer.headers["location"] == "/connexion/operateur?suite=%2Foperateur"


def test_a_service_that_does_not_answer_gives_a_page_that_says_so() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    web, _ = client(down, "seeker")
    page = web.get("/parcours")
    assert page.status_code == 503 and "Service momentanément indisponible" in page.text


def test_suggestions_for_communes_and_occupations() -> None:
    web, _ = client(lambda r: httpx.Response(500))
    assert any(
        c["label"].startswith("Metz (57000") for c in web.get("/api/communes", params={"q": "metz"}).json()
    )
    assert any("H2913" in c["label"] for c in web.get("/api/metiers", params={"q": "soudeur"}).json())


def test_sign_in_returns_to_the_page_asked_for_and_never_to_another_site() -> None:
    def services(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sign-in":
            return httpx.Response(
                202, json={"message": "Si cette adresse est connue, un lien vient d'y être envoyé."}
            )
        token = session_token("employer")
        return httpx.Response(
            200,
            json={
                "session": token,
                "role": "employer",
                "person_id": "P1",
                "expires_at": "2099-01-01T00:00:00+00:00",
            },
        )

    web, _ = client(services)
    web.post(
        "/connexion", data={"email": "e@exemple.fr", "role": "employer", "suite": "/employeur/parcours/J1"}
    )
    opened = web.post("/connexion/jeton", data={"jeton": "t"})
    assert opened.headers["location"] == "/employeur/parcours/J1"
    assert "httponly" in opened.headers["set-cookie"].lower()
    web.post("/connexion", data={"email": "e@exemple.fr", "role": "employer", "suite": "//evil.example/x"})
    assert web.post("/connexion/jeton", data={"jeton": "t"}).headers["location"] == "/employeur"


def test_each_call_to_a_service_names_the_visitor_so_its_limits_count_people() -> None:
    web, seen = client(lambda r: httpx.Response(200, json={"items": [], "total": 0}), "seeker")
    web.get("/parcours")
    assert seen[-1].headers["x-forwarded-for"] == "testclient"


def test_an_unknown_address_or_a_bad_parameter_gets_a_page_in_french_not_json() -> None:
    web, seen = client(lambda r: httpx.Response(500))
    missing = web.get("/nulle-part")
    assert missing.status_code == 404 and "Page introuvable" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    bad = web.get("/recherche", params={"lieu": "Metz", "page": "abc"})
    assert bad.status_code == 400 and "Adresse incomplète ou invalide" in bad.text and not seen
    wrong_method = web.get("/deconnexion")
    assert wrong_method.status_code == 405 and "Demande refusée" in wrong_method.text
