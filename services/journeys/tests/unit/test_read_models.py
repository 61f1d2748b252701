"""The read models answer as a recomputation over all journeys would: KPIs for any period, lists, pages."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from journeys.adapters.memory import MemoryDocuments, MemoryJourneys
from journeys.domain.kpis import Period, kpis
from journeys.domain.model import Journey, Step
from journeys.ports import JourneyQuery, Write
from journeys.readmodels import BadCursor, ReadModels
from tdu_shared.contracts.journeys import JourneyState, Role

S = JourneyState
STATES = list(JourneyState)
ACTIONS = [
    "ScheduleImmersion",
    "RecordImmersionOutcome",
    "SignHiringPromise",
    "SignTrainingCommitment",
    "ConfirmTrainingStart",
    "CompleteTraining",
    "RecordHire",
    "RecordFollowUp",
    "AbandonJourney",
    "DeclineApplication",
    "CorrectStep",
]
REASONS = ["déménagement", "a.b $c", "", "faillite", "50% plus loin"]
START = datetime(2026, 11, 1, tzinfo=UTC)


def random_evolutions(count: int, seed: int, spread_s: int = 400 * 86_400) -> list[list[Journey]]:
    """Journeys as they were after each of their steps (random actions, states, times; 3 basins and none),
    applied within ``spread_s`` seconds of START."""
    rng = random.Random(seed)
    found = []
    for n in range(count):
        at = START + timedelta(seconds=rng.randrange(spread_s), microseconds=rng.randrange(1000) * 1000)
        journey = Journey(
            journey_id=f"J{n:04d}",
            offer_id="O",
            region="44",
            basin=rng.choice(["4410", "4412", "4419", None]),
            seeker_id=f"U{rng.randrange(30)}",
            state=S.APPLIED,
            created_at=at,
            updated_at=at,
            employer_id=rng.choice(["E1", "E2", None]),
            revision=1,
        )
        journey.history.append(Step(at, "SubmitApplication", None, S.APPLIED, Role.SEEKER, "U"))
        versions = [copy.deepcopy(journey)]
        for _ in range(rng.randrange(0, 9)):
            at += timedelta(seconds=rng.randrange(1, 90 * 86_400))
            action = rng.choice(ACTIONS)
            details: dict[str, Any] = {}
            if action == "RecordFollowUp":
                details = {"months": rng.choice([6, 12, 3]), "employed": rng.random() < 0.7}
            elif action == "AbandonJourney":
                details = {"reason": rng.choice(REASONS)}
            to_state = rng.choice(STATES)
            step = Step(at, action, journey.state, to_state, Role.BASIN_OPERATOR, "O", details)
            journey.history.append(step)
            journey.state, journey.updated_at = to_state, at
            if journey.provider_id is None and rng.random() < 0.3:
                journey.provider_id = "P1"
            journey.revision += 1
            versions.append(copy.deepcopy(journey))
        found.append(versions)
    return found


def periods(seed: int) -> list[Period]:
    rng = random.Random(seed)
    chosen = [
        Period(datetime(2027, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)),
        Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)),
    ]
    for _ in range(8):
        first = date(2026, 11, 1) + timedelta(days=rng.randrange(500))
        last = first + timedelta(days=rng.randrange(1, 200))
        chosen.append(
            Period(
                datetime(first.year, first.month, first.day, tzinfo=UTC),
                datetime(last.year, last.month, last.day, tzinfo=UTC),
            )
        )
    return chosen


def read_models() -> ReadModels:
    return ReadModels(MemoryDocuments(), MemoryDocuments(), MemoryDocuments())


async def project_all(models: ReadModels, evolutions: Sequence[Sequence[Journey]]) -> None:
    """Every version of every journey, interleaved, some twice and some late (an older after a newer)."""
    rng = random.Random(3)
    queue = [(n, v) for n, versions in enumerate(evolutions) for v in range(len(versions))]
    queue.sort(key=lambda nv: (nv[1], rng.random()))
    for n, v in queue:
        await models.project(evolutions[n][v])
        if rng.random() < 0.1:
            await models.project(evolutions[n][v])  # a repeat
        if v and rng.random() < 0.1:
            await models.project(evolutions[n][v - 1])  # an older version, late


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_incremental_kpis_equal_the_recomputation_over_all_journeys(seed: int) -> None:
    evolutions = random_evolutions(150, seed)
    kpi_docs = MemoryDocuments()
    models = ReadModels(MemoryDocuments(), kpi_docs, MemoryDocuments())
    await project_all(models, evolutions)
    latest = [versions[-1] for versions in evolutions]
    # Once every change is applied, no month keeps a journey's marker: it does not grow with its journeys.
    assert [d["_id"] for d in kpi_docs.dump() if d.get("j")] == []
    for period in periods(seed):
        assert await models.kpis(period, "44") == kpis(latest, period, "44"), period
        for basin in ("4410", "unknown", "9999"):
            only = [j for j in latest if (j.basin or "unknown") == basin]
            assert await models.kpis(period, "44", basin) == kpis(only, period, "44")


async def test_months_stored_by_an_older_version_as_nested_counters_are_read_and_carried_on() -> None:
    latest = [versions[-1] for versions in random_evolutions(80, 12, spread_s=20 * 86_400)]
    kpi_docs = MemoryDocuments()
    models = ReadModels(MemoryDocuments(), kpi_docs, MemoryDocuments())
    for journey in latest[:50]:
        await models.project(journey)
    for doc in kpi_docs.dump():  # as the older version left them: nested counters changed by $inc, no "v"
        if doc["_id"] == "K|basins":
            continue
        nested: dict[str, Any] = {"_id": doc["_id"], "j": {}}
        for key, n in json.loads(doc["d"]).items():
            day, path = key.split("|", 1)
            node = nested.setdefault("d", {}).setdefault(day, {})
            *parents, name = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[name] = n
        kpi_docs.docs[doc["_id"]] = nested
    whole = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
    fresh = ReadModels(MemoryDocuments(), kpi_docs, MemoryDocuments())  # a process started on them
    assert await fresh.kpis(whole, "44") == kpis(latest[:50], whole, "44")
    for journey in latest[50:]:
        await models.project(journey)
    assert await models.kpis(whole, "44") == kpis(latest, whole, "44")
    assert any(isinstance(d.get("d"), str) for d in kpi_docs.dump())  # the months changed since: text


class Interrupted(Exception):
    pass


class Crashing(MemoryDocuments):
    """Documents whose store 'crashes' (raises) at a chosen change, as a process stopping would."""

    def __init__(self) -> None:
        super().__init__()
        self.countdown: int | None = None

    def _tick(self, doc_id: str) -> None:
        if self.countdown is not None:
            self.countdown -= 1
            if self.countdown < 0:
                self.countdown = None
                raise Interrupted(doc_id)

    async def change(self, doc_id: str, **changes: Any) -> dict[str, Any] | None:
        self._tick(doc_id)
        return await super().change(doc_id, **changes)

    async def swap(self, doc_id: str, seen: Mapping[str, Any] | None, set: Mapping[str, Any]) -> bool:
        self._tick(doc_id)
        return await super().swap(doc_id, seen, set)

    async def set_if_newer(self, doc_id: str, revision: int, set: Mapping[str, Any]) -> None:
        self._tick(doc_id)
        await super().set_if_newer(doc_id, revision, set)


async def test_a_projection_cut_short_anywhere_is_finished_by_the_next_one_without_counting_twice() -> None:
    evolutions = random_evolutions(60, 11)
    lists, counters, records = Crashing(), Crashing(), Crashing()
    models = ReadModels(lists, counters, records)
    rng = random.Random(5)
    for versions in evolutions:
        for version in versions:
            store: Crashing = rng.choice([lists, counters, records])
            store.countdown = rng.randrange(0, 6)
            with contextlib.suppress(Interrupted):
                await models.project(version)
            for other in (lists, counters, records):
                other.countdown = None
        if rng.random() < 0.5:
            await models.project(versions[-1])  # the relay's pass after the restart
    for versions in evolutions:  # every journey gets its repair pass
        await models.project(versions[-1])
    latest = [versions[-1] for versions in evolutions]
    fresh_lists = MemoryDocuments()
    await ReadModels(fresh_lists, MemoryDocuments(), MemoryDocuments()).rebuild(latest)
    for period in periods(11):
        assert await models.kpis(period, "44") == kpis(latest, period, "44")
    assert non_empty(lists.docs) == non_empty({d["_id"]: d for d in fresh_lists.dump()})


def non_empty(docs: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """List documents that hold something (a list emptied by moves keeps an empty document)."""
    return {i: d for i, d in docs.items() if d.get("e") or d.get("d")}


async def stored(journeys: Sequence[Journey]) -> MemoryJourneys:
    store = MemoryJourneys()
    for journey in journeys:
        await store.create(Write(copy.deepcopy(journey)))
        store.rows[journey.journey_id].journey = copy.deepcopy(journey)
    return store


def expected_list(journeys: Sequence[Journey], wanted: Mapping[str, str | None]) -> list[str]:
    def keep(j: Journey) -> bool:
        return all(
            v is None or (j.state.value if k == "state" else getattr(j, k)) == v for k, v in wanted.items()
        )

    found = sorted((j for j in journeys if keep(j)), key=lambda j: (-j.created_at.timestamp(), j.journey_id))
    return [j.journey_id for j in found]


QUERIES: list[dict[str, str | None]] = [
    {},
    {"basin": "4410"},
    {"basin": "4412", "state": "applied"},
    {"state": "hired"},
    {"seeker_id": "U3"},
    {"employer_id": "E1", "state": "declined"},
    {"employer_id": "E2", "basin": "4419"},
    {"provider_id": "P1"},
]


@pytest.mark.parametrize("spread_s", [400 * 86_400, 3600, 120], ids=["a year", "an hour", "two minutes"])
@pytest.mark.parametrize("query", QUERIES, ids=[",".join(q) or "all" for q in QUERIES])
async def test_lists_pages_and_cursors_give_every_match_once_newest_first(
    query: dict[str, str], spread_s: int
) -> None:
    evolutions = random_evolutions(200, 21, spread_s)
    models = read_models()
    await project_all(models, evolutions)
    latest = [versions[-1] for versions in evolutions]
    store = await stored(latest)
    expected = expected_list(latest, query)
    size = 7
    pages, cursor, total = [], None, None
    for n in range(len(expected) // size + 2):
        by_page = await models.page(JourneyQuery(**query), n * size, size, store)
        assert by_page.total == len(expected)
        pages.append([j.journey_id for j in by_page.items])
        by_cursor = await models.page(JourneyQuery(**query), 0, size, store, cursor)
        assert [j.journey_id for j in by_cursor.items] == pages[-1]
        total, cursor = by_cursor.total, by_cursor.next_cursor
        if cursor is None:
            break
    assert [jid for page in pages for jid in page] == expected and total == len(expected)


async def test_a_cursor_page_stays_the_same_when_newer_journeys_arrive() -> None:
    evolutions = random_evolutions(100, 4)
    models = read_models()
    await project_all(models, evolutions)
    latest = [versions[-1] for versions in evolutions]
    store = await stored(latest)
    first = await models.page(JourneyQuery(), 0, 10, store)
    before = await models.page(JourneyQuery(), 0, 10, store, first.next_cursor)
    newer = copy.deepcopy(latest[0])
    newer.journey_id, newer.created_at = "NEW", datetime(2031, 1, 1, tzinfo=UTC)
    await models.project(newer)
    await store.create(Write(newer))
    after = await models.page(JourneyQuery(), 0, 10, store, first.next_cursor)
    assert [j.journey_id for j in after.items] == [j.journey_id for j in before.items]
    assert after.total == before.total + 1
    with pytest.raises(BadCursor):
        await models.page(JourneyQuery(), 0, 10, store, "not-a-cursor")


async def test_kpis_show_this_instance_writes_at_once_and_other_instances_after_the_cache_time() -> None:
    shared = MemoryDocuments(), MemoryDocuments(), MemoryDocuments()
    mine, other = ReadModels(*shared, kpi_cache_s=3600), ReadModels(*shared, kpi_cache_s=3600)
    latest = [versions[-1] for versions in random_evolutions(20, 8)]
    whole = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
    for journey in latest[:10]:
        await mine.project(journey)
    assert (await mine.kpis(whole, "44"))["region"]["journeys"] == 10
    await mine.project(latest[10])
    assert (await mine.kpis(whole, "44"))["region"]["journeys"] == 11  # its own write: at once
    for journey in latest[11:]:
        await other.project(journey)
    assert (await mine.kpis(whole, "44"))["region"]["journeys"] == 11  # another instance's: not yet
    assert await other.kpis(whole, "44") == kpis(latest, whole, "44")
    mine._cache_s = 0  # the cache time has passed
    assert await mine.kpis(whole, "44") == kpis(latest, whole, "44")


class Slow(Crashing):
    """Crashing documents that take a moment to answer, so concurrent projections form groups."""

    async def change(self, doc_id: str, **changes: Any) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        return await super().change(doc_id, **changes)


async def test_a_failed_group_write_loses_no_other_journey_of_the_group() -> None:
    evolutions = random_evolutions(40, 13, spread_s=30)  # 40 applications in half a minute
    first = [versions[0] for versions in evolutions]
    lists = Slow()
    models = ReadModels(lists, MemoryDocuments(), MemoryDocuments())
    lists.countdown = 3  # the first group's write fails part way
    outcomes = await asyncio.gather(*(models.project(j) for j in first), return_exceptions=True)
    failed = [j for j, o in zip(first, outcomes, strict=True) if isinstance(o, Interrupted)]
    assert len(failed) == 1  # only the journey whose projection held the failed group
    await models.project(failed[0])  # as the relay does for it
    store = await stored(first)
    page = await models.page(JourneyQuery(), 0, 100, store)
    assert page.total == 40 and sorted(j.journey_id for j in page.items) == sorted(
        j.journey_id for j in first
    )
