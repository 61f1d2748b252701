"""KPIs over a scripted set of journeys equal the values worked out by hand below."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from journeys import handlers
from journeys.domain.kpis import Period
from journeys.handlers import Ports
from journeys.metrics import publish_gauges
from journeys.testing import application, eligibility, memory_ports
from tdu_shared.clock import FixedClock
from tdu_shared.contracts import journeys as c
from tdu_shared.contracts.journeys import Role

OPERATOR = {"actor_role": Role.BASIN_OPERATOR, "actor_id": "O1"}
PERIOD = Period(datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC))


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 9, 0, tzinfo=UTC)


SCHEDULE = (
    c.ScheduleImmersion,
    {"starts_on": date(2027, 2, 1), "ends_on": date(2027, 2, 2), "place": "Metz"},
)
POSITIVE = (c.RecordImmersionOutcome, {"outcome": "positive"})
PROMISE = (
    c.SignHiringPromise,
    {"contract_type": "CDD", "contract_months": 6, "planned_start": date(2027, 9, 1), "position": "Soudeur"},
)
COMMIT = (c.SignTrainingCommitment, {"session_id": "S1"})
START = (c.ConfirmTrainingStart, {"started_on": date(2027, 3, 1)})
COMPLETE = (c.CompleteTraining, {"completed_on": date(2027, 8, 27)})
HIRE = (c.RecordHire, {"contract_start": date(2027, 8, 31), "contract_type": "CDI"})


async def journey(
    ports: Ports,
    name: str,
    offer_id: str,
    applied: datetime,
    steps: list[tuple[datetime, tuple[type[c.OnJourney], dict[str, Any]]]],
) -> None:
    assert isinstance(ports.clock, FixedClock)
    ports.clock.moment = applied
    jid = (await handlers.execute(application(command_id=name, offer_id=offer_id), ports)).journey.journey_id
    for n, (moment, (command, fields)) in enumerate(steps):
        ports.clock.moment = moment
        await handlers.execute(command(command_id=f"{name}-{n}", journey_id=jid, **OPERATOR, **fields), ports)


@pytest.fixture
async def scripted() -> Ports:
    ports, _ = memory_ports()
    await handlers.on_eligibility_changed(eligibility("OFFER-1", basin="4410"), ports)
    await handlers.on_eligibility_changed(eligibility("OFFER-2", basin="4412"), ports)
    # J1 (Metz): the whole way to hire.
    await journey(
        ports,
        "J1",
        "OFFER-1",
        day(2027, 1, 4),
        [
            (day(2027, 1, 6), SCHEDULE),
            (day(2027, 1, 14), POSITIVE),
            (day(2027, 1, 15), PROMISE),
            (day(2027, 1, 16), COMMIT),
            (day(2027, 3, 1), START),
            (day(2027, 8, 27), COMPLETE),
            (day(2027, 8, 31), HIRE),
        ],
    )
    # J2 (Metz): declined.
    await journey(
        ports,
        "J2",
        "OFFER-1",
        day(2027, 1, 4),
        [(day(2027, 1, 8), (c.DeclineApplication, {"reason": "poste pourvu"}))],
    )
    # J3 (Metz): abandoned during the immersion.
    await journey(
        ports,
        "J3",
        "OFFER-1",
        day(2027, 1, 5),
        [
            (day(2027, 1, 7), SCHEDULE),
            (day(2027, 1, 10), (c.AbandonJourney, {"reason": "déménagement"})),
        ],
    )
    # J4 (Nancy): trained, then abandoned instead of hired.
    await journey(
        ports,
        "J4",
        "OFFER-2",
        day(2027, 1, 5),
        [
            (day(2027, 1, 9), SCHEDULE),
            (day(2027, 1, 12), POSITIVE),
            (day(2027, 1, 13), PROMISE),
            (day(2027, 1, 14), COMMIT),
            (day(2027, 3, 1), START),
            (day(2027, 8, 27), COMPLETE),
            (day(2027, 9, 1), (c.AbandonJourney, {"reason": "faillite"})),
        ],
    )
    # J5 (Metz): hired in 2026, followed up in 2027 (employed at 6 months, not at 12).
    await journey(
        ports,
        "J5",
        "OFFER-1",
        day(2026, 1, 5),
        [
            (day(2026, 1, 7), SCHEDULE),
            (day(2026, 1, 9), POSITIVE),
            (day(2026, 1, 10), PROMISE),
            (day(2026, 1, 11), COMMIT),
            (day(2026, 2, 1), START),
            (day(2026, 5, 1), COMPLETE),
            (day(2026, 6, 1), HIRE),
            (day(2027, 1, 5), (c.RecordFollowUp, {"months": 6, "employed": True})),
            (day(2027, 7, 1), (c.RecordFollowUp, {"months": 12, "employed": False})),
        ],
    )
    return ports


async def test_region_kpis_equal_the_hand_computed_values(scripted: Ports) -> None:
    region = (await handlers.compute_kpis(scripted, PERIOD))["region"]

    assert region["journeys"] == 4  # J1..J4 applied in 2027
    assert region["states"] == {"abandoned": 2, "declined": 1, "hired": 1}
    assert region["conversions"] == {
        "applied->immersion_scheduled": 0.75,  # J1, J3, J4 of 4
        "immersion_scheduled->immersion_done": 0.6667,  # J1, J4 of 3
        "immersion_done->committed": 1.0,
        "committed->training_started": 1.0,
        "training_started->training_completed": 1.0,
        "training_completed->hired": 0.5,  # J1 of J1, J4
    }
    assert (region["promises_signed"], region["promises_target"], region["promises_target_reached"]) == (
        2,
        250,
        False,
    )
    assert region["hires"] == 1
    assert region["return_to_employment"] == {"end_of_training": 0.5, "6m": 1.0, "12m": 0.0}
    assert region["return_to_employment_target_met"] == {"end_of_training": False, "6m": True, "12m": False}
    assert region["median_days"] == {
        "applied->immersion_scheduled": 2.0,  # J1 2, J3 2, J4 4
        "immersion_scheduled->immersion_done": 5.5,  # J1 8, J4 3
        "immersion_done->committed": 2.0,  # J1 2, J4 2
        "committed->training_started": 45.0,  # J1 44, J4 46
        "training_started->training_completed": 179.0,
        "training_completed->hired": 4.0,  # J1
    }
    assert region["abandonments"] == {
        "immersion_scheduled": {"déménagement": 1},
        "training_completed": {"faillite": 1},
    }


async def test_basin_kpis_count_only_their_basin(scripted: Ports) -> None:
    basins = (await handlers.compute_kpis(scripted, PERIOD))["basins"]

    assert set(basins) == {"4410", "4412"}
    metz, nancy = basins["4410"], basins["4412"]
    assert (metz["journeys"], metz["hires"], metz["promises_signed"]) == (3, 1, 1)
    assert metz["return_to_employment"] == {"end_of_training": 1.0, "6m": 1.0, "12m": 0.0}
    assert (nancy["journeys"], nancy["hires"], nancy["promises_signed"]) == (1, 0, 1)
    assert nancy["return_to_employment"]["end_of_training"] == 0.0
    assert nancy["abandonments"] == {"training_completed": {"faillite": 1}}


async def test_a_shorter_period_prorates_the_target_and_drops_later_steps(scripted: Ports) -> None:
    january = Period(datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))
    region = (await handlers.compute_kpis(scripted, january))["region"]
    assert region["promises_target"] == round(250 * 31 / 365, 2)
    assert region["promises_signed"] == 2
    assert region["hires"] == 0
    assert region["return_to_employment"] == {"end_of_training": None, "6m": 1.0, "12m": None}


async def test_kpis_are_exported_as_prometheus_gauges(scripted: Ports) -> None:
    publish_gauges(await handlers.compute_kpis(scripted, PERIOD))
    assert REGISTRY.get_sample_value("journeys_promises_signed", {"scope": "region"}) == 2
    assert REGISTRY.get_sample_value("journeys_hires", {"scope": "4410"}) == 1
    assert REGISTRY.get_sample_value("journeys_by_state", {"scope": "4412", "state": "abandoned"}) == 1
    ratio = REGISTRY.get_sample_value("journeys_return_to_employment_ratio", {"scope": "region", "at": "6m"})
    assert ratio == 1.0
