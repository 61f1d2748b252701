"""Imports against the real Kafka broker and the real MongoDB-compatible store."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from tdu_dev.testing.access import session
from tdu_dev.testing.kafka_helpers import read_topic
from tdu_shared.contracts.trainings import SessionSubmitted
from tdu_shared.envelope import decode_event, encode, new_envelope
from tdu_shared.topics import CONTACTS, TRAININGS_SESSIONS, TRAININGS_SUBMITTED, Topics, basin_partition
from trainings.main import Service, build, build_service
from trainings.settings import Settings

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture
def settings(kafka_bootstrap: str, mongodb_url: str, topics: Topics, mongo_db_name: str) -> Settings:
    return Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        mongodb_url=mongodb_url,
        mongodb_database=mongo_db_name,
        topic_prefix=topics.prefix,
        create_topics=False,
        log_json=False,
    )


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Service]:
    service = build_service(settings)
    await service.runtime.start(consumers=False)
    try:
        yield service
    finally:
        await service.runtime.stop()


def types(records: list) -> list[str]:  # type: ignore[type-arg]
    return [r.headers["event-type"].decode() for r in records]


async def test_import_publishes_sessions_keyed_by_id_in_their_basin_partition(
    service: Service, kafka_bootstrap: str, topics: Topics
) -> None:
    report = await service.import_file(str(FIXTURES / "dirty-lheo23.xml"), "cr")
    assert (report.published, report.complete) == (3, True)

    records = await read_topic(kafka_bootstrap, topics.name(TRAININGS_SESSIONS), until=3)
    assert types(records) == ["SessionPublished"] * 3
    by_key = {r.key: r for r in records}
    metz = by_key[b"cr:F1:A1:S1"]
    assert metz.partition == basin_partition("4410", 4)
    event = decode_event(metz.value)
    assert event.basin == "4410" and event.payload.session.region_funded is True
    assert event.payload.session.provider.contact_id == "provider:12345678900012"
    stored = await service.repository.get("cr:F1:A1:S1")
    assert stored == event.payload.session
    [contact] = await read_topic(kafka_bootstrap, topics.name(CONTACTS), until=1)
    assert contact.key == b"provider:12345678900012"


async def test_reimporting_unchanged_publishes_nothing(
    service: Service, kafka_bootstrap: str, topics: Topics
) -> None:
    await service.import_file(str(FIXTURES / "dirty-lheo23.xml"), "cr")
    again = await service.import_file(str(FIXTURES / "dirty-lheo23.xml"), "cr")
    assert (again.unchanged, again.published, again.updated, again.withdrawn) == (3, 0, 0, 0)
    records = await read_topic(kafka_bootstrap, topics.name(TRAININGS_SESSIONS), until=3, settle=1.0)
    assert len(records) == 3


async def test_import_without_a_session_withdraws_the_source(
    service: Service, kafka_bootstrap: str, topics: Topics
) -> None:
    await service.import_file(str(FIXTURES / "dirty-lheo23.xml"), "cr")
    report = await service.import_file(str(FIXTURES / "empty-offres.xml"), "cr")
    assert (report.complete, report.withdrawn) == (True, 3)
    records = await read_topic(kafka_bootstrap, topics.name(TRAININGS_SESSIONS), until=6)
    withdrawn = [r for r in records if r.headers["event-type"] == b"SessionWithdrawn"]
    assert sorted(r.key for r in withdrawn) == [b"cr:F1:A1:S1", b"cr:F1:A1:S2", b"cr:F2:A2:S1"]
    assert decode_event(withdrawn[0].value).payload.reason == "missing_from_snapshot"
    assert await service.repository.get("cr:F1:A1:S1") is None
    assert await service.repository.active_of_source("cr") == []


async def test_broken_xml_gives_its_line_and_withdraws_nothing(
    service: Service, kafka_bootstrap: str, topics: Topics
) -> None:
    await service.import_file(str(FIXTURES / "dirty-lheo23.xml"), "cr")
    report = await service.import_file(str(FIXTURES / "broken.xml"), "cr")
    assert report.complete is False and report.error_line == 13
    assert report.withdrawn == 0
    records = await read_topic(kafka_bootstrap, topics.name(TRAININGS_SESSIONS), until=4, settle=1.0)
    assert "SessionWithdrawn" not in types(records)
    assert types(records).count("SessionPublished") == 4  # three before, one read before the break
    assert len(await service.repository.active_of_source("cr")) == 4


async def test_partner_sessions_are_published_and_bad_ones_dead_lettered(
    kafka_bootstrap: str, mongodb_url: str, topics: Topics, mongo_db_name: str
) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        mongodb_url=mongodb_url,
        mongodb_database=mongo_db_name,
        topic_prefix=topics.prefix,
        create_topics=False,
    )
    service = build_service(settings)
    payload = SessionSubmitted(
        source="partner-x",
        formation_id="F",
        action_id="A",
        session_number="1",
        title="Cariste",
        rome_codes=["N1101"],
        commune_insee="57463",
        funders=["2"],
    )
    good = new_envelope(payload, producer="partner-x", region="44", basin=None)
    refused = new_envelope(
        payload.model_copy(update={"start_date": date(2026, 9, 1), "end_date": date(2026, 1, 1)}),
        producer="partner-x",
        region="44",
        basin=None,
    )
    await service.runtime.start()
    try:
        publisher, topic = service.runtime.publisher, topics.name(TRAININGS_SUBMITTED)
        await publisher.send_raw(topic, b"bad", b"{not json", [])
        await publisher.send_raw(topic, b"refused", encode(refused), [])
        await publisher.send_raw(topic, b"good", encode(good), [])
        await publisher.send_raw(topic, b"good", encode(good), [])  # a redelivery changes nothing
        [published] = await read_topic(kafka_bootstrap, topics.name(TRAININGS_SESSIONS), until=1, settle=1.5)
        dead = await read_topic(kafka_bootstrap, topics.dlq(TRAININGS_SUBMITTED), until=2)
    finally:
        await service.runtime.stop()
    assert published.key == b"partner-x:F:A:1"
    assert decode_event(published.value).payload.session.basin == "4410"
    reasons = {d.key: d.headers["dlq-error"].decode() for d in dead}
    assert reasons[b"bad"].startswith("not JSON")
    assert "end_before_start" in reasons[b"refused"]


async def test_import_waits_for_nothing_when_the_file_is_empty(service: Service) -> None:
    report = await asyncio.wait_for(service.import_file(str(FIXTURES / "not-lheo.xml"), "cr"), timeout=10)
    assert report.complete is False
    assert json.dumps(report.summary())


async def test_an_upload_with_a_huge_field_refuses_those_sessions_and_imports_the_rest(
    settings: Settings, kafka_bootstrap: str, topics: Topics
) -> None:
    """A 10 MB objective would make events over the broker's 1 MB limit: its sessions are refused by name."""
    huge = "Devenir agent de propreté. " * 400_000  # 10.8 MB
    lheo = (FIXTURES / "dirty-lheo23.xml").read_text(encoding="utf-8")
    lheo = re.sub(
        r"<objectif-formation>.*?</objectif-formation>",
        f"<objectif-formation>{huge}</objectif-formation>",
        lheo,
    )
    app = build(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as client:
            operator = session("basin_operator", "operateur@grand-est.test")
            answer = await client.post(
                "/imports", params={"source": "cr"}, content=lheo.encode(), headers=operator
            )
            assert answer.status_code == 200, answer.text[:500]
            report = answer.json()
            assert report["reasons"]["field_too_long"] == 3  # F1's S1, S2 and the repeated S1
            assert report["published"] == 1 and report["complete"] is True
            refused = await client.get("/sessions", params={"page": 10**12})
            assert refused.status_code == 422
    records = await read_topic(kafka_bootstrap, topics.name(TRAININGS_SESSIONS), until=1, settle=1.0)
    assert [r.key for r in records] == [b"cr:F2:A2:S1"]
