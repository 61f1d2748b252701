"""Delivering with in-memory fakes: never twice, retries, failures, deferrals, opt-outs, erasure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications import handlers
from notifications.adapters.memory import (
    MemoryContactStore,
    MemoryDeliveryStore,
    RecordingEmail,
    RecordingPublisher,
    RecordingSms,
)
from notifications.adapters.operators import load_operators
from notifications.adapters.rendering import JinjaRenderer
from notifications.domain.model import Channel, Contact, JourneyFacts, Status
from notifications.domain.policy import Rules
from notifications.handlers import Dispatcher, Links, Retry
from notifications.ports import PermanentFailure, TransientFailure
from tdu_shared.clock import FixedClock

NOON = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
EVENT_ID = "5d6f3c1e-0000-4000-8000-000000000001"


class World:
    def __init__(self, at: datetime = NOON, daily_cap: int = 10) -> None:
        self.clock = FixedClock(at)
        self.deliveries = MemoryDeliveryStore()
        self.contacts = MemoryContactStore()
        self.email = RecordingEmail()
        self.sms = RecordingSms()
        self.published = RecordingPublisher()
        rules = Rules(
            ZoneInfo("Europe/Paris"), time(21), time(8), daily_cap, timedelta(hours=24), timedelta(minutes=5)
        )
        self.dispatcher = Dispatcher(
            self.deliveries,
            self.contacts,
            load_operators(),
            self.email,
            self.sms,
            JinjaRenderer(),
            self.published,
            self.clock,
            rules,
            Links("https://tdu.example", "https://notif.example", "secret", "traitdunion.eu"),
            Retry(max_attempts=3, base_s=2, max_s=60),
        )

    async def know(self, person_id: str, **overrides: object) -> None:
        values: dict[str, object] = dict(
            person_id=person_id,
            role="seeker",
            display_name=person_id,
            email=f"{person_id.lower()}@example.org",
            phone="0612345678",
            consent_email=True,
            consent_sms=True,
        )
        values.update(overrides)
        await self.contacts.upsert(Contact(**values), NOON)  # type: ignore[arg-type]

    async def event(
        self,
        event_type: str = "ApplicationSubmitted",
        event_id: str = EVENT_ID,
        employer: str | None = None,
        **fields: object,
    ) -> list[str]:
        facts = JourneyFacts(
            event_id,
            event_type,
            NOON,
            "44",
            "4410",
            "J1",
            "S1",
            employer,
            None,
            None,
            {"offer_title": "Soudeur", **fields},
        )
        return [d.key for d in await handlers.record_planned([facts], self.deliveries, self.clock)]

    def statuses(self) -> list[str]:
        return sorted(self.published.statuses)


async def test_application_submitted_sends_email_and_sms_to_seeker_and_employer() -> None:
    world = World()
    await world.know("S1")
    await world.know("E1", role="employer", phone="0698765432")
    await world.event(employer="E1")
    assert await world.dispatcher.run_once() == 4
    assert sorted(m.to for m in world.email.sent) == ["e1@example.org", "s1@example.org"]
    subjects = {m.to: m.subject for m in world.email.sent}
    assert subjects["s1@example.org"] == "Votre candidature « Soudeur » est envoyée"
    assert subjects["e1@example.org"] == "Nouvelle candidature pour « Soudeur »"
    assert sorted(phone for phone, _, _ in world.sms.sent) == ["+33612345678", "+33698765432"]
    assert world.statuses() == ["sent"] * 4


async def test_every_email_carries_a_signed_unsubscribe_link_and_a_message_id_from_its_key() -> None:
    world = World()
    await world.know("S1")
    [key, *_] = await world.event()
    await world.dispatcher.run_once()
    [mail] = world.email.sent
    # the message's own link opens the unsubscribe page; mail clients post to the one-click address
    assert "https://tdu.example/desinscription?jeton=" in mail.text
    assert "https://tdu.example/desinscription?jeton=" in mail.html
    assert mail.headers["List-Unsubscribe"].startswith("<https://notif.example/unsubscribe?token=")
    assert mail.message_id == f"<{key}@traitdunion.eu>"
    assert "https://tdu.example/parcours/J1" in mail.text


async def test_a_replayed_event_sends_nothing_new() -> None:
    world = World()
    await world.know("S1")
    await world.event()
    await world.dispatcher.run_once()
    assert await world.event() == []
    assert await world.dispatcher.run_once() == 0
    assert len(world.email.sent) == 1 and len(world.sms.sent) == 1


async def test_transient_failure_is_retried_with_backoff_then_sent() -> None:
    world = World()
    await world.know("S1", consent_sms=False)
    world.email.failures.append(TransientFailure("relay unreachable"))
    [key, _] = await world.event()
    await world.dispatcher.run_once()
    assert world.deliveries.status(key) is Status.PENDING
    assert world.deliveries.items[key].delivery.due_at == NOON + timedelta(seconds=2)
    assert await world.dispatcher.run_once() == 0  # not due yet
    world.clock.moment += timedelta(seconds=2)
    await world.dispatcher.run_once()
    assert world.deliveries.status(key) is Status.SENT
    assert len(world.email.sent) == 1


async def test_transient_failures_become_final_after_the_last_attempt() -> None:
    world = World()
    await world.know("S1", consent_sms=False)
    world.email.failures.extend(TransientFailure("relay unreachable") for _ in range(3))
    [key, _] = await world.event()
    for _ in range(3):
        await world.dispatcher.run_once()
        world.clock.moment += timedelta(minutes=1)
    assert world.deliveries.status(key) is Status.FAILED
    assert [r.status for r in world.published.reports if r.delivery_id == key] == ["failed"]


async def test_permanent_failure_is_recorded_and_not_retried() -> None:
    world = World()
    await world.know("S1", consent_sms=False)
    world.email.failures.append(PermanentFailure("550 no such user"))
    [key, _] = await world.event()
    await world.dispatcher.run_once()
    assert world.deliveries.status(key) is Status.FAILED
    failed = [r for r in world.published.reports if r.status == "failed"]
    assert failed[0].reason == "550 no such user"


async def test_no_consent_is_published_as_skipped_with_the_reason() -> None:
    world = World()
    await world.know("S1", consent_sms=False)
    await world.event()
    await world.dispatcher.run_once()
    skipped = [r for r in world.published.reports if r.status == "skipped"]
    assert [(r.channel, r.reason) for r in skipped] == [("sms", "no consent for sms")]


async def test_sms_at_night_is_deferred_once_and_sent_at_eight() -> None:
    world = World(at=datetime(2026, 3, 10, 21, 30, tzinfo=UTC))
    await world.know("S1", consent_email=False)
    await world.event()
    await world.dispatcher.run_once()
    assert world.sms.sent == []
    assert world.statuses() == ["deferred", "skipped"]
    world.clock.moment = datetime(2026, 3, 11, 7, 0, tzinfo=UTC)  # 08:00 in Paris
    await world.dispatcher.run_once()
    assert len(world.sms.sent) == 1
    assert world.statuses() == ["deferred", "sent", "skipped"]


async def test_message_waits_for_a_contact_that_arrives_later() -> None:
    world = World()
    await world.event()
    await world.dispatcher.run_once()
    assert world.email.sent == [] and "deferred" in world.statuses()
    released = await handlers.on_contact_upserted(
        Contact("S1", "seeker", "Camille", "camille@example.org", None, True, False),
        NOON,
        world.contacts,
        world.deliveries,
        world.clock,
    )
    assert released == 2
    await world.dispatcher.run_once()
    assert [m.to for m in world.email.sent] == ["camille@example.org"]


class ArrivesDuringTheBatch(MemoryContactStore):
    """The contact arrives (and its consumer finds nothing waiting yet) right after the batch read it."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.reads = 0

    async def get_many(self, person_ids: Sequence[str]) -> dict[str, Contact]:
        found = await super().get_many(person_ids)
        self.reads += 1
        if self.reads == 1:
            contact = Contact("S1", "seeker", "Camille", "camille@example.org", None, True, False)
            woken = await handlers.on_contact_upserted(
                contact, NOON, self, self.world.deliveries, self.world.clock
            )
            assert woken == 0  # nothing noted as waiting yet
        return found


async def test_a_contact_arriving_while_its_messages_are_decided_releases_them() -> None:
    world = World()
    world.contacts = world.dispatcher.contacts = ArrivesDuringTheBatch(world)
    await world.event()
    await world.dispatcher.run_once()
    assert world.email.sent == []
    await world.dispatcher.run_once()  # due again now, not in CONTACT_RETRY_S
    assert [m.to for m in world.email.sent] == ["camille@example.org"]


async def test_unsubscribed_person_gets_no_more_email() -> None:
    world = World()
    await world.know("S1", consent_sms=False)
    token = world.dispatcher.links.unsubscribe("S1", Channel.EMAIL).split("token=")[1]
    assert await handlers.unsubscribe(token, "secret", world.contacts) == ("S1", Channel.EMAIL)
    await world.know("S1", consent_sms=False)  # a later contact update keeps the opt-out
    await world.event()
    await world.dispatcher.run_once()
    assert world.email.sent == []
    assert any(r.reason == "opted out of email" for r in world.published.reports)


async def test_stop_by_sms_opts_the_number_out_of_sms() -> None:
    world = World()
    await world.know("S1")
    assert await handlers.on_inbound_sms("+33 6 12 34 56 78", " stop ", world.contacts) == ["S1"]
    await world.event()
    await world.dispatcher.run_once()
    assert world.sms.sent == [] and len(world.email.sent) == 1


async def test_daily_cap_stops_messages_beyond_the_limit() -> None:
    world = World(daily_cap=2)
    await world.know("S1", consent_sms=False)
    for n in range(3):
        await world.event(event_id=f"5d6f3c1e-0000-4000-8000-00000000000{n}")
    await world.dispatcher.run_once()
    assert len(world.email.sent) == 2
    assert any(r.reason == "daily cap of 2 messages reached" for r in world.published.reports)


async def test_erasure_removes_the_contact_and_its_deliveries() -> None:
    world = World()
    await world.know("S1")
    await world.event()
    await handlers.on_contact_erased("S1", NOON, world.contacts, world.deliveries)
    assert await world.contacts.get_many(["S1"]) == {}
    assert all(s.delivery.recipient_id != "S1" for s in world.deliveries.items.values())
    stale = Contact("S1", "seeker", "Camille", "c@example.org", None, True, False)
    await handlers.on_contact_upserted(
        stale, NOON - timedelta(seconds=1), world.contacts, world.deliveries, world.clock
    )
    assert await world.contacts.get_many(["S1"]) == {}


async def test_sms_in_flight_at_a_crash_resumes_with_the_parts_the_provider_did_not_get() -> None:
    world = World()
    await world.know("S1", consent_email=False)
    [_, sms_key] = await world.event()
    await world.deliveries.claim(NOON, NOON + timedelta(seconds=60), 10)  # a process claims, then dies
    await world.sms.send("+33612345678", "already sent", sms_key)  # ... after the provider accepted it
    world.clock.moment += timedelta(seconds=61)
    await world.dispatcher.run_once()
    assert len(world.sms.sent) == 1
    assert world.deliveries.status(sms_key) is Status.SENT


async def test_outcomes_not_published_before_a_crash_are_published_on_restart() -> None:
    world = World()
    await world.know("S1", consent_sms=False)
    await world.event()
    world.published.items.clear()

    async def broken(outcomes: object) -> None:
        raise ConnectionError("broker away")

    world.dispatcher.publisher.publish = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await world.dispatcher.run_once()
    world.dispatcher.publisher = RecordingPublisher()
    assert await world.dispatcher.report_unreported() == 2
    assert await world.dispatcher.report_unreported() == 0


async def test_just_stored_messages_are_sent_once_even_if_also_found_by_a_search() -> None:
    world = World()
    await world.know("S1", consent_sms=False)
    facts = JourneyFacts(
        EVENT_ID, "ApplicationSubmitted", NOON, "44", "4410", "J1", "S1", None, None, None, {}
    )
    fresh = await handlers.record_planned([facts], world.deliveries, world.clock)
    assert await world.dispatcher.run_once(fresh) == 2
    assert await world.dispatcher.run_once(fresh) == 0
    assert await world.dispatcher.run_once() == 0
    assert len(world.email.sent) == 1
