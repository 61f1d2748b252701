"""One contract for the journey and timer stores, run on the in-memory fake and on the real store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from journeys.adapters.memory import MemoryJourneys, MemoryTimers
from journeys.adapters.mongo import MongoJourneys, MongoTimers, ensure_indexes
from journeys.domain.model import Journey
from journeys.domain.timers import Timer
from journeys.ports import JourneyStore, TimerStore, Write
from tdu_shared.contracts.journeys import JourneyState, ReminderKind
from tdu_shared.mongo import connect
from tdu_shared.outbox import OutboxItem

NOW = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.integration)])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[tuple[JourneyStore, TimerStore]]:
    if request.param == "memory":
        yield MemoryJourneys(), MemoryTimers()
        return
    mongodb_url = request.getfixturevalue("mongodb_url")
    name = f"contract{uuid.uuid4().hex[:10]}"
    client = connect(mongodb_url)
    await ensure_indexes(client[name])
    await ensure_indexes(client[name])  # a restart: nothing to create, nothing fails
    try:
        yield MongoJourneys(client[name]), MongoTimers(client[name])
    finally:
        await client.drop_database(name)
        await client.close()


def journey(jid: str = "J1", seeker: str = "U1", basin: str = "4410", minutes: int = 0) -> Journey:
    at = NOW + timedelta(minutes=minutes)
    return Journey(
        journey_id=jid,
        offer_id="OFFER-1",
        region="44",
        basin=basin,
        seeker_id=seeker,
        state=JourneyState.APPLIED,
        created_at=at,
        updated_at=at,
        employer_id="E1",
    )


def item(event_id: str, topic: str = "journeys.events", key: str = "J1") -> OutboxItem:
    return OutboxItem(topic, key, event_id, "{}")


async def test_a_journey_is_created_once(stores: tuple[JourneyStore, TimerStore]) -> None:
    journeys, _ = stores
    assert await journeys.create(Write(journey(), [item("e1")], command_key="k1"))
    assert not await journeys.create(Write(journey(), [item("e2")], command_key="k2"))
    stored = await journeys.get("J1")
    assert stored is not None and stored.revision == 1 and await journeys.seen("J1", "k1")


async def test_an_update_on_a_stale_revision_is_refused(stores: tuple[JourneyStore, TimerStore]) -> None:
    journeys, _ = stores
    await journeys.create(Write(journey()))
    changed = journey()
    changed.state = JourneyState.DECLINED
    assert await journeys.update(Write(changed, [item("e2")], command_key="k2"), expected_revision=1)
    assert not await journeys.update(Write(journey(), command_key="k3"), expected_revision=1)
    stored = await journeys.get("J1")
    assert stored is not None and (stored.state, stored.revision) == (JourneyState.DECLINED, 2)
    assert await journeys.seen("J1", "k2") and not await journeys.seen("J1", "k3")


async def test_pending_events_are_claimed_by_one_relay_and_removed_once_relayed(
    stores: tuple[JourneyStore, TimerStore],
) -> None:
    journeys, _ = stores
    await journeys.create(Write(journey(), [item("e1"), item("e2")]))
    [claimed] = await journeys.pending(10, NOW, 10)
    assert [i.event_id for i in claimed.outbox] == ["e1", "e2"]
    assert await journeys.pending(10, NOW, 10) == []
    [relayed] = await journeys.relayed([claimed])
    assert relayed.journey_id == "J1"
    assert await journeys.pending(10, NOW + timedelta(minutes=1), 10) == []


async def test_forgetting_a_person_drops_their_pending_contact_events(
    stores: tuple[JourneyStore, TimerStore],
) -> None:
    journeys, _ = stores
    await journeys.create(Write(journey(), [item("e1"), item("c1", "contacts", "U1")]))
    assert await journeys.forget_person("U1") == 1
    [claimed] = await journeys.pending(10, NOW, 10)
    assert [i.event_id for i in claimed.outbox] == ["e1"]


async def test_two_claimers_never_get_the_same_timer(stores: tuple[JourneyStore, TimerStore]) -> None:
    _, timers = stores
    timer = Timer("J1", ReminderKind.EMPLOYER_NO_ANSWER_7D, NOW, "applied")
    await timers.arm([timer])
    await timers.arm([timer])
    claims = await asyncio.gather(*(timers.claim_due(NOW + timedelta(seconds=1), 60) for _ in range(4)))
    assert [c.timer_id for c in claims if c is not None] == [timer.timer_id]
    await timers.finish(timer.timer_id, "fired", NOW)
    assert await timers.claim_due(NOW + timedelta(hours=2), 60) is None


async def test_a_timer_not_yet_due_is_not_claimed(stores: tuple[JourneyStore, TimerStore]) -> None:
    _, timers = stores
    await timers.arm([Timer("J1", ReminderKind.FOLLOW_UP_6M, NOW + timedelta(days=1), "2027-01-01")])
    assert await timers.claim_due(NOW, 60) is None
    claimed = await timers.claim_due(NOW + timedelta(days=1), 60)
    assert claimed is not None and claimed.kind == ReminderKind.FOLLOW_UP_6M


async def test_writes_racing_the_relay_are_never_lost(stores: tuple[JourneyStore, TimerStore]) -> None:
    """The relay removes what it published while commands keep writing: no write may be undone."""
    journeys, _ = stores
    await journeys.create(Write(journey(), [item("e0")]))
    writes = 100

    async def write(n: int) -> None:
        for _ in range(400):
            current = await journeys.get("J1")
            assert current is not None
            if await journeys.update(Write(current, [item(f"e{n}")], command_key=f"k{n}"), current.revision):
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"write {n} never got through")

    async def relay(stop: asyncio.Event) -> None:
        while not stop.is_set():
            await journeys.relayed(await journeys.pending(10, datetime.now(UTC), 10))
            await asyncio.sleep(0)

    stop = asyncio.Event()
    relaying = asyncio.create_task(relay(stop))
    for n in range(1, writes + 1):
        await write(n)
    stop.set()
    await relaying
    stored = await journeys.get("J1")
    assert stored is not None and stored.revision == writes + 1
    assert [n for n in range(1, writes + 1) if not await journeys.seen("J1", f"k{n}")] == []
    later = datetime.now(UTC) + timedelta(minutes=1)
    await journeys.relayed(await journeys.pending(10, later, 10))  # what the last pass left
    assert await journeys.pending(10, later + timedelta(minutes=1), 10) == []


@pytest.mark.integration
async def test_a_listing_is_kept_while_its_journey_is_being_created_and_relisted_after_a_crash(
    mongodb_url: str,
) -> None:
    """Found by the platform fault run: the relay dropped a listing whose journey was not stored yet, and
    on the local store that delete could remove the listing the creator had just renewed."""
    name = f"contract{uuid.uuid4().hex[:10]}"
    client = connect(mongodb_url)
    journeys = MongoJourneys(client[name], write_lease_s=30)
    try:
        await journeys._mark_pending("J9")  # a creator's first step: listed, not stored yet
        now = datetime.now(UTC)
        assert await journeys.pending(10, now, 10) == []
        assert await client[name].outbox_pending.find_one({"_id": "J9"}) is not None  # kept
        assert await journeys.pending(10, now + timedelta(seconds=31), 10) == []  # its creator surely died
        assert await client[name].outbox_pending.find_one({"_id": "J9"}) is None

        await journeys.create(Write(journey("J8"), [item("e8", key="J8")]))
        await client[name].outbox_pending.delete_one({"_id": "J8"})  # the listing lost in a crash
        assert await journeys.pending(10, now + timedelta(minutes=2), 10) == []
        assert await journeys.relist_pending() == 1  # what the service does at start
        [claimed] = await journeys.pending(10, now + timedelta(minutes=3), 10)
        assert [i.event_id for i in claimed.outbox] == ["e8"]
    finally:
        await client.drop_database(name)
        await client.close()


@pytest.mark.integration
async def test_an_erasure_waits_for_a_contact_event_a_relay_is_publishing(mongodb_url: str) -> None:
    """The relay has taken the person's ContactUpserted and is publishing it when the person is erased: the
    erasure (then its tombstone) waits until the relay is done, so the tombstone is the person's last
    record on ``contacts``; a contact event not taken yet is dropped, never published."""
    name = f"erasure{uuid.uuid4().hex[:10]}"
    client = connect(mongodb_url)
    await ensure_indexes(client[name])
    journeys = MongoJourneys(client[name])
    try:
        now = datetime.now(UTC)
        await journeys.create(Write(journey(), [item("e1"), item("c1", "contacts", "U1")]))
        [taken] = await journeys.pending(10, now, 10)  # the relay owns e1 and c1, and publishes them
        assert {i.event_id for i in taken.outbox} == {"e1", "c1"}
        erasing = asyncio.create_task(journeys.forget_person("U1"))
        await asyncio.sleep(0.5)
        assert not erasing.done(), "the erasure went on while the relay was still publishing c1"
        await journeys.relayed([taken])  # published and acknowledged
        assert await asyncio.wait_for(erasing, 10) == 1

        await journeys.create(Write(journey("J2"), [item("c2", "contacts", "U1")]))
        assert await journeys.forget_person("U1") == 2
        left = await journeys.pending(10, now + timedelta(minutes=1), 10)
        assert [i.event_id for p in left for i in p.outbox] == []  # c2 dropped, never to be published
    finally:
        await client.drop_database(name)
        await client.close()
