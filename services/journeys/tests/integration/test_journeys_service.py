"""The service against the real broker and store: HTTP and Kafka commands, outbox, replay, erasure, crash."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing
from pymongo.asynchronous.database import AsyncDatabase

from journeys.main import build
from journeys.settings import Settings
from journeys.testing import EMPLOYER_ID, SEEKER_ID, eligibility
from tdu_dev.testing.access import session
from tdu_dev.testing.kafka_helpers import read_topic
from tdu_dev.testing.processes import ServiceProcess, free_port
from tdu_shared.contracts.journeys import RecordHire, RecordImmersionOutcome, Role
from tdu_shared.envelope import decode_event, new_envelope
from tdu_shared.kafka import EventPublisher
from tdu_shared.mongo import Document, connect
from tdu_shared.topics import CONTACTS, JOURNEYS_COMMANDS, JOURNEYS_EVENTS, MATCHING_ELIGIBILITY, Topics

pytestmark = pytest.mark.integration

SEEKER = session("seeker", SEEKER_ID)
EMPLOYER = session("employer", EMPLOYER_ID)
OPERATOR = session("basin_operator", "operateur@grand-est.test")
PERSONAL = ("Camille", "Durand", "camille.durand@example.org", "0612345678")
APPLY: dict[str, Any] = {
    "command_id": "apply-1",
    "offer_id": "OFFER-1",
    "seeker_id": SEEKER_ID,
    "first_name": "Camille",
    "last_name": "Durand",
    "email": "camille.durand@example.org",
    "phone": "0612345678",
    "postal_code": "57000",
    "consent_email": True,
    "consent_sms": True,
}


async def publish_eligible_offer(kafka_bootstrap: str, topics: Topics) -> None:
    envelope = new_envelope(
        eligibility(evaluated_at=datetime.now(UTC)), producer="matching", region="44", basin="4410"
    )
    async with EventPublisher(kafka_bootstrap, topics) as publisher:
        await publisher.publish(MATCHING_ELIGIBILITY, "OFFER-1", envelope)


async def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise TimeoutError("condition not met")


def types_of(records: list[Any]) -> list[str]:
    return [decode_event(r.value).type for r in records]


@pytest.fixture
async def service(service_env: dict[str, str]) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = Settings.model_validate(
        {k.lower(): v for k, v in service_env.items()} | {"relay_interval_s": 0.2}
    )
    app = build(settings)
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://journeys")
        yield client, app.state.runtime.db
        await client.aclose()


async def test_http_actions_store_state_and_publish_exactly_one_event_each(
    service: tuple[httpx.AsyncClient, Any], kafka_bootstrap: str, topics: Topics
) -> None:
    client, db = service
    await publish_eligible_offer(kafka_bootstrap, topics)
    await wait_for(lambda: db.offers.find_one({"_id": "OFFER-1"}))

    created = await client.post("/journeys", json=APPLY, headers=SEEKER)
    assert created.status_code == 201, created.text
    jid = created.json()["journey_id"]
    scheduled = await client.post(
        f"/journeys/{jid}/schedule-immersion",
        headers=EMPLOYER,
        json={"command_id": "s-1", "starts_on": "2030-02-01", "ends_on": "2030-02-03", "place": "Metz"},
    )
    assert scheduled.status_code == 200, scheduled.text

    stored = await db.journeys.find_one({"_id": jid})
    assert stored["state"] == "immersion_scheduled"
    events = await read_topic(kafka_bootstrap, topics.name(JOURNEYS_EVENTS), until=2, timeout=30, settle=1.5)
    assert types_of(events) == ["ApplicationSubmitted", "ImmersionScheduled"]
    assert {r.key for r in events} == {jid.encode()}

    async def relayed() -> bool:
        return (await db.journeys.find_one({"_id": jid}))["has_pending"] is False

    await wait_for(relayed)
    assert await db.timers.count_documents({"journey_id": jid}) >= 3  # 7d, 10d, immersion tomorrow, idle
    assert await db.outbox_pending.count_documents({}) == 0  # nothing left to publish: nothing listed


async def test_a_replayed_kafka_command_changes_nothing_and_a_refused_one_goes_to_the_dlq(
    service: tuple[httpx.AsyncClient, Any], kafka_bootstrap: str, topics: Topics
) -> None:
    client, db = service
    await publish_eligible_offer(kafka_bootstrap, topics)
    await wait_for(lambda: db.offers.find_one({"_id": "OFFER-1"}))
    jid = (await client.post("/journeys", json=APPLY, headers=SEEKER)).json()["journey_id"]
    await client.post(
        f"/journeys/{jid}/schedule-immersion",
        headers=EMPLOYER,
        json={"command_id": "s-1", "starts_on": "2030-02-01", "ends_on": "2030-02-03", "place": "Metz"},
    )

    partner = {"actor_role": Role.PARTNER_SYSTEM, "actor_id": "X1", "journey_id": jid}
    outcome = RecordImmersionOutcome(command_id="partner-42", outcome="positive", **partner)
    too_early = RecordHire(
        command_id="partner-43", contract_start="2030-09-01", contract_type="CDI", **partner
    )
    async with EventPublisher(kafka_bootstrap, topics) as publisher:
        for command in (outcome, outcome, too_early):
            envelope = new_envelope(command, producer="partner-x", region="44", basin="4410")
            await publisher.publish(JOURNEYS_COMMANDS, jid, envelope)

    dead = await read_topic(kafka_bootstrap, topics.dlq(JOURNEYS_COMMANDS), until=1, timeout=30)
    assert b"RecordHire impossible" in dead[0].headers["dlq-error"]
    assert b"AbandonJourney" in dead[0].headers["dlq-error"]  # the actions allowed now
    events = await read_topic(kafka_bootstrap, topics.name(JOURNEYS_EVENTS), until=3, timeout=30, settle=1.5)
    assert types_of(events) == ["ApplicationSubmitted", "ImmersionScheduled", "ImmersionCompleted"]
    stored = await db.journeys.find_one({"_id": jid})
    assert (stored["state"], stored["revision"]) == ("immersion_done", 3)
    assert [h["action"] for h in stored["history"]].count("RecordImmersionOutcome") == 1


async def test_erasure_leaves_no_personal_data_in_the_store_and_sends_a_tombstone(
    service: tuple[httpx.AsyncClient, Any], kafka_bootstrap: str, topics: Topics
) -> None:
    client, db = service
    await publish_eligible_offer(kafka_bootstrap, topics)
    await wait_for(lambda: db.offers.find_one({"_id": "OFFER-1"}))
    jid = (await client.post("/journeys", json=APPLY, headers=SEEKER)).json()["journey_id"]
    contacts = await read_topic(kafka_bootstrap, topics.name(CONTACTS), until=1, timeout=30)
    assert decode_event(contacts[0].value).payload.email == "camille.durand@example.org"

    erased = await client.delete(f"/contacts/{SEEKER_ID}", headers=SEEKER)
    assert erased.status_code == 200 and erased.json()["journeys_anonymised"] == 1

    async def personal_data_left() -> list[str]:
        left = []
        for name in await db.list_collection_names():
            text = json.dumps([d async for d in db[name].find()], default=str)
            left += [f"{name}: {p}" for p in PERSONAL if p in text]
        return left

    async def clean() -> bool:
        return not await personal_data_left()

    await wait_for(clean, timeout=10)  # the relay drops a contact event not yet published within a second
    assert await personal_data_left() == []
    journey = await db.journeys.find_one({"_id": jid})
    assert journey["state"] == "applied" and journey["seeker_id"] == SEEKER_ID
    assert await db.erasures.find_one({"_id": SEEKER_ID}) is not None
    records = await read_topic(kafka_bootstrap, topics.name(CONTACTS), until=2, timeout=30)
    assert (records[-1].key, records[-1].value) == (SEEKER_ID.encode(), None)
    assert records[-1].partition == records[0].partition


async def test_an_event_written_before_a_crash_is_published_exactly_once_after_restart(
    service_env: dict[str, str],
    kafka_bootstrap: str,
    topics: Topics,
    mongo_db: AsyncDatabase[Document],
    tmp_path: Path,
) -> None:
    await publish_eligible_offer(kafka_bootstrap, topics)
    port = free_port()
    env = {
        **service_env,
        "HTTP_PORT": str(port),
        "RELAY_INTERVAL_S": "0.2",
        "JOURNEYS_TEST_CRASH_AFTER_WRITE": "true",
    }
    db = mongo_db
    crashing = ServiceProcess("journeys", ["serve"], env, tmp_path / "crash.log", port=port).start()
    try:
        await wait_for(lambda: db.offers.find_one({"_id": "OFFER-1"}))
        with pytest.raises(httpx.HTTPError):  # the process dies between the write and the publish
            async with httpx.AsyncClient(timeout=10) as http:
                await http.post(f"http://127.0.0.1:{port}/journeys", json=APPLY, headers=SEEKER)
        assert crashing.proc is not None and crashing.proc.wait(10) == 86

        stored = await db.journeys.find_one({})
        assert stored["state"] == "applied" and len(stored["outbox"]) == 2
        nothing = await read_topic(kafka_bootstrap, topics.name(JOURNEYS_EVENTS), until=0, settle=1.0)
        assert nothing == []

        restarted = ServiceProcess(
            "journeys",
            ["serve"],
            {**env, "JOURNEYS_TEST_CRASH_AFTER_WRITE": "false"},
            tmp_path / "restart.log",
            port=port,
        ).start()
        try:
            events = await read_topic(
                kafka_bootstrap, topics.name(JOURNEYS_EVENTS), until=1, timeout=30, settle=2
            )
            assert types_of(events) == ["ApplicationSubmitted"]
            contacts = await read_topic(
                kafka_bootstrap, topics.name(CONTACTS), until=1, timeout=30, settle=0.5
            )
            assert len(contacts) == 1
            async with httpx.AsyncClient(timeout=10) as http:
                replay = await http.post(f"http://127.0.0.1:{port}/journeys", json=APPLY, headers=SEEKER)
            assert replay.status_code == 200 and replay.json()["replayed"] is True
            await wait_for(lambda: db.journeys.find_one({"has_pending": False}))

            async def listed_and_counted() -> bool:
                # The crash came before the read models saw the journey: the relay's pass repairs them.
                async with httpx.AsyncClient(timeout=10) as http:
                    base = f"http://127.0.0.1:{port}"
                    page = (await http.get(f"{base}/journeys?basin=4410", headers=OPERATOR)).json()
                    kpis = (await http.get(f"{base}/kpis?basin=4410", headers=OPERATOR)).json()
                ids = [j["journey_id"] for j in page["items"]]
                return ids == [stored["_id"]] and kpis["region"]["journeys"] == 1

            await wait_for(listed_and_counted, timeout=15)
        finally:
            restarted.stop()
        again = await read_topic(kafka_bootstrap, topics.name(JOURNEYS_EVENTS), until=1, settle=1.0)
        assert len(again) == 1
    finally:
        crashing.kill()


async def test_a_service_started_on_journeys_without_read_models_says_to_rebuild_them(
    service_env: dict[str, str],
) -> None:
    settings = Settings.model_validate({k.lower(): v for k, v in service_env.items()})
    client = connect(settings.mongodb_url)
    try:  # journeys stored by a version that kept its read models in the service's own database
        await client[settings.mongodb_database].journeys.insert_one({"_id": "J-OLD", "state": "applied"})
    finally:
        await client.close()
    app = build(settings)
    with structlog.testing.capture_logs() as logs:
        async with app.router.lifespan_context(app):
            pass
    [warning] = [e for e in logs if "rebuild-read-models" in e["event"]]
    assert warning["log_level"] == "warning" and warning["database"].endswith("_read_models")
