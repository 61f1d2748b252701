"""Every query of the journeys' hot paths is served by the ``_id`` index of the real store (its own plan).

The commands the service sends are recorded (PyMongo command monitoring) while it takes journeys through
applications, commands, list pages, KPIs, the relay and the timer loop; then the store explains each
filter. The only filters allowed beyond ``_id`` are on collections that hold only work in progress
(journeys with unpublished events), never history.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo import InsertOne, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from journeys import handlers, translate
from journeys.access import POLICY
from journeys.adapters.memory import MemoryPublisher
from journeys.adapters.mongo import MongoContacts, MongoDocuments, MongoJourneys, MongoOffers, MongoTimers
from journeys.api import install_error_handlers, router
from journeys.handlers import Ports
from journeys.main import mongo_read_models, read_models_database
from journeys.ports import JourneyQuery
from journeys.testing import EMPLOYER_ID, application, eligibility
from tdu_dev.testing.access import guarded_app, session
from tdu_dev.testing.plans import assert_id_only, query_plan, uses_id_index
from tdu_shared.clock import FixedClock
from tdu_shared.contracts import journeys as c
from tdu_shared.contracts.journeys import Role
from tdu_shared.mongo import Document, bulk_write, connect

pytestmark = pytest.mark.integration

SMALL = {"outbox_pending", "timer_cursor"}
"""Read whole, being small by design: the journeys with events not yet published (the relay claims from
there), and the timer loop's one cursor document."""
OPERATOR = session("basin_operator", "operateur@grand-est.test")
EMPLOYER = {"actor_role": Role.EMPLOYER, "actor_id": EMPLOYER_ID}


@dataclass
class Recorder(monitoring.CommandListener):
    filters: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    """(command, database, collection, filter)"""
    commands: list[tuple[str, str]] = field(default_factory=list)
    """(command, collection)"""
    on: bool = False

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.on:
            return
        cmd, name = event.command, event.command_name
        found: list[dict[str, Any]] = []
        if name in ("find", "count"):
            found = [cmd.get("filter") or cmd.get("query") or {}]
        elif name == "findAndModify":
            found = [cmd.get("query") or {}]
        elif name == "update":
            found = [u["q"] for u in cmd.get("updates", [])]
        elif name == "delete":
            found = [d["q"] for d in cmd.get("deletes", [])]
        elif name == "aggregate":
            found = [{"$aggregate": True}]
        self.filters += [(name, event.database_name, str(cmd[name]), f) for f in found]
        self.commands.append((name, str(cmd[name])))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def recorded(mongodb_url: str) -> AsyncIterator[tuple[Ports, Recorder, Any]]:
    recorder = Recorder()
    client = connect(mongodb_url, event_listeners=[recorder])
    db = client[f"plans{uuid.uuid4().hex[:10]}"]
    clock = FixedClock(datetime(2027, 1, 4, 9, tzinfo=UTC))
    ports = Ports(
        MongoJourneys(db),
        MongoOffers(db),
        MongoContacts(db),
        MongoTimers(db),
        clock,
        "44",
        read_models=mongo_read_models(db),
    )
    try:
        yield ports, recorder, db
    finally:
        await client.close()


async def test_hot_paths_read_and_write_by_id_only(recorded: tuple[Ports, Recorder, Any]) -> None:
    ports, recorder, db = recorded
    assert isinstance(ports.clock, FixedClock)
    publisher = MemoryPublisher()
    await handlers.on_eligibility_changed(eligibility("OFFER-OLD"), ports)
    await handlers.on_eligibility_changed(eligibility(), ports)
    for n in range(3):  # history the hot paths must not scan
        await handlers.execute(application(command_id=f"old-{n}", seeker_id=f"U{n}", actor_id=f"U{n}"), ports)
    await handlers.relay_once(ports, publisher)
    app = guarded_app([router(ports, publisher)], POLICY)
    install_error_handlers(app)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://journeys")

    recorder.on = True
    await handlers.on_eligibility_changed(eligibility(), ports)  # a newer evaluation of a known offer
    jid = (await handlers.execute(application(command_id="new"), ports)).journey.journey_id
    await handlers.execute(
        c.ScheduleImmersion(
            command_id="s",
            journey_id=jid,
            starts_on=date(2027, 2, 1),
            ends_on=date(2027, 2, 2),
            place="Metz",
            **EMPLOYER,
        ),
        ports,
    )
    await handlers.relay_once(ports, publisher)
    page = (await http.get("/journeys?basin=4410&page_size=2", headers=OPERATOR)).json()
    assert page["total"] == 4 and len(page["items"]) == 2
    following = await http.get(
        f"/journeys?basin=4410&page_size=2&cursor={page['next_cursor']}", headers=OPERATOR
    )
    assert len(following.json()["items"]) == 2
    mine = (await http.get("/journeys", headers=session("seeker", "U2"))).json()
    assert mine["total"] == 1
    kpis = (await http.get("/kpis?from=2027-01-01&to=2028-01-01", headers=OPERATOR)).json()
    assert kpis["basins"]["4410"]["states"] == {"applied": 3, "immersion_scheduled": 1}
    ports.clock.advance(days=8)  # the employer has not answered: a reminder is due
    assert await handlers.fire_due_timers(ports) >= 1
    await handlers.relay_once(ports, publisher)
    recorder.on = False

    checked = set()
    for _command, database, collection, query in recorder.filters:
        key = (database, collection, repr(sorted(query.items())))
        if key in checked or collection in SMALL:
            continue
        checked.add(key)
        await assert_id_only(db.client[database][collection], query)
    assert {"offers", "journeys", "journey_lists", "journey_kpis", "journey_projections", "timer_due"} <= {
        c for _, c, _ in checked
    }
    assert {d for d, _, _ in checked} == {db.name, read_models_database(db).name}


async def test_the_helper_rejects_every_filter_the_store_scans(mongo_db: Any) -> None:
    collection = mongo_db["plans"]
    await collection.insert_many([{"_id": f"4410|{n:04d}", "basin": "4410"} for n in range(200)])
    scans = (
        {"basin": "4410"},
        {"_id": {"$gte": "4410|", "$lt": "4411"}},
        {"_id": {"$in": ["4410|0001", 7]}},  # a type the store's index does not hold
    )
    for scan in scans:
        plan = await query_plan(collection, scan)
        assert plan["explain"]["filterPushdown"] is False and not uses_id_index(plan["explain"])
        with pytest.raises(AssertionError):
            await assert_id_only(collection, scan)
    # Served from the index (with our store patch, an $in and an _id beside other conditions too).
    for served in (
        {"_id": "4410|0001"},
        {"_id": {"$in": ["4410|0001", "4410|0150"]}},
        {"_id": "4410|0001", "basin": "4410"},
    ):
        assert (await query_plan(collection, served))["explain"]["filterPushdown"] is True
        await assert_id_only(collection, served)


def test_the_helper_reads_both_stores_plans() -> None:
    ferret = "id=3 parent=0 notused=0 detail=SEARCH t_1 USING INDEX t_1__id_ (<expr>=?)"
    assert uses_id_index({"filterPushdown": True, "queryPlanner": {"Plan": [ferret]}})
    scan = "id=2 parent=0 notused=0 detail=SCAN t_1"
    assert not uses_id_index({"filterPushdown": True, "queryPlanner": {"Plan": [scan]}})
    assert not uses_id_index({"filterPushdown": False, "queryPlanner": {"Plan": [scan]}})
    assert uses_id_index({"queryPlanner": {"winningPlan": {"stage": "EXPRESS_IXSCAN"}}})
    fetch = {"stage": "FETCH", "inputStage": {"stage": "IXSCAN", "keyPattern": {"_id": 1}}}
    assert uses_id_index({"queryPlanner": {"winningPlan": fetch}})
    other = {"stage": "FETCH", "inputStage": {"stage": "IXSCAN", "keyPattern": {"basin": 1}}}
    assert not uses_id_index({"queryPlanner": {"winningPlan": other}})
    assert not uses_id_index({"queryPlanner": {"winningPlan": {"stage": "COLLSCAN"}}})


async def test_the_relay_leaves_nothing_listed_once_everything_is_published(
    recorded: tuple[Ports, Recorder, Any],
) -> None:
    ports, _, db = recorded
    await handlers.on_eligibility_changed(eligibility(), ports)
    for n in range(5):
        await handlers.execute(application(command_id=f"a-{n}", seeker_id=f"U{n}", actor_id=f"U{n}"), ports)
    assert await db.outbox_pending.count_documents({}) == 5
    await handlers.relay_once(ports, MemoryPublisher())
    assert await db.outbox_pending.count_documents({}) == 0  # the relay's small collection stays small
    assert (
        await ports.timers.claim_due(datetime(2027, 1, 4, 9, tzinfo=UTC) + timedelta(minutes=1), 60) is None
    )


async def test_a_relay_pass_reads_claims_and_owns_its_journeys_in_a_few_commands_whatever_their_number(
    recorded: tuple[Ports, Recorder, Any],
) -> None:
    """Found by the soak run: a pass claimed its journeys one command after another (200 claims took 13 s
    under load) and the e-mails waited for it. Only the fenced change of each journey is per journey."""
    ports, recorder, db = recorded
    await handlers.on_eligibility_changed(eligibility(), ports)
    journeys = 40
    for n in range(journeys):
        await handlers.execute(application(command_id=f"a-{n}", seeker_id=f"U{n}", actor_id=f"U{n}"), ports)
    publisher = MemoryPublisher()
    recorder.on = True
    assert await handlers.relay_once(ports, publisher) == 2 * journeys  # the application and the contact
    recorder.on = False
    per = Counter(recorder.commands)
    claims = sum(
        n for (name, collection), n in per.items() if collection == "outbox_pending" and name != "delete"
    )
    assert claims <= 2
    assert sum(n for (_, collection), n in per.items() if collection == "relayed_events") <= 3
    assert per[("find", "journeys")] <= 2 and per[("find", "journey_projections")] <= 1
    assert per[("update", "journeys")] == per[("delete", "outbox_pending")] == journeys  # each one's change
    assert await db.outbox_pending.count_documents({}) == 0
    assert len({json.loads(i.body)["event_id"] for i in publisher.sent}) == 2 * journeys


async def test_a_rebuild_on_the_real_store_gives_what_the_writes_kept_and_relists_pending_work(
    recorded: tuple[Ports, Recorder, Any],
) -> None:
    ports, _, db = recorded
    assert isinstance(ports.clock, FixedClock)
    await handlers.on_eligibility_changed(eligibility(), ports)
    for n in range(6):
        ports.clock.advance(days=3)
        jid = (
            await handlers.execute(
                application(command_id=f"a-{n}", seeker_id=f"U{n}", actor_id=f"U{n}"), ports
            )
        ).journey.journey_id
        if n % 2:
            await handlers.execute(
                c.DeclineApplication(command_id=f"d-{n}", journey_id=jid, reason="poste pourvu", **EMPLOYER),
                ports,
            )
    year = "/kpis?from=2027-01-01&to=2028-01-01"
    app = guarded_app([router(ports, MemoryPublisher())], POLICY)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://journeys")
    kept = [
        (await http.get(url, headers=OPERATOR)).json()
        for url in (year, "/journeys?basin=4410&state=declined")
    ]
    await db.outbox_pending.delete_many({})  # as after an upgrade from a version without this list

    counts = await handlers.rebuild_read_models(ports)

    assert counts == {"journeys": 6, "journeys_with_unpublished_events": 6, "pending_timers": 0}
    rebuilt = [
        (await http.get(url, headers=OPERATOR)).json()
        for url in (year, "/journeys?basin=4410&state=declined")
    ]
    assert rebuilt == kept and kept[1]["total"] == 3 and kept[0]["region"]["journeys"] == 6
    publisher = MemoryPublisher()
    await handlers.relay_once(ports, publisher)
    assert len(publisher.sent) == 6 * 2 + 3  # applications and contacts, declines


async def test_a_batch_of_evaluations_keeps_the_newest_of_each_offer(
    recorded: tuple[Ports, Recorder, Any],
) -> None:
    ports, _, _ = recorded
    at = datetime(2027, 1, 4, 9, tzinfo=UTC)
    await handlers.on_eligibility_changed(eligibility("OFFER-1", evaluated_at=at), ports)
    views = [
        translate.offer_view(eligibility("OFFER-1", eligible=False, evaluated_at=at - timedelta(hours=1))),
        translate.offer_view(eligibility("OFFER-2", evaluated_at=at)),
        translate.offer_view(eligibility("OFFER-2", eligible=False, evaluated_at=at + timedelta(hours=1))),
        translate.offer_view(eligibility("OFFER-2", evaluated_at=at + timedelta(minutes=30))),
    ]
    assert await ports.offers.save_all(views) == {"OFFER-2"}  # OFFER-1: what is stored is newer
    one, two = await ports.offers.get("OFFER-1"), await ports.offers.get("OFFER-2")
    assert one is not None and one.eligible
    assert two is not None and not two.eligible and two.evaluated_at == at + timedelta(hours=1)
    assert await ports.offers.save_all(views) == set()  # a redelivered batch changes nothing


async def test_applications_arriving_together_are_each_listed_once_and_counted(
    recorded: tuple[Ports, Recorder, Any],
) -> None:
    """Concurrent writes to one scope's day go in groups: every journey listed, the counts right."""
    ports, _, _ = recorded
    await handlers.on_eligibility_changed(eligibility(), ports)
    count = 60
    outcomes = await asyncio.gather(
        *(
            handlers.execute(application(command_id=f"c-{n}", seeker_id=f"U{n}", actor_id=f"U{n}"), ports)
            for n in range(count)
        )
    )
    ids = {o.journey.journey_id for o in outcomes}
    for query in (JourneyQuery(), JourneyQuery(basin="4410"), JourneyQuery(state="applied")):
        listed, cursor = [], None
        while True:
            page = await ports.read_models.page(query, 0, 7, ports.journeys, cursor)
            assert page.total == count
            listed += [j.journey_id for j in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted(listed) == sorted(ids)
        by_skip = await ports.read_models.page(query, 53, 7, ports.journeys)
        assert [j.journey_id for j in by_skip.items] == listed[53:60]


async def test_a_read_model_larger_than_the_store_binds_at_once_is_replaced(
    mongo_db: AsyncDatabase[Document],
) -> None:
    """``journeys rebuild-read-models`` at 50,000 journeys: the local store's delete of a whole collection
    bound each id and failed past 32,766 documents (SQL logic error: too many SQL variables)."""
    await bulk_write(mongo_db.journey_lists, [InsertOne({"_id": f"L|old|{n}"}) for n in range(33_000)])
    await MongoDocuments(mongo_db, "journey_lists").replace_all([{"_id": "L|new", "n": 1}])
    assert await mongo_db.journey_lists.find({}).to_list() == [{"_id": "L|new", "n": 1}]


async def test_a_month_is_written_only_by_who_read_its_current_version(
    mongo_db: AsyncDatabase[Document],
) -> None:
    docs = MongoDocuments(mongo_db, "journey_kpis")
    assert await docs.swap("K|4410|2027-01", None, {"d": "{}", "j.J1": 1})
    assert not await docs.swap("K|4410|2027-01", None, {"d": "{}"})  # created meanwhile by another
    seen = await docs.get("K|4410|2027-01")
    assert seen == {"_id": "K|4410|2027-01", "v": 1, "d": "{}", "j": {"J1": 1}}
    assert await docs.swap("K|4410|2027-01", seen, {"d": '{"n":1}', "j.J2": 3})
    assert not await docs.swap("K|4410|2027-01", seen, {"d": '{"n":9}'})  # a stale read: nothing written
    assert await docs.get("K|4410|2027-01") == {
        "_id": "K|4410|2027-01",
        "v": 2,
        "d": '{"n":1}',
        "j": {"J1": 1, "J2": 3},
    }
    older = {"_id": "K|4410|2026-12", "d": {"2026-12-01": {"n": 2}}}  # as an older version left it: no "v"
    await mongo_db.journey_kpis.insert_one(older)
    assert await docs.swap("K|4410|2026-12", older, {"d": '{"2026-12-01|n":3}'})
    assert (await docs.get("K|4410|2026-12") or {})["v"] == 1


async def test_a_view_never_goes_back_to_an_older_revision(mongo_db: AsyncDatabase[Document]) -> None:
    views = MongoDocuments(mongo_db, "journey_views")
    await views.set_if_newer("J1", 2, {"j": "second"})
    await views.set_if_newer("J1", 1, {"j": "first, late"})
    await views.set_if_newer("J1", 2, {"j": "second, again"})
    assert await views.get("J1") == {"_id": "J1", "j": "second", "r": 2}
    await views.set_if_newer("J1", 3, {"j": "third"})
    assert await views.get("J1") == {"_id": "J1", "j": "third", "r": 3}
    await assert_id_only(mongo_db.journey_views, {"_id": "J1", "r": {"$lt": 4}})
