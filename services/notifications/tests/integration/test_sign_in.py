"""Sign-in by e-mail link, in-process against the real broker, store and SMTP server: a known address
gets a single-use link, its token gives a session once; an unknown one gets nothing and the same answer."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from notifications.main import build_service
from notifications.settings import Settings
from notifications.standins import MailCatcher
from tdu_dev.infra.platform import wait_for
from tdu_dev.testing.access import secret
from tdu_dev.testing.contacts import contact_upserted
from tdu_shared.access.tokens import read_session
from tdu_shared.contracts import journeys as j
from tdu_shared.kafka import EventPublisher
from tdu_shared.topics import Topics

pytestmark = pytest.mark.integration

EMPLOYER_EMAIL = "Recrutement@Nettoyage-Metz.exemple.fr"
LINK = re.compile(r"https://app\.test/connexion\?jeton=([A-Za-z0-9_-]+)")


@pytest_asyncio.fixture
async def client(service_env: dict[str, str], mail_catcher: MailCatcher) -> AsyncIterator[httpx.AsyncClient]:
    values = {k.lower(): v for k, v in service_env.items()}
    settings = Settings(**values, smtp_port=mail_catcher.port, frontend_base_url="https://app.test")
    service = build_service(settings)
    async with service.app.router.lifespan_context(service.app):
        transport = httpx.ASGITransport(app=service.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://notifications.test") as http:
            yield http


def token_in(mail_catcher: MailCatcher, to: str) -> str:
    mail = wait_for(
        lambda: next((m for m in mail_catcher.messages if to in m.rcpt_to), None), 10, f"a link to {to}"
    )
    assert mail.subject == "Votre lien de connexion à Trait d'Union"
    found = LINK.search(mail.text)
    assert found is not None, mail.text
    return found.group(1)


async def test_a_known_address_gets_a_single_use_link_that_opens_a_session(
    client: httpx.AsyncClient, kafka_bootstrap: str, topics: Topics, mail_catcher: MailCatcher
) -> None:
    async with EventPublisher(kafka_bootstrap, topics) as publisher:
        await publisher.publish_many([contact_upserted("E-77", j.Role.EMPLOYER, EMPLOYER_EMAIL)])

    async def known() -> bool:
        asked = await client.post("/sign-in", json={"email": EMPLOYER_EMAIL.lower(), "role": "employer"})
        assert asked.status_code == 202
        return bool(mail_catcher.messages)

    for _ in range(50):  # the contact reaches the service through the contacts topic
        if await known():
            break
        await asyncio.sleep(0.2)
    token = token_in(mail_catcher, EMPLOYER_EMAIL.lower())

    first, second = await asyncio.gather(
        client.post("/sign-in/session", json={"token": token}),
        client.post("/sign-in/session", json={"token": token}),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 401]  # once, even when raced
    opened = first if first.status_code == 200 else second
    principal = read_session(secret(), opened.json()["session"])
    assert (principal.role, principal.subject) == (j.Role.EMPLOYER, "E-77")
    again = await client.post("/sign-in/session", json={"token": token})
    assert again.status_code == 401 and "déjà utilisé" in again.json()["detail"]


async def test_an_unknown_address_gets_the_same_answer_and_no_mail_but_a_new_seeker_gets_an_id(
    client: httpx.AsyncClient, mail_catcher: MailCatcher
) -> None:
    employer = await client.post("/sign-in", json={"email": "personne@exemple.fr", "role": "employer"})
    seeker = await client.post("/sign-in", json={"email": "nouvelle@exemple.fr"})
    assert employer.json() == seeker.json() and employer.status_code == 202
    token = token_in(mail_catcher, "nouvelle@exemple.fr")
    assert [m.rcpt_to for m in mail_catcher.messages] == [["nouvelle@exemple.fr"]]
    session = (await client.post("/sign-in/session", json={"token": token})).json()
    assert session["role"] == "seeker" and len(session["person_id"]) == 36  # a new opaque id
    await client.post("/sign-in", json={"email": "nouvelle@exemple.fr"})
    second = await client.post(
        "/sign-in/session", json={"token": token_in_last(mail_catcher, "nouvelle@exemple.fr")}
    )
    assert second.json()["person_id"] == session["person_id"]  # the same seeker until they apply
    refused = await client.post("/sign-in/session", json={"token": "x" * 43})
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")


def token_in_last(mail_catcher: MailCatcher, to: str) -> str:
    wait_for(lambda: len([m for m in mail_catcher.messages if to in m.rcpt_to]) >= 2, 10, "a second link")
    last = [m for m in mail_catcher.messages if to in m.rcpt_to][-1]
    found = LINK.search(last.text)
    assert found is not None
    return found.group(1)
