"""The offers service against the real broker and store: the issue's end-to-end rules."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pymongo.asynchronous.database import AsyncDatabase

from offers.main import build
from offers.settings import Settings
from tdu_dev.testing.kafka_helpers import read_topic
from tdu_shared.contracts.offers import OfferRefreshCompleted, OfferSubmitted
from tdu_shared.envelope import decode_event, new_envelope
from tdu_shared.kafka import EventPublisher, Outgoing, Record
from tdu_shared.mongo import Document
from tdu_shared.topics import CONTACTS, OFFERS_STATE, OFFERS_SUBMITTED, Topics

from ..unit.fakes import real_record

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def service(service_env: dict[str, str]) -> AsyncIterator[FastAPI]:
    settings = Settings(**{k.lower(): v for k, v in service_env.items()}, batch_size=200)  # type: ignore[arg-type]
    app = build(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest_asyncio.fixture
async def publisher(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[EventPublisher]:
    async with EventPublisher(kafka_bootstrap, topics) as p:
        yield p


def submitted(record: dict[str, Any], refresh_id: str | None = None) -> Outgoing:
    payload = OfferSubmitted(source="france_travail", record=record, refresh_id=refresh_id)
    return Outgoing(
        OFFERS_SUBMITTED,
        str(record.get("id")),
        new_envelope(payload, producer="test", region="44", basin="4410"),
    )


def types(records: list[Record]) -> list[tuple[str, str]]:
    return [(r.headers["event-type"].decode(), r.key.decode() if r.key else "") for r in records]


async def state_events(kafka_bootstrap: str, topics: Topics, count: int, settle: float = 0.0) -> list[Record]:
    return await read_topic(
        kafka_bootstrap, topics.name(OFFERS_STATE), until=count, timeout=30, settle=settle
    )


METZ = real_record("184MMPS")


async def stored_contact(mongo_db: AsyncDatabase[Document]) -> Document | None:
    """The employer contact, once the service has stored it (5 s at most)."""
    for _ in range(50):
        contact = await mongo_db.contacts.find_one({})
        if contact is not None:
            return contact
        await asyncio.sleep(0.1)
    return None


async def test_submitted_offer_is_stored_and_published(
    service: FastAPI, publisher: EventPublisher, kafka_bootstrap: str, topics: Topics
) -> None:
    await publisher.publish_many([submitted(METZ)])
    [record] = await state_events(kafka_bootstrap, topics, 1)
    event = decode_event(record.value)
    assert event.type == "OfferPublished"
    assert record.key == b"184MMPS"
    assert event.payload.offer.basin == "4410"
    assert event.payload.offer.rome_fiche == "K2303"
    async with AsyncClient(transport=ASGITransport(app=service), base_url="http://offers") as http:
        got = (await http.get("/offers/184MMPS")).json()
        listed = (await http.get("/offers", params={"basin": "4410", "rome": "K2303"})).json()
    assert got["offer"]["revision"] == 1 and got["status"] == "published"
    assert [i["offer"]["offer_id"] for i in listed["items"]] == ["184MMPS"]


async def test_resubmission_then_newer_version_then_refresh_without_it(
    service: FastAPI, publisher: EventPublisher, kafka_bootstrap: str, topics: Topics
) -> None:
    await publisher.publish_many([submitted(METZ)])
    await state_events(kafka_bootstrap, topics, 1)
    await publisher.publish_many([submitted(METZ)])  # unchanged: nothing
    newer = {
        **METZ,
        "dateActualisation": "2024-11-29T09:00:00Z",
        "intitule": "Agent de propreté urbaine (H/F)",
    }
    await publisher.publish_many([submitted(newer)])
    events = await state_events(kafka_bootstrap, topics, 2, settle=1.0)
    assert types(events) == [("OfferPublished", "184MMPS"), ("OfferUpdated", "184MMPS")]
    assert decode_event(events[1].value).payload.offer.revision == 2

    other = real_record("184KTMM")  # Cattenom, Moselle: carried by the refresh
    await publisher.publish_many([submitted(other, refresh_id="r-57")])
    done = OfferRefreshCompleted(
        refresh_id="r-57", source="france_travail", scope="departement", scope_code="57", submitted=1
    )
    await publisher.publish(
        OFFERS_SUBMITTED, "r-57", new_envelope(done, producer="test", region="44", basin=None)
    )
    events = await state_events(kafka_bootstrap, topics, 4)
    assert ("OfferPublished", "184KTMM") in types(events)
    withdrawn = [decode_event(r.value) for r in events if r.headers["event-type"] == b"OfferWithdrawn"]
    assert [(w.payload.offer_id, w.payload.reason) for w in withdrawn] == [
        ("184MMPS", "missing_from_refresh")
    ]


async def test_malformed_messages_go_to_the_dlq_and_the_service_keeps_consuming(
    service: FastAPI, publisher: EventPublisher, kafka_bootstrap: str, topics: Topics
) -> None:
    topic = topics.name(OFFERS_SUBMITTED)
    await publisher.send_raw(topic, b"junk", b"{not json", [], partition=0)
    await publisher.publish_many(
        [submitted({"intitule": "sans identifiant", "dateActualisation": "2024-11-28T00:00Z"})]
    )
    await publisher.publish_many([submitted({**METZ, "lieuTravail": {"latitude": 123.0, "longitude": 6.2}})])
    await publisher.publish_many([submitted(METZ)])
    [record] = await state_events(kafka_bootstrap, topics, 1)
    assert record.key == b"184MMPS"
    dead = await read_topic(kafka_bootstrap, topics.dlq(OFFERS_SUBMITTED), until=3, timeout=30)
    errors = sorted(d.headers["dlq-error"].decode() for d in dead)
    assert errors[0].startswith("id: the offer id is missing")
    assert errors[1].startswith("impossible coordinates")
    assert errors[2].startswith("not JSON")


async def test_employer_contact_is_stored_apart_from_the_public_offer(
    service: FastAPI,
    publisher: EventPublisher,
    kafka_bootstrap: str,
    topics: Topics,
    mongo_db: AsyncDatabase[Document],
) -> None:
    await publisher.publish_many([submitted({**METZ, "contact": {"nom": "ACME", "courriel": "rh@acme.fr"}})])
    [record] = await state_events(kafka_bootstrap, topics, 1)
    assert b"acme.fr" not in record.value  # type: ignore[operator]
    contact = await stored_contact(mongo_db)
    offer = await mongo_db.offers.find_one({"_id": "184MMPS"})
    assert contact is not None and contact["email"] == "rh@acme.fr"
    assert offer is not None and "acme.fr" not in str(offer)
    assert offer["employer_contact_id"] == contact["_id"]
    # An opaque random id, not derived from the address.
    assert re.fullmatch(r"employer:[0-9a-f]{32}", contact["_id"])
    assert hashlib.sha256(b"rh@acme.fr").hexdigest()[:24] not in contact["_id"]


async def test_a_contacts_tombstone_erases_the_employer_contact(
    service: FastAPI,
    publisher: EventPublisher,
    kafka_bootstrap: str,
    topics: Topics,
    mongo_db: AsyncDatabase[Document],
) -> None:
    await publisher.publish_many([submitted({**METZ, "contact": {"nom": "ACME", "courriel": "rh@acme.fr"}})])
    await state_events(kafka_bootstrap, topics, 1)
    contact = await stored_contact(mongo_db)
    assert contact is not None
    await publisher.tombstone(CONTACTS, contact["_id"], "4410")
    for _ in range(100):
        if await mongo_db.contacts.find_one({"_id": contact["_id"]}) is None:
            break
        await asyncio.sleep(0.1)
    assert await mongo_db.contacts.count_documents({}) == 0
    offer = await mongo_db.offers.find_one({"_id": "184MMPS"})
    assert offer is not None and offer["employer_contact_id"] == contact["_id"]  # the offer stays
    assert await mongo_db.employers.count_documents({}) == 0  # nor the address's key
    # The same address on a new version of the offer is a new fact: stored again, under a new opaque id.
    await publisher.publish_many(
        [submitted({**METZ, "intitule": "Agent (H/F)", "contact": {"nom": "ACME", "courriel": "rh@acme.fr"}})]
    )
    again = await stored_contact(mongo_db)
    assert again is not None and again["email"] == "rh@acme.fr" and again["_id"] != contact["_id"]


async def test_an_employer_keeps_the_id_an_earlier_version_gave_and_a_new_one_gets_a_random_id(
    mongo_db: AsyncDatabase[Document],
) -> None:
    from offers.adapters.mongo import MongoOfferStore
    from offers.domain.contacts import address_key, legacy_person_id

    store = MongoOfferStore(mongo_db)
    known, new = address_key("rh@acme.fr"), address_key("jobs@other.fr")
    await mongo_db.contacts.insert_one({"_id": legacy_person_id(known), "email": "rh@acme.fr"})
    ids = await store.employer_ids([known, new])
    assert ids[known] == legacy_person_id(known)
    assert re.fullmatch(r"employer:[0-9a-f]{32}", ids[new])
    assert await MongoOfferStore(mongo_db).employer_ids([new, known]) == ids  # stored: another process agrees
