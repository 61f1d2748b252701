"""Every timer: when it is due, that it fires once, and that it is skipped once the journey moved on."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from journeys import handlers
from journeys.adapters.memory import MemoryPublisher
from journeys.domain.timers import add_months
from journeys.handlers import Ports
from journeys.testing import EMPLOYER_ID, PROVIDER_ID, SEEKER_ID, application, eligibility, memory_ports
from tdu_shared.clock import FixedClock
from tdu_shared.contracts import journeys as c
from tdu_shared.contracts.journeys import ReminderKind, Role

K = ReminderKind
T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
EMPLOYER = {"actor_role": Role.EMPLOYER, "actor_id": EMPLOYER_ID}
SEEKER = {"actor_role": Role.SEEKER, "actor_id": SEEKER_ID}
PROVIDER = {"actor_role": Role.TRAINING_PROVIDER, "actor_id": PROVIDER_ID}


class Scenario:
    def __init__(self, ports: Ports, publisher: MemoryPublisher, journey_id: str) -> None:
        self.ports, self.publisher, self.journey_id = ports, publisher, journey_id
        self.count = 0

    @property
    def clock(self) -> FixedClock:
        assert isinstance(self.ports.clock, FixedClock)
        return self.ports.clock

    async def do(self, command_type: type[c.OnJourney], who: dict[str, Any], **fields: Any) -> None:
        self.count += 1
        await handlers.execute(
            command_type(command_id=f"cmd-{self.count}", journey_id=self.journey_id, **who, **fields),
            self.ports,
        )
        await handlers.relay_once(self.ports, self.publisher)

    async def at(self, moment: datetime) -> list[ReminderKind]:
        """Move the clock to ``moment``, fire due timers; the reminder kinds published."""
        self.clock.moment = moment
        before = len(self.publisher.sent)
        await handlers.fire_due_timers(self.ports)
        await handlers.relay_once(self.ports, self.publisher)
        bodies = [json.loads(i.body) for i in self.publisher.sent[before:]]
        return [K(b["payload"]["kind"]) for b in bodies if b["type"] == "JourneyReminderDue"]


async def applied() -> Scenario:
    ports, publisher = memory_ports(T0)
    await handlers.on_eligibility_changed(eligibility(), ports)
    journey = (await handlers.execute(application(), ports)).journey
    await handlers.relay_once(ports, publisher)
    return Scenario(ports, publisher, journey.journey_id)


async def committed() -> Scenario:
    s = await applied()
    await s.do(
        c.ScheduleImmersion, EMPLOYER, starts_on=date(2027, 1, 11), ends_on=date(2027, 1, 12), place="Metz"
    )
    await s.do(c.RecordImmersionOutcome, EMPLOYER, outcome="positive")
    await s.do(
        c.SignHiringPromise, EMPLOYER, contract_type="CDI", planned_start=date(2027, 9, 1), position="Soudeur"
    )
    await s.do(c.SignTrainingCommitment, SEEKER, session_id="S1")
    return s


async def test_employer_without_answer_is_reminded_at_seven_then_ten_days() -> None:
    s = await applied()
    assert await s.at(T0 + timedelta(days=7) - timedelta(minutes=1)) == []
    assert await s.at(T0 + timedelta(days=7)) == [K.EMPLOYER_NO_ANSWER_7D]
    assert await s.at(T0 + timedelta(days=9)) == []
    assert await s.at(T0 + timedelta(days=10)) == [K.EMPLOYER_NO_ANSWER_10D]


async def test_a_fired_timer_never_fires_again() -> None:
    s = await applied()
    assert await s.at(T0 + timedelta(days=7)) == [K.EMPLOYER_NO_ANSWER_7D]
    assert await s.at(T0 + timedelta(days=7, hours=1)) == []


async def test_employer_who_answered_gets_no_reminder() -> None:
    s = await applied()
    await s.do(c.DeclineApplication, EMPLOYER, reason="poste pourvu")
    assert await s.at(T0 + timedelta(days=30)) == []


async def test_immersion_tomorrow_fires_the_day_before_at_eight() -> None:
    s = await applied()
    await s.do(
        c.ScheduleImmersion, EMPLOYER, starts_on=date(2027, 1, 6), ends_on=date(2027, 1, 7), place="Metz"
    )
    assert await s.at(datetime(2027, 1, 5, 7, 59, tzinfo=UTC)) == []
    assert await s.at(datetime(2027, 1, 5, 8, 0, tzinfo=UTC)) == [K.IMMERSION_TOMORROW]


async def test_a_rescheduled_immersion_is_reminded_at_its_new_date_only() -> None:
    s = await applied()
    await s.do(
        c.ScheduleImmersion, EMPLOYER, starts_on=date(2027, 1, 6), ends_on=date(2027, 1, 7), place="Metz"
    )
    await s.do(
        c.RescheduleImmersion,
        SEEKER,
        starts_on=date(2027, 1, 8),
        ends_on=date(2027, 1, 8),
        place="Metz",
        reason="rendez-vous médical",
    )
    assert await s.at(datetime(2027, 1, 5, 8, 0, tzinfo=UTC)) == []
    assert await s.at(datetime(2027, 1, 7, 8, 0, tzinfo=UTC)) == [K.IMMERSION_TOMORROW]


async def test_training_start_is_reminded_three_days_before() -> None:
    s = await committed()  # session S1 starts 2027-03-01
    assert await s.at(datetime(2027, 2, 26, 7, 0, tzinfo=UTC)) == []
    assert await s.at(datetime(2027, 2, 26, 8, 0, tzinfo=UTC)) == [K.TRAINING_STARTS_IN_3D]


async def test_follow_ups_are_due_six_and_twelve_months_after_hire() -> None:
    s = await committed()
    await s.do(c.ConfirmTrainingStart, PROVIDER, started_on=date(2027, 3, 1))
    await s.do(c.CompleteTraining, PROVIDER, completed_on=date(2027, 8, 27))
    await s.do(c.RecordHire, EMPLOYER, contract_start=date(2027, 8, 31), contract_type="CDI")
    assert await s.at(datetime(2028, 2, 28, 8, 0, tzinfo=UTC)) == []
    assert await s.at(datetime(2028, 2, 29, 8, 0, tzinfo=UTC)) == [K.FOLLOW_UP_6M]
    await s.do(c.RecordFollowUp, EMPLOYER, months=6, employed=True)
    assert await s.at(datetime(2028, 8, 31, 8, 0, tzinfo=UTC)) == [K.FOLLOW_UP_12M]


async def test_a_journey_idle_for_fourteen_days_alerts_the_operator() -> None:
    s = await applied()
    await s.do(
        c.ScheduleImmersion, EMPLOYER, starts_on=date(2027, 2, 1), ends_on=date(2027, 2, 2), place="Metz"
    )
    assert await s.at(T0 + timedelta(days=13)) == []
    assert await s.at(T0 + timedelta(days=14)) == [K.JOURNEY_IDLE_14D]


async def test_acting_on_a_journey_restarts_the_idle_clock() -> None:
    s = await applied()
    s.clock.moment = T0 + timedelta(days=5)
    await s.do(
        c.ScheduleImmersion, EMPLOYER, starts_on=date(2027, 2, 1), ends_on=date(2027, 2, 2), place="Metz"
    )
    assert K.JOURNEY_IDLE_14D not in await s.at(T0 + timedelta(days=14))
    assert await s.at(T0 + timedelta(days=19)) == [K.JOURNEY_IDLE_14D]


async def test_two_instances_never_claim_the_same_timer() -> None:
    s = await applied()
    moment = T0 + timedelta(days=7)
    first = await s.ports.timers.claim_due(moment, 60)
    second = await s.ports.timers.claim_due(moment, 60)
    assert first is not None and first.kind == K.EMPLOYER_NO_ANSWER_7D
    assert second is None


def test_months_are_added_with_the_end_of_month_clamped() -> None:
    assert add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2027, 11, 15), 12) == date(2028, 11, 15)
