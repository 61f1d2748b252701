"""The whole journey across the five services, each a separate process, on the real broker and store.

Import a catalogue and offers -> eligibility -> a seeker searches near Metz and finds the offer with its
funded session -> applies -> immersion scheduled -> done -> promise and commitment signed -> training
started -> completed -> hired. At every step: the journey's state, the events on journeys.events, the
e-mails the SMTP server received and the SMS the provider stand-in received; the basin's KPIs at the end.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tdu_dev.infra.platform import Platform, wait_for
from tdu_dev.testing.kafka_helpers import read_topic
from tdu_dev.testing.privacy import personal_data_left
from tdu_shared.envelope import decode_event
from tdu_shared.topics import JOURNEYS_EVENTS, Topics

from .fixtures import (
    EMPLOYER_EMAIL,
    OFFER_ID,
    PROVIDER_EMAIL,
    SESSION_NUMBER,
    Outbox,
    import_catalogue_and_offers,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

SEEKER_EMAIL = "camille.martin@exemple.fr"
SEEKER_PHONE = "0612345678"
OPERATOR_EMAIL = "operateur.metz@traitdunion.eu"
METZ_BASIN = "4410"


class Journeys:
    """The journeys HTTP API as a front end uses it, with the signed-in person's credential."""

    def __init__(self, platform: Platform) -> None:
        self.base = platform.url("journeys")

    def call(
        self,
        method: str,
        path: str,
        credential: dict[str, str],
        body: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> httpx.Response:
        headers = {**credential, **({"Idempotency-Key": key} if key else {})}
        return httpx.request(method, f"{self.base}{path}", json=body, headers=headers, timeout=10)

    def act(
        self, journey_id: str, path: str, credential: dict[str, str], body: dict[str, Any]
    ) -> dict[str, Any]:
        response = self.call("POST", f"/journeys/{journey_id}/{path}", credential, body, key=f"{path}-1")
        assert response.status_code == 200, response.text
        return dict(response.json())


def sign_in(platform: Platform, outbox: Outbox, email: str, role: str) -> dict[str, str]:
    """Sign in as a person does: ask for a link, open the e-mail, exchange the link's token for a session."""
    notifications = platform.url("notifications")
    already = len(outbox.mails())
    asked = httpx.post(f"{notifications}/sign-in", json={"email": email, "role": role}, timeout=10)
    assert asked.status_code == 202, asked.text

    def link() -> str | None:
        for mail in outbox.mails()[already:]:
            if email in mail["to"] and "lien de connexion" in mail["subject"]:
                found = re.search(r"/connexion\?jeton=([A-Za-z0-9_-]+)", outbox.text(mail))
                return found.group(1) if found else None
        return None

    token: str = wait_for(link, 30, f"a sign-in link to {email}")
    opened = httpx.post(f"{notifications}/sign-in/session", json={"token": token}, timeout=10)
    assert opened.status_code == 200, opened.text
    return {"Authorization": f"Bearer {opened.json()['session']}"}


def event_traces(platform: Platform, journey_id: str) -> dict[str, str]:
    """The trace id each event of the journey was published in (its ``traceparent`` header)."""
    topic = Topics(platform.topic_prefix).name(JOURNEYS_EVENTS)
    records = asyncio.run(
        read_topic(platform.endpoints.kafka_bootstrap_servers, topic, timeout=5, settle=1.0)
    )
    traces = {}
    for record in records:
        event = decode_event(record.value)
        if event.payload.journey_id == journey_id and "traceparent" in record.headers:
            traces[event.type] = record.headers["traceparent"].decode().split("-")[1]
    return traces


def journey_events(platform: Platform, journey_id: str, until: Callable[[list[str]], bool]) -> list[Any]:
    topic = Topics(platform.topic_prefix).name(JOURNEYS_EVENTS)

    def of_journey(records: list[Any]) -> list[Any]:
        events = [decode_event(r.value) for r in records]
        return [e for e in events if e.payload.journey_id == journey_id]

    records = asyncio.run(
        read_topic(
            platform.endpoints.kafka_bootstrap_servers,
            topic,
            until=lambda rs: until([e.type for e in of_journey(rs)]),
            timeout=30,
        )
    )
    return of_journey(records)


def test_a_seeker_goes_from_an_offer_near_metz_to_a_hire(platform: Platform, tmp_path: Any) -> None:
    today = date.today()
    folder = tmp_path

    # 1. The region's catalogue and France Travail offers come in through the services' own imports.
    assert import_catalogue_and_offers(platform, folder, "e2e")["funded_sessions"] == 1

    # 2. Matching links the offer to the funded session; a seeker searches near Metz and finds both.
    search_url = f"{platform.url('matching')}/search"

    def search_hit() -> dict[str, Any] | None:
        response = httpx.get(search_url, params={"commune": "57463", "radius_km": 30}, timeout=5)
        if response.status_code != 200:
            return None
        return next((r for r in response.json()["results"] if r["offer"]["offer_id"] == OFFER_ID), None)

    hit: dict[str, Any] = wait_for(search_hit, 60, "the offer in the search near Metz")
    [session] = hit["sessions"]
    assert session["session_id"].endswith(SESSION_NUMBER)
    assert session["provider_name"] == "Centre de formation de Woippy"
    assert 0 < hit["distance_km"] < 5 and 0 < session["distance_km"] < 8
    assert hit["offer"]["contract_type"] == "CDI"

    # 3. The seeker applies (retried with the same idempotency key until journeys has seen the eligibility).
    journeys, outbox = Journeys(platform), Outbox(platform)
    application = {
        "offer_id": OFFER_ID,
        "first_name": "Camille",
        "last_name": "Martin",
        "email": SEEKER_EMAIL,
        "phone": SEEKER_PHONE,
        "postal_code": "57000",
        "education_level": "3",
        "jobseeker_status": "A",
        "consent_email": True,
        "consent_sms": True,
        "message": "Bonjour, je suis très intéressée.",
    }

    seeker = sign_in(platform, outbox, SEEKER_EMAIL, "seeker")  # a new seeker: a new opaque id

    def applied() -> httpx.Response | None:
        response = journeys.call("POST", "/journeys", seeker, application, key="apply-1")
        return response if response.status_code in (200, 201) else None

    answer: httpx.Response = wait_for(applied, 60, "the application to be accepted")
    journey, trace_id = answer.json(), answer.headers["X-Trace-Id"]
    journey_id, employer_id = journey["journey_id"], journey["employer_id"]
    assert journey["state"] == "applied" and employer_id
    employer = sign_in(platform, outbox, EMPLOYER_EMAIL, "employer")  # the offer's contact address
    applicant = journeys.call("GET", f"/journeys/{journey_id}/applicant", employer).json()
    assert (applicant["last_name"], applicant["message"]) == ("Martin", application["message"])
    assert [e.type for e in journey_events(platform, journey_id, lambda t: "ApplicationSubmitted" in t)] == [
        "ApplicationSubmitted"
    ]
    # One trace from the request, through its event, to the e-mail it caused.
    assert answer.headers["traceparent"].split("-")[1] == trace_id and len(trace_id) == 32
    assert event_traces(platform, journey_id)["ApplicationSubmitted"] == trace_id
    confirmation = outbox.wait_mail(SEEKER_EMAIL, "Votre candidature « Agent de propreté (H/F) » est envoyée")
    assert outbox.header(confirmation, "X-Trace-Id") == trace_id
    outbox.wait_mail(EMPLOYER_EMAIL, "Nouvelle candidature pour « Agent de propreté (H/F) »")
    outbox.wait_sms("612345678", "votre candidature")

    # 4. The employer schedules an immersion, then records it went well.
    starts, ends = today + timedelta(days=5), today + timedelta(days=7)
    journey = journeys.act(
        journey_id,
        "schedule-immersion",
        employer,
        {"starts_on": str(starts), "ends_on": str(ends), "place": "12 rue Serpenoise, Metz"},
    )
    assert journey["state"] == "immersion_scheduled"
    outbox.wait_mail(SEEKER_EMAIL, "Immersion prévue")
    outbox.wait_sms("612345678", "immersion du")
    journey = journeys.act(journey_id, "immersion-outcome", employer, {"outcome": "positive"})
    assert journey["state"] == "immersion_done"
    outbox.wait_mail(EMPLOYER_EMAIL, "Immersion terminée")

    # 5. Promise of hire, then the seeker's commitment to the funded session: committed.
    journey = journeys.act(
        journey_id,
        "hiring-promise",
        employer,
        {
            "contract_type": "CDI",
            "planned_start": str(today + timedelta(days=200)),
            "position": "Agent de propreté",
        },
    )
    assert journey["state"] == "promise_signed"
    outbox.wait_mail(SEEKER_EMAIL, "Promesse d'embauche signée : Agent de propreté")
    journey = journeys.act(journey_id, "training-commitment", seeker, {"session_id": session["session_id"]})
    assert journey["state"] == "committed"
    provider_id = journey["provider_id"]
    assert provider_id
    provider = sign_in(platform, outbox, PROVIDER_EMAIL, "training_provider")  # the session's address
    outbox.wait_mail(PROVIDER_EMAIL, "Engagement en formation signé")
    outbox.wait_mail(OPERATOR_EMAIL, "Parcours engagé")
    outbox.wait_sms("612345678", "c'est signe")

    # 6. The provider confirms the start and the end of training; the employer records the hire.
    start = today + timedelta(days=60)
    journey = journeys.act(journey_id, "training-start", provider, {"started_on": str(start)})
    assert journey["state"] == "training_started"
    outbox.wait_mail(EMPLOYER_EMAIL, "La formation a commencé")
    journey = journeys.act(
        journey_id,
        "training-completion",
        provider,
        {"completed_on": str(start + timedelta(days=120)), "certified": True},
    )
    assert journey["state"] == "training_completed"
    outbox.wait_mail(SEEKER_EMAIL, "Formation terminée")
    journey = journeys.act(
        journey_id,
        "hire",
        employer,
        {"contract_start": str(start + timedelta(days=121)), "contract_type": "CDI"},
    )
    assert journey["state"] == "hired"
    outbox.wait_mail(SEEKER_EMAIL, "Embauche confirmée")
    outbox.wait_mail(OPERATOR_EMAIL, "Embauche confirmée")

    # Every step is on journeys.events, once, in order.
    expected = [
        "ApplicationSubmitted",
        "ImmersionScheduled",
        "ImmersionCompleted",
        "HiringPromiseSigned",
        "TrainingCommitmentSigned",
        "JourneyCommitted",
        "TrainingStarted",
        "TrainingCompleted",
        "SeekerHired",
    ]
    events = journey_events(platform, journey_id, lambda t: "SeekerHired" in t)
    assert [e.type for e in events if e.type != "JourneyReminderDue"] == expected
    assert {e.basin for e in events} == {METZ_BASIN}
    assert all(SEEKER_EMAIL not in e.model_dump_json() for e in events), "events carry ids, never e-mails"

    # No message was sent twice.
    mails = outbox.mails()
    assert len({m["message_id"] for m in mails}) == len(mails)

    # 7. The basin's KPIs count this hire.
    operator = platform.operator_session(OPERATOR_EMAIL)  # through the ProConnect stand-in
    response = journeys.call("GET", f"/kpis?basin={METZ_BASIN}", operator)
    assert response.status_code == 200, response.text
    metz = response.json()["basins"][METZ_BASIN]
    assert metz["journeys"] == 1 and metz["states"] == {"hired": 1}, metz
    assert metz["promises_signed"] == 1 and metz["hires"] == 1, metz
    assert metz["return_to_employment"]["end_of_training"] == 1.0, metz
    # A partner system of the basin (a Mission Locale's tool) reads the same, with its API key.
    key = platform.partner_key("mission-locale-metz", ["journeys:read", "kpis:read"], [METZ_BASIN])
    seen_by_partner = wait_for(
        lambda: (r := journeys.call("GET", f"/kpis?basin={METZ_BASIN}", key)).status_code == 200 and r,
        30,
        "the partner key to be known",
    )
    assert seen_by_partner.json()["basins"][METZ_BASIN]["hires"] == 1
    assert journeys.call("GET", f"/journeys/{journey_id}", key).json()["state"] == "hired"

    # The month's open data, previewed (a month under way is never published): the documented columns, and
    #    Metz's single hire suppressed (fewer than 5), as every count below 5 is.
    out = tmp_path / "open-data"
    month = f"{today:%Y-%m}"
    preview = platform.run_cli("journeys", ["open-data", "--month", month, "--preview", "--out", str(out)])
    assert preview.returncode == 0, preview.stderr[-2000:]
    schema = json.loads((out / "schema.json").read_text(encoding="utf-8"))
    [table] = list(out.glob(f"*-{month}.csv"))
    rows = list(csv.DictReader(table.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert list(rows[0]) == [f["name"] for f in schema["fields"]]
    hires = next(
        r
        for r in rows
        if (r["niveau"], r["code_territoire"], r["indicateur"]) == ("bassin", METZ_BASIN, "embauches")
        and r["grand_domaine"] == r["type_contrat"] == "ensemble"
    )
    assert (hires["valeur"], hires["secret_statistique"]) == ("", "true"), hires

    # 8. The seeker erases themself and an operator erases the employer: nothing of them is left in any
    #    collection of any service (journeys, offers, notifications, and matching and trainings, which
    #    keep opaque ids only); the journey stays, anonymised, and still counts.
    needles = [SEEKER_EMAIL, SEEKER_PHONE[1:], "Martin", EMPLOYER_EMAIL]
    before = personal_data_left(platform, needles)
    assert {"journeys.contacts", "notifications.contacts", "offers.contacts"} <= set(before), before
    seeker_id = journey["seeker_id"]
    erased = httpx.delete(f"{journeys.base}/contacts/{seeker_id}", headers=seeker, timeout=10)
    assert erased.status_code == 200 and erased.json()["journeys_anonymised"] == 1, erased.text
    erased = httpx.delete(f"{journeys.base}/contacts/{employer_id}", headers=operator, timeout=10)
    assert erased.status_code == 200, erased.text
    wait_for(lambda: not personal_data_left(platform, needles), 60, "every service to erase the two people")
    after = journeys.call("GET", f"/kpis?basin={METZ_BASIN}", operator).json()["basins"][METZ_BASIN]
    assert after["hires"] == 1
    audit = journeys.call("GET", "/audit", operator).json()
    assert [(e["action"], e["person_id"]) for e in audit][:1] == [("erase", employer_id)]
