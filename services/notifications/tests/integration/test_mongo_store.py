"""The MongoDB adapters against the real store: the guarantees the dispatcher relies on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from notifications.adapters.mongo import MongoContactStore, MongoDeliveryStore
from notifications.domain.model import Audience, Channel, Contact, Delivery, JourneyFacts, Status
from notifications.ports import Outcome
from tdu_shared.mongo import Document

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)


def delivery(key: str, recipient: str = "S1") -> Delivery:
    facts = JourneyFacts(
        "5d6f3c1e-0000-4000-8000-000000000001",
        "ApplicationSubmitted",
        NOW,
        "44",
        "4410",
        "J1",
        recipient,
        None,
        None,
        None,
        {"offer_title": "Soudeur"},
    )
    return Delivery(
        key,
        facts,
        recipient,
        Audience.SEEKER,
        Channel.EMAIL,
        "candidature_envoyee",
        Status.PENDING,
        0,
        NOW,
        NOW,
    )


async def test_a_key_is_stored_once_and_claimed_once(mongo_db: AsyncDatabase[Document]) -> None:
    store = MongoDeliveryStore(mongo_db)
    assert await store.add([delivery("k1"), delivery("k2")]) == ["k1", "k2"]
    assert await store.add([delivery("k1")]) == []
    claimed = await store.claim(NOW, NOW + timedelta(seconds=30), 10)
    assert sorted(d.key for d in claimed) == ["k1", "k2"]
    assert (
        await MongoDeliveryStore(mongo_db).claim(NOW, NOW + timedelta(seconds=30), 10) == []
    )  # another instance


async def test_a_sent_delivery_is_never_planned_or_claimed_again(mongo_db: AsyncDatabase[Document]) -> None:
    store = MongoDeliveryStore(mongo_db)
    await store.add([delivery("k1")])
    [claimed] = await store.claim(NOW, NOW + timedelta(seconds=30), 10)
    await store.record([Outcome(claimed, Status.SENT, "sent", attempts=1, sent_day="2026-03-10")])
    assert await store.add([delivery("k1")]) == []
    assert await store.claim(NOW + timedelta(hours=1), NOW + timedelta(hours=2), 10) == []
    assert await store.sent_on(["S1"], "2026-03-10") == {"S1": 1}
    [report] = await store.unreported(10)
    assert (report.delivery.key, report.published) == ("k1", "sent")
    await store.mark_reported([report.report_key])
    assert await store.unreported(10) == []


async def test_a_claim_whose_lease_ran_out_comes_back_marked_in_flight(
    mongo_db: AsyncDatabase[Document],
) -> None:
    store = MongoDeliveryStore(mongo_db)
    await store.add([delivery("k1")])
    await store.claim(NOW, NOW + timedelta(seconds=2), 10)  # the process dies here
    assert await store.claim(NOW + timedelta(seconds=1), NOW + timedelta(seconds=3), 10) == []
    [again] = await store.claim(NOW + timedelta(seconds=2), NOW + timedelta(seconds=4), 10)
    assert again.was_in_flight


async def test_erasure_removes_deliveries_and_contact(mongo_db: AsyncDatabase[Document]) -> None:
    store, contacts = MongoDeliveryStore(mongo_db), MongoContactStore(mongo_db)
    await contacts.upsert(Contact("S1", "seeker", "Camille", "c@example.org", None, True, False), NOW)
    await store.add([delivery("k1")])
    assert await store.erase_recipient("S1") == 2  # the outbox entry and the key
    await contacts.erase("S1", NOW + timedelta(minutes=1))
    assert await contacts.get_many(["S1"]) == {}
    assert await store.claim(NOW, NOW + timedelta(seconds=30), 10) == []


async def test_a_contact_update_dated_before_the_erasure_does_not_bring_the_person_back(
    mongo_db: AsyncDatabase[Document],
) -> None:
    """An instance paused with the person's update in hand writes it after another applied the tombstone."""
    contacts = MongoContactStore(mongo_db)
    camille = Contact("S1", "seeker", "Camille", "c@example.org", "06 12 34 56 78", True, True)
    await contacts.upsert(camille, NOW)
    await contacts.erase("S1", NOW + timedelta(minutes=1))
    await contacts.upsert_many([(camille, NOW)])
    assert await contacts.get_many(["S1"]) == {}
    assert await contacts.by_email("c@example.org") == []
    [left] = await mongo_db["contacts"].find({"_id": "S1"}).to_list()
    assert set(left) == {"_id", "erased_at"}  # nothing personal
    await contacts.upsert(camille, NOW + timedelta(minutes=2))  # the person comes back, later
    assert (await contacts.get_many(["S1"]))["S1"].email == "c@example.org"


async def test_contact_update_keeps_opt_outs_and_ignores_stale_versions(
    mongo_db: AsyncDatabase[Document],
) -> None:
    contacts = MongoContactStore(mongo_db)
    await contacts.upsert(
        Contact("S1", "seeker", "Camille", "c@example.org", "06 12 34 56 78", True, True), NOW
    )
    await contacts.opt_out("S1", Channel.EMAIL)
    await contacts.upsert(
        Contact("S1", "seeker", "Camille B.", "c@example.org", None, True, True), NOW + timedelta(hours=1)
    )
    await contacts.upsert(
        Contact("S1", "seeker", "Old", "old@example.org", None, True, True), NOW - timedelta(hours=1)
    )
    [stored] = (await contacts.get_many(["S1"])).values()
    assert (stored.display_name, stored.opted_out_email, stored.known) == ("Camille B.", True, True)
    assert await contacts.opt_out_phone("+33612345678") == []  # the newer version has no phone


async def test_just_stored_deliveries_are_claimed_by_one_instance_only(
    mongo_db: AsyncDatabase[Document],
) -> None:
    first, second = MongoDeliveryStore(mongo_db), MongoDeliveryStore(mongo_db)
    await first.add([delivery("k1")])
    assert [d.key for d in await first.claim_these([delivery("k1")], NOW + timedelta(seconds=30))] == ["k1"]
    assert await second.claim_these([delivery("k1")], NOW + timedelta(seconds=30)) == []
    assert await second.claim(NOW, NOW + timedelta(seconds=30), 10) == []


async def test_a_delivery_another_instance_sent_meanwhile_is_not_claimed_by_the_one_that_stored_it(
    mongo_db: AsyncDatabase[Document],
) -> None:
    """Two instances: one stores a delivery; before it claims it, the other's dispatcher finds it due, sends
    it and releases it. Claiming it then must not send it a second time (seen with two instances on the
    fault-injection run: the same e-mail, same Message-ID, twice)."""
    storing, polling = MongoDeliveryStore(mongo_db), MongoDeliveryStore(mongo_db)
    await storing.add([delivery("k1")])
    [sent] = await polling.claim(NOW, NOW + timedelta(seconds=30), 10)
    await polling.record([Outcome(sent, Status.SENT, "sent", attempts=1, sent_day="2026-03-10")])
    assert await storing.claim_these([delivery("k1")], NOW + timedelta(seconds=30)) == []
    await storing.add([delivery("k2")])  # and one nobody took yet is still claimed, once
    assert [d.key for d in await storing.claim_these([delivery("k2")], NOW + timedelta(seconds=30))] == ["k2"]
    assert await polling.claim(NOW, NOW + timedelta(seconds=30), 10) == []


async def test_a_send_noted_before_a_crash_is_not_sent_again_and_is_reported(
    mongo_db: AsyncDatabase[Document],
) -> None:
    store = MongoDeliveryStore(mongo_db)
    await store.add([delivery("k1")])
    [claimed] = await store.claim(NOW, NOW + timedelta(seconds=2), 10)
    await store.record_sent(Outcome(claimed, Status.SENT, "sent", attempts=1, sent_day="2026-03-10"))
    # the process dies before the batch is recorded
    assert await store.claim(NOW + timedelta(seconds=3), NOW + timedelta(seconds=5), 10) == []
    [report] = await store.unreported(10)
    assert (report.delivery.key, report.published) == ("k1", "sent")
