"""The service in-process against the real broker and store, a real SMTP server (aiosmtpd) and the SMS
provider stand-in (its HTTP contract, as a separate process): every journey event reaches the right people."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from notifications.main import build_service
from notifications.settings import Settings
from notifications.standins import MailCatcher
from tdu_dev.testing.contacts import contact_upserted
from tdu_dev.testing.kafka_helpers import read_topic
from tdu_dev.testing.processes import ServiceProcess, free_port
from tdu_shared.contracts import journeys as j
from tdu_shared.envelope import decode_event, new_envelope
from tdu_shared.kafka import EventPublisher
from tdu_shared.topics import JOURNEYS_EVENTS, NOTIFICATIONS_DELIVERIES, Topics

pytestmark = pytest.mark.integration

SEEKER = ("S-1", "seeker", "Camille Martin", "camille@example.org", "0612345678")
EMPLOYER = ("E-1", "employer", "Atelier Dupont", "rh@dupont.example", "0698765432")
PROVIDER = ("P-1", "training_provider", "AFPA Metz", "afpa@example.org", None)
OPERATOR_EMAIL, OPERATOR_PHONE = "operateur.metz@traitdunion.eu", "33600000410"
BASE = dict(
    journey_id="J-1",
    offer_id="O-1",
    seeker_id="S-1",
    employer_id="E-1",
    session_id="SE-1",
    provider_id="P-1",
    from_state=None,
    to_state=j.JourneyState.APPLIED,
    actor_role=j.Role.SEEKER,
)
D1, D2 = date(2026, 12, 1), date(2026, 12, 3)

EVENTS: list[j.JourneyEvent] = [
    j.ApplicationSubmitted(**BASE, offer_title="Soudeur"),
    j.ApplicationDeclined(**BASE, reason="poste pourvu en interne"),
    j.ImmersionScheduled(**BASE, starts_on=D1, ends_on=D2, place="Metz Borny"),
    j.ImmersionRescheduled(**BASE, starts_on=D1, ends_on=D2, place="Woippy", reason="atelier fermé"),
    j.ImmersionCompleted(**BASE, outcome="positive"),
    j.HiringPromiseSigned(
        **BASE, contract_type="CDI", planned_start=date(2027, 6, 1), position="Soudeur TIG"
    ),
    j.TrainingCommitmentSigned(**BASE),
    j.JourneyCommitted(**BASE),
    j.TrainingStarted(**BASE, started_on=date(2027, 1, 4)),
    j.TrainingCompleted(**BASE, completed_on=date(2027, 5, 28), certified=True),
    j.SeekerHired(**BASE, contract_start=date(2027, 6, 1), contract_type="CDI"),
    j.FollowUpRecorded(**BASE, months=6, employed=True),
    j.JourneyAbandoned(**BASE, reason="déménagement"),
    j.StepCorrected(**BASE, reason="erreur de saisie"),
    *[j.JourneyReminderDue(**BASE, kind=kind, due_on=D1) for kind in j.ReminderKind],
]

S, E, P, OP = SEEKER[3], EMPLOYER[3], PROVIDER[3], OPERATOR_EMAIL
EXPECTED_EMAILS: dict[str, set[tuple[str, str]]] = {
    "ApplicationSubmitted": {
        (S, "Votre candidature « Soudeur » est envoyée"),
        (E, "Nouvelle candidature pour « Soudeur »"),
    },
    "ApplicationDeclined": {(S, "Réponse à votre candidature")},
    "ImmersionScheduled": {
        (S, "Immersion prévue du 01/12/2026 au 03/12/2026"),
        (E, "Immersion prévue du 01/12/2026 au 03/12/2026"),
    },
    "ImmersionRescheduled": {
        (S, "Immersion déplacée : du 01/12/2026 au 03/12/2026"),
        (E, "Immersion déplacée : du 01/12/2026 au 03/12/2026"),
    },
    "ImmersionCompleted": {(S, "Immersion terminée"), (E, "Immersion terminée")},
    "HiringPromiseSigned": {(S, "Promesse d'embauche signée : Soudeur TIG")},
    "TrainingCommitmentSigned": {(E, "Engagement en formation signé"), (P, "Engagement en formation signé")},
    "JourneyCommitted": {
        (x, "Parcours engagé : promesse d'embauche et formation signées") for x in (S, E, P, OP)
    },
    "TrainingStarted": {(E, "La formation a commencé")},
    "TrainingCompleted": {(S, "Formation terminée le 28/05/2027"), (E, "Formation terminée le 28/05/2027")},
    "SeekerHired": {(S, "Embauche confirmée"), (OP, "Embauche confirmée")},
    "FollowUpRecorded": {(OP, "Suivi à 6 mois : en emploi")},
    "JourneyAbandoned": {(x, "Parcours arrêté") for x in (S, E, P, OP)},
    "StepCorrected": {(S, "Votre parcours a été mis à jour"), (E, "Votre parcours a été mis à jour")},
    "employer_no_answer_7d": {(E, "Une candidature attend votre réponse")},
    "employer_no_answer_10d": {
        (E, "Une candidature attend votre réponse"),
        (OP, "Employeur sans réponse depuis 10 jours"),
    },
    "immersion_tomorrow": {
        (S, "Rappel : l'immersion commence demain"),
        (E, "Rappel : l'immersion commence demain"),
    },
    "training_starts_in_3d": {
        (S, "Rappel : la formation commence dans 3 jours"),
        (P, "Rappel : la formation commence dans 3 jours"),
    },
    "follow_up_6m": {(S, "Six mois après votre embauche : où en êtes-vous ?")},
    "follow_up_12m": {(S, "Un an après votre embauche : où en êtes-vous ?")},
    "journey_idle_14d": {(OP, "Parcours inactif depuis 14 jours")},
}
EXPECTED_SMS = {  # (phone as sent, a piece of the text) per SMS
    ("33612345678", 'votre candidature "Soudeur" est envoyée'),
    ("33698765432", "nouvelle candidature"),
    ("33612345678", "immersion du 01/12/2026 au 03/12/2026, Metz Borny"),
    ("33612345678", "immersion deplacee du 01/12/2026"),
    ("33612345678", "promesse d'embauche signee (CDI"),
    ("33612345678", "c'est signe !"),
    ("33698765432", "une candidature attend votre reponse"),
    ("33612345678", "votre immersion commence demain"),
    ("33612345678", "votre formation commence dans 3 jours"),
    ("33612345678", "6 mois apres votre embauche"),
    ("33612345678", "12 mois apres votre embauche"),
    (OPERATOR_PHONE, "parcours J-1 inactif depuis 14 jours"),
}
SMS_COUNT = 13  # employer_no_answer 7d and 10d both text the employer


@pytest.fixture
def sms_standin(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = ServiceProcess(
        "notifications",
        ["sms-standin", "--port", str(port), "--record-file", str(tmp_path / "sms.jsonl")],
        {},
        tmp_path / "sms.log",
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/received", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield url
    process.stop()


def settings_for(service_env: dict[str, str], smtp_port: int, sms_url: str, **extra: Any) -> Settings:
    values = {k.lower(): v for k, v in service_env.items()}
    return Settings(
        **values,
        smtp_port=smtp_port,
        sms_api_base_url=sms_url,
        quiet_start="00:00",
        quiet_end="00:00",
        daily_cap=1000,
        link_secret="test-secret",
        public_base_url="http://notif.test",
        frontend_base_url="https://app.test",
        **extra,
    )


async def publish_contacts(
    publisher: EventPublisher, people: list[tuple[str, str, str, str, str | None]]
) -> None:
    await publisher.publish_many(
        [
            contact_upserted(person_id, j.Role(role), email, phone=phone, display_name=name, consent_sms=True)
            for person_id, role, name, email, phone in people
        ]
    )


@pytest_asyncio.fixture
async def running_service(
    service_env: dict[str, str], mail_catcher: MailCatcher, sms_standin: str
) -> AsyncIterator[None]:
    service = build_service(settings_for(service_env, mail_catcher.port, sms_standin))
    async with service.app.router.lifespan_context(service.app):
        yield


async def test_every_journey_event_reaches_the_right_people(
    running_service: None, kafka_bootstrap: str, topics: Topics, mail_catcher: MailCatcher, sms_standin: str
) -> None:
    async with EventPublisher(kafka_bootstrap, topics) as publisher:
        await publish_contacts(publisher, [SEEKER, EMPLOYER, PROVIDER])
        await asyncio.sleep(1)  # contacts first here; a contact arriving late is covered by the unit tests
        for event in EVENTS:
            await publisher.publish(
                JOURNEYS_EVENTS, "J-1", new_envelope(event, producer="journeys", region="44", basin="4410")
            )
    expected_mails = sum(len(v) for v in EXPECTED_EMAILS.values())
    outcomes = await read_topic(
        kafka_bootstrap,
        topics.name(NOTIFICATIONS_DELIVERIES),
        until=expected_mails + SMS_COUNT,
        timeout=60,
        settle=1,
    )

    statuses = [decode_event(r.value).payload.status for r in outcomes]
    assert statuses == ["sent"] * (expected_mails + SMS_COUNT)
    received = {(m.rcpt_to[0], m.subject) for m in mail_catcher.messages}
    assert received == set().union(*EXPECTED_EMAILS.values())
    assert len(mail_catcher.messages) == expected_mails
    assert not mail_catcher.duplicates
    for mail in mail_catcher.messages:
        assert "https://app.test/desinscription?jeton=" in mail.text
        assert 'href="https://app.test/desinscription?jeton=' in mail.html
        assert mail.headers["List-Unsubscribe"].strip().startswith("<http://notif.test/unsubscribe?token=")
    declined = next(m for m in mail_catcher.messages if m.subject == "Réponse à votre candidature")
    assert "poste pourvu en interne" in declined.text and declined.text.startswith("Bonjour Camille Martin,")
    employer_mail = next(m for m in mail_catcher.to(E) if m.subject.startswith("Nouvelle candidature"))
    assert "https://app.test/employeur/parcours/J-1" in employer_mail.text
    operator_mail = next(m for m in mail_catcher.to(OP) if m.subject == "Parcours inactif depuis 14 jours")
    assert "https://app.test/operateur/parcours/J-1" in operator_mail.text

    async with httpx.AsyncClient() as client:
        sms = (await client.get(f"{sms_standin}/received")).json()
    assert len(sms) == SMS_COUNT
    assert all(len(s["content"]) <= 160 and s["type"] == "transactional" for s in sms)
    for phone, text in EXPECTED_SMS:
        assert any(s["recipient"] == phone and text in s["content"] for s in sms), (phone, text)
