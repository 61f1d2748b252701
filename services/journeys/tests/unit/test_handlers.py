"""Use cases on in-memory ports: application, idempotency, outbox, relay, contacts and erasure."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from journeys import handlers
from journeys.adapters.memory import MemoryJourneys, MemoryPublisher
from journeys.api import period_of
from journeys.domain.transitions import RoleRefused
from journeys.handlers import OfferNotEligible, Ports
from journeys.testing import EMPLOYER_ID, SEEKER_ID, application, eligibility, memory_ports
from tdu_shared.clock import FixedClock
from tdu_shared.contracts.journeys import DeclineApplication, JourneyState, Role, ScheduleImmersion
from tdu_shared.envelope import decode_event

PERSONAL = ("Camille", "Durand", "camille.durand@example.org", "0612345678", "57000")


async def ready() -> tuple[Ports, MemoryPublisher]:
    ports, publisher = memory_ports()
    await handlers.on_eligibility_changed(eligibility(), ports)
    return ports, publisher


def store(ports: Ports) -> MemoryJourneys:
    assert isinstance(ports.journeys, MemoryJourneys)
    return ports.journeys


async def test_applying_to_an_unknown_offer_is_refused() -> None:
    ports, _ = memory_ports()
    with pytest.raises(OfferNotEligible, match="inconnue"):
        await handlers.execute(application(), ports)


async def test_applying_to_an_ineligible_offer_is_refused_with_the_reason() -> None:
    ports, _ = memory_ports()
    await handlers.on_eligibility_changed(eligibility(eligible=False), ports)
    with pytest.raises(OfferNotEligible, match="aucune session financée"):
        await handlers.execute(application(), ports)


async def test_an_employer_cannot_apply() -> None:
    ports, _ = await ready()
    with pytest.raises(RoleRefused):
        await handlers.execute(application(actor_role=Role.EMPLOYER, actor_id=EMPLOYER_ID), ports)


async def test_application_writes_the_journey_and_its_events_in_one_outbox() -> None:
    ports, _publisher = await ready()
    result = await handlers.execute(application(), ports)

    journey = result.journey
    assert journey.state == JourneyState.APPLIED and journey.employer_id == EMPLOYER_ID
    row = store(ports).rows[journey.journey_id]
    assert [i.topic for i in row.outbox] == ["journeys.events", "contacts"]
    contact = decode_event(row.outbox[1].body.encode())
    assert contact.payload.email == "camille.durand@example.org" and contact.payload.consent_sms is False
    assert await ports.contacts.get(SEEKER_ID) is not None


async def test_journey_events_carry_ids_never_personal_data() -> None:
    ports, _ = await ready()
    result = await handlers.execute(application(), ports)
    event_body = store(ports).rows[result.journey.journey_id].outbox[0].body
    payload = json.loads(event_body)["payload"]
    assert payload["seeker_id"] == SEEKER_ID and payload["employer_id"] == EMPLOYER_ID
    assert not any(p in event_body for p in PERSONAL)


async def test_a_repeated_application_changes_nothing() -> None:
    ports, _ = await ready()
    first = await handlers.execute(application(), ports)
    again = await handlers.execute(application(), ports)
    assert again.replayed and again.journey.journey_id == first.journey.journey_id
    assert len(store(ports).rows) == 1
    assert len(store(ports).rows[first.journey.journey_id].outbox) == 2


async def test_a_repeated_action_changes_nothing() -> None:
    ports, _ = await ready()
    jid = (await handlers.execute(application(), ports)).journey.journey_id
    decline = DeclineApplication(
        command_id="d-1",
        actor_role=Role.EMPLOYER,
        actor_id=EMPLOYER_ID,
        journey_id=jid,
        reason="poste pourvu",
    )
    await handlers.execute(decline, ports)
    revision = store(ports).rows[jid].journey.revision
    again = await handlers.execute(decline, ports)
    assert again.replayed
    assert store(ports).rows[jid].journey.revision == revision
    assert len(store(ports).rows[jid].outbox) == 3


async def test_relay_publishes_each_pending_event_once_and_arms_timers() -> None:
    ports, publisher = await ready()
    await handlers.execute(application(), ports)
    assert await handlers.relay_once(ports, publisher) == 2
    assert await handlers.relay_once(ports, publisher) == 0
    assert [i.topic for i in publisher.sent] == ["journeys.events", "contacts"]
    assert ports.timers.timers  # type: ignore[attr-defined]


async def test_a_claimed_outbox_is_not_published_twice_by_two_relays() -> None:
    ports, _publisher = await ready()
    await handlers.execute(application(), ports)
    now = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    first = await ports.journeys.pending(10, now, 10)
    second = await ports.journeys.pending(10, now, 10)
    assert len(first) == 1 and second == []


async def test_events_written_while_the_relay_publishes_are_kept() -> None:
    ports, _publisher = await ready()
    jid = (await handlers.execute(application(), ports)).journey.journey_id
    [pending] = await ports.journeys.pending(10, datetime(2027, 1, 4, 9, tzinfo=UTC), 10)
    schedule = ScheduleImmersion(
        command_id="s-1",
        actor_role=Role.EMPLOYER,
        actor_id=EMPLOYER_ID,
        journey_id=jid,
        starts_on="2027-01-20",
        ends_on="2027-01-21",
        place="Metz",
    )
    await handlers.execute(schedule, ports)
    await ports.journeys.relayed([pending])
    assert [json.loads(i.body)["type"] for i in store(ports).rows[jid].outbox] == ["ImmersionScheduled"]


async def test_contact_change_publishes_the_new_consent() -> None:
    ports, publisher = await ready()
    await handlers.execute(application(), ports)
    contact = await handlers.update_contact(SEEKER_ID, {"consent_sms": True}, ports, publisher)
    assert contact.consent_sms
    assert decode_event(publisher.sent[-1].body.encode()).payload.consent_sms is True


async def test_a_contact_change_whose_save_failed_is_not_published_by_the_relay_and_a_saved_one_is() -> None:
    ports, publisher = await ready()
    await handlers.execute(application(), ports)
    await handlers.relay_once(ports, publisher)  # the application's own events
    before = len(publisher.sent)
    saving = ports.contacts.save

    async def broken(contact: object) -> None:
        raise ConnectionError("store away")

    ports.contacts.save = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await handlers.update_contact(SEEKER_ID, {"consent_sms": True}, ports, publisher)
    ports.contacts.save = saving  # type: ignore[method-assign]
    publisher.fail_next = True
    with pytest.raises(ConnectionError):
        await handlers.update_contact(SEEKER_ID, {"phone": "0611223344"}, ports, publisher)
    for entry_id, (items, _) in list(ports.outbox.entries.items()):  # type: ignore[attr-defined]
        ports.outbox.entries[entry_id] = (items, datetime.now(UTC))  # type: ignore[attr-defined]  # leases end

    assert await handlers.relay_left(ports, publisher) == 1
    [sent] = [decode_event(i.body.encode()).payload for i in publisher.sent[before:]]
    assert (sent.phone, sent.consent_sms) == ("0611223344", False)  # the failed change never went out
    assert ports.outbox.entries == {}  # type: ignore[attr-defined]


async def test_erasure_removes_personal_data_and_sends_a_tombstone() -> None:
    ports, publisher = await ready()
    jid = (await handlers.execute(application(), ports)).journey.journey_id

    assert await handlers.erase_person(SEEKER_ID, ports, publisher) == 1

    assert await ports.contacts.get(SEEKER_ID) is None
    assert publisher.tombstones == [(SEEKER_ID, "4410")]
    row = store(ports).rows[jid]
    assert row.anonymised and row.journey.state == JourneyState.APPLIED
    assert not any(p in item.body for item in row.outbox for p in PERSONAL)


async def test_a_newer_eligibility_wins_over_an_older_one() -> None:
    ports, _ = memory_ports()
    newer = eligibility(evaluated_at=datetime(2027, 1, 2, tzinfo=UTC))
    older = eligibility(eligible=False, evaluated_at=datetime(2027, 1, 1, tzinfo=UTC))
    assert await handlers.on_eligibility_changed(newer, ports)
    assert not await handlers.on_eligibility_changed(older, ports)
    offer = await ports.offers.get("OFFER-1")
    assert offer is not None and offer.eligible


def decline(journey_id: str, key: str) -> DeclineApplication:
    return DeclineApplication(
        command_id=key, actor_role=Role.EMPLOYER, actor_id=EMPLOYER_ID, journey_id=journey_id, reason="pourvu"
    )


async def test_retention_erases_seekers_whose_every_journey_ended_long_enough_ago() -> None:
    ports, publisher = await ready()
    clock = ports.clock
    assert isinstance(clock, FixedClock)
    people = {}
    for who in ("ended", "still-going", "ended-lately"):
        person = f"S-{who}"
        command = application(f"apply-{who}", seeker_id=person, actor_id=person)
        people[who] = (await handlers.execute(command, ports)).journey.journey_id
    await handlers.execute(decline(people["ended"], "d-1"), ports)
    await handlers.execute(decline(people["still-going"], "d-2"), ports)
    second = application("apply-again", seeker_id="S-still-going", actor_id="S-still-going")
    await handlers.execute(second, ports)  # still open: S-still-going keeps their data
    clock.advance(days=30 * 24 + 20)
    await handlers.execute(decline(people["ended-lately"], "d-3"), ports)
    done = await handlers.apply_retention(ports, publisher, months=24)
    assert done["people_erased"] == 1
    assert await ports.contacts.get("S-ended") is None
    assert await ports.contacts.get("S-still-going") is not None
    assert await ports.contacts.get("S-ended-lately") is not None
    assert [key for key, _ in publisher.tombstones] == ["S-ended"]
    assert (await handlers.apply_retention(ports, publisher, months=24))["people_erased"] == 0  # repeatable
    kpis = await handlers.compute_kpis(ports, period_of(date(2027, 1, 1), date(2028, 1, 1), clock.now()))
    assert kpis["region"]["journeys"] == 4  # the erased person's journey still counts
